"""The label-free ``clusterability`` scorer: modularity and n-cut against hand-computed values, the
shuffle null's rules, reproducibility with a seed, and the contract kit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sculptbench.api import Detection, ScorerContract
from sculptbench.contracts.types import SculptedNetwork
from sculptbench.plugins.detectors.unit_graph import surviving_graph
from sculptbench.plugins.scorers import clusterability as cl


def small_network() -> SculptedNetwork:
    # 2-2-1. Edges (|w|): x0-h0 1, x1-h0 1, x1-h1 2 (the weight is -2), h0-y 1, h1-y 1.
    net = SculptedNetwork.from_masks([[[1, 1], [0, 1]], [[1, 1]]])
    net.weights = [torch.tensor([[1.0, 1.0], [0.0, -2.0]]), torch.tensor([[1.0, 1.0]])]
    return net


X0, X1, H0, H1, Y = (0, 0), (0, 1), (1, 0), (1, 1), (2, 0)


def score(detection, shuffles=50, shuffle="layer", seed=0, network=None):
    scorer = cl.ClusterabilityScorer()
    return scorer.score(detection, network or small_network(), None, scorer.resolve({"shuffles": shuffles, "shuffle": shuffle}), seed).metrics


def test_modularity_and_ncut_by_hand():
    # m = 1 + 1 + 2 + 1 + 1 = 6; degrees x0 1, x1 3, h0 3, h1 3, y 2 (sum 12 = 2m).
    # A = {x0, h0}: in 1 (x0-h0), vol 1 + 3 = 4, cut 4 - 2*1 = 2 (x1-h0, h0-y).
    # B = {x1, h1, y}: in 2 + 1 = 3, vol 3 + 3 + 2 = 8, cut 8 - 2*3 = 2.
    # Q = (1/6 - (4/12)^2) + (3/6 - (8/12)^2) = 1/18 + 1/18 = 1/9.
    # ncut = 2/4 + 2/8 = 0.75.
    metrics = score(Detection(modules=[frozenset({X0, H0}), frozenset({X1, H1, Y})]))
    assert metrics["modularity"] == pytest.approx(1 / 9)
    assert metrics["ncut"] == pytest.approx(0.75, abs=1e-8)
    assert metrics["coverage"] == pytest.approx(1.0) and metrics["modules"] == 2


def test_units_in_no_module_have_no_term_but_their_edges_count():
    # Only A = {x0, h0}: Q = 1/18, ncut = 2/4, coverage = vol(A) / 2m = 4/12.
    metrics = score(Detection(modules=[frozenset({X0, H0})]))
    assert metrics["modularity"] == pytest.approx(1 / 18)
    assert metrics["ncut"] == pytest.approx(0.5, abs=1e-8)
    assert metrics["coverage"] == pytest.approx(1 / 3) and metrics["modules"] == 1


def test_one_module_has_zero_modularity_and_ncut_and_no_z():
    everything = frozenset({X0, X1, H0, H1, Y})
    metrics = score(Detection(modules=[everything]), shuffles=20)
    assert metrics["modularity"] == pytest.approx(0.0, abs=1e-12) and metrics["ncut"] == pytest.approx(0.0)
    # every shuffle gives n-cut 0 too: no spread, no z; no shuffle is strictly below: percentile 1/21
    assert metrics["ncut_z"] is None and metrics["ncut_percentile"] == pytest.approx(1 / 21)


def test_the_significance_is_reproducible_with_a_seed():
    detection = Detection(modules=[frozenset({X0, H0}), frozenset({X1, H1, Y})])
    first, second = score(detection, seed=7), score(detection, seed=7)
    assert first == second
    assert {score(detection, seed=s)["ncut_z"] for s in range(6)} != {first["ncut_z"]}, "the seed draws the shuffles"


def test_z_and_percentile_follow_their_definitions_on_the_shuffles():
    graph = surviving_graph(small_network(), condense=False)
    detection = Detection(modules=[frozenset({X0, H0}), frozenset({X1, H1, Y})])
    labels, k = cl.module_labels(graph, detection)
    rng = np.random.default_rng(3)  # the cell's seed; shuffles are drawn in blocks of cl.BLOCK
    null = []
    for count in (cl.BLOCK, 40 - cl.BLOCK):
        matrices = cl.shuffled(cl.layer_matrices(graph), count, False, rng)
        null += [cl._ncut(*cl.module_sums(graph, labels, k, [m[i] for m in matrices])) for i in range(count)]
    null = np.array(null)
    metrics = cl.clusterability(graph, detection, 40, False, 3)
    observed = metrics["ncut"]  # 0.75 up to the 1e-8 in the denominators
    assert metrics["ncut_z"] == pytest.approx((observed - null.mean()) / null.std())
    assert metrics["ncut_percentile"] == pytest.approx((np.sum(null < observed) + 1) / 41)


@pytest.mark.parametrize("nonzero", [False, True])
def test_a_shuffle_permutes_each_layer_within_itself(nonzero):
    graph = surviving_graph(small_network(), condense=False)
    original = cl.layer_matrices(graph)
    for before, after in zip(original, cl.shuffled(original, 25, nonzero, np.random.default_rng(0))):
        for sample in after:
            assert sorted(sample.ravel()) == sorted(before.ravel())
            if nonzero:
                assert np.array_equal(sample != 0, before != 0)
    moved = cl.shuffled(original, 25, False, np.random.default_rng(0))[0]
    assert any(not np.array_equal(m != 0, original[0] != 0) for m in moved), "shuffle=layer moves the pruned zeros too"


def test_a_network_without_weights_scores_none():
    net = SculptedNetwork.from_masks([[[0, 0]], [[0]]])
    assert set(score(Detection(modules=[]), network=net).values()) == {None}


class TestClusterabilityContract(ScorerContract):
    component = cl.ClusterabilityScorer()
    plugin = cl
    bad_params = [{"shuffles": 0}, {"shuffle": "all"}]


def test_module_sums_match_a_unit_by_unit_count_with_a_module_per_unit():
    """vol and in of every module against a plain loop over the edges, with shuffles stacked and
    as many modules as units (paris on a randomly pruned MNIST network finds ~1,600): the sums
    come from the weights' margins and never build a modules x modules block."""
    net = SculptedNetwork.from_masks([np.ones((5, 6)).tolist(), np.ones((3, 5)).tolist()])
    generator = torch.Generator().manual_seed(3)
    net.weights = [torch.randn(5, 6, generator=generator), torch.randn(3, 5, generator=generator)]
    graph = surviving_graph(net, condense=False)
    rng = np.random.default_rng(0)
    for labels in (np.arange(graph.size), rng.integers(-1, 4, graph.size)):
        k = int(labels.max()) + 1
        matrices = cl.shuffled(cl.layer_matrices(graph), 3, False, rng)
        volume, inside = cl.module_sums(graph, labels, k, matrices)
        assert volume.shape == inside.shape == (3, k)
        for s in range(3):
            expect_volume, expect_inside = np.zeros(k), np.zeros(k)
            for (src, dst), m in zip(cl.layer_blocks(graph), matrices):
                for o, out_node in enumerate(dst):
                    for i, in_node in enumerate(src):
                        w = m[s, o, i]
                        for node in (out_node, in_node):
                            if labels[node] >= 0:
                                expect_volume[labels[node]] += w
                        if labels[out_node] >= 0 and labels[out_node] == labels[in_node]:
                            expect_inside[labels[out_node]] += w
            np.testing.assert_allclose(volume[s], expect_volume, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(inside[s], expect_inside, rtol=1e-12, atol=1e-12)
