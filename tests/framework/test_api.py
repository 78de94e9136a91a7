"""The public API (``sculptbench.api``) and its training helper ``train_masked``, on a tiny task.

The pruner of docs/plugins.md ("In one afternoon: a pruner") is run through the contract kit.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from sculptbench import api
from sculptbench.api import PrunerContract, SculptedNetwork, TrainingConfig, initial_network, train_masked

ROOT = Path(__file__).resolve().parents[2]
SIZES = [4, 8, 4]
CONFIG = TrainingConfig(epochs=6)


def same_network(a, b):
    """Whether two networks have identical tensors and accuracies."""
    tensors = ("weights", "biases", "weight_masks", "bias_masks")
    return (a.sizes == b.sizes and a.accuracy == b.accuracy and a.test_accuracy == b.test_accuracy
            and all(torch.equal(x, y) for name in tensors for x, y in zip(getattr(a, name), getattr(b, name))))


def half_mask(seed):
    """A random (out, in) weight mask per layer of SIZES, keeping about half the weights."""
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(b, a, generator=g) < 0.5 for a, b in zip(SIZES[:-1], SIZES[1:])]


@pytest.fixture(scope="module")
def batch(small_task):
    """A dense network (seed 0) and a masked one (seed 1), trained in one call."""
    return train_masked(small_task, SIZES, [None, half_mask(1)], [0, 1], CONFIG)


def test_returns_trained_networks_with_accuracies(batch):
    dense, sparse = batch
    for net in batch:
        assert net.sizes == SIZES and net.status == "ok"
        assert 0 <= net.accuracy <= 1 and 0 <= net.test_accuracy <= 1
    assert dense.density() == 1.0
    assert dense.accuracy > 0.5, "six epochs should learn more than chance"


def test_masks_are_respected(batch):
    sparse = batch[1]
    for layer, mask in enumerate(half_mask(1)):
        assert torch.equal(sparse.weight_masks[layer], mask)
        assert int((sparse.weights[layer][~mask] != 0).sum()) == 0
    assert all(bool(m.all()) for m in sparse.bias_masks), "biases train unless bias_masks says otherwise"


def test_a_networks_result_does_not_depend_on_its_batch(small_task, batch):
    [alone] = train_masked(small_task, SIZES, [half_mask(1)], 1, CONFIG)
    assert same_network(alone, batch[1])
    [dense_again] = train_masked(small_task, SIZES, [None], 0, CONFIG)
    assert same_network(dense_again, batch[0])


def test_seeds_differ(small_task, batch):
    [other] = train_masked(small_task, SIZES, [None], 5, CONFIG)
    assert not torch.equal(other.weights[0], batch[0].weights[0])


def test_starting_from_the_initial_network_changes_nothing(small_task, batch):
    start = initial_network(SIZES, 0)
    assert start.density() == 1.0 and all(int(b.abs().sum()) == 0 for b in start.biases)
    [same] = train_masked(small_task, SIZES, [None], 0, CONFIG, start=start)
    assert same_network(same, batch[0])


def test_start_continues_from_given_weights(small_task, batch):
    dense = batch[0]
    [retrained] = train_masked(small_task, SIZES, [None], 0, TrainingConfig(epochs=1, lr=1e-9), start=dense)
    for before, after in zip(dense.weights, retrained.weights):
        assert torch.allclose(before, after, atol=1e-5)


def test_bias_masks(small_task):
    bias_masks = [torch.tensor([True] * 4 + [False] * 4), torch.ones(4, dtype=torch.bool)]
    [net] = train_masked(small_task, SIZES, [None], 0, CONFIG, bias_masks=[bias_masks])
    assert torch.equal(net.bias_masks[0], bias_masks[0])
    assert int((net.biases[0][4:] != 0).sum()) == 0


def test_config_defaults_to_the_tasks_recipe(small_task):
    quick = types.SimpleNamespace(**{name: getattr(small_task, name) for name in ("n_inputs", "n_outputs", "data", "accuracy")})
    quick.training_for = lambda hidden: CONFIG
    [by_default] = train_masked(quick, SIZES, [None], 3)
    [explicit] = train_masked(small_task, SIZES, [None], 3, CONFIG)
    assert same_network(by_default, explicit)


@pytest.mark.parametrize("call, message", [
    (lambda t: train_masked(t, [5, 8, 4], [None], 0, CONFIG), "must start with the task's 4 inputs"),
    (lambda t: train_masked(t, SIZES, [[torch.ones(4, 8)]], 0, CONFIG), "masks[0] has 1 layers; the network has 2"),
    (lambda t: train_masked(t, SIZES, [[torch.ones(4, 8), torch.ones(4, 8)]], 0, CONFIG), "masks[0][0] has shape (4, 8); expected (8, 4)"),
    (lambda t: train_masked(t, SIZES, [None, None], [0], CONFIG), "seed gives 1 entries for 2 masks"),
    (lambda t: train_masked(t, SIZES, [None], 0, CONFIG, start=initial_network([4, 6, 4], 0)), "start network has sizes [4, 6, 4]"),
])
def test_misuse_is_named(small_task, call, message):
    with pytest.raises(ValueError) as info:
        call(small_task)
    assert message in str(info.value)


def test_nothing_to_train(small_task):
    assert train_masked(small_task, SIZES, [], 0, CONFIG) == []


# --------------------------------------------------------------------------- the api module
def test_importing_the_api_does_not_import_pytest():
    code = "import sys, sculptbench.api as a; assert 'pytest' not in sys.modules; a.PrunerContract; assert 'pytest' in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        api.no_such_name  # noqa: B018
    assert set(api.__all__) <= set(dir(api))


def test_every_public_name_resolves():
    """Each name of ``__all__`` is served (the contract kit's lazily), once each; the options API is among them."""
    assert len(api.__all__) == len(set(api.__all__))
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert {"Option", "Options", "When", "Check", "Default", "SELECT_RULES", "restart_seed", "TaskSource", "CliOption", "CliCommand"} <= set(api.__all__)


# --------------------------------------------------------------------------- the docs' pruner
def doc_block(heading):
    """The first ```python block under ``heading`` in docs/plugins.md, as a fresh module."""
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    module = types.ModuleType("doc_" + re.sub(r"\W+", "_", heading.lower()).strip("_"))
    exec(compile(code, f"docs/plugins.md ({heading})", "exec"), module.__dict__)  # noqa: S102
    return module


DOC_PRUNER = doc_block("## In one afternoon: a pruner")


class TestDocPruner(PrunerContract):
    component = DOC_PRUNER.OneShotPruner()
    plugin = DOC_PRUNER
    plugin_name = "doc-pruner"
    params = {"cut": 0.5}
    bad_params = [{"cut": 1}, {"cut": -0.1}, {"cut": "half"}, {"cut": True}]

    def test_cuts_the_asked_fraction(self):
        net = self.pruned()
        assert abs(net.density() - 0.5) < 1e-9
        assert 0 <= net.dense_accuracy <= 1, "the example records the dense accuracy"


def test_doc_detector_block_runs(small_task):
    detector = doc_block("## In one afternoon: a detector").ComponentsDetector()
    options = detector.resolve({})
    dense = initial_network([small_task.n_inputs, 6, small_task.n_outputs], 0)
    assert len(detector.detect(dense, small_task, options, 0).modules) == 1
    # Two blocks (inputs 0-1 -> hidden 0-2 -> outputs 0-1, and the rest) and a hidden unit without an edge.
    first = torch.zeros(6, small_task.n_inputs, dtype=torch.bool)
    first[:3, :2] = first[3:5, 2:] = True
    second = torch.zeros(small_task.n_outputs, 6, dtype=torch.bool)
    second[:2, :3] = second[2:, 3:5] = True
    blocks = SculptedNetwork.from_masks([first, second])
    modules = detector.detect(blocks, small_task, options, 0).modules
    assert len(modules) == 2 and (1, 5) not in set().union(*modules)
