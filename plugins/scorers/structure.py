# Over 500 lines because a built-in is the module of its own feature: the structure scorer's pure metric functions, its class and its hook stay together.
"""The built-in ``structure`` scorer: does a detection recover the task's module DAG?

Every definition here is documented, with worked examples, in ``docs/scoring.md``. In short:

1. :func:`reduce_detection` turns a detection over a pruned network into a small DAG with one
   node per input, per output and per detected module holding hidden units, in the same form as
   :meth:`sculptbench.api.GroundTruth.graph`.
2. :func:`contract_series` merges chains of modules (a sub-function computed over several
   consecutive layers is one sub-function); it is applied to both graphs.
3. :func:`absorb_outputs` folds output-private modules (a module whose only successor is one
   output) into that output; :func:`normalise` iterates contraction and absorption to a fixed
   point, on both graphs.
4. :func:`compare_graphs` computes success (label-preserving isomorphism), the paper's three
   aspects (input separability from the detection's own partition of the inputs, hidden
   separability, output grouping), ARIs, module counts and a normalised graph edit distance
   (:func:`graph_edit_distance`).

All functions are pure and deterministic.
"""

from __future__ import annotations

import itertools
from typing import Any, Hashable, Iterable, Mapping, Sequence

import networkx as nx
import numpy as np

from sculptbench.api import Detection, Options, Scorer, ScoreRecord, SculptedNetwork, Task, hookimpl

#: Imported by worker processes before they take work (sculptbench.plugin.registry.WORKER_IMPORTS).
WORKER_IMPORTS = ("sklearn.metrics", "scipy.optimize")

#: The exact GED enumerates maps when both graphs have at most this many module nodes.
EXACT_GED_MAX_MODULES = 7

Node = Hashable


# --------------------------------------------------------------------------- reduction
def _kind(node: Node) -> str:
    return node[0]  # "in", "module" or "out"


def _sorted(nodes: Iterable[Node]) -> list[Node]:
    """Nodes in a deterministic order (ids may mix ints and strings across graphs)."""
    return sorted(nodes, key=lambda n: (str(type(n[1])), n[1]) if isinstance(n, tuple) and len(n) == 2 else str(n))


def module_nodes(g: nx.DiGraph) -> list[Node]:
    """The module nodes of a reduced graph, in a deterministic order."""
    return _sorted(n for n in g if _kind(n) == "module")


