"""The built-in ``paris`` detector: Paris hierarchical agglomeration (Bonald et al. 2018) of the
|w| unit graph, through scikit-network (BSD), its dendrogram mapped onto a module hierarchy.

Paris merges, at each step, the two clusters a, b of smallest distance d(a, b) = p(a) p(b) / p(a, b)
(node-pair sampling probabilities); merging them raises modularity at resolution g exactly when
d(a, b) < 1/g, so the clustering left after t merges is the one Paris offers for resolutions
between 1/h_(t+1) and 1/h_t, where h_1 <= h_2 <= ... are the merge heights (scikit-network
returns them sorted). **The rule** that turns the dendrogram into modules:

* A straight cut after t merges (k = n - t clusters, 2 <= k <= n - 1) is a *level* when the
  clustering persists over a range of resolutions at least ``min_ratio`` wide:
  ``h_(t+1) / h_t >= min_ratio``. Merges between connected components have height infinity
  (scikit-network issue #546): the cut into components has ratio infinity and is always a level,
  and the cuts between two infinite merges (components joined in an arbitrary order) never are.
* The hierarchy is the ``levels`` most persistent levels (largest ratios; ties to the coarser),
  ordered coarse to fine in ``Detection.info["hierarchy"]``. ``Detection.modules`` is, by
  ``modules``, the most persistent level (``persistent``, the default: the clustering Paris
  offers over the widest range of resolutions, which is the split into connected components
  whenever there are several) or the finest level of the hierarchy (``finest``).
* With no level (a graph with no clustering that persists, e.g. one dense block), the detection
  is one module of every unit of the graph.

Straight cuts of a dendrogram whose heights never decrease are nested, so each level refines the
one above it. Paris is deterministic: the seed is not used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sculptbench.api import Option, hookimpl
from sculptbench.plugins.detectors.sculpting import cut_linkage
from sculptbench.plugins.detectors.unit_graph import CONDENSE, GraphDetector

#: Imported by worker processes before they take work (sculptbench.plugin.registry.WORKER_IMPORTS).
WORKER_IMPORTS = ("sknetwork.hierarchy",)


def merges_in_order(dendrogram: np.ndarray, n: int) -> np.ndarray:
    """``dendrogram`` with every merge after the merges that made its two clusters, nodes renumbered.

    scikit-network's ``reorder=True`` sorts merges by height; between merges of equal height it can
    put a merge before the one that made its cluster, which no cut can apply in order. Among the
    merges ready at each step, the lowest (then the earliest) comes first, so a valid dendrogram is
    returned unchanged.
    """
    import heapq

    rows = len(dendrogram)
    children = [[int(c) for c in dendrogram[r, :2]] for r in range(rows)]
    waiting = [sum(c >= n for c in pair) for pair in children]
    parent_of = {c - n: r for r, pair in enumerate(children) for c in pair if c >= n}
    ready = [(dendrogram[r, 2], r) for r in range(rows) if waiting[r] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, r = heapq.heappop(ready)
        order.append(r)
        up = parent_of.get(r)
        if up is not None:
            waiting[up] -= 1
            if waiting[up] == 0:
                heapq.heappush(ready, (dendrogram[up, 2], up))
    if order == list(range(rows)):
        return dendrogram
    new_id = {n + r: n + p for p, r in enumerate(order)}
    out = dendrogram[order].copy()
    for p in range(rows):
        out[p, 0], out[p, 1] = (new_id.get(int(c), int(c)) for c in out[p, :2])
    return out


def exact_paris(adjacency: Any) -> np.ndarray:
    """Paris in double precision: scikit-network's nearest-neighbour chain (degree weights, ties to
    the smaller cluster id, components joined at height infinity, last found first), for graphs on
    which its single-precision similarities fail. Merges in the order they were made."""
    from scipy import sparse

    matrix = sparse.csr_matrix(adjacency, dtype=np.float64)
    degree = np.asarray(matrix.sum(axis=1)).ravel()
    # scikit-network gives each isolated unit a self-loop of weight 1 after taking the degrees: it
    # counts in the total that normalises the edges (every height scales alike)
    n, total = matrix.shape[0], float(matrix.data.sum()) + float(np.sum(degree == 0))
    neighbors: dict[int, dict[int, float]] = {i: {} for i in range(n)}
    for i in range(n):
        for j, w in zip(matrix.indices[matrix.indptr[i]:matrix.indptr[i + 1]], matrix.data[matrix.indptr[i]:matrix.indptr[i + 1]]):
            neighbors[i][int(j)] = neighbors[i].get(int(j), 0.0) + float(w) / total
    weight = {i: float(degree[i] / degree.sum()) for i in range(n)}
    size = {i: 1 for i in range(n)}  # the live clusters, oldest first
    dendrogram, components, next_id = [], [], n
    while size:
        chain = [next(iter(size))]
        while chain:
            node = chain.pop()
            others = [k for k in neighbors[node] if k != node]
            if not others:
                components.append((node, size.pop(node)))
                continue
            best, best_sim = -1, -math.inf
            for k in others:
                sim = neighbors[node][k] / (weight[node] * weight[k])
                if sim > best_sim or (sim == best_sim and k < best):
                    best, best_sim = k, sim
            if not chain:
                chain += [node, best]
                continue
            last = chain.pop()
            if last != best:
                chain += [last, node, best]
                continue
            merged = {}
            for old in (node, best):
                for k, w in neighbors.pop(old).items():
                    key = next_id if k in (node, best) else k
                    merged[key] = merged.get(key, 0.0) + w
            for k, w in merged.items():
                if k != next_id:
                    neighbors[k].pop(node, None), neighbors[k].pop(best, None)
                    neighbors[k][next_id] = w
            neighbors[next_id] = merged
            weight[next_id] = weight.pop(node) + weight.pop(best)
            size[next_id] = size.pop(node) + size.pop(best)
            dendrogram.append([node, best, 1.0 / best_sim, size[next_id]])
            next_id += 1
    node, count = components.pop()
    for other, other_count in components:
        count += other_count
        dendrogram.append([node, other, math.inf, count])
        node, next_id = next_id, next_id + 1
    return np.array(dendrogram, dtype=float).reshape(-1, 4)


def paris_dendrogram(adjacency: Any) -> tuple[np.ndarray, list[str]]:
    """scikit-network's Paris dendrogram, sorted by height; where its single-precision similarities
    underflow (units joined only by weights near 1e-40, which a trained network can keep) and its
    chain fails, :func:`exact_paris`'s, with a note."""
    from sknetwork.hierarchy import Paris

    try:
        return Paris(weights="degree", reorder=True).fit_predict(adjacency), []
    except KeyError as exc:
        note = (f"scikit-network's Paris failed on this graph (KeyError {exc}: its single-precision similarities underflow "
                "on units joined only by tiny weights); the dendrogram is Paris in double precision (exact_paris)")
        return exact_paris(adjacency), [note]


