"""A Louvain community-detection baseline on the pruned unit graph.

The network is condensed first (same rule as the sculpting detector), then networkx's
``louvain_communities`` runs on the undirected graph of surviving edges weighted by |w|, seeded
with the cell's seed. Units without any surviving edge (dead or isolated) are excluded.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np
from sculptbench.plugins.detectors.sculpting import condense

from sculptbench import hookimpl
from sculptbench.contracts.components import Detector, Task
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.types import Detection, SculptedNetwork


def weighted_unit_graph(network: SculptedNetwork) -> tuple[nx.Graph, list]:
    """The undirected graph of condensed surviving edges with weight |w|, and the removed units.

    Nodes and edges are added in sorted order so that a seeded Louvain run is deterministic.
    The network's tensors are not modified (|w| is computed on a copy).
    """
    cond = condense(network.weight_masks)
    g = nx.Graph()
    edges = []
    for l, (m, w) in enumerate(zip(cond.masks, network.weights)):
        absw = np.abs(w.detach().cpu().numpy().astype(np.float64))  # a new array, never in place
        outs, ins = np.nonzero(m)
        edges.extend(((l, int(i)), (l + 1, int(o)), float(absw[o, i])) for o, i in zip(outs, ins))
    nodes = sorted({u for e in edges for u in e[:2]})
    g.add_nodes_from(nodes)
    g.add_weighted_edges_from(sorted(edges))
    return g, cond.removed


class LouvainDetector(Detector):
    """Louvain communities of the undirected, |w|-weighted pruned unit graph."""

    name = "louvain"
    version = "1.0"
    defaults = {"resolution": 1.0}

    def validate_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check and fill parameters; ``resolution`` must be a finite number > 0."""
        p = super().validate_params(params)
        r = p["resolution"]
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0:
            raise SculptbenchError(f"invalid resolution {r!r}; it must be a finite number > 0")
        return p

    def detect(self, network: SculptedNetwork, task: Task, params: dict[str, Any], seed: int) -> Detection:
        """Return the Louvain communities (sorted by smallest unit) of the condensed graph."""
        p = self.validate_params(dict(params))
        g, removed = weighted_unit_graph(network)
        notes = []
        if g.number_of_edges() == 0:
            return Detection(modules=[], info={"params": p, "condensed": [list(u) for u in removed],
                                               "excluded": [], "notes": ["no surviving edges"]})
        weight = "weight"
        if g.size(weight="weight") <= 0:
            # All surviving weights are exactly 0: modularity is undefined, use unit weights.
            weight = None
            notes.append("all surviving weights are 0; unweighted Louvain")
        comms = nx.community.louvain_communities(g, weight=weight, resolution=p["resolution"], seed=seed)
        modules = sorted((frozenset(c) for c in comms), key=min)
        kept = set(g.nodes)
        excluded = [[l, i] for l, n in enumerate(network.sizes) for i in range(n)
                    if (l, i) not in kept]  # condensed or isolated (e.g. edgeless outputs)
        info = {
            "params": p,
            "seed": seed,
            "n_communities": len(modules),
            "modularity": float(nx.community.modularity(g, modules, weight=weight, resolution=p["resolution"])),
            "condensed": [list(u) for u in removed],
            "excluded": excluded,
            "notes": notes,
        }
        return Detection(modules=modules, info=info)


@hookimpl
def register_detectors(register):
    """Register the Louvain baseline detector."""
    register(LouvainDetector())