def _pairs(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """Distinct (a[k], b[k]) pairs, sorted."""
    if a.size == 0:
        return []
    return [(int(x), int(y)) for x, y in np.unique(np.stack([a, b], axis=1), axis=0)]


def reduce_detection(
    detection: Detection,
    network: SculptedNetwork,
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> nx.DiGraph:
    """Reduce a detection to a module DAG in the form of :meth:`GroundTruth.graph`.

    Nodes: ``("in", name)`` (label ``"in:<name>"``) for every input unit, pruned or not;
    ``("out", name)`` (label ``"out:<name>"``) for every output unit; ``("module", i)`` (label
    ``"module"``) for each ``detection.modules[i]`` that contains at least one hidden unit.
    Edges, from surviving weights (``network.weight_masks``) only: ``in:x -> module m`` when
    input ``x`` has a weight into a hidden unit of ``m``; ``module a -> module b`` (``a != b``)
    when a hidden unit of ``a`` has a weight into a hidden unit of ``b``; ``module m -> out:y``
    when a hidden unit of ``m`` has a weight into output ``y``. Hidden units in no detected
    module are ignored, and so are direct input-to-output weights.
    """
    sizes = list(network.sizes)
    n_layers = len(sizes) - 1
    if len(input_names) != sizes[0] or len(output_names) != sizes[-1]:
        raise ValueError(
            f"network has {sizes[0]} inputs and {sizes[-1]} outputs, "
            f"got {len(input_names)} input and {len(output_names)} output names"
        )
    # module index of each hidden unit, -1 when it belongs to no module
    hidden_module = {layer: np.full(sizes[layer], -1, dtype=np.int64) for layer in range(1, n_layers)}
    with_hidden: set[int] = set()
    for i, module in enumerate(detection.modules):
        for layer, index in module:
            if 1 <= layer < n_layers and 0 <= index < sizes[layer]:
                hidden_module[layer][index] = i
                with_hidden.add(i)

    g = nx.DiGraph()
    for name in input_names:
        g.add_node(("in", name), label=f"in:{name}")
    for name in output_names:
        g.add_node(("out", name), label=f"out:{name}")
    for i in sorted(with_hidden):
        g.add_node(("module", i), label="module")
    if n_layers < 2:
        return g  # no hidden layer: nothing to reduce

    for layer, mask in enumerate(network.weight_masks):
        m = np.asarray(mask.detach().cpu().numpy() if hasattr(mask, "detach") else mask, dtype=bool)
        outs, ins = np.nonzero(m)
        if layer == 0:
            dst = hidden_module[1][outs]
            keep = dst >= 0
            g.add_edges_from((("in", input_names[s]), ("module", d)) for s, d in _pairs(ins[keep], dst[keep]))
        elif layer == n_layers - 1:
            src = hidden_module[layer][ins]
            keep = src >= 0
            g.add_edges_from((("module", s), ("out", output_names[d])) for s, d in _pairs(src[keep], outs[keep]))
        else:
            src = hidden_module[layer][ins]
            dst = hidden_module[layer + 1][outs]
            keep = (src >= 0) & (dst >= 0) & (src != dst)
            g.add_edges_from((("module", s), ("module", d)) for s, d in _pairs(src[keep], dst[keep]))
    return g


def group_inputs(g: nx.DiGraph, input_groups: Mapping[str, str]) -> nx.DiGraph:
    """Merge input nodes into group nodes (the rule for pixel inputs, see ``docs/scoring.md``).

    Input ``("in", x)`` becomes ``("in", input_groups.get(x, x))`` with label ``"in:<group>"``;
    its edges are unioned into the group's. Inputs without edges (pruned) contribute nothing but
    their group's node still exists. Module and output nodes are unchanged.
    """
    out = nx.DiGraph()
    group_of = {n: ("in", input_groups.get(n[1], n[1])) for n in g if _kind(n) == "in"}
    for node in _sorted(set(group_of.values())):
        out.add_node(node, label=f"in:{node[1]}")
    for node, data in g.nodes(data=True):
        if _kind(node) != "in":
            out.add_node(node, **data)
    for u, v in g.edges:
        out.add_edge(group_of.get(u, u), group_of.get(v, v))
    return out


# --------------------------------------------------------------------------- contraction
def contract_series(g: nx.DiGraph) -> nx.DiGraph:
    """Contract chains of modules; returns a new graph.

    A module edge ``a -> b`` is contracted iff ``a``'s only successor (over all nodes) is ``b``
    (so ``a`` drives no output and feeds no other module) and ``b``'s only predecessor (over all
    nodes) is ``a`` (so ``b`` reads no input and no other module). The merged node keeps ``a``'s
    id, ``a``'s predecessors and ``b``'s successors, and lists the merged ids in its ``merged``
    attribute. Repeated until no edge qualifies, so a chain of modules becomes one node that keeps
    the id of the chain's first module (deterministic whatever the order). Idempotent.
    """
    g = g.copy()
    for node in g:
        if _kind(node) == "module":
            g.nodes[node].setdefault("merged", (node,))
    # One pass suffices: contracting a -> b changes no other node's degrees, so only the merged
    # node a can newly qualify, and it is re-checked at once.
    for a in module_nodes(g):
        while a in g and g.out_degree(a) == 1:
            b = next(iter(g.successors(a)))
            if _kind(b) != "module" or b == a or g.in_degree(b) != 1:
                break
            successors = [s for s in g.successors(b) if s not in (a, b)]
            g.nodes[a]["merged"] = tuple(g.nodes[a]["merged"]) + tuple(g.nodes[b]["merged"])
            g.remove_node(b)
            g.add_edges_from((a, s) for s in successors)
    return g


# --------------------------------------------------------------------------- output absorption
def private_outputs(g: nx.DiGraph) -> frozenset[str]:
    """Names of the outputs that have a module of their own (a module whose only successor they are)."""
    return frozenset(
        succ[0][1] for m in module_nodes(g) if len(succ := list(g.successors(m))) == 1 and _kind(succ[0]) == "out"
    )


def absorb_outputs(g: nx.DiGraph, keep: frozenset[str] = frozenset()) -> nx.DiGraph:
    """Absorb output-private modules into their output; returns a new graph.

    Outputs named in ``keep`` keep their private modules: the scorer passes the outputs whose
    ground truth has a sub-function of its own (e.g. a sub-function used once), so that such a
    sub-function must still be found as a module.

    A module node whose successors are exactly one node, an output ``("out", y)``, computes that
    output's own function (an OR gate per output, a last-hidden unit feeding a single output): it
    is removed and each of its predecessors (inputs or modules) gets an edge to ``("out", y)``
    instead. The output node lists the absorbed module ids in its ``absorbed`` attribute. Repeated
    until no module qualifies (absorbing a module can make a predecessor output-private in turn),
    so inputs may end up connected directly to outputs. Idempotent.
    """
    g = g.copy()
    changed = True
    while changed:
        changed = False
        for m in module_nodes(g):
            if g.out_degree(m) != 1:
                continue
            y = next(iter(g.successors(m)))
            if _kind(y) != "out" or y[1] in keep:
                continue
            preds = list(g.predecessors(m))
            absorbed = tuple(g.nodes[y].get("absorbed", ())) + tuple(g.nodes[m].get("merged", (m,)))
            g.remove_node(m)
            g.add_edges_from((p, y) for p in preds)
            g.nodes[y]["absorbed"] = absorbed
            changed = True
    return g


def normalise(g: nx.DiGraph, keep: frozenset[str] = frozenset()) -> nx.DiGraph:
    """Alternate :func:`contract_series` and :func:`absorb_outputs` (with ``keep``) until nothing changes.

    Both steps only remove module nodes, so the node count stops falling exactly at the fixed
    point. Returns a new graph; idempotent.
    """
    while True:
        n = g.number_of_nodes()
        g = absorb_outputs(contract_series(g), keep)
        if g.number_of_nodes() == n:
            return g


# --------------------------------------------------------------------------- signatures and partitions
def input_signatures(g: nx.DiGraph) -> dict[str, frozenset]:
    """Map each input name to the set of module nodes it feeds (empty when pruned)."""
    return {n[1]: frozenset(s for s in g.successors(n) if _kind(s) == "module") for n in g if _kind(n) == "in"}


def output_signatures(g: nx.DiGraph) -> dict[str, frozenset]:
    """Map each output name to the set of all its predecessor nodes (modules and, after
    :func:`absorb_outputs`, inputs); empty when undriven."""
    return {n[1]: frozenset(g.predecessors(n)) for n in g if _kind(n) == "out"}


def detected_input_modules(detection: Detection, input_names: Sequence[str]) -> dict[str, int]:
    """Map each input name the detection put in a module (unit ``(0, index)``) to that module's index.

    Inputs in no module (pruned or condensed away by the detector) are absent.
    """
    return {
        input_names[index]: i
        for (layer, index), i in detection.module_of().items()
        if layer == 0 and 0 <= index < len(input_names)
    }


def module_labels(items: Sequence[str], modules: Mapping[str, Hashable]) -> list[int]:
    """Integer labels grouping ``items`` by detected module; an item in no module is a singleton."""
    keys: dict[Any, int] = {}
    labels = []
    for item in items:
        key = ("module", modules[item]) if item in modules else ("alone", item)
        labels.append(keys.setdefault(key, len(keys)))
    return labels


def module_signatures(g: nx.DiGraph) -> dict[Node, tuple[frozenset, frozenset]]:
    """Map each module node to (names of inputs with a path to it, names of outputs reachable from it)."""
    return {
        m: (
            frozenset(a[1] for a in nx.ancestors(g, m) if _kind(a) == "in"),
            frozenset(d[1] for d in nx.descendants(g, m) if _kind(d) == "out"),
        )
        for m in module_nodes(g)
    }


def signature_labels(items: Sequence[str], signatures: Mapping[str, frozenset]) -> list[int]:
    """Integer labels grouping ``items`` by equal signature; an empty (or missing) signature is a singleton."""
    keys: dict[Any, int] = {}
    labels = []
    for item in items:
        sig = signatures.get(item, frozenset())
        key = ("sig", sig) if sig else ("alone", item)
        labels.append(keys.setdefault(key, len(keys)))
    return labels


def partition(items: Sequence[str], labels: Sequence[int]) -> frozenset[frozenset[str]]:
    """The partition of ``items`` induced by ``labels``, as a set of blocks."""
    blocks: dict[int, set[str]] = {}
    for item, label in zip(items, labels):
        blocks.setdefault(label, set()).add(item)
    return frozenset(frozenset(b) for b in blocks.values())


def _grouping(items: Sequence[str], detected: Sequence[int], truth: Sequence[int]) -> tuple[bool, float | None]:
    """(partitions identical, adjusted Rand index) of two labelings of ``items``; (False, None) when empty."""
    if not items:
        return False, None
    same = partition(items, detected) == partition(items, truth)
    from sklearn.metrics import (
        adjusted_rand_score,  # imported when scoring: loading the plugin stays cheap
    )

    return same, float(adjusted_rand_score(list(truth), list(detected)))


# --------------------------------------------------------------------------- graph edit distance
def _ged_for_map(g1: nx.DiGraph, g2: nx.DiGraph, mapping: Mapping[Node, Node]) -> int:
    """Edit cost of ``g1 -> g2`` when exactly the nodes in ``mapping`` are substituted (labels equal)."""
    matched = sum(1 for u, v in g1.edges if u in mapping and v in mapping and g2.has_edge(mapping[u], mapping[v]))
    n = g1.number_of_nodes() + g2.number_of_nodes() + g1.number_of_edges() + g2.number_of_edges()
    return n - 2 * (len(mapping) + matched)


def graph_edit_distance(
    g1: nx.DiGraph, g2: nx.DiGraph, max_exact_modules: int = EXACT_GED_MAX_MODULES
) -> tuple[int, float, bool]:
    """Return ``(ged_raw, ged, exact)`` between two reduced graphs.

    Costs: inserting or deleting a node or an edge costs 1; substituting a node for one with the
    same ``label`` costs 0; nodes with different labels cannot be substituted. Input and output
    nodes carry unique labels, so they map to the same-labelled node when it exists; only module
    nodes are free. With both graphs holding at most ``max_exact_modules`` module nodes every
    maximal injective map between the module sets is enumerated (partial maps are never cheaper:
    mapping a node saves 2 and never unmatches an edge), which gives the exact GED. Otherwise
    modules are paired by :func:`scipy.optimize.linear_sum_assignment` on the Jaccard distance of
    their signatures (:func:`module_signatures`, inputs and outputs pooled) and the cost of that
    map, an upper bound, is returned with ``exact = False``. ``ged = ged_raw / (|V1|+|E1|+|V2|+|E2|)``
    (0 for two empty graphs), in [0, 1].
    """
    by_label = {d["label"]: n for n, d in g2.nodes(data=True) if d["label"] != "module"}
    fixed = {n: by_label[d["label"]] for n, d in g1.nodes(data=True) if d["label"] != "module" and d["label"] in by_label}
    m1, m2 = module_nodes(g1), module_nodes(g2)
    total = g1.number_of_nodes() + g2.number_of_nodes() + g1.number_of_edges() + g2.number_of_edges()
    exact = len(m1) <= max_exact_modules and len(m2) <= max_exact_modules
    if exact:
        best = None
        if len(m1) <= len(m2):
            candidates = (dict(zip(m1, perm)) for perm in itertools.permutations(m2, len(m1)))
        else:
            candidates = (dict(zip(perm, m2)) for perm in itertools.permutations(m1, len(m2)))
        for modmap in candidates:
            cost = _ged_for_map(g1, g2, {**fixed, **modmap})
            if best is None or cost < best:
                best = cost
        raw = int(best)
    else:
        s1, s2 = module_signatures(g1), module_signatures(g2)

        def pooled(sig: tuple[frozenset, frozenset]) -> frozenset:
            return frozenset(("in", x) for x in sig[0]) | frozenset(("out", y) for y in sig[1])

        p1, p2 = [pooled(s1[m]) for m in m1], [pooled(s2[m]) for m in m2]
        cost = np.zeros((len(m1), len(m2)))
        for i, a in enumerate(p1):
            for j, b in enumerate(p2):
                union = len(a | b)
                cost[i, j] = 1.0 - (len(a & b) / union if union else 1.0)
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(cost)
        modmap = {m1[i]: m2[j] for i, j in zip(rows, cols)}
        raw = int(_ged_for_map(g1, g2, {**fixed, **modmap}))
    return raw, (raw / total if total else 0.0), exact


# --------------------------------------------------------------------------- comparison
def _is_isomorphic(g1: nx.DiGraph, g2: nx.DiGraph) -> bool:
    """Label-preserving isomorphism."""
    return nx.is_isomorphic(g1, g2, node_match=lambda a, b: a["label"] == b["label"])


def hidden_separable(detected: nx.DiGraph, truth: nx.DiGraph) -> bool:
    """True iff every ground-truth module's signature occurs among the detected module signatures,
    and no detected module reaches the outputs of sub-functions that the ground truth computes
    apart (:func:`spanning_modules`)."""
    found = set(module_signatures(detected).values())
    if not all(sig in found for sig in module_signatures(truth).values()):
        return False
    return not spanning_modules(detected, truth)


def spanning_modules(detected: nx.DiGraph, truth: nx.DiGraph) -> list[Node]:
    """Detected modules that reach outputs of sub-functions the ground truth computes apart.

    A detected module reaching two or more outputs is returned when no ground-truth module reaches
    all of them (:func:`module_signatures`): its hidden units serve two sub-functions that share no
    module in the task, as a first-layer module over all inputs feeding both halves of an overlap
    task does. A module shared in the ground truth (``f1`` feeding ``y1`` and ``y2`` in ``both``, or
    ``c`` feeding every output in the levels task) is not returned.
    """
    reach = [outs for _, outs in module_signatures(truth).values()]
    return [
        m for m, (_, outs) in module_signatures(detected).items()
        if len(outs) >= 2 and not any(outs <= r for r in reach)
    ]


def module_levels(g: nx.DiGraph) -> dict[Node, int]:
    """Each module's level: 1 + the length of the longest chain of modules feeding it."""
    levels: dict[Node, int] = {}
    for node in nx.topological_sort(g):
        if _kind(node) == "module":
            levels[node] = 1 + max((levels[p] for p in g.predecessors(node) if _kind(p) == "module"), default=0)
    return levels


def truncate_to_depth(g: nx.DiGraph, depth: int) -> nx.DiGraph:
    """The hierarchy a network with ``depth`` hidden layers can hold; returns a new graph.

    While the graph has more module levels (:func:`module_levels`) than ``depth``, the modules of the
    top level (whose successors can only be outputs) are absorbed into their outputs: each
    predecessor gets an edge to each of their outputs. A graph with at most ``depth`` levels is
    returned unchanged. The levels figure of the paper judges a 2-hidden-layer network on the
    3-level task against ``a, b -> c -> outputs`` this way.
    """
    g = g.copy()
    while True:
        levels = module_levels(g)
        if not levels or max(levels.values()) <= max(depth, 0):
            return g
        top = max(levels.values())
        for m in [n for n, level in levels.items() if level == top]:
            preds, succs = list(g.predecessors(m)), list(g.successors(m))
            g.remove_node(m)
            g.add_edges_from((p, s) for p in preds for s in succs)


def compare_graphs(
    detected: nx.DiGraph,
    truth: nx.DiGraph,
    input_names: Sequence[str],
    output_names: Sequence[str],
    input_groups: Mapping[str, str] | None = None,
    input_modules: Mapping[str, Hashable] | None = None,
    hidden_layers: int | None = None,
) -> dict[str, Any]:
    """All ``structure`` metrics of a reduced detection against a ground-truth graph.

    ``detected`` is the output of :func:`reduce_detection` (per input unit) and ``truth`` of
    :meth:`GroundTruth.graph`; both are contracted here (and, with ``input_groups``, grouped by
    :func:`group_inputs`). ``input_modules`` is the detection's own partition of the input units
    (input name -> detected module, :func:`detected_input_modules`); an input missing from it, or
    every input when it is ``None``, is a singleton group.

    ``hidden_separability`` is computed on the contracted graphs; success, output grouping,
    module counts and GED on the :func:`normalise`-d graphs (contracted and output-absorbed).
    Input separability compares the detected input partition with the inputs grouped by the set
    of contracted ground-truth modules reading them; with ``input_groups`` only the surviving
    input units (with an edge in the contracted reduced graph) are compared, each unit's true
    class being its group's ground-truth signature.

    ``success`` requires both the isomorphism and input separability. ``success_at_depth`` is the
    same test against the ground truth truncated to ``hidden_layers`` levels
    (:func:`truncate_to_depth`); without ``hidden_layers`` it equals ``success``.
    """
    input_modules = {} if input_modules is None else input_modules
    det_units = contract_series(detected)
    if input_groups is not None:
        det = contract_series(group_inputs(det_units, input_groups))
        gt = contract_series(group_inputs(truth, input_groups))
    else:
        det, gt = det_units, contract_series(truth)
    # Only detected output-private modules are absorbed, and only for outputs whose ground truth
    # has no sub-function of its own; the ground truth is therefore never absorbed.
    keep = private_outputs(gt)
    det_abs, gt_abs = normalise(det, keep), normalise(gt, keep)

    # input grouping: the detection's partition against the ground-truth modules reading each input
    gt_in = input_signatures(gt)
    if input_groups is not None:
        det_in = input_signatures(det_units)
        items = [x for x in input_names if det_in.get(x)]
        truth_keys: dict[Any, int] = {}
        truth_labels = []
        for x in items:
            group = input_groups.get(x, x)
            sig = gt_in.get(group, frozenset())
            key = ("sig", sig) if sig else ("alone", group)
            truth_labels.append(truth_keys.setdefault(key, len(truth_keys)))
    else:
        items = list(input_names)
        truth_labels = signature_labels(items, gt_in)
    detected_labels = module_labels(items, input_modules)
    input_sep, input_ari = _grouping(items, detected_labels, truth_labels)
    input_sizes = bool(items) and sorted(map(len, partition(items, detected_labels))) == sorted(
        map(len, partition(items, truth_labels)))

    # output grouping
    outs = list(output_names)
    output_same, output_ari = _grouping(
        outs, signature_labels(outs, output_signatures(det_abs)), signature_labels(outs, output_signatures(gt_abs))
    )

    ged_raw, ged, ged_exact = graph_edit_distance(det_abs, gt_abs)
    success = bool(_is_isomorphic(det_abs, gt_abs)) and bool(input_sep)
    success_at_depth = success
    if hidden_layers is not None:
        gt_depth = truncate_to_depth(gt, hidden_layers)
        if gt_depth.number_of_nodes() != gt.number_of_nodes():
            keep_depth = private_outputs(gt_depth)
            success_at_depth = bool(input_sep) and bool(_is_isomorphic(normalise(det, keep_depth), normalise(gt_depth, keep_depth)))
    return {
        "success": success,
        "success_at_depth": success_at_depth,
        "input_separability": bool(input_sep),
        "input_group_sizes": bool(input_sizes),
        "hidden_separability": bool(hidden_separable(det, gt)),
        "output_grouping": bool(output_same),
        "input_ari": input_ari,
        "output_ari": output_ari,
        "modules_found": len(module_nodes(det_abs)),
        "modules_expected": len(module_nodes(gt_abs)),
        "ged": float(ged),
        "ged_raw": int(ged_raw),
        "ged_exact": bool(ged_exact),
    }


def score_structure(detection: Detection, network: SculptedNetwork, task: Task) -> dict[str, Any]:
    """The ``structure`` metrics of ``detection`` on ``network`` for ``task``.

    Uses ``task.input_names``, ``task.output_names``, ``task.ground_truth`` and, when present,
    ``task.input_groups`` (input name -> group name; the pixel-input rule).
    """
    reduced = reduce_detection(detection, network, task.input_names, task.output_names)
    groups = getattr(task, "input_groups", None)
    return compare_graphs(
        reduced,
        task.ground_truth.graph(),
        task.input_names,
        task.output_names,
        groups,
        input_modules=detected_input_modules(detection, task.input_names),
        hidden_layers=len(network.sizes) - 2,
    )


class StructureScorer(Scorer):
    """Compares the detected module DAG with the task's ground-truth hierarchy (``docs/scoring.md``)."""

    name = "structure"
    version = "3.0"
    citation = "Patil, Michael & Dovrolis, NeurIPS 2023 (its success criterion), with ARI and graph edit distance"
    metrics = {
        "success": "the normalised (contracted, output-absorbed) detected and ground-truth DAGs are isomorphic (labels preserved), and the inputs are separated",
        "success_at_depth": "success against the ground truth truncated to the levels the network's hidden layers can hold",
        "input_separability": "the detection partitions the inputs (by module) exactly as the ground-truth modules read them",
        "input_group_sizes": "the detected input groups have the sizes of the ground-truth ones (the paper's judgement from unlabelled drawings)",
        "hidden_separability": "every ground-truth module has a detected module with the same (inputs, outputs) signature, and no detected module reaches outputs that no ground-truth module reaches together",
        "output_grouping": "outputs are partitioned by their predecessors (normalised DAG) exactly as in the ground truth",
        "input_ari": "adjusted Rand index of the detected vs ground-truth input partitions",
        "output_ari": "adjusted Rand index of the detected vs ground-truth output partitions",
        "modules_found": "number of module nodes of the detected DAG after contraction and output absorption",
        "modules_expected": "number of module nodes of the ground-truth DAG after contraction and output absorption",
        "ged": "graph edit distance normalised by |V1|+|E1|+|V2|+|E2|, in [0, 1]",
        "ged_raw": "unnormalised graph edit distance (integer)",
        "ged_exact": "whether ged is exact (<= 7 modules per graph) or an assignment upper bound",
    }

    def score(self, detection: Detection, network: SculptedNetwork, task: Task, options: Options | None = None, seed: int = 0) -> ScoreRecord:
        """Return the ``structure`` metrics (see :attr:`metrics`)."""
        return ScoreRecord(self.name, score_structure(detection, network, task))


@hookimpl
def register_scorers(register):
    """Register the built-in ``structure`` scorer."""
    register(StructureScorer())
