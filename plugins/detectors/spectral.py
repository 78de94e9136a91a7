"""The built-in ``spectral`` detector: normalised-cut spectral clustering of the |w| unit graph
(Filan et al., "Clusterability in neural networks", 2021; Shi & Malik 2000).

1. The graph is :func:`~sculptbench.plugins.detectors.unit_graph.surviving_graph` (isolated
   units removed; dead units too unless ``condense=false``).
2. The spectrum of the symmetric normalised Laplacian ``L = I - D^-1/2 A D^-1/2`` is computed
   exactly (dense ``eigh``; a graph of c connected components has c zero eigenvalues).
3. **The number of clusters** is chosen by the eigengap rule: ``k`` maximises
   ``lambda_(k+1) - lambda_k`` over ``k`` from c to ``max(c, max_clusters)`` (and at most n - 1);
   ties go to the smaller k. So k is never below the number of components, and a graph with one
   strong cluster structure gets the k of its largest spectral gap.
4. The first k eigenvectors, scaled by ``D^-1/2`` (the generalised eigenvectors of ``L v = lambda
   D v``: scikit-learn's ``spectral_embedding`` with ``norm_laplacian``, as Filan et al. use it),
   are clustered by k-means (scikit-learn, ``n_init`` restarts, seeded from the cell's seed).
5. A cluster that spans two connected components is split along them: the spectral embedding of a
   disconnected graph is only defined up to a rotation of its null space (scikit-learn issue
   #9214), so components are never left to k-means to separate.

Filan et al. fix k (4 or 12) and use ARPACK; here k is chosen per network and the spectrum is
exact. ``k = 1`` gives one module per connected component.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sculptbench.api import Option, hookimpl
from sculptbench.plugins.detectors.unit_graph import CONDENSE, GraphDetector, ncut, seed32, split_by_components

#: Imported by worker processes before they take work (sculptbench.plugin.registry.WORKER_IMPORTS).
WORKER_IMPORTS = ("sklearn.cluster", "scipy.linalg")
#: Eigengaps within this distance count as tied (the smaller k wins).
GAP_TIE = 1e-9


def laplacian_spectrum(adjacency: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eigenvalues ascending, eigenvectors, D^-1/2) of the symmetric normalised Laplacian of a
    graph without isolated nodes."""
    from scipy.linalg import eigh

    degree = adjacency.sum(axis=1)
    inv_sqrt = 1.0 / np.sqrt(degree)
    laplacian = np.eye(len(degree)) - inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]
    values, vectors = eigh((laplacian + laplacian.T) / 2)
    return np.clip(values, 0.0, None), vectors, inv_sqrt


def eigengap_k(eigenvalues: np.ndarray, components: int, max_clusters: int) -> int:
    """The k in [components, max(components, max_clusters)] (at most n - 1) with the largest gap
    ``eigenvalues[k] - eigenvalues[k-1]`` (1-based: lambda_(k+1) - lambda_k); ties to the smaller k.
    A graph of one node pair (n = 2) has k = 1."""
    n = len(eigenvalues)
    top = min(max(components, max_clusters), n - 1)
    if top < components:  # every node its own component (cannot happen without isolated nodes)
        return components
    best_k, best_gap = components, -np.inf
    for k in range(components, top + 1):
        gap = eigenvalues[k] - eigenvalues[k - 1]
        if gap > best_gap + GAP_TIE:
            best_k, best_gap = k, gap
    return best_k


class SpectralDetector(GraphDetector):
    """Normalised-cut spectral clustering of the |w| unit graph, k chosen by the eigengap."""

    name = "spectral"
    version = "1.0"
    description = "Normalised-cut spectral clustering of the |w| unit graph (dead and isolated units removed), k chosen by the largest eigengap."
    citation = "Filan et al., Clusterability in neural networks, 2021; Shi & Malik, IEEE TPAMI 2000 (scikit-learn k-means)"
    options = (
        Option("max_clusters", int, 10, low=1, help="Largest k the eigengap rule considers (never fewer than the graph's connected components)."),
        Option("n_init", int, 5, low=1, help="k-means restarts on the spectral embedding (the best inertia is kept)."),
        CONDENSE,
    )

    def levels(self, graph, network, task, options, seed) -> tuple[list[np.ndarray], dict[str, Any]]:
        """One level: the k-means clusters of the spectral embedding, split along components."""
        adjacency = graph.dense()
        n_components, components = graph.components()
        values, vectors, inv_sqrt = laplacian_spectrum(adjacency)
        k = eigengap_k(values, n_components, options["max_clusters"])
        if k == 1:
            labels = np.zeros(graph.size, dtype=int)
        else:
            from sklearn.cluster import KMeans

            embedding = vectors[:, :k] * inv_sqrt[:, None]
            labels = KMeans(n_clusters=k, n_init=options["n_init"], random_state=seed32(seed)).fit_predict(embedding)
        labels = split_by_components(labels, components)
        shown = values[: min(len(values), max(options["max_clusters"], n_components) + 1)]
        info = {"k": int(k), "components": int(n_components), "eigenvalues": [round(float(v), 10) for v in shown],
                "ncut": ncut(adjacency, labels)}
        return [labels], info


@hookimpl
def register_detectors(register):
    """Register the spectral detector."""
    register(SpectralDetector())
