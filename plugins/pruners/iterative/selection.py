"""The label-free rules that pick one of a cell's pruned variants (``select`` and the authors' rule).

Pure functions of the networks (and of a detection), testable on hand-built inputs; the pruner
(:mod:`.pruner`) runs the detector and applies them.
"""

from __future__ import annotations

from typing import Any, Sequence

from sculptbench.contracts.types import SculptedNetwork

#: Modularities closer than this count as equal (the sparsest of them is kept).
MODULARITY_TIE = 1e-9


def partition_modularity(net: SculptedNetwork, detection: Any) -> float:
    """Newman modularity of ``detection``'s modules on the undirected, unweighted graph of
    ``net``'s surviving edges (units outside every module count as modules of their own; a
    network without edges scores 0). Label-free: a network whose modules share no edge scores
    highest for its number of modules."""
    import networkx as nx
    from networkx.algorithms.community import modularity

    graph = nx.Graph()
    for layer in range(net.n_layers):
        rows, cols = net.weight_masks[layer].nonzero(as_tuple=True)
        graph.add_edges_from(((layer, int(i)), (layer + 1, int(o))) for o, i in zip(rows.tolist(), cols.tolist()))
    if graph.number_of_edges() == 0:
        return 0.0
    module_of = {tuple(u): k for k, module in enumerate(detection.modules) for u in module}
    groups: dict[Any, set] = {}
    for node in graph.nodes:
        groups.setdefault(module_of.get(node, ("alone", node)), set()).add(node)
    return float(modularity(graph, list(groups.values())))


def sparsity_key(net: SculptedNetwork, rule: str) -> float:
    """How a rule ranks sparsity, lower is sparser: under the authors' rule (``rule == "authors"``)
    minus the reference's pruned percentage rounded to three decimals, else the exact density.
    ``min`` over it keeps the first of equals, as the authors' ``np.argmax`` does."""
    if rule == "authors":
        return -round(100.0 * (1.0 - net.density()), 3)
    return net.density()


def authors_choice(nets: Sequence[SculptedNetwork]) -> SculptedNetwork:
    """The authors' pick: the network with the highest pruned percentage rounded to three decimals
    (the reference's ``round(100 (1 - density), 3)``), the first on ties (``np.argmax``).

    Networks that did not meet the threshold are passed over, unless none did.
    """
    ok = [n for n in nets if n.status == "ok"] or list(nets)
    return min(ok, key=lambda n: sparsity_key(n, "authors"))


def module_signature(detection: Any, last_layer: int) -> frozenset:
    """A detection's module structure, label-free: per module its input units, output units and layer count."""
    return frozenset(
        (frozenset(u for u in m if u[0] == 0), frozenset(u for u in m if u[0] == last_layer), len({u[0] for u in m}))
        for m in detection.modules
    )
