"""Tests of the example plugin: sculptbench's contracts plus checks of the methods themselves.

Run after ``pip install ./examples/sculptbench-example``::

    python -m pytest examples/sculptbench-example/tests
"""

from __future__ import annotations

import pytest
import torch

from sculptbench.api import (
    DetectorContract,
    PruneJob,
    PrunerContract,
    SculptedNetwork,
    TrainingConfig,
    builtin_registry,
    load_registry,
)

from sculptbench_example import plugin
from sculptbench_example.gradual import GradualMagnitudePruner, cubic_sparsity, layer_magnitude_masks
from sculptbench_example.greedy import GreedyModularityDetector


# --------------------------------------------------------------------------- contracts
class TestGradualContract(PrunerContract):
    component = GradualMagnitudePruner()
    plugin = plugin
    plugin_name = "example"
    epochs = 40
    params = {"steps": 2, "step_epochs": 5, "bisect_steps": 1}
    bad_params = [{"steps": 0}, {"steps": 2.5}, {"step_epochs": 0}, {"bisect_steps": -1}, {"steps": True}]


class TestGreedyContract(DetectorContract):
    component = GreedyModularityDetector()
    plugin = plugin
    plugin_name = "example"
    bad_params = [{"resolution": 0}, {"resolution": "high"}, {"max_modules": 0}, {"max_modules": 2.5}]


class TestGreedyAtMostTwoModules(TestGreedyContract):
    params = {"max_modules": 2}
    seed = 7


# --------------------------------------------------------------------------- registration
def test_registers_both_components(register_plugin):
    registry = register_plugin(plugin, name="example")
    assert isinstance(registry.pruners["gradual"], GradualMagnitudePruner)
    assert isinstance(registry.detectors["greedy"], GreedyModularityDetector)


def test_found_through_the_entry_point():
    registry = load_registry()
    record = next(p for p in registry.plugins if p.name == "example")
    assert (record.status, record.package, record.version) == ("ok", "sculptbench-example", "0.2.0")
    assert record.registers == {"pruner": ["gradual"], "detector": ["greedy"]}


# --------------------------------------------------------------------------- gradual
def test_the_cubic_schedule_by_hand():
    # s_t = 0.9 (1 - (1 - t/4)^3): t=1: 0.9 (1 - 0.421875) = 0.5203125; t=2: 0.9 (1 - 0.125) = 0.7875;
    # t=3: 0.9 (1 - 0.015625) = 0.8859375; t=4: 0.9.
    assert [cubic_sparsity(0.9, t, 4) for t in range(1, 5)] == pytest.approx([0.5203125, 0.7875, 0.8859375, 0.9])


def test_each_layer_keeps_its_largest_surviving_weights():
    net = SculptedNetwork.from_masks([torch.ones(2, 2), torch.ones(1, 2)])
    net.weights = [torch.tensor([[0.1, -3.0], [2.0, 0.5]]), torch.tensor([[-0.2, 0.4]])]
    net.weight_masks[0] = torch.tensor([[True, False], [True, True]])  # -3.0 is already pruned
    # Sparsity 0.5: layer 0 prunes round(0.5 x 4) = 2 and keeps 2 (|2.0|, |0.5|; never the pruned -3.0);
    # layer 1 prunes round(0.5 x 2) = 1 and keeps |0.4|.
    masks = layer_magnitude_masks(net, 0.5)
    assert masks[0].tolist() == [[False, False], [True, True]] and masks[1].tolist() == [[False, True]]


def test_gradual_keeps_the_sparsest_network_that_solves_the_task():
    task = builtin_registry().tasks["bool/input-separable"]
    pruner = GradualMagnitudePruner()
    training = TrainingConfig(**{**task.training.__dict__, "epochs": 60})
    net = pruner.prune(PruneJob(task, (16,), 0, pruner.resolve({"steps": 3, "bisect_steps": 1}), training))
    assert net.status == "ok" and net.accuracy >= 1.0
    assert net.history[0]["phase"] == "dense" and {h["phase"] for h in net.history[1:]} == {"gradual"}
    assert net.density() == min(h["density"] for h in net.history if h["accepted"]) < 0.5
    # Every layer is pruned to the same sparsity (the paper's per-layer masks), up to rounding.
    shares = [float(m.float().mean()) for m in net.weight_masks]
    assert max(shares) - min(shares) < 0.05


# --------------------------------------------------------------------------- greedy
def _task():
    return builtin_registry().tasks["bool/input-separable"]


def test_greedy_finds_two_blocks():
    # x1,x2 -> h0,h1 -> y1,y2 and x3,x4 -> h2,h3 -> y3,y4: two components, two modules.
    m1 = torch.zeros(4, 4, dtype=torch.bool)
    m1[0:2, 0:2] = True
    m1[2:4, 2:4] = True
    net = SculptedNetwork.from_masks([m1, m1.clone()])
    detector = GreedyModularityDetector()
    det = detector.detect(net, _task(), detector.resolve({}), seed=0)
    assert det.modules == [
        frozenset({(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)}),
        frozenset({(0, 2), (0, 3), (1, 2), (1, 3), (2, 2), (2, 3)}),
    ]
    # Each block holds 8 of the 16 unit-weight edges: Q = 2 x (8/16 - (16/32)^2) = 0.5.
    assert det.info["modularity"] == pytest.approx(0.5)
    one = detector.detect(net, _task(), detector.resolve({"max_modules": 1}), seed=0)
    assert len(one.modules) == 1


def test_greedy_leaves_out_units_without_weights():
    detector, task = GreedyModularityDetector(), _task()
    one_edge = torch.zeros(4, 4, dtype=torch.bool)
    one_edge[0, 0] = True
    empty = torch.zeros(4, 4, dtype=torch.bool)
    det = detector.detect(SculptedNetwork.from_masks([one_edge, empty]), task, detector.resolve({}), seed=0)
    assert det.modules == [frozenset({(0, 0), (1, 0)})]
    assert detector.detect(SculptedNetwork.from_masks([empty, empty]), task, detector.resolve({}), seed=0).modules == []
