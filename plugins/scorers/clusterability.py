"""The built-in ``clusterability`` scorer: label-free scores of a detection, read from the weights
alone (no ground truth), to set beside the ground-truth ``structure`` scores.

The graph G is the undirected |w| graph of the network's surviving weights with the units that
keep no edge removed (Filan et al.'s rule; no dead-unit condensation, so every detector is scored
on the same graph). m is G's total edge weight, vol(c) the sum of the degrees of the units of a
module c, in(c) the weight of the edges inside c, cut(c) = vol(c) - 2 in(c). Units of G in no
module belong to no term, but their edges count in m and as cut edges.

* ``modularity``: Newman's Q = sum over modules of in(c)/m - (vol(c)/2m)^2.
* ``ncut``: the normalised cut, sum over modules of cut(c) / (vol(c) + 1e-8) (Filan et al.).
* ``ncut_z``, ``ncut_percentile``: the n-cut against a null of layer-wise weight shuffles. Each
  of ``shuffles`` shuffled networks permutes, independently in every weight layer of G, the |w|
  entries of the layer (``shuffle=layer``: every entry, pruned zeros included, so the sparsity
  pattern moves too; ``layer_nonzero``: only the surviving weights, among the surviving
  positions); the detection's partition is held fixed and its n-cut taken on each shuffle.
  z = (ncut - mean) / std (population std; none when it is 0), percentile =
  (shuffles with a smaller n-cut + 1) / (shuffles + 1) (Filan et al.'s ``compute_pvalue``):
  small values say the partition cuts the trained weights better than it cuts shuffled ones.
  Drawn from ``numpy.random.default_rng(seed)``, the cell's seed: reproducible.
* ``coverage``: the share of G's volume in detected modules; ``modules``: the detected modules
  holding a unit of G.

Deviation from Filan et al.: they re-cluster every shuffled network (spectral clustering with a
fixed k) and compare the clusterings' n-cuts; here the detection is held fixed, so the score is a
property of the detection (any detector's) rather than of the network, and costs no clustering.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sculptbench.api import Detection, Option, Options, Scorer, ScoreRecord, SculptedNetwork, Task, hookimpl
from sculptbench.plugins.detectors.unit_graph import UnitGraph, surviving_graph

#: Filan et al.'s epsilon in the n-cut's denominators.
EPSILON = 1e-8
#: Shuffled networks are scored in blocks of this many (memory stays small on wide layers).
BLOCK = 32


def module_labels(graph: UnitGraph, detection: Detection) -> tuple[np.ndarray, int]:
    """(the module index of each node of G, -1 for none; the number of modules holding a node)."""
    of = detection.module_of()
    raw = [of.get(unit, -1) for unit in graph.units]
    used = sorted({r for r in raw if r >= 0})
    index = {module: i for i, module in enumerate(used)}
    return np.array([index.get(r, -1) for r in raw], dtype=int), len(used)


def _one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    hot = np.zeros((len(labels), k + 1))
    hot[np.arange(len(labels)), np.where(labels >= 0, labels, k)] = 1.0  # column k: in no module
    return hot


def layer_blocks(graph: UnitGraph) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each weight layer, the (input-side, output-side) node indices of G in it."""
    layers = graph.layers()
    return [(np.flatnonzero(layers == l), np.flatnonzero(layers == l + 1)) for l in range(len(graph.layer_sizes) - 1)]


