"""Tests of the example plugin: sculptbench's contracts plus a few checks of the methods themselves.

Run after ``pip install ./examples/sculptbench-example``::

    python -m pytest examples/sculptbench-example/tests
"""

from __future__ import annotations

import torch

from sculptbench.api import (
    DetectorContract,
    PruneJob,
    PrunerContract,
    SculptedNetwork,
    TrainingConfig,
    builtin_registry,
    initial_network,
    load_registry,
)

from sculptbench_example import plugin
from sculptbench_example.spectral import SpectralDetector
from sculptbench_example.synflow import SynFlowPruner, synflow_masks, synflow_scores


# --------------------------------------------------------------------------- contracts
class TestSynFlowContract(PrunerContract):
    component = SynFlowPruner()
    plugin = plugin
    plugin_name = "example"
    params = {"rounds": 20}
    bad_params = [{"densities": []}, {"densities": [0]}, {"densities": [1.5]}, {"densities": "many"},
                  {"rounds": 0}, {"rounds": 2.5}, {"rounds": True}]


class TestSpectralContract(DetectorContract):
    component = SpectralDetector()
    plugin = plugin
    plugin_name = "example"
    bad_params = [{"n_clusters": 0}, {"n_clusters": "many"}, {"n_clusters": 2.5}, {"k_max": 1},
                  {"n_clusters": 2, "k_max": 4}]  # k_max applies only to n_clusters=auto


class TestSpectralFixedK(TestSpectralContract):
    params = {"n_clusters": 3}
    seed = 7


# --------------------------------------------------------------------------- registration
def test_registers_both_components(register_plugin):
    registry = register_plugin(plugin, name="example")
    assert isinstance(registry.pruners["synflow"], SynFlowPruner)
    assert isinstance(registry.detectors["spectral"], SpectralDetector)


def test_found_through_the_entry_point():
    registry = load_registry()
    record = next(p for p in registry.plugins if p.name == "example")
    assert (record.status, record.package, record.version) == ("ok", "sculptbench-example", "0.1.0")
    assert record.registers == {"pruner": ["synflow"], "detector": ["spectral"]}


# --------------------------------------------------------------------------- options
def test_options_resolve_to_what_the_components_use():
    synflow = SynFlowPruner().resolve({"densities": [0.2, 0.1, 0.2], "rounds": 5.0})
    assert (synflow["densities"], synflow["rounds"]) == ((0.1, 0.2), 5)  # sorted, without repeats; 5.0 is 5
    assert SynFlowPruner().resolve({})["densities"] == (0.05, 0.1, 0.2)
    assert SynFlowPruner().resolve({"densities": 0.3})["densities"] == (0.3,)
    spectral = SpectralDetector().resolve({"n_clusters": 3.0})
    assert dict(spectral) == {"n_clusters": 3}  # k_max is left out: it applies only to n_clusters=auto
    assert dict(SpectralDetector().resolve({})) == {"n_clusters": "auto", "k_max": 8}


# --------------------------------------------------------------------------- synflow
def test_scores_match_the_closed_form():
    g = torch.Generator().manual_seed(0)
    w1, w2, w3 = (torch.randn(a, b, generator=g) for a, b in ((3, 4), (4, 5), (5, 2)))
    s1, s2, s3 = synflow_scores([w1, w2, w3])
    a1, a2, a3 = (w.abs().double() for w in (w1, w2, w3))
    ones_in, ones_out = torch.ones(1, 3, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64)
    # dR/dW2[i, o] = (1ᵀ|W1|)[i] * (|W3| 1)[o]
    expected2 = a2 * (ones_in @ a1).t() * (a3 @ ones_out).t()
    assert torch.allclose(s2, expected2)
    assert torch.allclose(s1, a1 * (a2 @ a3 @ ones_out).t())
    assert torch.allclose(s3, a3 * (ones_in @ a1 @ a2).t())
    # Conservation: every layer's scores sum to R.
    r = float((ones_in @ a1 @ a2 @ a3).sum())
    for s in (s1, s2, s3):
        assert abs(float(s.sum()) - r) < 1e-9 * r


