"""The protocol's adaptation (sculptbench.run.selection.prune_cells, contracts/protocol.py
ADAPT_LADDER): a cell whose kept network is untrainable is pruned again with the next recipe of the
ladder, all such cells of an attempt in one call; what each attempt used is recorded; a cell that
trains at once is untouched; ``untrainable`` remains only when the budget is spent."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sculptbench.api import Pruner, SculptedNetwork, TrainingConfig, restart_seed
from sculptbench.contracts.options import option_names
from sculptbench.contracts.protocol import ADAPT_LADDER, adapt_budget, adapt_restart
from sculptbench.contracts.work import Group
from sculptbench.run import planning
from sculptbench.run.running import untrainable_error
from sculptbench.run.selection import prune_cells

HIDDEN = (8,)


class StandIn(Pruner):
    """Trains nothing: a job's network is ok when its recipe has at least ``needs[cell seed]``
    epochs and, where ``fresh_only`` holds the cell seed, only from a fresh initialisation."""

    name = "standin"

    def __init__(self, needs: dict[int, int], fresh_only: frozenset[int] = frozenset()):
        self.needs, self.fresh_only = needs, fresh_only
        self.calls: list[list[tuple[int, int, int, float]]] = []

    def prune(self, job):
        raise AssertionError("prune_many serves every call")

    def prune_many(self, jobs):
        self.calls.append([(job.cell_seed, job.seed, job.training.epochs, job.training.lr) for job in jobs])
        out = []
        for job in jobs:
            net = SculptedNetwork.from_masks([torch.ones(HIDDEN[0], job.task.n_inputs), torch.ones(job.task.n_outputs, HIDDEN[0])])
            fresh = job.seed != job.cell_seed
            trains = job.training.epochs >= self.needs.get(job.cell_seed, 0) and (fresh or job.cell_seed not in self.fresh_only)
            net.status = "ok" if trains else "untrainable"
            net.dense_accuracy = net.accuracy = 1.0 if trains else 0.5
            out.append(net)
        return out


def group_for(task, pruner, seeds, user=None):
    options = pruner.resolve(user or {}, {})
    return Group(task, HIDDEN, pruner.name, options, TrainingConfig(epochs=10), list(seeds), [], [], "cpu", {})


def test_the_ladder_and_its_budget_are_what_the_docs_state():
    # docs/protocol.md: x2 epochs from the same start, then x4 and x8 epochs at half the lr from fresh starts.
    assert [(s.epochs, s.lr, s.fresh) for s in ADAPT_LADDER] == [(2, 1.0, False), (4, 0.5, True), (8, 0.5, True)]
    assert adapt_budget(3) == 14 and adapt_budget(0) == 0
    base = TrainingConfig(epochs=15, lr=0.05)
    assert ADAPT_LADDER[1].training(base) == dataclasses.replace(base, epochs=60, lr=0.05 * 0.5)
    assert adapt_restart(restarts=9, attempt=2, restart=3) == 21  # past the cell's own nine starts


def test_untrainable_cells_get_the_next_recipes_in_one_call_each(small_task):
    # seed 0 trains at once; seed 1 needs 20 epochs (attempt 1: 10 x 2); seed 2 needs a fresh start
    # (attempt 2); seed 3 needs 100 epochs, more than the ladder gives (10 x 8 = 80): budget spent.
    pruner = StandIn({1: 20, 3: 100}, fresh_only=frozenset({2}))
    group = group_for(small_task, pruner, range(4))
    nets = prune_cells(pruner, group, group.seeds, registry=None)
    assert [n.status for n in nets] == ["ok", "ok", "ok", "untrainable"]
    # One call per attempt, holding exactly the cells still untrainable, with the ladder's recipes.
    assert pruner.calls[0] == [(s, s, 10, 0.05) for s in range(4)]
    assert pruner.calls[1] == [(s, s, 20, 0.05) for s in (1, 2, 3)]
    fresh2 = adapt_restart(1, 2, 0)
    assert pruner.calls[2] == [(s, restart_seed(s, fresh2), 40, pytest.approx(0.025)) for s in (2, 3)]
    assert pruner.calls[3] == [(3, restart_seed(3, adapt_restart(1, 3, 0)), 80, pytest.approx(0.025))]
    assert len(pruner.calls) == 4
    assert "adapted" not in nets[0].info  # trained at once: untouched
    one = nets[1].info["adapted"]
    assert one["budget"] == 3 and not one["spent"]
    assert [(a["attempt"], a["epochs"], a["fresh"], a["dense_accuracy"]) for a in one["attempts"]] == [(0, 10, False, 0.5), (1, 20, False, 1.0)]
    assert [a["attempt"] for a in nets[2].info["adapted"]["attempts"]] == [0, 1, 2]
    spent = nets[3].info["adapted"]
    assert spent["spent"] and [a["epochs"] for a in spent["attempts"]] == [10, 20, 40, 80]
    message = untrainable_error(nets[3], group)
    assert "all 4 attempts" in message and "standin.adapt=3" in message and "is spent" in message and "\n" not in message


def test_adapt_sets_the_budget_and_zero_turns_it_off(small_task):
    pruner = StandIn({0: 20})
    group = group_for(small_task, pruner, [0], {"adapt": 0})
    [net] = prune_cells(pruner, group, [0], registry=None)
    assert net.status == "untrainable" and len(pruner.calls) == 1 and "adapted" not in net.info
    assert "adaptation is off (standin.adapt=0" in untrainable_error(net, group)
    pruner = StandIn({0: 40})
    group = group_for(small_task, pruner, [0], {"adapt": 1})
    [net] = prune_cells(pruner, group, [0], registry=None)
    assert net.status == "untrainable" and len(pruner.calls) == 2 and net.info["adapted"]["spent"]


def test_every_start_of_an_untrainable_cell_is_tried_again(small_task):
    pruner = StandIn({0: 20})
    group = group_for(small_task, pruner, [0], {"restarts": 3})
    [net] = prune_cells(pruner, group, [0], registry=None)
    assert net.status == "ok"
    assert [seed for _, seed, _, _ in pruner.calls[1]] == [restart_seed(0, r) for r in range(3)]


def test_the_paper_procedures_do_not_adapt(registry):
    iterative = registry.pruners["iterative"]
    for rule in ("paper", "authors"):
        assert iterative.resolve({"hparams": rule})["adapt"] == 0
        assert iterative.resolve({"hparams": rule, "adapt": 2})["adapt"] == 2  # the user's value still wins
    assert iterative.resolve({})["adapt"] == len(ADAPT_LADDER)
    assert registry.pruners["dense"].resolve({})["adapt"] == len(ADAPT_LADDER)
    assert "adapt" not in option_names(registry.pruners["published"].declared_options())


def test_a_network_that_trains_at_once_is_bit_identical_with_or_without_the_budget(registry, small_task):
    dense = registry.pruners["dense"]

    def networks(adapt):
        group = planning.plan(registry, planning.RunSpec(
            tasks=[small_task], pruners=["dense"], detectors=["louvain"], scorers=["structure"], seeds=[0, 1], archs=[(16,)],
            params={"dense": {"adapt": adapt, "restarts": 1}}, training_overrides={"epochs": 30}))[0]
        return prune_cells(dense, group, group.seeds, registry)

    for with_budget, without in zip(networks(3), networks(0)):
        assert with_budget.status == without.status == "ok" and "adapted" not in with_budget.info
        assert all(torch.equal(a, b) for a, b in zip(with_budget.weights + with_budget.biases, without.weights + without.biases))


def test_a_real_untrainable_cell_is_rescued_and_says_what_it_used(registry, small_task):
    # 15 epochs of the paper's recipe leave input-separable at 16 units at 0.98 (seed 0); 30 (x2) learn it.
    group = planning.plan(registry, planning.RunSpec(
        tasks=[small_task], pruners=["dense"], detectors=["louvain"], scorers=["structure"], seeds=[0], archs=[(16,)],
        params={"dense": {"restarts": 1}}, training_overrides={"epochs": 15}))[0]
    [net] = prune_cells(registry.pruners["dense"], group, [0], registry)
    adapted = net.info["adapted"]
    assert adapted["attempts"][0]["dense_accuracy"] < 1.0
    assert net.status == "ok" and not adapted["spent"] and adapted["attempts"][-1]["dense_accuracy"] == 1.0