def persistent_cuts(heights: np.ndarray, min_ratio: float) -> list[tuple[int, float]]:
    """``(k, ratio)`` of every straight cut whose persistence ratio h_(t+1) / h_t is at least
    ``min_ratio`` (k = n - t clusters after t merges, 2 <= k <= n - 1), finest first."""
    n = len(heights) + 1
    cuts = []
    for t in range(1, n - 1):
        low, high = float(heights[t - 1]), float(heights[t])
        if math.isinf(low):
            continue  # components joined in an arbitrary order
        ratio = math.inf if math.isinf(high) else high / low
        if ratio >= min_ratio:
            cuts.append((n - t, ratio))
    return cuts


def chosen_levels(cuts: list[tuple[int, float]], levels: int) -> list[tuple[int, float]]:
    """The ``levels`` cuts of largest ratio (ties to the coarser), coarse to fine."""
    best = sorted(cuts, key=lambda cut: (-cut[1], cut[0]))[:levels]
    return sorted(best)


class ParisDetector(GraphDetector):
    """Paris hierarchical agglomeration of the |w| unit graph; levels are its persistent cuts."""

    name = "paris"
    version = "1.0"
    description = "Paris hierarchical agglomeration of the |w| unit graph (scikit-network); levels are the dendrogram's persistent cuts, modules the most persistent."
    citation = "Bonald, Charpentier, Galland & Hollocou, Hierarchical graph clustering using node pair sampling, MLG 2018 (scikit-network Paris)"
    options = (
        Option("min_ratio", float, 2.0, low=1, low_open=True, help="A cut is a level when its clustering persists over resolutions at least this ratio wide (h_(t+1) / h_t)."),
        Option("levels", int, 2, low=1, help="At most this many levels (the most persistent) make the hierarchy."),
        Option("modules", str, "persistent", choices=("persistent", "finest"), help="Which level is the detection's modules: the most persistent, or the finest of the hierarchy."),
        CONDENSE,
    )

    def levels(self, graph, network, task, options, seed) -> tuple[list[np.ndarray], dict[str, Any]]:
        """The chosen straight cuts of the Paris dendrogram, coarse to fine (one module if none)."""
        n = graph.size
        if n < 2:
            return [np.zeros(n, dtype=int)], {"cuts": []}
        raw, notes = paris_dendrogram(graph.adjacency)
        dendrogram = merges_in_order(raw, n)
        chosen = chosen_levels(persistent_cuts(dendrogram[:, 2], options["min_ratio"]), options["levels"])
        info = {"cuts": [{"k": k, "ratio": None if math.isinf(r) else round(r, 6)} for k, r in chosen]}
        if notes:
            info["notes"] = notes
        if not chosen:
            info["notes"] = [*notes, "no persistent cut: one module"]
            return [np.zeros(n, dtype=int)], info
        if options["modules"] == "persistent":
            info["flat_level"] = max(range(len(chosen)), key=lambda i: (chosen[i][1], -chosen[i][0]))
        return [cut_linkage(dendrogram, n, k) for k, _ in chosen], info


@hookimpl
def register_detectors(register):
    """Register the Paris detector."""
    register(ParisDetector())