def test_mask_hits_the_density_and_is_data_free():
    init = initial_network([4, 16, 4], 3)
    n_weights = 4 * 16 + 16 * 4
    for density in (0.05, 0.2, 1.0):
        weight_masks, bias_masks = synflow_masks(init, density, rounds=10)
        assert sum(int(m.sum()) for m in weight_masks) == max(1, round(n_weights * density))
        assert [tuple(m.shape) for m in weight_masks] == [(16, 4), (4, 16)]
    # SynFlow avoids layer collapse: both layers keep weights even at 5%.
    weight_masks, bias_masks = synflow_masks(init, 0.05, rounds=10)
    assert all(m.any() for m in weight_masks)
    # A hidden unit keeps its bias only while it has an outgoing weight; output biases stay.
    assert bias_masks[0].tolist() == weight_masks[1].any(dim=0).tolist() and bias_masks[1].all()
    again = synflow_masks(init, 0.05, rounds=10)
    assert all(torch.equal(a, b) for a, b in zip(weight_masks + bias_masks, again[0] + again[1]))


def test_synflow_keeps_the_sparsest_density_that_solves_the_task():
    task = builtin_registry().tasks["bool/input-separable"]
    pruner = SynFlowPruner()
    training = TrainingConfig(**{**task.training.__dict__, "epochs": 40})
    net = pruner.prune(PruneJob(task, (16,), 0, pruner.resolve({"densities": [0.5, 0.1, 0.2]}), training))
    assert net.status == "ok"
    tried = [h for h in net.history if h["phase"] == "synflow"]
    assert [round(1 - h["target"] / 100, 6) for h in tried] == [0.1, 0.2, 0.5]
    if net.info["met_threshold"]:
        chosen = net.info["variant"]["density"]
        assert net.accuracy >= 1.0
        assert all(not h["accepted"] for h in tried if 1 - h["target"] / 100 < chosen - 1e-9)
        assert abs(net.density() - chosen) < 0.01
    else:
        assert net.info["variant"]["density"] == 0.5


# --------------------------------------------------------------------------- spectral
def _task():
    return builtin_registry().tasks["bool/input-separable"]


def test_spectral_finds_two_blocks():
    # x1,x2 -> h0,h1 -> y1,y2 and x3,x4 -> h2,h3 -> y3,y4: two components, found by the eigengap.
    m1 = torch.zeros(4, 4, dtype=torch.bool)
    m1[0:2, 0:2] = True
    m1[2:4, 2:4] = True
    net = SculptedNetwork.from_masks([m1, m1.clone()])
    det = SpectralDetector().detect(net, _task(), SpectralDetector().resolve({}), seed=0)
    assert det.info["k"] == 2 and det.info["k_source"] == "eigengap"
    assert det.modules == [
        frozenset({(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)}),
        frozenset({(0, 2), (0, 3), (1, 2), (1, 3), (2, 2), (2, 3)}),
    ]
    assert det.info["ncut"] == 0.0


def test_spectral_handles_tiny_and_empty_graphs():
    detector, task = SpectralDetector(), _task()
    p = detector.resolve({})
    one_edge = torch.zeros(4, 4, dtype=torch.bool)
    one_edge[0, 0] = True
    empty = torch.zeros(4, 4, dtype=torch.bool)
    det = detector.detect(SculptedNetwork.from_masks([one_edge, empty]), task, p, seed=0)
    assert det.modules == [frozenset({(0, 0), (1, 0)})]
    det = detector.detect(SculptedNetwork.from_masks([empty, empty]), task, p, seed=0)
    assert det.modules == []
    # Isolated units are dropped; a single module when asked for one.
    det = detector.detect(SculptedNetwork.from_masks([torch.ones(3, 4), torch.ones(4, 3)]), task,
                          detector.resolve({"n_clusters": 1}), seed=0)
    assert len(det.modules) == 1 and len(det.modules[0]) == 11
