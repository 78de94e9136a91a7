"""What the graph detectors share: the undirected |w| graph of a network's units, and turning
labels or a hierarchy of partitions into a :class:`Detection`.

The graph (:func:`surviving_graph`) has one node per unit that keeps a surviving edge and one
undirected edge of weight |w| per surviving weight. With ``condense`` (every graph detector's
default) dead units go first, by the sculpting detector's rule (units that cannot reach an output
or be reached from an input, repeatedly); then units left without any edge of non-zero weight are
removed (Filan et al.'s rule for isolated units). Nodes are ordered by (layer, index), so every
detector sees the same graph in the same order for the same network.

:class:`GraphDetector` is the base of the built-in graph detectors and controls: it builds the
graph, hands it to :meth:`GraphDetector.levels`, and returns the finest level as
``Detection.modules`` with the whole hierarchy (coarse to fine) in ``Detection.info["hierarchy"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import sparse

from sculptbench.api import Detection, Detector, Option, Options, SculptedNetwork, Task
from sculptbench.plugins.detectors.sculpting import condense as condense_masks

Unit = tuple[int, int]
#: A partition of a graph's nodes: one label per node, in the graph's node order.
Labels = np.ndarray

#: The option every graph detector and control declares.
CONDENSE = Option("condense", bool, True, help="Remove dead units first (the sculpting detector's rule); false: remove only units without any edge (Filan et al.).")


@dataclass(frozen=True)
class UnitGraph:
    """The undirected |w| graph of a network's units (see the module docstring).

    ``units[i]`` is node ``i``; ``adjacency`` is symmetric, non-negative, with a zero diagonal;
    ``layer_sizes`` are the network's; ``left_out`` are the units that are not nodes.
    """

    units: tuple[Unit, ...]
    adjacency: sparse.csr_matrix
    layer_sizes: tuple[int, ...]
    left_out: tuple[Unit, ...]

    @property
    def size(self) -> int:
        """Number of nodes."""
        return len(self.units)

    def layers(self) -> np.ndarray:
        """The layer of each node."""
        return np.array([layer for layer, _ in self.units], dtype=int)

    def dense(self) -> np.ndarray:
        """The adjacency as a dense float64 array."""
        return self.adjacency.toarray()

    def components(self) -> tuple[int, Labels]:
        """(number of connected components, the component of each node)."""
        return sparse.csgraph.connected_components(self.adjacency, directed=False)


def _as_numpy(tensor: Any) -> np.ndarray:
    """A fresh float64 numpy copy of a tensor or array (the network is never touched)."""
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu().numpy()
    return np.array(tensor, dtype=np.float64, copy=True)


def surviving_graph(network: SculptedNetwork, condense: bool = True) -> UnitGraph:
    """The undirected |w| graph of ``network``'s surviving units (module docstring)."""
    sizes = [int(s) for s in network.sizes]
    if condense:
        masks = [np.asarray(m, dtype=bool) for m in condense_masks(network.weight_masks).masks]
    else:
        masks = [_as_numpy(m).astype(bool) for m in network.weight_masks]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows, cols, values = [], [], []
    for layer, (mask, weight) in enumerate(zip(masks, network.weights)):
        weights = np.abs(_as_numpy(weight)) * mask
        outs, ins = np.nonzero(weights)
        rows.append(offsets[layer] + ins)
        cols.append(offsets[layer + 1] + outs)
        values.append(weights[outs, ins])
    total = int(offsets[-1])
    upper = sparse.coo_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(total, total))
    full = (upper + upper.T).tocsr()
    keep = np.flatnonzero(np.asarray(full.sum(axis=1)).ravel() > 0)
    every = [(layer, index) for layer, size in enumerate(sizes) for index in range(size)]
    kept = set(keep.tolist())
    return UnitGraph(
        units=tuple(every[i] for i in keep),
        adjacency=full[keep][:, keep].tocsr(),
        layer_sizes=tuple(sizes),
        left_out=tuple(u for i, u in enumerate(every) if i not in kept),
    )


def partition_from_labels(units: Sequence[Unit], labels: Sequence[int]) -> list[frozenset[Unit]]:
    """The modules of ``labels`` (one per node; -1: in no module), sorted by their smallest unit."""
    groups: dict[int, set[Unit]] = {}
    for unit, label in zip(units, labels):
        if int(label) >= 0:
            groups.setdefault(int(label), set()).add(unit)
    return sorted((frozenset(g) for g in groups.values()), key=min)


