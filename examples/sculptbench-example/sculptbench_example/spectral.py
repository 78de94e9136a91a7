"""Spectral clustering of the pruned unit graph, as in Filan et al.'s clusterability work
("Clusterability in neural networks", 2021).

The network becomes an undirected graph over its units whose edge weights are the absolute values
of the surviving weights; units without any (non-zero) surviving weight are dropped. scikit-learn's
``SpectralClustering`` (``affinity="precomputed"``) partitions the rest. The number of clusters is
an option; ``"auto"`` picks k in ``2..k_max`` by the largest eigengap of the normalised Laplacian
(a graph with c connected components has c zero eigenvalues, so its gap at k = c is large).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy.sparse.csgraph import connected_components

from sculptbench.api import Detection, Detector, Option, Options, SculptedNetwork, Task, When


def abs_adjacency(network: SculptedNetwork) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The symmetric |W| adjacency over all units, and the units in its row order.

    Reads the network's tensors into new numpy arrays; the network is never modified.
    """
    sizes = list(network.sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    units = [(l, i) for l, n in enumerate(sizes) for i in range(n)]
    a = np.zeros((len(units), len(units)), dtype=np.float64)
    for l, (w, m) in enumerate(zip(network.weights, network.weight_masks)):
        block = np.abs(w.detach().cpu().numpy().astype(np.float64)) * m.detach().cpu().numpy().astype(bool)
        rows = slice(offsets[l + 1], offsets[l + 2])
        cols = slice(offsets[l], offsets[l + 1])
        a[rows, cols] = block
        a[cols, rows] = block.T
    return a, units


def normalised_laplacian_eigenvalues(a: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of ``I - D^-1/2 A D^-1/2`` (every degree must be positive)."""
    d = 1.0 / np.sqrt(a.sum(axis=1))
    lap = np.eye(len(a)) - d[:, None] * a * d[None, :]
    return np.linalg.eigvalsh((lap + lap.T) / 2)


def eigengap_k(eigenvalues: np.ndarray, k_max: int) -> tuple[int, list[float]]:
    """The k in ``2..min(k_max, n-1)`` with the largest gap ``λ_{k+1} - λ_k`` (ties: the smaller k)."""
    n = len(eigenvalues)
    ks = list(range(2, min(k_max, n - 1) + 1))
    gaps = [float(eigenvalues[k] - eigenvalues[k - 1]) for k in ks]
    best = ks[int(np.argmax(gaps))]
    return best, gaps


def normalised_cut(a: np.ndarray, labels: np.ndarray) -> float:
    """``Σ_c cut(c, rest) / vol(c)`` of a labelling of the graph ``a``."""
    total = 0.0
    for c in np.unique(labels):
        inside = labels == c
        vol = a[inside].sum()
        if vol > 0:
            total += a[np.ix_(inside, ~inside)].sum() / vol
    return float(total)


def n_clusters_value(value: Any) -> str | int:
    """The ``n_clusters`` option's value: ``"auto"`` or an integer >= 1 (an integral number such as
    ``3.0`` becomes ``3``). Raises ``ValueError``; sculptbench turns it into a one-line error."""
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value) or value < 1:
        raise ValueError("")
    return int(value)


class SpectralDetector(Detector):
    """Spectral clustering of the |W|-weighted, undirected pruned unit graph."""

    name = "spectral"
    version = "0.1.0"
    citation = "Filan et al., Clusterability in neural networks, 2021"
    options = (
        Option("n_clusters", str, "auto", parse=n_clusters_value, type_text="auto or an integer >= 1",
               help="Number of clusters; auto picks k in 2..k_max by the largest eigengap of the normalised Laplacian."),
        Option("k_max", int, 8, low=2, applies=When("n_clusters", "auto"), instead="add {component}.n_clusters=auto",
               help="The largest k the eigengap rule considers (n_clusters=auto)."),
    )

    def detect(self, network: SculptedNetwork, task: Task, options: Options, seed: int) -> Detection:
        """Return the spectral clusters (sorted by smallest unit) of the units with a surviving weight."""
        p = options  # resolved by sculptbench when the run was planned
        a_all, units_all = abs_adjacency(network)
        keep = np.flatnonzero(a_all.sum(axis=1) > 0)
        a = a_all[np.ix_(keep, keep)]
        units = [units_all[i] for i in keep]
        n = len(units)
        kept = set(keep.tolist())
        info: dict[str, Any] = {"params": p.as_dict(), "seed": seed, "n_units": n, "notes": [],
                                "excluded": [list(u) for i, u in enumerate(units_all) if i not in kept]}
        if n == 0:
            info["notes"].append("no surviving non-zero weights")
            return Detection(modules=[], info=info)
        n_comp, comp_labels = connected_components(a, directed=False)
        info["components"] = int(n_comp)
        if n < 3:
            info["notes"].append(f"{n} units: each connected component is a module")
            labels, k, source = comp_labels, int(n_comp), "components"
        else:
            eig = normalised_laplacian_eigenvalues(a)
            if p["n_clusters"] == "auto":
                k, gaps = eigengap_k(eig, p["k_max"])
                source = "eigengap"
                info["eigengaps"] = {str(kk): g for kk, g in zip(range(2, 2 + len(gaps)), gaps)}
            else:
                k, source = min(int(p["n_clusters"]), n), "option"
                if k < p["n_clusters"]:
                    info["notes"].append(f"n_clusters {p['n_clusters']} > {n} units; using {k}")
            if k == 1:
                labels = np.zeros(n, dtype=int)
            elif k == n:
                labels = np.arange(n)  # every unit alone (spectral embedding needs k < n)
            else:
                labels = self._cluster(a, k, seed)
        groups: dict[int, set] = {}
        for unit, lab in zip(units, np.asarray(labels).tolist()):
            groups.setdefault(int(lab), set()).add(unit)
        modules = sorted((frozenset(g) for g in groups.values()), key=min)
        info.update(n_clusters=len(modules), k=int(k), k_source=source, ncut=normalised_cut(a, np.asarray(labels)))
        return Detection(modules=modules, info=info)

    @staticmethod
    def _cluster(a: np.ndarray, k: int, seed: int) -> np.ndarray:
        from sklearn.cluster import SpectralClustering

        model = SpectralClustering(n_clusters=k, affinity="precomputed", assign_labels="kmeans",
                                   random_state=int(seed) % (2**32), n_init=10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Graph is not fully connected": expected
            return model.fit_predict(a)
