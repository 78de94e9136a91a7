"""hparams=authors trains every seed of a (task, architecture) with that cell's published recipe,
as the paper did (one recipe per cell), and the task's recipe only where the paper published none."""

from __future__ import annotations

import pytest

from sculptbench.plugin.registry import load_registry
from sculptbench.run import planning


@pytest.fixture(scope="module")
def registry():
    return load_registry(entry_points=False)


def _groups(registry, task, hidden, seeds, **extra):
    spec = planning.RunSpec(tasks=[registry.tasks[task]], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"],
                            seeds=seeds, archs=[hidden], params={"iterative": {"hparams": "authors", **extra}})
    return planning.plan(registry, spec)


@pytest.mark.parametrize("task, hidden, recipe", [
    ("bool/both", (24, 24, 24), (0.05, 32, 15)),
    ("bool/reused", (24, 24), (0.1, 8, 40)),
])
def test_every_seed_trains_with_the_cells_published_recipe(registry, task, hidden, recipe):
    (group,) = _groups(registry, task, hidden, list(range(24)))  # seeds 4..23 were never published
    assert (group.training.lr, group.training.batch_size, group.training.epochs) == recipe
    assert group.seeds == list(range(24)), "one recipe: every seed is pruned in one batch"
    assert dict(group.detectors)["sculpting"]["feature_step"] is not None, "the published detector settings too"


def test_the_published_recipe_by_hand_is_the_same_cell(registry):
    by_rule = _groups(registry, "bool/both", (24, 24, 24), [0, 7])[0]
    spec = planning.RunSpec(tasks=[registry.tasks["bool/both"]], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"],
                            seeds=[0, 7], archs=[(24, 24, 24)], params={"iterative": {"hparams": "authors"}},
                            training_overrides={"lr": 0.05, "batch_size": 32, "epochs": 15})
    (by_hand,) = planning.plan(registry, spec)
    assert by_hand.keys == by_rule.keys


def test_outside_the_published_grid_the_task_recipe_stays(registry):
    task = registry.tasks["bool/both"]
    (group,) = _groups(registry, "bool/both", (20, 20), [0, 1])
    assert group.training == task.training_for((20, 20))
