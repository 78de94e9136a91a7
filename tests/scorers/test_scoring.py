"""Tests of the built-in ``structure`` scorer on hand-built networks, detections and ground truths."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest

from sculptbench.contracts.types import Detection, GroundTruth, GroundTruthModule, SculptedNetwork
from sculptbench.contracts.components import Task
from sculptbench.plugins.scorers import structure as S

X = ("x1", "x2", "x3", "x4")
Y = ("y1", "y2", "y3", "y4")


# --------------------------------------------------------------------------- helpers
class TinyTask(Task):
    """A task with a ground truth and no data."""

    def __init__(self, ground_truth, input_groups=None, inputs=None, outputs=None):
        self.name = "test/tiny"
        self.family = "test"
        self.ground_truth = ground_truth
        self.input_names = tuple(inputs or ground_truth.inputs)
        self.output_names = tuple(outputs or ground_truth.outputs)
        if input_groups is not None:
            self.input_groups = input_groups

    def data(self, device="cpu"):
        raise NotImplementedError


def net(sizes, *blocks):
    """A network from ``(layer, sources, targets)`` blocks: every source of ``layer`` feeds every target of ``layer+1``."""
    masks = [np.zeros((sizes[i + 1], sizes[i]), dtype=int) for i in range(len(sizes) - 1)]
    for layer, sources, targets in blocks:
        for s in sources:
            for t in targets:
                masks[layer][t, s] = 1
    return SculptedNetwork.from_masks(masks)


def det(*modules):
    """A detection from lists of (layer, index) units."""
    return Detection([frozenset(m) for m in modules])


def units(layer, *indices):
    return [(layer, i) for i in indices]


def score(detection, network, gt, **kw):
    rec = S.StructureScorer().score(detection, network, TinyTask(gt, **kw))
    assert rec.scorer == "structure"
    assert set(rec.metrics) == set(S.StructureScorer.metrics)
    return rec.metrics


M = GroundTruthModule
SEPARABLE = GroundTruth(X, Y, (M("a", ("x1", "x2"), (), ("y1", "y2")), M("b", ("x3", "x4"), (), ("y3", "y4"))))
REUSED = GroundTruth(
    X, Y, (M("s", X), M("g1", (), ("s",), ("y1", "y3")), M("g2", (), ("s",), ("y2", "y4")))
)


def separable_net(hidden_layers=2):
    """4-4-...-4: x1,x2 -> units 0,1 -> ... -> y1,y2 and x3,x4 -> units 2,3 -> ... -> y3,y4."""
    sizes = [4] * (hidden_layers + 2)
    blocks = []
    for layer in range(hidden_layers + 1):
        blocks += [(layer, [0, 1], [0, 1]), (layer, [2, 3], [2, 3])]
    return net(sizes, *blocks)


def separable_det(hidden_layers=2):
    """One module per path, holding its inputs, hidden units and outputs."""
    a = units(0, 0, 1) + units(hidden_layers + 1, 0, 1)
    b = units(0, 2, 3) + units(hidden_layers + 1, 2, 3)
    for layer in range(1, hidden_layers + 1):
        a += units(layer, 0, 1)
        b += units(layer, 2, 3)
    return det(a, b)


def reused_net():
    """4-4-4-4: all inputs -> h1 units 0,1 -> h2 unit 0 (y1, y3) and h2 unit 1 (y2, y4)."""
    return net([4, 4, 4, 4], (0, range(4), [0, 1]), (1, [0, 1], [0, 1]), (2, [0], [0, 2]), (2, [1], [1, 3]))


def graph(edges, inputs=X, outputs=Y):
    """A reduced graph from edges over names like 'x1', 'y2' or module ids like 'm0' / 0."""

    def node(n):
        if isinstance(n, str) and n in inputs:
            return ("in", n)
        if isinstance(n, str) and n in outputs:
            return ("out", n)
        return ("module", n)

    g = nx.DiGraph()
    for x in inputs:
        g.add_node(("in", x), label=f"in:{x}")
    for y in outputs:
        g.add_node(("out", y), label=f"out:{y}")
    for u, v in edges:
        for n in (node(u), node(v)):
            if n[0] == "module":
                g.add_node(n, label="module")
        g.add_edge(node(u), node(v))
    return g


# --------------------------------------------------------------------------- reduction
def test_reduction_matches_ground_truth_form():
    g = S.reduce_detection(separable_det(), separable_net(), X, Y)
    assert set(g.nodes) == {("in", x) for x in X} | {("out", y) for y in Y} | {("module", 0), ("module", 1)}
    assert g.nodes[("in", "x1")]["label"] == "in:x1"
    assert g.nodes[("out", "y4")]["label"] == "out:y4"
    assert g.nodes[("module", 0)]["label"] == "module"
    assert set(g.edges) == {
        (("in", "x1"), ("module", 0)), (("in", "x2"), ("module", 0)),
        (("module", 0), ("out", "y1")), (("module", 0), ("out", "y2")),
        (("in", "x3"), ("module", 1)), (("in", "x4"), ("module", 1)),
        (("module", 1), ("out", "y3")), (("module", 1), ("out", "y4")),
    }


def test_reduction_ignores_unassigned_hidden_units_and_uses_surviving_weights_only():
    network = separable_net()
    # a detection that leaves out path B's second hidden layer: B then drives no output
    d = det(units(1, 0, 1) + units(2, 0, 1), units(1, 2, 3))
    g = S.reduce_detection(d, network, X, Y)
    assert list(g.successors(("module", 1))) == []
    assert set(g.predecessors(("out", "y3"))) == set()


# --------------------------------------------------------------------------- perfect detections
def test_perfect_input_separable():
    m = score(separable_det(), separable_net(), SEPARABLE)
    assert m == {
        "success": True, "success_at_depth": True, "input_separability": True, "input_group_sizes": True,
        "hidden_separability": True, "output_grouping": True,
        "input_ari": 1.0, "output_ari": 1.0, "modules_found": 2, "modules_expected": 2,
        "ged": 0.0, "ged_raw": 0, "ged_exact": True,
    }


def test_perfect_reused():
    d = det(units(0, 0, 1, 2, 3) + units(1, 0, 1), units(2, 0) + units(3, 0, 2), units(2, 1) + units(3, 1, 3))
    m = score(d, reused_net(), REUSED)
    assert m["success"] and m["input_separability"] and m["hidden_separability"] and m["output_grouping"]
    assert (m["modules_found"], m["modules_expected"], m["ged_raw"]) == (3, 3, 0)


def test_one_hidden_layer_cannot_succeed_on_reused():
    # 4-2-4: every input feeds both hidden units; unit 0 drives y1, y3 and unit 1 drives y2, y4
    network = net([4, 2, 4], (0, range(4), [0, 1]), (1, [0], [0, 2]), (1, [1], [1, 3]))
    # input grouping is the detection's own partition of the inputs (v2.0): the detector put all
    # four inputs in m0's module, as the ground truth groups them (all read s)
    m = score(det(units(0, 0, 1, 2, 3) + units(1, 0), units(1, 1)), network, REUSED)
    assert not m["success"] and not m["hidden_separability"]
    assert m["input_separability"] and m["output_grouping"]  # groupings alone can be right
    assert (m["modules_found"], m["modules_expected"]) == (2, 3)
    # V1 = 8 + 2, E1 = 12, V2 = 8 + 3, E2 = 10; best map m0->s (4 input edges), m1->g1 (2 output edges)
    assert m["ged_raw"] == 43 - 2 * (10 + 6) == 11
    assert m["ged"] == pytest.approx(11 / 43)
    m = score(det(units(1, 0, 1)), network, REUSED)
    assert not m["success"] and not m["hidden_separability"] and not m["output_grouping"]


# --------------------------------------------------------------------------- failures
def test_merged_sub_functions():
    # the merged module also holds all four inputs, so the detected input partition is one block
    m = score(det(units(0, 0, 1, 2, 3) + units(1, 0, 1, 2, 3) + units(2, 0, 1, 2, 3)), separable_net(), SEPARABLE)
    assert not m["success"] and not m["hidden_separability"]
    assert not m["input_separability"] and not m["output_grouping"]
    # detected labels [0,0,0,0] vs true [0,0,1,1]: ARI = 0 by hand (sum C(n_ij,2)=2=expected)
    assert m["input_ari"] == 0.0 and m["output_ari"] == 0.0
    assert (m["modules_found"], m["modules_expected"]) == (1, 2)
    # map M->a: insert b and its 4 edges, delete M's 4 edges to/from x3,x4,y3,y4 = 9; total 9+8+10+8
    assert (m["ged_raw"], m["ged"], m["ged_exact"]) == (9, pytest.approx(9 / 35), True)


def test_split_sub_function():
    # path A is two parallel copies: x1,x2 -> h1 0 -> h2 0 -> y1,y2 and x1,x2 -> h1 1 -> h2 1 -> y1,y2
    network = net(
        [4, 4, 4, 4],
        (0, [0, 1], [0, 1]), (1, [0], [0]), (1, [1], [1]), (2, [0, 1], [0, 1]),
        (0, [2, 3], [2, 3]), (1, [2, 3], [2, 3]), (2, [2, 3], [2, 3]),
    )
    # the detector put x1,x2 with the first copy and x3,x4 with path B (input grouping is the
    # detection's own partition of the inputs since v2.0)
    d = det(units(0, 0, 1) + units(1, 0) + units(2, 0), units(1, 1) + units(2, 1), units(0, 2, 3) + units(1, 2, 3) + units(2, 2, 3))
    m = score(d, network, SEPARABLE)
    assert not m["success"]
    assert m["input_separability"] and m["output_grouping"] and m["input_ari"] == 1.0 and m["output_ari"] == 1.0
    # both halves have A's signature ({x1,x2},{y1,y2}), so every ground-truth signature is found
    assert m["hidden_separability"]
    assert (m["modules_found"], m["modules_expected"]) == (3, 2)
    # delete the extra module and its 4 edges; V1+E1+V2+E2 = 11+12+10+8
    assert (m["ged_raw"], m["ged"]) == (5, pytest.approx(5 / 41))


def test_split_by_inputs_fails_input_separability():
    # x1 -> h1 0, x2 -> h1 1, both -> h2 0,1 -> y1,y2; modules {h1 0} and {h1 1, h2 0, h2 1}
    network = net(
        [4, 4, 4, 4], (0, [0], [0]), (0, [1], [1]), (1, [0, 1], [0, 1]), (2, [0, 1], [0, 1]),
        (0, [2, 3], [2, 3]), (1, [2, 3], [2, 3]), (2, [2, 3], [2, 3]),
    )
    # the detector put x1 with the lower module and x2 with the upper one (since v2.0 the input
    # partition is the detection's own: {x1} {x2} {x3,x4})
    d = det(units(0, 0) + units(1, 0), units(0, 1) + units(1, 1) + units(2, 0, 1), units(0, 2, 3) + units(1, 2, 3) + units(2, 2, 3))
    m = score(d, network, SEPARABLE)
    assert not m["success"] and not m["input_separability"] and m["output_grouping"]
    # the upper module is reached from x1 (via the lower one) and x2: signature ({x1,x2},{y1,y2}) = a's
    assert m["hidden_separability"]
    # true [0,0,1,1], detected [0,1,2,2]: sum C(n_ij,2)=1, expected 2*1/6, max 1.5 -> 4/7
    assert m["input_ari"] == pytest.approx(4 / 7)


def test_wrongly_wired_output():
    # like input-separable, but y2 is driven by path B's last hidden layer
    network = net(
        [4, 4, 4, 4], (0, [0, 1], [0, 1]), (1, [0, 1], [0, 1]), (2, [0, 1], [0]),
        (0, [2, 3], [2, 3]), (1, [2, 3], [2, 3]), (2, [2, 3], [1, 2, 3]),
    )
    m = score(separable_det(), network, SEPARABLE)
    assert not m["success"] and not m["hidden_separability"] and not m["output_grouping"]
    assert m["input_separability"] and m["input_ari"] == 1.0
    # true [0,0,1,1], detected [0,1,1,1]: sum C(n_ij,2)=1 = expected 2*3/6 -> ARI 0
    assert m["output_ari"] == 0.0
    # Since v2.0 A, which now drives y1 only, is output-private and absorbed into y1: the detected
    # graph is x1,x2 -> y1 and x3,x4 -> B -> y2,y3,y4 (V1 = 9, E1 = 7; V2 = 10, E2 = 8). Best map
    # B -> b keeps 9 nodes and 4 edges: 34 - 2 (9 + 4) = 8 (was 2 before absorption).
    assert (m["ged_raw"], m["ged"], m["modules_found"]) == (8, pytest.approx(8 / 34), 1)


def test_pruned_input_is_its_own_group():
    network = net([4, 4, 4, 4], (0, [0], [0, 1]), (1, [0, 1], [0, 1]), (2, [0, 1], [0, 1]),
                  (0, [2, 3], [2, 3]), (1, [2, 3], [2, 3]), (2, [2, 3], [2, 3]))
    g = S.reduce_detection(separable_det(), network, X, Y)
    assert ("in", "x2") in g and g.degree(("in", "x2")) == 0
    # the detector condensed the pruned x2 away: it is in no module, hence a singleton group
    dropped = det(*[[u for u in mod if u != (0, 1)] for mod in separable_det().modules])
    m = score(dropped, network, SEPARABLE)
    assert not m["success"] and not m["input_separability"] and not m["hidden_separability"]
    assert m["output_grouping"]
    assert m["input_ari"] == pytest.approx(4 / 7)  # detected [0,1,2,2] vs true [0,0,1,1]
    assert (m["ged_raw"], m["ged"]) == (1, pytest.approx(1 / 35))
    # Since v2.0 input grouping is the detection's own partition: a detector that keeps the pruned
    # x2 in A's module groups the inputs right, although the graph (and success) still differ
    m = score(separable_det(), network, SEPARABLE)
    assert m["input_separability"] and m["input_ari"] == 1.0
    assert not m["success"] and not m["hidden_separability"] and m["ged_raw"] == 1


def test_two_pruned_inputs_are_two_singletons():
    labels = S.signature_labels(["a", "b", "c"], {"a": frozenset(), "b": frozenset(), "c": frozenset({1})})
    assert len(set(labels)) == 3


# --------------------------------------------------------------------------- contraction
def test_series_contraction_over_three_hidden_layers():
    network = separable_net(hidden_layers=3)
    layered = det(*[units(layer, *idx) for idx in ((0, 1), (2, 3)) for layer in (1, 2, 3)])
    reduced = S.reduce_detection(layered, network, X, Y)
    assert len(S.module_nodes(reduced)) == 6
    contracted = S.contract_series(reduced)
    assert S.module_nodes(contracted) == [("module", 0), ("module", 3)]
    assert contracted.nodes[("module", 0)]["merged"] == (("module", 0), ("module", 1), ("module", 2))
    m = score(layered, network, SEPARABLE)
    assert m["hidden_separability"] and m["modules_found"] == 2 and m["ged_raw"] == 0
    # every input is its own group here, so the DAG matches but success (v3.0) needs the grouping too
    assert not m["input_separability"] and not m["success"]
    with_inputs = det(units(0, 0, 1) + units(1, 0, 1), *[units(l, 0, 1) for l in (2, 3)],
                      units(0, 2, 3) + units(1, 2, 3), *[units(l, 2, 3) for l in (2, 3)])
    assert score(with_inputs, network, SEPARABLE)["success"]


def test_contraction_rules():
    chain = graph([("x1", "c"), ("c", "b"), ("b", "a"), ("a", "y1")])
    assert S.module_nodes(S.contract_series(chain)) == [("module", "c")]  # chain keeps its first id
    branch = graph([("x1", 0), (0, 1), (0, 2), (1, "y1"), (2, "y2")])
    assert len(S.module_nodes(S.contract_series(branch))) == 3  # 0 has two successors
    reads = graph([("x1", 0), (0, 1), ("x2", 1), (1, "y1")])
    assert len(S.module_nodes(S.contract_series(reads))) == 2  # 1 also reads an input
    drives = graph([("x1", 0), (0, 1), (0, "y2"), (1, "y1")])
    assert len(S.module_nodes(S.contract_series(drives))) == 2  # 0 also drives an output
    joins = graph([("x1", 0), ("x2", 2), (0, 1), (2, 1), (1, "y1")])
    assert len(S.module_nodes(S.contract_series(joins))) == 3  # 1 has two predecessors
    once = S.contract_series(chain)
    assert nx.utils.graphs_equal(S.contract_series(once), once)


def test_contraction_applies_to_ground_truth():
    gt = GroundTruth(("x1",), ("y1",), (M("p", ("x1",)), M("q", (), ("p",), ("y1",))))
    network = net([1, 2, 1], (0, [0], [0, 1]), (1, [0, 1], [0]))
    assert len(S.module_nodes(S.contract_series(gt.graph()))) == 1
    m = score(det(units(1, 0, 1)), network, gt)
    # the contracted truth module is y1's own sub-function, so the detected module feeding only y1
    # is kept (not absorbed) and must match it
    assert m["success"] and (m["modules_found"], m["modules_expected"]) == (1, 1)


def test_module_of_only_input_or_output_units_is_not_a_module():
    d = separable_det()
    hidden_only = det(*[[u for u in mod if u[0] in (1, 2)] for mod in d.modules])
    extra = det(units(0, 0, 1), units(0, 2, 3), units(3, 0, 1, 2, 3), *hidden_only.modules)
    g = S.reduce_detection(extra, separable_net(), X, Y)
    assert S.module_nodes(g) == [("module", 3), ("module", 4)]
    m = score(extra, separable_net(), SEPARABLE)
    assert m["success"] and m["modules_found"] == 2


# --------------------------------------------------------------------------- output absorption
def test_absorption_rules():
    # a module whose only successor is one output is absorbed: its predecessors feed the output
    private = graph([("x1", 0), ("x2", 0), (0, "y1")])
    g = S.absorb_outputs(private)
    assert S.module_nodes(g) == [] and set(g.predecessors(("out", "y1"))) == {("in", "x1"), ("in", "x2")}
    assert g.nodes[("out", "y1")]["absorbed"] == (("module", 0),)
    two_outputs = graph([("x1", 0), (0, "y1"), (0, "y2")])
    assert S.module_nodes(S.absorb_outputs(two_outputs)) == [("module", 0)]  # drives two outputs
    feeds_module = graph([("x1", 0), (0, 1), (1, "y1"), (1, "y2")])
    assert len(S.module_nodes(S.absorb_outputs(feeds_module))) == 2  # 0's successor is a module
    output_and_module = graph([("x1", 0), (0, 1), (0, "y1"), (1, "y2"), (1, "y3")])
    assert len(S.module_nodes(S.absorb_outputs(output_and_module))) == 2  # 0 has two successors
    # iterated: once 1 is absorbed into y1, 0's only successor is y1, so 0 is absorbed as well
    cascade = graph([("x1", 0), (0, 1), ("x2", 1), (1, "y1")])
    g = S.absorb_outputs(cascade)
    assert S.module_nodes(g) == [] and set(g.predecessors(("out", "y1"))) == {("in", "x1"), ("in", "x2")}
    assert nx.utils.graphs_equal(S.absorb_outputs(g), g)  # idempotent


def test_normalise_contracts_then_absorbs_to_a_fixed_point():
    # the both-task shape: f1..f3 read input pairs, o_i (an OR gate per output) -> y_i
    g = graph(
        [("x1", "f1"), ("x2", "f1"), ("x3", "f2"), ("x4", "f2"),
         ("f1", "o1"), ("f2", "o1"), ("f1", "o2"), ("f2", "o2"), ("o1", "y1"), ("o2", "y2")]
    )
    n = S.normalise(g)
    assert S.module_nodes(n) == [("module", "f1"), ("module", "f2")]
    assert set(n.predecessors(("out", "y1"))) == {("module", "f1"), ("module", "f2")}
    # a chain x1 -> a -> b -> y1 is contracted to one module, then absorbed: x1 -> y1
    chain = S.normalise(graph([("x1", "a"), ("a", "b"), ("b", "y1")]))
    assert S.module_nodes(chain) == [] and list(chain.predecessors(("out", "y1"))) == [("in", "x1")]
    assert chain.nodes[("out", "y1")]["absorbed"] == (("module", "a"), ("module", "b"))
    assert nx.utils.graphs_equal(S.normalise(n), n)


def test_output_signature_is_all_predecessors():
    g = S.absorb_outputs(graph([("x1", 0), (0, "y1"), ("x2", 1), (1, "y2"), (1, "y3"), ("x1", 2), (2, "y4")]))
    sig = S.output_signatures(g)
    assert sig == {
        "y1": frozenset({("in", "x1")}), "y2": frozenset({("module", 1)}),
        "y3": frozenset({("module", 1)}), "y4": frozenset({("in", "x1")}),
    }
    # y1 and y4 are both computed from x1 alone: one group (with module-only signatures, as in
    # v1.0, both would have been empty and so two singletons)
    assert S.signature_labels(list(Y), sig) == [0, 1, 1, 0]


def test_output_grouping_sees_absorbed_inputs():
    # two outputs computed by private units from the same inputs: one group, as in the truth
    gt = GroundTruth(("x1", "x2"), ("y1", "y2"), (M("a", ("x1", "x2"), (), ("y1", "y2")),))
    network = net([2, 2, 2], (0, [0, 1], [0, 1]), (1, [0], [0]), (1, [1], [1]))
    m = score(det(units(0, 0, 1) + units(1, 0), units(1, 1)), network, gt)
    assert m["output_grouping"] and m["output_ari"] == 1.0
    assert not m["success"] and m["modules_found"] == 0 and m["modules_expected"] == 1


# --------------------------------------------------------------------------- input grouping
def test_detected_input_modules():
    d = det(units(0, 0, 1) + units(1, 0), units(0, 3), units(2, 1))
    assert S.detected_input_modules(d, X) == {"x1": 0, "x2": 0, "x4": 1}
    assert S.module_labels(list(X), S.detected_input_modules(d, X)) == [0, 0, 1, 2]  # x3: singleton


def test_input_grouping_is_the_detections_partition():
    g = S.reduce_detection(separable_det(), separable_net(), X, Y)
    truth = SEPARABLE.graph()
    # the graph is perfect, but input separability judges the detection's clusters of the inputs
    m = S.compare_graphs(g, truth, X, Y, input_modules={"x1": 0, "x2": 0, "x3": 1, "x4": 1})
    assert m["success"] and m["input_separability"] and m["input_ari"] == 1.0
    # v3.0: success needs the input grouping too, so a perfect graph with wrong input groups fails
    m = S.compare_graphs(g, truth, X, Y, input_modules={"x1": 0, "x2": 1, "x3": 1, "x4": 1})
    assert not m["success"] and not m["input_separability"] and m["ged_raw"] == 0
    assert m["input_ari"] == 0.0  # true [0,0,1,1], detected [0,1,1,1]
    assert not m["input_group_sizes"]  # sizes 1, 3 against 2, 2
    m = S.compare_graphs(g, truth, X, Y)  # no input in any module: four singletons
    assert not m["success"] and not m["input_separability"] and m["input_ari"] == 0.0
    # through the scorer: the same detection without its input units
    hidden_only = det(*[[u for u in mod if u[0] != 0] for mod in separable_det().modules])
    assert not score(hidden_only, separable_net(), SEPARABLE)["input_separability"]


# --------------------------------------------------------------------------- sanity cases (v2.0)
X6 = tuple(f"x{i}" for i in range(1, 7))
Y3 = ("y1", "y2", "y3")
BOTH = GroundTruth(
    X6, Y3,
    (M("f1", ("x1", "x2"), (), ("y1", "y2")), M("f2", ("x3", "x4"), (), ("y1", "y3")), M("f3", ("x5", "x6"), (), ("y2", "y3"))),
)


def both_net():
    """6-3-3-3: f_i reads its input pair; o1 = (f1, f2), o2 = (f1, f3), o3 = (f2, f3); o_i -> y_i."""
    return net(
        [6, 3, 3, 3],
        (0, [0, 1], [0]), (0, [2, 3], [1]), (0, [4, 5], [2]),
        (1, [0, 1], [0]), (1, [0, 2], [1]), (1, [1, 2], [2]),
        (2, [0], [0]), (2, [1], [1]), (2, [2], [2]),
    )


PERFECT = {
    "success": True, "input_separability": True, "hidden_separability": True, "output_grouping": True,
    "input_ari": 1.0, "output_ari": 1.0,
}


def test_sanity_a_both_with_layer2_units_in_output_modules():
    d = det(
        units(0, 0, 1) + units(1, 0), units(0, 2, 3) + units(1, 1), units(0, 4, 5) + units(1, 2),
        units(2, 0) + units(3, 0), units(2, 1) + units(3, 1), units(2, 2) + units(3, 2),
    )
    m = score(d, both_net(), BOTH)
    assert {k: m[k] for k in PERFECT} == PERFECT
    # o1..o3 are absorbed into y1..y3: three modules left, as in the ground truth
    assert (m["modules_found"], m["modules_expected"], m["ged_raw"]) == (3, 3, 0)
    # a ground truth that writes the OR gates as modules keeps them: the detection must show them
    with_gates = GroundTruth(X6, Y3, (
        M("f1", ("x1", "x2")), M("f2", ("x3", "x4")), M("f3", ("x5", "x6")),
        M("o1", (), ("f1", "f2"), ("y1",)), M("o2", (), ("f1", "f3"), ("y2",)), M("o3", (), ("f2", "f3"), ("y3",)),
    ))
    m_gates = score(d, both_net(), with_gates)
    assert m_gates["success"] and (m_gates["modules_found"], m_gates["modules_expected"]) == (6, 6)


def test_sanity_b_both_with_singleton_layer2_and_output_modules():
    d = det(
        units(0, 0, 1) + units(1, 0), units(0, 2, 3) + units(1, 1), units(0, 4, 5) + units(1, 2),
        units(2, 0), units(2, 1), units(2, 2), units(3, 0), units(3, 1), units(3, 2),
    )
    m = score(d, both_net(), BOTH)
    assert {k: m[k] for k in PERFECT} == PERFECT
    assert (m["modules_found"], m["modules_expected"], m["ged_raw"]) == (3, 3, 0)


X7 = tuple(f"x{i}" for i in range(1, 8))
OVERLAP_U1 = GroundTruth(X7, ("y1", "y2"), (M("a", X7[:4], (), ("y1",)), M("b", X7[3:], (), ("y2",))))


def overlap_net():
    """7-2-2: unit 0 reads x1..x4 and drives y1; unit 1 reads x4..x7 and drives y2."""
    return net([7, 2, 2], (0, [0, 1, 2, 3], [0]), (0, [3, 4, 5, 6], [1]), (1, [0], [0]), (1, [1], [1]))


def test_sanity_c_overlap_u1_merged_fails():
    m = score(det(units(0, *range(7)) + units(1, 0, 1)), overlap_net(), OVERLAP_U1)
    assert not m["success"] and not m["hidden_separability"]
    # a and b are each their output's own sub-function, so the truth keeps both modules
    assert (m["modules_found"], m["modules_expected"]) == (1, 2)
    assert not m["output_grouping"]  # y1, y2 share predecessor M; truth: a and b
    # V1 = 10, E1 = 9 (x1..x7 -> M -> y1, y2); V2 = 11, E2 = 10; M maps to a: 10 nodes and
    # 5 edges (x1..x4 -> a, a -> y1) kept: (10 - 10) + (11 - 10) + (9 - 5) + (10 - 5) = 10
    assert (m["ged_raw"], m["ged"]) == (10, 0.25)


def test_sanity_d_overlap_u1_separate_succeeds():
    # x4 is read by both sub-functions: its true input group is {x4} alone, so a detector matches
    # the input partition only by leaving x4 out of both modules (or alone in a module)
    d = det(units(0, 0, 1, 2) + units(1, 0), units(0, 4, 5, 6) + units(1, 1))
    m = score(d, overlap_net(), OVERLAP_U1)
    assert {k: m[k] for k in PERFECT} == PERFECT
    assert (m["modules_found"], m["modules_expected"], m["ged_raw"]) == (2, 2, 0)
    # hidden separability is judged before absorption, so the truth's modules do not vanish: a
    # merge (case c) fails it, and here each module's signature ({x1..x4},{y1}) / ({x4..x7},{y2}) is found
    d = det(units(0, 0, 1, 2, 3) + units(1, 0), units(0, 4, 5, 6) + units(1, 1))
    m = score(d, overlap_net(), OVERLAP_U1)
    assert m["hidden_separability"] and not m["input_separability"] and m["ged_raw"] == 0
    assert not m["success"]  # v3.0: success needs the input grouping


def test_split_own_sub_function_fails():
    # a is y1's own sub-function; split over two units, each reading one input, it is not found:
    # the two detected modules are kept (y1 has a ground-truth module of its own), so no match
    gt = GroundTruth(("x1", "x2"), ("y1",), (M("a", ("x1", "x2"), (), ("y1",)),))
    network = net([2, 2, 1], (0, [0], [0]), (0, [1], [1]), (1, [0, 1], [0]))
    m = score(det(units(0, 0) + units(1, 0), units(0, 1) + units(1, 1)), network, gt)
    assert not m["success"] and not m["hidden_separability"] and not m["input_separability"]
    assert (m["modules_found"], m["modules_expected"]) == (2, 1)


def test_detected_private_modules_absorbed_only_where_truth_has_none():
    # reuse m=2: g1 and g2 are each used once. A 1-hidden-layer net cannot hold the shared module M
    # before them, so it must fail even though its two hidden modules each feed one output.
    x4 = ("x1", "x2", "x3", "x4")
    gt = GroundTruth(x4, ("y1", "y2"), (M("M", x4), M("g1", (), ("M",), ("y1",)), M("g2", (), ("M",), ("y2",))))
    network = net([4, 2, 2], (0, [0, 1, 2, 3], [0, 1]), (1, [0], [0]), (1, [1], [1]))
    m = score(det(units(0, 0, 1, 2, 3), units(1, 0), units(1, 1)), network, gt)
    assert not m["success"] and m["modules_found"] == 2 and m["modules_expected"] == 3


# --------------------------------------------------------------------------- graph edit distance
def _nx_ged(g1, g2):
    return nx.graph_edit_distance(
        g1, g2,
        node_subst_cost=lambda a, b: 0 if a["label"] == b["label"] else 100,
        node_del_cost=lambda a: 1, node_ins_cost=lambda a: 1,
    )


def test_ged_exact_hand_computed():
    g1 = graph([("x1", 0), (0, "y1")], inputs=("x1",), outputs=("y1", "y2"))
    g2 = graph([("x1", "a"), ("a", "y1"), ("a", "y2")], inputs=("x1",), outputs=("y1", "y2"))
    assert S.graph_edit_distance(g1, g2) == (1, pytest.approx(1 / (4 + 2 + 4 + 3)), True)
    g3 = graph([("x1", "a"), ("a", "b"), ("b", "y1")], inputs=("x1",), outputs=("y1", "y2"))
    # map 0 -> a: keep x1->a; delete 0->y1; insert b, a->b, b->y1 -> 1 + 3 = 4; total 4+2+5+3
    assert S.graph_edit_distance(g1, g3) == (4, pytest.approx(4 / 14), True)
    assert S.graph_edit_distance(g3, g1)[0] == 4  # symmetric
    assert S.graph_edit_distance(g1, g1) == (0, 0.0, True)


def test_ged_exact_agrees_with_networkx_on_random_small_graphs():
    rng = random.Random(0)
    ins, outs = ("x1", "x2"), ("y1", "y2")

    def rand_graph(n_modules):
        mods = list(range(n_modules))
        edges = [(x, m) for x in ins for m in mods if rng.random() < 0.5]
        edges += [(a, b) for a in mods for b in mods if a < b and rng.random() < 0.4]
        edges += [(m, y) for m in mods for y in outs if rng.random() < 0.5]
        g = graph(edges, inputs=ins, outputs=outs)
        for m in mods:
            g.add_node(("module", m), label="module")
        return g

    for _ in range(12):
        g1, g2 = rand_graph(rng.randint(1, 3)), rand_graph(rng.randint(1, 3))
        raw, norm, exact = S.graph_edit_distance(g1, g2)
        assert exact and raw == _nx_ged(g1, g2)
        assert 0.0 <= norm <= 1.0


def test_ged_approximate_path_is_flagged_and_bounds_exact():
    # Since v2.0 a module driving a single output is absorbed into it, so each of the 8 modules
    # drives two outputs (y_i and z_i = output 8 + i) to keep 8 module nodes after normalisation.
    names_in = tuple(f"x{i}" for i in range(8))
    names_out = tuple(f"y{i}" for i in range(8)) + tuple(f"z{i}" for i in range(8))
    gt = GroundTruth(names_in, names_out, tuple(M(f"s{i}", (f"x{i}",), (), (f"y{i}", f"z{i}")) for i in range(8)))
    network = net([8, 8, 16], *[(0, [i], [i]) for i in range(8)], *[(1, [i], [i, 8 + i]) for i in range(8)])
    m = score(det(*[units(1, i) for i in range(8)]), network, gt)
    assert m["success"] and m["ged_raw"] == 0 and m["ged"] == 0.0 and m["ged_exact"] is False
    # y0 also driven by unit 1: delete that edge
    wrong = net([8, 8, 16], *[(0, [i], [i]) for i in range(8)], (1, [1], [0]), *[(1, [i], [i, 8 + i]) for i in range(8)])
    m = score(det(*[units(1, i) for i in range(8)]), wrong, gt)
    assert m["ged_exact"] is False and m["ged_raw"] == 1 and not m["success"]
    # forcing the approximate path on a small case gives an upper bound of the exact value
    g1 = graph([("x1", 0), ("x2", 0), (0, 1), (1, "y1"), ("x3", 2), (2, "y2")])
    g2 = graph([("x1", "a"), ("a", "b"), ("b", "y1"), ("x2", "c"), ("x3", "c"), ("c", "y2")])
    exact = S.graph_edit_distance(g1, g2)
    approx = S.graph_edit_distance(g1, g2, max_exact_modules=2)
    assert exact[2] and not approx[2] and approx[0] >= exact[0]
    assert approx == S.graph_edit_distance(g1, g2, max_exact_modules=2)  # deterministic


# --------------------------------------------------------------------------- pixel inputs
PIX = tuple(f"p{i}" for i in range(8))
HALVES = {p: ("left" if i < 4 else "right") for i, p in enumerate(PIX)}
PIX_GT = GroundTruth(("left", "right"), Y, (M("L", ("left",), (), ("y1", "y2")), M("R", ("right",), (), ("y3", "y4"))))


def pixel_net(leak=False):
    """8 pixels -> 4 hidden -> 4 outputs; p3 is pruned; with ``leak`` p2 also feeds the right module."""
    blocks = [(0, [0, 1, 2], [0, 1]), (0, [4, 5, 6, 7], [2, 3]), (1, [0, 1], [0, 1]), (1, [2, 3], [2, 3])]
    if leak:
        blocks.append((0, [2], [2]))
    return net([8, 4, 4], *blocks)


def test_pixel_inputs_grouped_and_pruned_pixels_dropped():
    # since v2.0 a surviving pixel's detected class is its detected module, so the detection holds
    # the pixels (the pruned p3 is in no module; it is dropped anyway)
    d = det(units(0, 0, 1, 2) + units(1, 0, 1), units(0, 4, 5, 6, 7) + units(1, 2, 3))
    m = score(d, pixel_net(), PIX_GT, input_groups=HALVES, inputs=PIX)
    assert m["success"] and m["input_separability"] and m["input_ari"] == 1.0  # p3 dropped, not a singleton
    assert m["hidden_separability"] and m["output_grouping"] and m["ged_raw"] == 0
    # a ground truth written over pixel names gives the same result
    pix_gt = GroundTruth(PIX, Y, (M("L", PIX[:4], (), ("y1", "y2")), M("R", PIX[4:], (), ("y3", "y4"))))
    assert score(d, pixel_net(), pix_gt, input_groups=HALVES) == m


def test_pixel_leak_breaks_input_separability():
    # since v2.0 the detected class of a surviving pixel is its detected module: here the detector
    # left the leaking p2 out of every module, so it is a singleton
    d = det(units(0, 0, 1) + units(1, 0, 1), units(0, 4, 5, 6, 7) + units(1, 2, 3))
    m = score(d, pixel_net(leak=True), PIX_GT, input_groups=HALVES, inputs=PIX)
    assert not m["success"] and not m["input_separability"]
    # surviving p0,p1,p2 | p4..p7: true [0,0,0,1,1,1,1], detected [0,0,1,2,2,2,2]
    # sum C(n_ij,2) = 1+6 = 7, sum_a = 3+6 = 9, sum_b = 1+6 = 7, C(7,2) = 21 -> (7-3)/(8-3) = 0.8
    assert m["input_ari"] == pytest.approx(0.8)
    # p2 put in the left module: the input partition is right, but the leak edge still breaks success
    d = det(units(0, 0, 1, 2) + units(1, 0, 1), units(0, 4, 5, 6, 7) + units(1, 2, 3))
    m = score(d, pixel_net(leak=True), PIX_GT, input_groups=HALVES, inputs=PIX)
    assert m["input_separability"] and m["input_ari"] == 1.0 and not m["success"]
    # p2 put in the right module: true [0,0,0,1,1,1,1], detected [0,0,1,1,1,1,1]
    # sum C(n_ij,2) = 1+6 = 7, sum_a = 9, sum_b = 1+10 = 11, expected 99/21, max 10 -> (7-33/7)/(10-33/7)
    d = det(units(0, 0, 1) + units(1, 0, 1), units(0, 2, 4, 5, 6, 7) + units(1, 2, 3))
    m = score(d, pixel_net(leak=True), PIX_GT, input_groups=HALVES, inputs=PIX)
    assert not m["input_separability"] and m["input_ari"] == pytest.approx((7 - 33 / 7) / (10 - 33 / 7))


# --------------------------------------------------------------------------- plugin
def test_hook_registers_scorer():
    got = []
    S.register_scorers(got.append)
    assert len(got) == 1 and isinstance(got[0], S.StructureScorer)
    # 2.0: output absorption, all-predecessor output signatures, detected input partition
    # 3.0: success needs input separability, hidden separability refuses spanning modules,
    # success_at_depth and input_group_sizes
    assert (got[0].name, got[0].version) == ("structure", "3.0")
    assert all(isinstance(v, str) and v for v in got[0].metrics.values())


# --------------------------------------------------------------------------- version 3.0 definitions
def test_input_group_sizes_judges_like_an_unlabelled_drawing():
    # truth {x1}{x2,x3,x4}{x5}; detected {x1,x2,x3}{x4}{x5}: same sizes, different inputs
    gt = GroundTruth(
        tuple(f"x{i}" for i in range(1, 6)), ("y1", "y2"),
        (M("a", ("x1", "x2", "x3", "x4"), (), ("y1",)), M("b", ("x2", "x3", "x4", "x5"), (), ("y2",))),
    )
    network = net([5, 2, 2], (0, [0, 1, 2, 3], [0]), (0, [1, 2, 3, 4], [1]), (1, [0], [0]), (1, [1], [1]))
    wrong = det(units(0, 0, 1, 2) + units(1, 0), units(0, 3), units(0, 4) + units(1, 1))
    m = score(wrong, network, gt)
    assert m["input_group_sizes"] and not m["input_separability"] and not m["success"]
    right = det(units(0, 0) + units(1, 0), units(0, 1, 2, 3), units(0, 4) + units(1, 1))
    m = score(right, network, gt)
    assert m["input_group_sizes"] and m["input_separability"] and m["success"]


def test_spanning_modules():
    # truth a -> y1, b -> y2 share nothing; a detected module reaching y1 and y2 spans them
    gt = S.contract_series(OVERLAP_U1.graph())
    spanning = graph([("x1", "M"), ("M", "A"), ("M", "B"), ("A", "y1"), ("B", "y2")], inputs=("x1",), outputs=("y1", "y2"))
    assert S.spanning_modules(spanning, gt) == [("module", "M")]
    # in `both`, f1 legitimately reaches y1 and y2: the truth's f1 reaches both
    both = S.contract_series(BOTH.graph())
    assert S.spanning_modules(both, both) == []


def test_truncate_to_depth_absorbs_the_top_levels():
    levels = GroundTruth(
        X, Y,
        (M("a", ("x1", "x2")), M("b", ("x3", "x4")), M("c", (), ("a", "b")),
         M("p", (), ("c",), ("y1", "y3")), M("q", (), ("c",), ("y2", "y4"))),
    ).graph()
    assert S.module_levels(levels)[("module", "p")] == 3
    two = S.truncate_to_depth(levels, 2)
    assert S.module_nodes(two) == [("module", "a"), ("module", "b"), ("module", "c")]
    assert set(two.successors(("module", "c"))) == {("out", y) for y in Y}
    one = S.truncate_to_depth(levels, 1)
    assert set(one.successors(("module", "a"))) == {("out", y) for y in Y}
    assert nx.utils.graphs_equal(S.truncate_to_depth(levels, 3), levels)
