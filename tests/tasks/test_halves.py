"""Halves-MNIST (plugins/tasks/mnist/halves.py): the half-width digits, both generators' labels,
the ground truth, the profiles and a dense network trained on a tiny slice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sculptbench.api import PruneJob, SculptbenchError
from sculptbench.plugins.pruners.iterative.loop import sculpt
from sculptbench.plugins.tasks import mnist
from sculptbench.plugins.tasks.mnist.halves import (
    HALVES_PROFILES,
    HalvesTask,
    argmax_accuracy,
    build_halves,
    halve,
    halves_profile,
    make_halves,
)
from sculptbench.run.planning import select_tasks

TINY = dataclasses.replace(HALVES_PROFILES["quick"], name="tiny", sizes=(300, 60, 60))


def test_halve_averages_each_pair_of_columns():
    # Row r of the digit holds 0, 255, 0, 255, ...: every pair of columns averages to 127.5 / 255.
    image = np.tile(np.array([0, 255] * 14, dtype=np.uint8), (28, 1))
    image[0, :4] = [255, 255, 0, 0]  # first row: pairs (255, 255) -> 1 and (0, 0) -> 0
    out = halve(image[None])
    assert out.shape == (1, 28, 14) and out.dtype == np.float32
    assert out[0, 0, 0] == 1.0 and out[0, 0, 1] == 0.0 and out[0, 5, 3] == pytest.approx(0.5)


@pytest.mark.parametrize("kind", ["sum", "same"])
def test_labels_and_halves(kind):
    digits_set = mnist.load_digits(None)
    split = make_halves(kind, digits_set, "train", 200, np.random.default_rng(0))
    labels = split.y.argmax(dim=1).numpy()
    assert split.y.sum(dim=1).eq(1).all() and split.x.shape == (200, 784)
    if kind == "sum":
        assert (labels == (split.digits[:, 0] + split.digits[:, 1]) % 10).all()
        assert len({tuple(d) for d in split.digits}) > 50  # pairs drawn independently
    else:
        assert (split.digits[:, 0] == split.digits[:, 1]).all() and (labels == split.digits[:, 0]).all()
        assert (split.image_ids[:, 0] != split.image_ids[:, 1]).mean() > 0.9  # another image of the class
    train_ids = set(digits_set.splits["train"].tolist())
    assert set(split.image_ids.reshape(-1).tolist()) <= train_ids
    image = split.x[7].view(28, 28).numpy()
    assert np.array_equal(image[:, :14], halve(digits_set.images[split.image_ids[7, :1]])[0])
    assert np.array_equal(image[:, 14:], halve(digits_set.images[split.image_ids[7, 1:]])[0])


def test_ground_truth_and_registration(registry):
    total = registry.tasks["halves-mnist/sum"]
    same = registry.tasks["halves-mnist/same"]
    for task in (total, same):
        assert task.family == "halves-mnist" and task.n_inputs == 784 and task.n_outputs == 10 and not task.require_all_inputs
        assert task.input_groups["p3_13"] == "left" and task.input_groups["p3_14"] == "right"
    modules = {m.name: m for m in total.ground_truth.modules}
    assert set(modules) == {"left", "right", "sum"} and modules["sum"].uses == ("left", "right")
    assert modules["sum"].drives == tuple(f"y{i}" for i in range(1, 11)) and len(modules["left"].reads) == 28 * 14
    assert all(total.input_groups[x] == "right" for x in modules["right"].reads)
    assert [m.drives for m in same.ground_truth.modules] == [tuple(f"y{i}" for i in range(1, 11))] * 2
    assert {t.name for t in select_tasks(registry, ["halves-mnist"])} == {"halves-mnist/sum", "halves-mnist/same"}
    assert {t.name for t in select_tasks(registry, ["mnist"])} == {"mnist/two-digits", "mnist/xor"}


def test_profiles():
    quick, paper = mnist.PROFILES["quick"], mnist.PROFILES["paper"]
    assert halves_profile(quick) is HALVES_PROFILES["quick"] and halves_profile(paper) is HALVES_PROFILES["paper"]
    assert halves_profile(dataclasses.replace(paper, name="paper-tiny")) is HALVES_PROFILES["paper"]
    assert HALVES_PROFILES["paper"].archs == ((256, 256, 256, 256),) and HALVES_PROFILES["paper"].training.epochs == 20
    task = HalvesTask("sum", profile="paper")
    assert task.default_archs == ((256, 256, 256, 256),) and task.training_for((8,)) == task.training
    quick_sum, quick_same = HalvesTask("sum", profile="quick"), HalvesTask("same", profile="quick")
    assert task.definition_hash() != quick_sum.definition_hash() != quick_same.definition_hash()
    with pytest.raises(SculptbenchError, match="unknown halves-MNIST task kind 'product'; valid: sum, same"):
        HalvesTask("product")


def test_argmax_accuracy():
    targets = torch.eye(10)[[3, 7]]
    logits = torch.zeros(2, 2, 10)
    logits[0, 0, 3] = logits[0, 1, 7] = 1  # network 0: both right
    logits[1, 0, 3] = logits[1, 1, 2] = 1  # network 1: one right
    assert argmax_accuracy(logits, targets).tolist() == [1.0, 0.5]


def test_composites_are_deterministic_and_a_dense_network_trains():
    first = build_halves("sum", None, TINY)
    build_halves.cache_clear()
    again = build_halves("sum", None, TINY)
    assert first is not again and torch.equal(first.train.x, again.train.x) and np.array_equal(first.val.image_ids, again.val.image_ids)
    task = HalvesTask("same")
    task.halves = TINY
    job = PruneJob(task, (16,), 0, {}, dataclasses.replace(task.training, epochs=2))
    [[net]], _ = sculpt([job], [({}, [])])
    assert net.sizes == [784, 16, 10] and 0.1 < net.dense_accuracy <= 1.0