def module_sums(graph: UnitGraph, labels: np.ndarray, k: int, matrices: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(vol, in) of each module, for one stack of per-layer |w| matrices (..., out, in) each;
    leading axes are kept (one per shuffled network)."""
    # Module k is "in no module". Only the module-by-module block sums' margins and diagonal are
    # needed, so no (modules x modules) block is built: memory stays that of the weights.
    hot = _one_hot(labels, k)
    column = np.where(labels >= 0, labels, k)
    volume, inside = 0.0, 0.0
    for (src, dst), m in zip(layer_blocks(graph), matrices):
        volume = volume + m.sum(axis=-1) @ hot[dst] + m.sum(axis=-2) @ hot[src]
        same = column[dst][:, None] == column[src][None, :]  # (out, in): both ends in one module
        inside = inside + (m * same).sum(axis=-1) @ hot[dst]
    return np.asarray(volume)[..., :k], np.asarray(inside)[..., :k]


def layer_matrices(graph: UnitGraph) -> list[np.ndarray]:
    """Each weight layer's |w| between G's nodes, shaped (out, in)."""
    a = graph.adjacency
    return [a[dst][:, src].toarray() for src, dst in layer_blocks(graph)]


def shuffled(matrices: list[np.ndarray], count: int, nonzero: bool, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` layer-wise shuffles of each matrix, stacked (count, out, in)."""
    out = []
    for m in matrices:
        flat = m.ravel()
        stack = np.repeat(flat[None, :], count, axis=0)
        if nonzero:
            where = np.flatnonzero(flat)
            stack[:, where] = rng.permuted(np.repeat(flat[where][None, :], count, axis=0), axis=1)
        else:
            stack = rng.permuted(stack, axis=1)
        out.append(stack.reshape(count, *m.shape))
    return out


def _ncut(volume: np.ndarray, inside: np.ndarray) -> np.ndarray:
    return np.sum((volume - 2 * inside) / (volume + EPSILON), axis=-1)


def clusterability(graph: UnitGraph, detection: Detection, shuffles: int, nonzero: bool, seed: int) -> dict[str, Any]:
    """The ``clusterability`` metrics of ``detection`` on G (see the module docstring)."""
    labels, k = module_labels(graph, detection)
    matrices = layer_matrices(graph)
    volume, inside = module_sums(graph, labels, k, matrices)
    total = float(sum(m.sum() for m in matrices))  # m: every edge once
    observed = float(_ncut(volume, inside))
    rng = np.random.default_rng(seed)
    nulls = []
    for start in range(0, shuffles, BLOCK):
        count = min(BLOCK, shuffles - start)
        nulls.append(_ncut(*module_sums(graph, labels, k, shuffled(matrices, count, nonzero, rng))))
    null = np.concatenate(nulls)
    std = float(null.std())
    return {
        "modularity": float(np.sum(inside / total - (volume / (2 * total)) ** 2)),
        "ncut": observed,
        "ncut_z": (observed - float(null.mean())) / std if std > 0 else None,
        "ncut_percentile": float((np.sum(null < observed) + 1) / (len(null) + 1)),
        "coverage": float(volume.sum() / (2 * total)),
        "modules": int(k),
    }


class ClusterabilityScorer(Scorer):
    """Label-free scores of a detection: modularity, normalised cut and its significance against weight shuffles."""

    name = "clusterability"
    version = "1.0"
    description = "Label-free: Newman modularity and normalised cut of the detected modules on the surviving-weight graph, and the n-cut's significance against layer-wise weight shuffles."
    citation = "Newman & Girvan, Phys. Rev. E 2004; Filan et al., Clusterability in neural networks, 2021"
    metrics = {
        "modularity": "Newman modularity of the detected modules on the |w| graph of surviving weights",
        "ncut": "normalised cut of the detected modules, sum of cut / volume (lower: cleaner modules)",
        "ncut_z": "z-score of the n-cut against layer-wise weight shuffles, the partition held fixed (negative: better than chance; none when the shuffles all tie)",
        "ncut_percentile": "(shuffles with a smaller n-cut + 1) / (shuffles + 1): small means significant",
        "coverage": "share of the graph's volume (sum of degrees) inside detected modules",
        "modules": "detected modules holding a unit of the graph",
    }
    options = (
        Option("shuffles", int, 200, low=1, help="Shuffled networks in the null (Filan et al. use 200 for MLPs)."),
        Option("shuffle", str, "layer", choices=("layer", "layer_nonzero"), help="Permute every |w| entry of a layer (pruned zeros too), or only the surviving weights among their positions."),
    )

    def score(self, detection: Detection, network: SculptedNetwork, task: Task, options: Options, seed: int) -> ScoreRecord:
        """The metrics of :attr:`metrics` (all none when the network keeps no weight)."""
        graph = surviving_graph(network, condense=False)
        if graph.size == 0:
            return ScoreRecord(self.name, {name: None for name in self.metrics})
        metrics = clusterability(graph, detection, options["shuffles"], options["shuffle"] == "layer_nonzero", seed)
        return ScoreRecord(self.name, metrics)


@hookimpl
def register_scorers(register):
    """Register the clusterability scorer."""
    register(ClusterabilityScorer())
