"""The built-in ``infomap`` detector: Infomap's multilevel map-equation modules (Rosvall &
Bergstrom 2008, 2011) of the |w| unit graph. The ``infomap`` package is AGPL-licensed, so it is an
optional extra, never a dependency: ``pip install "sculptbench[infomap]"``. Without it the
detector is still listed, and asking for it stops the run at planning with one line naming the
extra (exit status 2).

* **Undirected flow.** An MLP is a DAG: a random walker following the weights' direction would
  end at the outputs with nowhere to go (Infomap issue #42, PR #231), so links are undirected and
  flow is proportional to |w| in both directions (``flow_model="undirected"``).
* **Multilevel.** Infomap returns a tree of modules; the hierarchy in
  ``Detection.info["hierarchy"]`` has one level per depth of that tree (coarse to fine; a node on
  a shorter branch stays in its deepest module), and ``Detection.modules`` are the leaf modules
  (the finest level). ``two_level=true`` asks for one level of modules.
* **Codelength checked.** The detector recomputes the map equation of the tree Infomap returns
  (:func:`map_equation`) and records both values; a tree that does not compress the walk (its
  codelength not below the one-level codelength, H(p)) is replaced by one module, whatever
  Infomap put in it (Infomap issue #899 and #1020 discuss what the one-level reference means).
* Seeded: Infomap's random number generator starts from a seed drawn from the cell's seed, and
  ``trials`` independent runs keep the shortest codelength.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from scipy import sparse

from sculptbench.api import Option, Options, SculptbenchError, hookimpl
from sculptbench.plugins.detectors.unit_graph import CONDENSE, GraphDetector, relabel, seed32

#: Imported by worker processes before they take work, where installed (see :func:`missing_extra`).
WORKER_IMPORTS: tuple[str, ...] = ()
#: Codelengths closer than this (bits) count as equal.
CODELENGTH_TOL = 1e-9
#: The one line a run without the extra stops with.
MISSING = ('detector infomap needs the optional package infomap (AGPL-licensed, so never installed by default); '
           'install it with: pip install "sculptbench[infomap]"')


def _load_infomap() -> Any:
    """The ``infomap`` module, or a :class:`SculptbenchError` naming the extra."""
    try:
        import infomap
    except ImportError:
        raise SculptbenchError(MISSING) from None
    return infomap


def _plogp(values: np.ndarray) -> float:
    values = values[values > 0]
    return float(np.sum(values * np.log2(values)))


def _codebook(rates: np.ndarray) -> float:
    """usage x entropy of one codebook, in bits: sum(r) log sum(r) - sum r log r."""
    total = float(rates.sum())
    return 0.0 if total <= 0 else total * np.log2(total) - _plogp(rates)


def map_equation(adjacency: Any, paths: Sequence[Sequence[Any]]) -> float:
    """The hierarchical map equation, in bits, of an undirected weighted graph and a module tree.

    ``paths[i]`` is node i's module path from the top (``(1, 3)``: submodule 3 of top module 1;
    ``()``: a node directly under the root). Under undirected flow a node is visited at rate
    p = strength / total strength, and a module is exited at rate q = (weight of its boundary
    edges) / total strength. Each module's codebook codes its exit, the entries into its
    submodules and the visits to its own nodes; the root's codes the entries into the top
    modules. The codelength is the sum over codebooks of usage x entropy (Rosvall & Bergstrom,
    PLoS ONE 2011); with one module of every node it is H(p), the one-level codelength.
    """
    a = sparse.csr_matrix(adjacency, dtype=np.float64)
    strength = np.asarray(a.sum(axis=1)).ravel()
    total = strength.sum()
    visits = strength / total
    members: dict[tuple, list[int]] = {}
    for node, path in enumerate(paths):
        for depth in range(len(path) + 1):
            members.setdefault(tuple(path[:depth]), []).append(node)
    exits = {}
    for module, nodes in members.items():
        inside = np.zeros(len(paths), dtype=bool)
        inside[nodes] = True
        exits[module] = float(a[inside][:, ~inside].sum()) / total
    length = 0.0
    for module, nodes in members.items():
        children = [m for m in members if len(m) == len(module) + 1 and m[: len(module)] == module]
        own = [node for node in nodes if tuple(paths[node]) == module]
        rates = [exits[m] for m in children] + [visits[node] for node in own]
        if module:
            rates.append(exits[module])
        length += _codebook(np.array(rates))
    return length


def level_labels(paths: Sequence[Sequence[Any]]) -> list[np.ndarray]:
    """One labels array per depth of the module tree (1 .. deepest), coarse to fine; a node on a
    shorter branch keeps its deepest module."""
    depth = max((len(p) for p in paths), default=0)
    return [relabel([tuple(p[: d]) for p in paths]) for d in range(1, depth + 1)] or [np.zeros(len(paths), dtype=int)]


class InfomapDetector(GraphDetector):
    """Infomap's multilevel map-equation modules of the |w| unit graph, undirected flow (optional extra)."""

    name = "infomap"
    version = "1.0"
    description = 'Infomap multilevel modules of the |w| unit graph, undirected flow, codelength checked (optional: pip install "sculptbench[infomap]").'
    citation = "Rosvall & Bergstrom, PNAS 2008 and PLoS ONE 2011 (the infomap package, AGPL)"
    options = (
        Option("trials", int, 5, low=1, help="Independent Infomap runs; the shortest codelength is kept."),
        Option("two_level", bool, False, help="One level of modules instead of Infomap's multilevel tree."),
        CONDENSE,
    )

    def check_options(self, options: Options) -> None:
        """Refuse the run at planning when the optional package is not installed."""
        _load_infomap()

    def levels(self, graph, network, task, options, seed) -> tuple[list[np.ndarray], dict[str, Any]]:
        """The levels of Infomap's module tree (one module when it does not compress)."""
        infomap = _load_infomap()
        upper = sparse.triu(graph.adjacency, k=1).tocoo()
        links = [(int(i), int(j), float(w)) for i, j, w in zip(upper.row, upper.col, upper.data)]
        run_options = infomap.Options(flow_model="undirected", seed=seed32(seed), num_trials=options["trials"],
                                      two_level=options["two_level"])
        result = infomap.run(infomap.Network().add_links(links), options=run_options)
        # The leaves' paths in the tree (multilevel_modules() pads a shorter branch to the deepest level).
        modules: Mapping[int, tuple] = {leaf.node_id: tuple(leaf.path[:-1]) for leaf in result.tree() if leaf.is_leaf}
        paths = [modules[i] for i in range(graph.size)]
        recomputed = map_equation(graph.adjacency, paths)
        info = {"codelength": float(result.codelength), "one_level_codelength": float(result.one_level_codelength),
                "codelength_recomputed": recomputed}
        if abs(recomputed - result.codelength) > 1e-6:
            raise SculptbenchError(f"infomap reported codelength {result.codelength:.9f} but its tree has {recomputed:.9f}; "
                                   "the installed infomap does not compute the map equation this detector checks")
        if not recomputed < map_equation(graph.adjacency, [()] * graph.size) - CODELENGTH_TOL:
            info["notes"] = ["the module tree does not compress the walk: one module"]
            return [np.zeros(graph.size, dtype=int)], info
        return level_labels(paths), info


@hookimpl
def register_detectors(register):
    """Register the Infomap detector (listed even without the optional package)."""
    register(InfomapDetector())
