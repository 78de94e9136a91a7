"""Modules by greedy modularity maximisation (Clauset, Newman & Moore, "Finding community
structure in very large networks", Phys. Rev. E 70, 066111, 2004), with networkx.

The network becomes an undirected graph over its units, weighted by the absolute values of the
surviving weights; units without a surviving non-zero weight are left out (they belong to no
module). networkx's ``greedy_modularity_communities`` starts from one module per unit and merges
the pair that raises the modularity most, until no merge raises it (or, with ``max_modules``,
until at most that many modules remain). It is deterministic: the seed is not used.
"""

from __future__ import annotations

import networkx as nx
from networkx.algorithms.community import greedy_modularity_communities

from sculptbench.api import Detection, Detector, Option, Options, SculptedNetwork, Task


def weight_graph(network: SculptedNetwork) -> nx.Graph:
    """The undirected graph of ``network``'s surviving non-zero weights, weighted by ``|w|``."""
    graph = nx.Graph()
    for layer, (weight, mask) in enumerate(zip(network.weights, network.weight_masks)):
        outs, ins = (mask & (weight != 0)).nonzero(as_tuple=True)
        graph.add_weighted_edges_from(((layer, i), (layer + 1, o), abs(float(weight[o, i])))
                                      for o, i in zip(outs.tolist(), ins.tolist()))
    return graph


class GreedyModularityDetector(Detector):
    """Greedy modularity communities (Clauset-Newman-Moore) of the |w|-weighted graph of surviving weights."""

    name = "greedy"
    version = "0.2.0"
    citation = "Clauset, Newman & Moore, Finding community structure in very large networks, Phys. Rev. E 70, 066111 (2004)"
    options = (
        Option("resolution", float, 1.0, low=0, low_open=True,
               help="Modularity resolution: above 1 favours more, smaller modules; below 1 fewer, larger ones."),
        Option("max_modules", int, None, low=1, nullable=True,
               help="Keep merging past the modularity maximum until at most this many modules remain (null: stop at the maximum)."),
    )

    def detect(self, network: SculptedNetwork, task: Task, options: Options, seed: int) -> Detection:
        """The communities of the units with a surviving weight, each sorted module by its smallest unit."""
        graph = weight_graph(network)
        info = {"n_units": graph.number_of_nodes()}
        if graph.number_of_edges() == 0:
            return Detection(modules=[], info={**info, "note": "no surviving non-zero weights"})
        found = greedy_modularity_communities(graph, weight="weight", resolution=options["resolution"], best_n=options["max_modules"])
        modules = sorted((frozenset(c) for c in found), key=min)
        modularity = nx.community.modularity(graph, modules, weight="weight", resolution=options["resolution"])
        return Detection(modules=modules, info={**info, "modularity": float(modularity), "n_modules": len(modules)})