def relabel(labels: Sequence[Any]) -> Labels:
    """Labels 0..k-1 numbered by first appearance (any hashable labels in)."""
    seen: dict[Any, int] = {}
    return np.array([seen.setdefault(label, len(seen)) for label in labels], dtype=int)


def split_by_components(labels: Sequence[int], components: Sequence[int]) -> Labels:
    """``labels`` refined so that no cluster spans two connected components."""
    return relabel(list(zip((int(x) for x in labels), (int(c) for c in components))))


def seed32(seed: int, salt: int = 0) -> int:
    """A 32-bit seed derived from the cell's ``seed`` (any non-negative int) and a ``salt``, for
    libraries that take a small integer seed."""
    return int(np.random.SeedSequence([int(seed), int(salt)]).generate_state(1)[0])


def modularity(adjacency: Any, labels: Sequence[int]) -> float:
    """Newman's modularity of ``labels`` (float64): sum over clusters of in/m - (vol/2m)^2."""
    a = sparse.csr_matrix(adjacency, dtype=np.float64)
    labels = np.asarray(labels)
    degree = np.asarray(a.sum(axis=1)).ravel()
    total = degree.sum()
    q = 0.0
    for label in np.unique(labels):
        inside = labels == label
        q += float(a[inside][:, inside].sum()) / total - (float(degree[inside].sum()) / total) ** 2
    return q


def ncut(adjacency: Any, labels: Sequence[int], epsilon: float = 1e-8) -> float:
    """Normalised cut: the sum over clusters of cut / (volume + epsilon) (Filan et al.)."""
    a = sparse.csr_matrix(adjacency)
    labels = np.asarray(labels)
    degree = np.asarray(a.sum(axis=1)).ravel()
    total = 0.0
    for label in np.unique(labels):
        inside = labels == label
        volume = float(degree[inside].sum())
        internal = float(a[inside][:, inside].sum())
        total += (volume - internal) / (volume + epsilon)
    return total


def unit_lists(modules: Sequence[frozenset[Unit]]) -> list[list[list[int]]]:
    """Modules as JSON-friendly lists of ``[layer, index]``."""
    return [[list(u) for u in sorted(m)] for m in modules]


class GraphDetector(Detector):
    """A detector that partitions :func:`surviving_graph` (the built-in graph detectors' base).

    Subclasses implement :meth:`levels`: the partitions of the graph's nodes, coarse to fine,
    each a labels array (-1: a node in no module), with diagnostics (``"notes"`` are appended).
    Every level goes to ``Detection.info["hierarchy"]`` (coarse to fine); ``Detection.modules`` is
    the level whose index the diagnostics give as ``"flat_level"`` (default: the finest).
    """

    def levels(self, graph: UnitGraph, network: SculptedNetwork, task: Task, options: Options,
               seed: int) -> tuple[list[Labels], dict[str, Any]]:
        """The partitions of ``graph``'s nodes, coarse to fine (at least one), and diagnostics."""
        raise NotImplementedError

    def detect(self, network: SculptedNetwork, task: Task, options: Options, seed: int) -> Detection:
        """Partition the surviving-unit graph; the finest level is the detection's modules."""
        graph = surviving_graph(network, condense=options["condense"])
        info: dict[str, Any] = {"params": options.as_dict(), "seed": seed, "units": graph.size,
                                "left_out": [list(u) for u in graph.left_out], "notes": []}
        if graph.size == 0:
            info["notes"].append("no surviving edge of non-zero weight: no module")
            return Detection(modules=[], info=info)
        levels, extra = self.levels(graph, network, task, options, seed)
        hierarchy = [partition_from_labels(graph.units, labels) for labels in levels]
        info["notes"] += extra.pop("notes", [])
        info.update(extra)
        info["hierarchy"] = [unit_lists(level) for level in hierarchy]
        info["flat_level"] = info.get("flat_level", -1) % len(hierarchy)
        info["n_modules"] = len(hierarchy[info["flat_level"]])
        return Detection(modules=hierarchy[info["flat_level"]], info=info)
