"""A Louvain community-detection baseline on the pruned unit graph.

The network is condensed first (same rule as the sculpting detector), then networkx's
``louvain_communities`` runs on the undirected graph of surviving edges weighted by |w|, seeded
with the cell's seed. Units without any surviving edge (dead or isolated) are excluded.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from sculptbench.api import Detection, Detector, Option, Options, SculptedNetwork, Task, hookimpl
from sculptbench.plugins.detectors.sculpting import condense


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
    citation = "Blondel et al., J. Stat. Mech. 2008 (networkx louvain_communities)"
    options = (Option("resolution", float, 1.0, low=0, low_open=True, help="Modularity resolution: above 1 favours smaller communities."),)

    def detect(self, network: SculptedNetwork, task: Task, options: Options, seed: int) -> Detection:
        """Return the Louvain communities (sorted by smallest unit) of the condensed graph."""
        p = options
        g, removed = weighted_unit_graph(network)
        notes = []
        if g.number_of_edges() == 0:
            return Detection(modules=[], info={"params": p.as_dict(), "condensed": [list(u) for u in removed],
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
            "params": p.as_dict(),
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
