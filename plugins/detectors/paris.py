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
        from sknetwork.hierarchy import Paris

        n = graph.size
        if n < 2:
            return [np.zeros(n, dtype=int)], {"cuts": []}
        dendrogram = merges_in_order(Paris(weights="degree", reorder=True).fit_predict(graph.adjacency), n)
        chosen = chosen_levels(persistent_cuts(dendrogram[:, 2], options["min_ratio"]), options["levels"])
        info = {"cuts": [{"k": k, "ratio": None if math.isinf(r) else round(r, 6)} for k, r in chosen]}
        if not chosen:
            info["notes"] = ["no persistent cut: one module"]
            return [np.zeros(n, dtype=int)], info
        if options["modules"] == "persistent":
            info["flat_level"] = max(range(len(chosen)), key=lambda i: (chosen[i][1], -chosen[i][0]))
        return [cut_linkage(dendrogram, n, k) for k, _ in chosen], info


@hookimpl
def register_detectors(register):
    """Register the Paris detector."""
    register(ParisDetector())
