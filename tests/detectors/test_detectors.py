"""Tests of the sculpting and Louvain module detectors on small hand-built networks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.options import Options
from sculptbench.contracts.types import SculptedNetwork
from sculptbench.plugins.detectors import louvain as louvain_mod
from sculptbench.plugins.detectors import sculpting as sc
from sculptbench.plugins.detectors.louvain import LouvainDetector
from sculptbench.plugins.detectors.sculpting import (
    SculptingDetector,
    choose_k,
    clusterability_votes,
    combine_votes,
    condense,
    cut_linkage,
    decide_k,
    distance_matrix,
    layer_linkage,
    merge_layers,
    modularity_metric,
    pair_statistics,
    reachability_features,
    separate_test,
    single_test,
)


def block(n: int, groups: list[list[int]]) -> torch.Tensor:
    """An n x n mask connecting every unit of each group to every unit of the same group."""
    m = torch.zeros(n, n, dtype=torch.bool)
    for g in groups:
        for o in g:
            for i in g:
                m[o, i] = True
    return m


def detect(masks, **params):
    detector = SculptingDetector()
    return detector.detect(SculptedNetwork.from_masks(masks), None, detector.resolve(params), 0)


# --------------------------------------------------------------------------- condensation
def test_condense_removes_chains_of_dead_units_and_keeps_outputs():
    # sizes 3-4-4-3. Dead-end chain (0,2)->(1,2)->(2,2); source chain (1,3)->(2,3)->out1;
    # output 2 has no edges at all but stays.
    m0 = torch.zeros(4, 3, dtype=torch.bool)
    m0[0, 0] = m0[1, 1] = m0[2, 2] = True
    m1 = torch.zeros(4, 4, dtype=torch.bool)
    m1[0, 0] = m1[1, 1] = m1[2, 2] = m1[3, 3] = True
    m2 = torch.zeros(3, 4, dtype=torch.bool)
    m2[0, 0] = m2[1, 1] = m2[1, 3] = True
    before = [m.clone() for m in (m0, m1, m2)]
    cond = condense([m0, m1, m2])
    assert cond.removed == [(0, 2), (1, 2), (1, 3), (2, 2), (2, 3)]
    assert [a.tolist() for a in cond.alive] == [
        [True, True, False], [True, True, False, False], [True, True, False, False], [True, True, True]]
    assert cond.masks[0].sum() == 2 and cond.masks[1].sum() == 2 and cond.masks[2].sum() == 2
    assert not cond.masks[2][1, 3]
    assert all(torch.equal(a, b) for a, b in zip(before, (m0, m1, m2)))  # inputs untouched


def test_condense_input_without_outgoing_edges():
    cond = condense([[[1, 0]], [[1]]])  # 2-1-1: input 1 has no edge
    assert cond.removed == [(0, 1)]


# --------------------------------------------------------------------------- features
def _feature_net():
    # 2-2-2-2: identity, then (2,0)<-(1,0); (2,1)<-(1,0),(1,1); then o0<-(2,0),(2,1); o1<-(2,1)
    return [np.eye(2, dtype=bool), np.array([[1, 0], [1, 1]], bool), np.array([[1, 1], [0, 1]], bool)]


@pytest.mark.parametrize("step, expected, ncols", [
    (1, [[1, 0], [0, 1]], 2),
    (2, [[1, 0, 1, 1], [0, 1, 0, 1]], 4),
    (3, [[1, 0, 1, 1, 1, 1], [0, 1, 0, 1, 1, 1]], 6),
    (7, [[1, 0, 1, 1, 1, 1], [0, 1, 0, 1, 1, 1]], 6),  # capped at the output layer
])
def test_reachability_features_layer0(step, expected, ncols):
    cond = condense(_feature_net())
    F, cols = reachability_features(cond.masks, cond.alive, 0, step)
    assert F.dtype == bool and F.astype(int).tolist() == expected
    assert len(cols) == ncols and cols[0] == (1, 0) and cols[-1][0] == min(step, 3)


def test_reachability_features_hidden_layer_and_dead_columns():
    cond = condense(_feature_net())
    F, cols = reachability_features(cond.masks, cond.alive, 1, 3)
    assert cols == [(2, 0), (2, 1), (3, 0), (3, 1)]
    assert F.astype(int).tolist() == [[1, 1, 1, 1], [0, 1, 1, 1]]
    # A removed unit is neither a row nor a column.
    cond = condense([[[1, 0], [0, 1]], [[1, 0]]])  # (1,1) has no outgoing edge
    F, cols = reachability_features(cond.masks, cond.alive, 0, 2)
    assert cols == [(1, 0), (2, 0)] and F.astype(int).tolist() == [[1, 1]]


def test_distance_matrix_cosine_and_zero_vectors():
    F = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 0]], bool)
    D = distance_matrix(F)
    assert D[0, 1] == pytest.approx(1 - 1 / math.sqrt(2))
    assert D[0, 4] == 0.0  # identical rows: exactly 0
    assert D[2, 3] == 1.0 and D[2, 0] == 1.0 and D[2, 2] == 0.0  # zero rows: 1 to everything else
    assert np.isfinite(D).all() and np.allclose(D, D.T)
    J = distance_matrix(F, "jaccard")
    assert J[0, 1] == pytest.approx(0.5) and J[2, 3] == 1.0


# --------------------------------------------------------------------------- modularity metric, k
def test_modularity_metric_hand_computed():
    D = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], float)  # sum 12
    # P = {0,1},{2}: trace = 2/12, a = (7/12, 5/12) -> Q = 24/144 - 74/144
    assert modularity_metric(D, [0, 0, 1]) == pytest.approx(-50 / 144)
    assert modularity_metric(D, [0, 1, 2]) == pytest.approx(-50 / 144)  # a = 3/12, 4/12, 5/12
    assert modularity_metric(D, [0, 0, 0]) == pytest.approx(0.0)
    assert modularity_metric(D, [5, 5, 9]) == modularity_metric(D, [0, 0, 1])  # label values irrelevant
    assert modularity_metric(np.zeros((3, 3)), [0, 1, 1]) == 0.0  # all-zero D: no NaN


def test_choose_k_three_pairs():
    # 6 units in 3 identical pairs: Q(2)=-2/9, Q(3)=-1/3, Q(4)=-5/18, Q(5)=-2/9.
    F = np.repeat(np.eye(3, dtype=bool), 2, axis=0)
    D = distance_matrix(F)
    k, q, qs = choose_k(D, layer_linkage(D))
    assert k == 3 and q == pytest.approx(-1 / 3)
    assert qs[2] == pytest.approx(-2 / 9) and qs[4] == pytest.approx(-5 / 18) and qs[5] == pytest.approx(-2 / 9)


def test_choose_k_ties_go_to_larger_k_and_small_layers():
    D = np.zeros((5, 5))  # identical features: Q = 0 for every k
    k, q, qs = choose_k(D, layer_linkage(D))
    assert (k, q) == (4, 0.0) and sorted(qs) == [2, 3, 4]
    D2 = np.array([[0, 1], [1, 0]], float)
    assert choose_k(D2, layer_linkage(D2)) == (None, None, {})  # 2..n-1 is empty


def test_cut_linkage_exact_k_and_deterministic_ties():
    F = np.eye(4, dtype=bool)  # all pairwise distances equal: linkage ties everywhere
    D = distance_matrix(F)
    Z = layer_linkage(D)
    for k in range(1, 5):
        labels = cut_linkage(Z, 4, k)
        assert len(set(labels.tolist())) == k and labels[0] == 0
        assert labels.tolist() == cut_linkage(layer_linkage(distance_matrix(F)), 4, k).tolist()
    assert cut_linkage(Z, 4, 3).tolist() == [0, 0, 1, 2]  # scipy merges (0, 1) first
    with pytest.raises(SculptbenchError):
        cut_linkage(Z, 4, 5)


# --------------------------------------------------------------------------- clusterability votes
def test_pair_statistics_and_sigma_zero():
    st = pair_statistics(np.array([1, 1, 0, 0]), np.array([0, 1, 1, 0]), 4)
    assert (st["k_i"], st["k_j"], st["k_ij"]) == (2, 2, 1)
    assert st["x"] == 0.25 and st["E"] == 1.0 and st["sigma"] == pytest.approx(math.sqrt(0.75))
    full = pair_statistics(np.ones(3), np.ones(3), 3)  # x = 1 -> sigma 0
    assert full["sigma"] == 0.0
    assert pair_statistics(np.zeros(0), np.zeros(0), 0)["x"] == 0.0  # N = 0: no division


def test_separate_rule():
    # k_ij < 1 votes; z = (E - k_ij)/sigma
    r = separate_test(np.array([1, 1, 0, 0]), np.array([0, 0, 1, 1]), 4)
    assert r["votes"] and r["z"] == pytest.approx(1 / math.sqrt(0.75))
    # k_ij < max and k_ij <= E votes: k=3,3, k_ij=1, N=8, E=9/8
    a = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    b = np.array([1, 0, 0, 1, 1, 0, 0, 0])
    assert separate_test(a, b, 8)["votes"]
    # k_ij == max (identical rows): no vote
    assert not separate_test(np.array([1, 1, 0, 0]), np.array([1, 1, 0, 0]), 4)["votes"]
    # k_ij > E and k_ij < max: no vote
    assert not separate_test(np.array([1, 1, 0, 0, 0, 0, 0, 0]), np.array([1, 1, 1, 0, 0, 0, 0, 0]), 8)["votes"]


def test_single_rule():
    # k_ij >= 1 and k_ij >= E votes: k=2,3, k_ij=2, N=8, E=0.75
    r = single_test(np.array([1, 1, 0, 0, 0, 0, 0, 0]), np.array([1, 1, 1, 0, 0, 0, 0, 0]), 8)
    assert r["votes"] and r["z"] == pytest.approx((2 - 0.75) / r["sigma"])
    # 1 <= k_ij < E and k_ij < max: no vote (k=3,3, k_ij=2, N=4, E=2.25)
    assert not single_test(np.array([1, 1, 1, 0]), np.array([0, 1, 1, 1]), 4)["votes"]
    # disjoint non-empty: no vote
    assert not single_test(np.array([1, 0]), np.array([0, 1]), 2)["votes"]
    # k_ij >= max with both empty: votes, z = 0 (sigma = 0, never NaN)
    r = single_test(np.zeros(4), np.zeros(4), 4)
    assert r["votes"] and r["z"] == 0.0


def test_combine_votes_larger_z_wins_ties_to_single():
    yes = lambda z: {"votes": True, "z": z}  # noqa: E731
    no = {"votes": False, "z": 5.0}
    assert combine_votes(yes(2.0), yes(1.0)) == "separate"
    assert combine_votes(yes(1.0), yes(2.0)) == "single"
    assert combine_votes(yes(1.0), yes(1.0)) == "single"
    assert combine_votes(yes(0.0), no) == "separate"
    assert combine_votes(no, yes(-3.0)) == "single"
    assert combine_votes(no, no) is None
    # both zero vectors: both vote with z = 0 -> single
    F = np.zeros((2, 3), bool)
    assert clusterability_votes(F, 3)["vote"] == "single"


def test_clusterability_votes_on_features():
    assert clusterability_votes(np.ones((3, 4), bool), 4)["vote"] == "single"
    v = clusterability_votes(np.eye(3, dtype=bool), 3)
    assert v["vote"] == "separate" and v["separate"]["pair"] == [0, 1] and not v["single"]["votes"]
    # two clear groups: neither test votes
    F = np.repeat(np.eye(2, dtype=bool), 2, axis=0)
    assert clusterability_votes(F, 2)["vote"] is None


def test_override_rule():
    assert decide_k(6, 2, -0.9, "single") == (1, "vote")
    assert decide_k(6, 2, -0.9, "separate") == (6, "vote")
    assert decide_k(6, 5, -0.9, "single") == (1, "vote")  # k = n-1
    assert decide_k(6, 3, -0.5, "single") == (3, "modularity")
    assert decide_k(6, 3, -0.1, "separate") == (6, "vote")  # Q > -0.2
    assert decide_k(6, 3, -0.2, "separate") == (3, "modularity")  # strict >
    assert decide_k(6, 3, -0.25, "single", mm_threshold=0.3) == (1, "vote")
    assert decide_k(6, 2, -0.1, None) == (2, "modularity")  # no vote: k kept
    assert decide_k(2, None, None, "single") == (1, "vote")
    assert decide_k(2, None, None, "separate") == (2, "vote")
    assert decide_k(2, None, None, None) == (2, "fallback")


# --------------------------------------------------------------------------- merging
def test_merge_both_fractions_above_threshold():
    m0 = np.zeros((3, 2), bool)
    m0[:2, :] = True  # cluster {(0,0),(0,1)} -> cluster {(1,0),(1,1)} with 4 edges
    m1 = np.zeros((1, 3), bool)
    modules, log = merge_layers([m0, m1], [np.array([0, 0]), np.array([0, 0, 1]), np.array([0])])
    assert frozenset({(0, 0), (0, 1), (1, 0), (1, 1)}) in modules
    assert frozenset({(1, 2)}) in modules  # no incoming edges: never merged, no 0/0
    assert log[0]["merged"] and log[0]["out_fraction"] == 1.0 and len(log) == 1


def test_merge_out_fraction_below_threshold():
    m0 = np.ones((4, 2), bool)  # cluster a sends 4 edges to b and 4 to c
    modules, log = merge_layers([m0, np.zeros((1, 4), bool)],
                                [np.array([0, 0]), np.array([0, 0, 1, 1]), np.array([0])])
    assert len(modules) == 4 and not any(e["merged"] for e in log)
    assert log[0]["in_fraction"] == 1.0 and log[0]["out_fraction"] == 0.5


def test_merge_in_fraction_below_threshold_and_argmax():
    m0 = np.zeros((1, 4), bool)
    m0[0, :] = True  # (1,0) receives 2 from cluster 0 and 2 from cluster 1 -> in fraction 0.5
    modules, log = merge_layers([m0, np.zeros((1, 1), bool)],
                                [np.array([0, 0, 1, 1]), np.array([0]), np.array([0])])
    assert log == [{"layer": 1, "lower": 0, "upper": 0, "out_fraction": 1.0, "in_fraction": 0.5, "merged": False}]
    m0[0, 0] = False  # now 1 from cluster 0, 2 from cluster 1: the max sender is cluster 1
    _, log = merge_layers([m0, np.zeros((1, 1), bool)],
                          [np.array([0, 0, 1, 1]), np.array([0]), np.array([0])])
    assert log[0]["lower"] == 1


def test_merge_threshold_is_strict():
    m0 = np.ones((10, 1), bool)  # one unit, 9 edges to cluster b, 1 to cluster c
    labels = [np.array([0]), np.array([0] * 9 + [1]), np.array([0])]
    masks = [m0, np.zeros((1, 10), bool)]
    assert not merge_layers(masks, labels, 0.9)[1][0]["merged"]  # 0.9 is not > 0.9
    assert merge_layers(masks, labels, 0.85)[1][0]["merged"]


def test_merge_outputs_need_only_incoming_fraction():
    m1 = np.ones((2, 2), bool)  # hidden cluster sends 2 edges to each output: out fraction 0.5
    modules, log = merge_layers([np.ones((2, 1), bool), m1], [np.array([0]), np.array([0, 0]), np.array([0, 1])])
    assert modules == [frozenset({(0, 0), (1, 0), (1, 1), (2, 0), (2, 1)})]
    assert all(e["merged"] for e in log if e["layer"] == 2)
    assert log[-1]["out_fraction"] == 0.5


def test_merge_does_not_cross_an_empty_layer():
    masks = [np.ones((2, 2), bool), np.ones((2, 2), bool)]
    modules, _ = merge_layers(masks, [np.array([0, 0]), np.array([-1, -1]), np.array([0, 1])])
    assert modules == [frozenset({(0, 0), (0, 1)}), frozenset({(2, 0)}), frozenset({(2, 1)})]


# --------------------------------------------------------------------------- detect: corner cases
def test_outputs_start_as_singletons_and_shared_output_stays_alone():
    # 4-4-3: two blocks; output 0 reads block A, output 1 reads block B, output 2 reads both.
    m1 = torch.zeros(3, 4, dtype=torch.bool)
    m1[0, :2] = m1[1, 2:] = m1[2, :] = True
    d = detect([block(4, [[0, 1], [2, 3]]), m1])
    out = d.info["layers"][-1]
    assert out["source"] == "outputs" and out["k"] == 3
    assert frozenset({(2, 2)}) in d.modules
    assert len(d.modules) == 3


def test_single_surviving_unit_layer():
    d = detect([[[1, 1]], [[1], [1]]])  # 2-1-2
    assert d.info["layers"][1]["k"] == 1 and d.info["layers"][1]["source"] == "single-unit"
    assert d.modules == [frozenset({(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)})]


def test_two_unit_layers_follow_the_vote():
    d = detect([torch.eye(2), torch.eye(2)])  # two disjoint paths: "separate"
    assert [e["votes"]["vote"] for e in d.info["layers"][:2]] == ["separate", "separate"]
    assert d.modules == [frozenset({(0, 0), (1, 0), (2, 0)}), frozenset({(0, 1), (1, 1), (2, 1)})]
    d = detect([torch.ones(2, 2), torch.ones(2, 2)])  # fully connected: "single"
    assert [e["k"] for e in d.info["layers"]] == [1, 1, 2]
    assert len(d.modules) == 1


def test_empty_layer_leaves_outputs_as_singletons():
    z = torch.zeros(2, 2, dtype=torch.bool)
    d = detect([torch.ones(2, 2), z, torch.ones(2, 2)])
    assert [e["source"] for e in d.info["layers"]] == ["empty", "empty", "empty", "outputs"]
    assert d.modules == [frozenset({(3, 0)}), frozenset({(3, 1)})]
    assert sorted(map(tuple, d.info["condensed"])) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]


def test_ties_are_deterministic():
    masks = [torch.eye(4), torch.ones(4, 4), torch.ones(2, 4)]
    a, b = detect(masks), detect(masks)
    assert a.modules == b.modules and a.info == b.info


@pytest.mark.parametrize("fs, cs", [(1, 3), (3, 1), (2, 3)])
def test_different_steps_never_give_nan(fs, cs):
    torch.manual_seed(0)
    masks = [torch.rand(6, 5) < 0.5, torch.rand(6, 6) < 0.5, torch.rand(6, 6) < 0.5, torch.rand(3, 6) < 0.6]
    d = detect(masks, feature_step=fs, clusterability_step=cs)
    json.dumps(d.info, allow_nan=False)  # raises on NaN or inf
    for e in d.info["layers"]:
        for test in ("separate", "single"):
            if "votes" in e:
                assert 0.0 <= e["votes"][test]["x"] <= 1.0


# --------------------------------------------------------------------------- detect: end to end
def test_two_disjoint_paths_give_two_modules():
    m = block(4, [[0, 1], [2, 3]])
    d = detect([m, m, m])
    assert d.modules == [
        frozenset((l, i) for l in range(4) for i in (0, 1)),
        frozenset((l, i) for l in range(4) for i in (2, 3)),
    ]
    assert [e["k"] for e in d.info["layers"]] == [2, 2, 2, 4]
    assert d.info["condensed"] == []
    json.dumps(d.info, allow_nan=False)


def test_fully_connected_gives_one_module():
    # All features are equal, so D = 0 and Q = 0 > -0.2: the "single" vote sets k = 1 in every
    # non-output layer; each output receives all its edges from that one cluster (incoming
    # fraction 1, the only fraction required for outputs), so everything is one module.
    d = detect([torch.ones(4, 4)] * 3)
    assert d.modules == [frozenset((l, i) for l in range(4) for i in range(4))]
    assert all(e["source"] == "vote" for e in d.info["layers"][:3])


def test_modules_partition_surviving_units():
    torch.manual_seed(1)
    masks = [torch.rand(8, 6) < 0.4, torch.rand(8, 8) < 0.3, torch.rand(3, 8) < 0.5]
    net = SculptedNetwork.from_masks(masks)
    d = SculptingDetector().detect(net, None, SculptingDetector().resolve({}), 0)
    units = [u for m in d.modules for u in m]
    removed = {tuple(u) for u in d.info["condensed"]}
    everything = {(l, i) for l, n in enumerate(net.sizes) for i in range(n)}
    assert len(units) == len(set(units)) and set(units) == everything - removed
    assert [min(m) for m in d.modules] == sorted(min(m) for m in d.modules)


def test_detect_does_not_mutate_network():
    torch.manual_seed(2)
    masks = [torch.rand(5, 4) < 0.6, torch.rand(5, 5) < 0.6, torch.rand(2, 5) < 0.8]
    net = SculptedNetwork.from_masks(masks)
    net.weights = [torch.randn_like(w) * m for w, m in zip(net.weights, net.weight_masks)]
    before = [t.clone() for t in net.weights + net.weight_masks + net.biases + net.bias_masks]
    SculptingDetector().detect(net, None, SculptingDetector().resolve({}), 0)
    LouvainDetector().detect(net, None, LouvainDetector().resolve({}), 0)
    after = net.weights + net.weight_masks + net.biases + net.bias_masks
    assert all(torch.equal(a, b) for a, b in zip(before, after))


# --------------------------------------------------------------------------- parameters, hooks
@pytest.mark.parametrize("params, fragment", [
    ({"merge_threshold": 0}, "(0, 1]"),
    ({"merge_threshold": 1.5}, "(0, 1]"),
    ({"mm_threshold": -0.1}, "[0, 1]"),
    ({"mm_threshold": float("nan")}, "[0, 1]"),
    ({"feature_step": 0}, "[1, inf)"),
    ({"feature_step": 1.5}, "[1, inf)"),
    ({"feature_step": True}, "[1, inf)"),
    ({"clusterability_step": -2}, "[1, inf)"),
    ({"linkage": "ward"}, "average, complete, single"),
    ({"metric": "euclidean"}, "cosine"),
    ({"bogus": 1}, "unknown option"),
])
def test_sculpting_options_reject(params, fragment):
    with pytest.raises(SculptbenchError) as err:
        SculptingDetector().resolve(params)
    assert fragment in str(err.value)
    assert f"sculpting.{next(iter(params))}" in str(err.value), "the message names the component's option"


def test_sculpting_options_accept_and_fill():
    p = SculptingDetector().resolve({"merge_threshold": 1, "feature_step": 2, "linkage": "single"})
    assert isinstance(p, Options) and p.given == {"merge_threshold", "feature_step", "linkage"}
    assert p["merge_threshold"] == 1 and p["mm_threshold"] == 0.2 and p["clusterability_step"] is None
    assert p["feature_step"] == 2 and p["linkage"] == "single" and p["metric"] == "cosine"


def test_sculpting_takes_the_tasks_values_and_the_users_win():
    task = {"feature_step": 3, "mm_threshold": 0.3, "linkage": "single", "unit_step": 50}  # linkage: no task may set it
    p = SculptingDetector().resolve({"mm_threshold": 0.25}, task)
    assert (p["feature_step"], p["mm_threshold"], p["linkage"]) == (3, 0.25, "average")
    assert "unit_step" not in p and p.given == {"mm_threshold"}


def test_hookimpls_register_detectors():
    got = []
    sc.register_detectors(got.append)
    louvain_mod.register_detectors(got.append)
    assert [(d.name, d.version) for d in got] == [("sculpting", "1.0"), ("louvain", "1.0")]


# --------------------------------------------------------------------------- louvain
def test_louvain_two_components_and_dead_units_excluded():
    m = block(4, [[0, 1], [2, 3]])
    last = m.clone()
    last[:, 3] = False  # (2,3) loses its outgoing edges -> condensed away
    net = SculptedNetwork.from_masks([m, m, last])
    d = LouvainDetector().detect(net, None, LouvainDetector().resolve({}), 7)
    assert len(d.modules) == 2
    assert d.modules[0] == frozenset((l, i) for l in range(4) for i in (0, 1))
    assert (2, 3) not in set().union(*d.modules)
    assert [2, 3] in d.info["condensed"]


def test_louvain_deterministic_under_seed():
    torch.manual_seed(3)
    masks = [torch.rand(10, 8) < 0.4, torch.rand(10, 10) < 0.3, torch.rand(4, 10) < 0.5]
    net = SculptedNetwork.from_masks(masks)
    net.weights = [torch.randn_like(w) * m for w, m in zip(net.weights, net.weight_masks)]
    runs = [LouvainDetector().detect(net, None, LouvainDetector().resolve({"resolution": 1.0}), 11).modules for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


def test_louvain_no_edges_and_validation():
    d = LouvainDetector().detect(SculptedNetwork.from_masks([torch.zeros(2, 2)]), None, LouvainDetector().resolve({}), 0)
    assert d.modules == []
    for bad in (0, -1.0, float("nan"), "x", True):
        with pytest.raises(SculptbenchError, match="resolution"):
            LouvainDetector().resolve({"resolution": bad})


def test_choose_k_matches_modularity_metric_of_each_cut():
    rng = np.random.default_rng(0)
    F = rng.random((12, 9)) < 0.4
    D = distance_matrix(F)
    Z = layer_linkage(D)
    _, _, qs = choose_k(D, Z)
    for k, q in qs.items():
        assert q == pytest.approx(modularity_metric(D, cut_linkage(Z, 12, k)), abs=1e-12)
