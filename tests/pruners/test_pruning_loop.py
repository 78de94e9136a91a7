"""The pruning decisions: the accept/halve-step loop, schedules, counts, selection, masks, scores."""

from __future__ import annotations

import math
import re

import pytest
import torch

from sculptbench.engine import training as engine
from sculptbench.contracts.types import TaskData
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.work import Group
from sculptbench.plugins.pruners.iterative import DensePruner, IterativePruner, MagnitudePruner, RandomPruner
from sculptbench.api import restart_seed
from sculptbench.run.selection import start_jobs
from sculptbench.plugins.pruners.iterative.loop import (
    PruneLoop,
    count_for_target,
    flat_mask_from_units,
    io_connected,
    schedule_target,
    select_lowest,
    unit_alive_from_mask,
)
from sculptbench.plugins.pruners.iterative.scores import edge_scores, unit_scores


def drive(loop: PruneLoop, decisions):
    """Feed scripted accept/reject decisions; return the proposed targets."""
    proposals = []
    for accepted in decisions:
        assert not loop.done
        proposals.append(loop.propose())
        loop.report(accepted)
    return proposals


# --------------------------------------------------------------------------- the stopping rule
def test_linear_schedule_while_everything_is_accepted():
    loop = PruneLoop("linear", step=10, p_min=1)
    assert drive(loop, [True] * 4) == [10, 20, 30, 40]
    assert loop.accepted == 40 and not loop.done


def test_linear_schedule_from_a_start():
    loop = PruneLoop("linear", step=10, p_min=1, start=30)
    assert drive(loop, [True, True]) == [40, 50]


def test_fixed_steps_after_the_first_rejection():
    loop = PruneLoop("linear", step=10, p_min=1)
    # 10 accepted, 20 rejected -> p = 5 from 10; from then on fixed steps of 5, not the schedule.
    assert drive(loop, [True, False, True, True, True]) == [10, 20, 15, 20, 25]
    assert loop.accepted == 25


def test_halving_down_to_p_min_then_stop():
    loop = PruneLoop("linear", step=10, p_min=1)
    assert drive(loop, [False] * 5) == [10, 5, 2.5, 1.25, 1]
    assert loop.done and loop.accepted == 0


def test_step_never_below_p_min():
    loop = PruneLoop("linear", step=10, p_min=3)
    assert drive(loop, [False, False, False]) == [10, 5, 3]
    assert loop.done


def test_a_rejected_p_min_step_stops_even_after_acceptances():
    loop = PruneLoop("linear", step=4, p_min=1)
    proposals = drive(loop, [True, False, True, False, False])
    assert proposals == [4, 8, 6, 8, 7]
    assert loop.done and loop.accepted == 6


def test_halving_then_accepting_keeps_the_halved_step():
    loop = PruneLoop("linear", step=8, p_min=1)
    assert drive(loop, [False, False, True, True]) == [8, 4, 2, 4]


def test_target_capped_at_100_and_done_when_100_is_accepted():
    loop = PruneLoop("linear", step=40, p_min=1)
    assert drive(loop, [True, True, True]) == [40, 80, 100]
    assert loop.done and loop.accepted == 100


def test_non_linear_schedule_flattening_continues_in_p_min_steps():
    # exponential with step 4: 4, 6, 7, 7.5, 7.75 ... flattened to at least accepted + p_min.
    loop = PruneLoop("exponential", step=4, p_min=1)
    assert drive(loop, [True] * 5) == [4, 6, 7, 8, 9]


def test_report_before_propose_is_an_error():
    with pytest.raises(RuntimeError):
        PruneLoop("linear", step=10, p_min=1).report(True)


def test_rejected_capped_step_is_halved_not_repeated():
    """After a rejected step capped at 100 the next target must be smaller, not 100 again.

    80 accepted; the schedule's 120 is capped to 100 (a real step of 20) and rejected: halving
    gives a step of 10, so 90 comes next. Proposing 100 again retrains an identical, already
    rejected mask.
    """
    loop = PruneLoop("linear", step=40, p_min=1)
    assert drive(loop, [True, True, False]) == [40, 80, 100]
    assert loop.propose() == pytest.approx(90)


# --------------------------------------------------------------------------- schedules
@pytest.mark.parametrize(
    "name, step, i, iterations, start, expected",
    [
        ("linear", 10, 1, 10, 0, 10),
        ("linear", 10, 3, 10, 5, 35),
        ("linear", 1.5, 4, 10, 0, 6),
        ("exponential", 40, 1, 10, 0, 40),
        ("exponential", 40, 3, 10, 0, 70),
        ("exponential", 40, 3, 10, 10, 80),
        ("cosine", 0, 1, 4, 0, 100 - 50 * (1 + math.cos(math.pi / 4))),
        ("cosine", 0, 2, 4, 0, 50),
        ("cosine", 0, 4, 4, 0, 100),
        ("cosine", 0, 6, 4, 0, 100),
        ("cosine", 0, 2, 4, 40, 70),
        ("cubic", 0, 1, 4, 0, 57.8125),
        ("cubic", 0, 2, 4, 0, 87.5),
        ("cubic", 0, 4, 4, 0, 100),
        ("cubic", 0, 9, 4, 0, 100),
        ("cubic", 0, 2, 4, 20, 90),
        ("lth", 20, 1, 10, 0, 20),
        ("lth", 20, 2, 10, 0, 36),
        ("lth", 20, 3, 10, 0, 48.8),
        ("lth", 20, 2, 10, 50, 68),
    ],
)
def test_schedule_formulas(name, step, i, iterations, start, expected):
    assert schedule_target(name, step, i, iterations, start) == pytest.approx(expected)


def test_unknown_schedule():
    with pytest.raises(SculptbenchError, match="valid: linear, exponential, cosine, cubic, lth"):
        schedule_target("zigzag", 10, 1, 10, 0)


# --------------------------------------------------------------------------- counts and selection
@pytest.mark.parametrize(
    "target, total, expected",
    [(0, 10, 0), (10, 24, 2), (50, 5, 2), (12.5, 8, 1), (70, 10, 7), (100 / 3, 3, 1), (200 / 3, 3, 2),
     (99.99, 100, 99), (100, 7, 7), (150, 7, 7), (1.5, 1000, 15), (4.5, 1000, 45)],
)
def test_count_for_target(target, total, expected):
    assert count_for_target(target, total) == expected


def test_select_lowest_ties_go_to_the_lower_index():
    scores = torch.tensor([2.0, 1.0, 1.0, 1.0, 0.0])
    alive = torch.tensor([True, True, True, True, False])
    assert select_lowest(scores, alive, 2).tolist() == [1, 2]


def test_select_lowest_never_chooses_a_dead_item():
    # The reference counted already-pruned items (score 0) again (defect 3).
    scores = torch.tensor([0.0, 0.0, 5.0, 1.0, 3.0, 0.0])
    alive = torch.tensor([False, False, True, True, True, False])
    assert select_lowest(scores, alive, 2).tolist() == [3, 4]
    assert sorted(select_lowest(scores, alive, 3).tolist()) == [2, 3, 4]


def test_select_lowest_nothing_to_prune():
    chosen = select_lowest(torch.tensor([1.0, 2.0]), torch.tensor([True, True]), 0)
    assert chosen.numel() == 0 and chosen.dtype == torch.long


def test_select_lowest_exact_count_on_random_ties():
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        n = int(torch.randint(1, 30, (1,), generator=gen))
        scores = torch.randint(0, 3, (n,), generator=gen).float()
        alive = torch.rand(n, generator=gen) < 0.7
        n_alive = int(alive.sum())
        k = int(torch.randint(0, n_alive + 1, (1,), generator=gen)) if n_alive else 0
        chosen = select_lowest(scores, alive, k).tolist()
        expected = sorted((i for i in range(n) if alive[i]), key=lambda i: (float(scores[i]), i))[:k]
        assert chosen == expected


# --------------------------------------------------------------------------- masks
LAYOUT = engine.Layout((2, 3, 2))  # 6 + 3 + 6 + 2 = 17 columns


def test_layout_geometry():
    assert (LAYOUT.n_params, LAYOUT.n_weights, LAYOUT.n_hidden, LAYOUT.n_layers) == (17, 12, 3, 2)
    assert LAYOUT.weight_columns().sum() == 12


def test_flat_mask_from_units_kills_every_weight_and_bias_of_a_dead_unit():
    base = torch.ones(1, LAYOUT.n_params)
    mask = flat_mask_from_units(LAYOUT, torch.tensor([[True, False, True]]), base)
    w0, b0 = LAYOUT.weights(mask, 0)[0], LAYOUT.biases(mask, 0)[0, 0]
    w1, b1 = LAYOUT.weights(mask, 1)[0], LAYOUT.biases(mask, 1)[0, 0]
    assert w0.tolist() == [[1, 0, 1], [1, 0, 1]]  # (in, out): column of hidden unit 1
    assert b0.tolist() == [1, 0, 1]
    assert w1.tolist() == [[1, 1], [0, 0], [1, 1]]  # (in, out): row of hidden unit 1
    assert b1.tolist() == [1, 1]
    assert unit_alive_from_mask(LAYOUT, mask).tolist() == [[True, False, True]]


def test_flat_mask_from_units_keeps_base_zeros_and_handles_rows():
    base = torch.ones(2, LAYOUT.n_params)
    LAYOUT.weights(base, 0)[0, 0, 0] = 0
    alive = torch.tensor([[True, True, True], [False, True, False]])
    mask = flat_mask_from_units(LAYOUT, alive, base)
    assert LAYOUT.weights(mask, 0)[0, 0, 0] == 0
    assert mask[0].sum() == LAYOUT.n_params - 1
    # Row 1: only hidden unit 1 lives: 2 weights in, 1 bias, 2 weights out, 2 output biases.
    assert mask[1].sum() == 2 + 1 + 2 + 2


def test_flat_mask_two_hidden_layers():
    layout = engine.Layout((2, 3, 2, 1))
    alive = torch.tensor([[True, True, False, False, True]])
    mask = flat_mask_from_units(layout, alive, torch.ones(1, layout.n_params))
    assert layout.weights(mask, 1)[0].tolist() == [[0, 1], [0, 1], [0, 0]]
    assert layout.weights(mask, 2)[0].tolist() == [[0], [1]]
    assert unit_alive_from_mask(layout, mask).tolist() == alive.tolist()


def test_io_connected():
    full = torch.ones(1, LAYOUT.n_params)
    assert io_connected(LAYOUT, full, True).tolist() == [True]
    no_hidden = flat_mask_from_units(LAYOUT, torch.zeros(1, 3, dtype=torch.bool), full)
    assert io_connected(LAYOUT, no_hidden, False).tolist() == [False]
    lost_input = full.clone()
    LAYOUT.weights(lost_input, 0)[0, 0, :] = 0  # input 0 keeps no edge
    assert io_connected(LAYOUT, lost_input, True).tolist() == [False]
    assert io_connected(LAYOUT, lost_input, False).tolist() == [True]
    lost_output = full.clone()
    LAYOUT.weights(lost_output, 1)[0, :, 1] = 0  # output 1 keeps no edge
    assert io_connected(LAYOUT, lost_output, False).tolist() == [False]
    batch = torch.cat([full, lost_input, lost_output])
    assert io_connected(LAYOUT, batch, True).tolist() == [True, False, False]


# --------------------------------------------------------------------------- unit scores
def _tiny_problem():
    layout = engine.Layout((3, 4, 5, 2))
    gen = torch.Generator().manual_seed(3)
    params = torch.randn(2, layout.n_params, generator=gen)
    mask = (torch.rand(2, layout.n_params, generator=gen) > 0.2).float()
    x = torch.tensor([[a, b, c] for a in (0.0, 1.0) for b in (0.0, 1.0) for c in (0.0, 1.0)])
    y = torch.stack([x[:, 0] * x[:, 1], torch.clamp(x[:, 1] + x[:, 2], max=1)], dim=1)
    return layout, params, mask, TaskData(x, y, x, y, x, y)


def _autograd_hidden(net, x, y):
    """Hidden activations and d(per-row loss)/d(activation), with torch.autograd."""
    h, hidden = x, []
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        z = torch.nn.functional.linear(h, w.detach().requires_grad_(), b)
        if i < len(net.weights) - 1:
            h = torch.relu(z)
            h.retain_grad()
            hidden.append(h)
        else:
            h = z
    per_row = torch.nn.functional.binary_cross_entropy_with_logits(h, y, reduction="none").mean(dim=1)
    per_row.sum().backward()  # row r's loss depends only on row r's activations
    return torch.cat([a.detach() for a in hidden], dim=1), torch.cat([a.grad for a in hidden], dim=1)


def test_act_grad_matches_autograd():
    layout, params, mask, data = _tiny_problem()
    scores = unit_scores("act_grad", layout, params, mask, data, [torch.Generator(), torch.Generator()])
    assert scores.shape == (2, layout.n_hidden)
    for k in range(2):
        net = engine.to_network(layout, params[k], mask[k])
        a, g = _autograd_hidden(net, data.train_x, data.train_y)
        expected = (a * g).abs().mean(dim=0)
        torch.testing.assert_close(scores[k], expected, rtol=1e-5, atol=1e-7)


def test_act_variance_matches_a_direct_computation():
    layout, params, mask, data = _tiny_problem()
    scores = unit_scores("act_variance", layout, params, mask, data, [torch.Generator(), torch.Generator()])
    for k in range(2):
        a, _ = _autograd_hidden(engine.to_network(layout, params[k], mask[k]), data.train_x, data.train_y)
        torch.testing.assert_close(scores[k], a.var(dim=0, unbiased=False))


def test_unknown_unit_score():
    layout, params, mask, data = _tiny_problem()
    with pytest.raises(SculptbenchError, match="valid: act_grad"):
        unit_scores("nope", layout, params, mask, data, [])


# --------------------------------------------------------------------------- option validation
STEP_RANGE = "(0, 100)"


@pytest.mark.parametrize("key", ["unit_step", "edge_step"])
@pytest.mark.parametrize("value", [0, 100, -1, 150, "x", [1]])
def test_bad_steps(key, value):
    with pytest.raises(SculptbenchError) as info:
        IterativePruner().resolve({key: value})
    assert str(info.value).startswith(f"invalid iterative.{key} ") and STEP_RANGE in str(info.value)


@pytest.mark.parametrize("key", ["unit_schedule", "edge_schedule"])
def test_bad_schedule(key):
    with pytest.raises(SculptbenchError, match=re.escape(f"invalid iterative.{key} zigzag; it must be one of linear, exponential, cosine, cubic, lth")):
        IterativePruner().resolve({key: "zigzag"})


def test_bad_scores():
    with pytest.raises(SculptbenchError, match=re.escape("invalid iterative.unit_score nope; it must be one of act_grad, act_weight, act_variance, random")):
        IterativePruner().resolve({"unit_score": "nope"})
    with pytest.raises(SculptbenchError, match=re.escape("invalid iterative.edge_score nope; it must be one of magnitude, lamp, random")):
        IterativePruner().resolve({"edge_score": "nope"})


@pytest.mark.parametrize("value", [0, -2, 1.5, "x", None, True])
def test_bad_schedule_iterations(value):
    with pytest.raises(SculptbenchError, match=re.escape("invalid iterative.schedule_iterations") + ".*" + re.escape("it must be an integer in [1, inf)")):
        IterativePruner().resolve({"unit_schedule": "cosine", "schedule_iterations": value})


def test_schedule_iterations_applies_only_to_the_cosine_and_cubic_schedules():
    # a schedule that reaches 100% in N iterations takes N; under linear it would have no effect, so it is refused
    with pytest.raises(SculptbenchError, match=re.escape("option iterative.schedule_iterations=5 would have no effect: it applies only when "
                                                         "unit_schedule is cosine or cubic or edge_schedule is cosine or cubic")):
        IterativePruner().resolve({"schedule_iterations": 5})
    assert "schedule_iterations" not in IterativePruner().resolve({})
    assert IterativePruner().resolve({"edge_schedule": "cubic"})["schedule_iterations"] == 10
    assert IterativePruner().resolve({"edge_schedule": "cubic", "schedule_iterations": 4})["schedule_iterations"] == 4


def test_bad_hparams_and_auto_steps():
    with pytest.raises(SculptbenchError, match="invalid iterative.hparams sometimes; it must be one of task, auto, paper, authors"):
        IterativePruner().resolve({"hparams": "sometimes"})
    with pytest.raises(SculptbenchError, match=re.escape("invalid iterative.auto_unit_steps []") + ".*" + re.escape(STEP_RANGE)):
        IterativePruner().resolve({"hparams": "auto", "auto_unit_steps": []})
    with pytest.raises(SculptbenchError, match=re.escape("invalid iterative.auto_edge_steps [1.5, 120]") + ".*" + re.escape(STEP_RANGE)):
        IterativePruner().resolve({"hparams": "auto", "auto_edge_steps": [1.5, 120]})


def test_options_of_another_rule_are_refused_as_having_no_effect():
    with pytest.raises(SculptbenchError, match=re.escape(
            "option iterative.unit_step=30 would have no effect: it applies only when hparams is task (here hparams is auto)")) as info:
        IterativePruner().resolve({"hparams": "auto", "unit_step": 30})
    assert "add iterative.hparams=task to prune with unit_step=30" in str(info.value)
    with pytest.raises(SculptbenchError, match=re.escape(
            "option iterative.auto_unit_steps=[40] would have no effect: it applies only when hparams is auto (here hparams is task); "
            "add iterative.hparams=auto")):
        IterativePruner().resolve({"auto_unit_steps": [40]})
    # select applies only where a cell has more than one candidate
    with pytest.raises(SculptbenchError, match=re.escape(
            "option iterative.select=oracle would have no effect: it applies only when a cell has more than one candidate network")):
        IterativePruner().resolve({"select": "oracle"})
    assert IterativePruner().resolve({"select": "oracle", "restarts": 2})["select"] == "oracle"
    assert IterativePruner().resolve({"select": "oracle", "hparams": "auto", "auto_unit_steps": [30, 70], "restarts": 1})["select"] == "oracle"
    # a task's value that does not apply is dropped quietly: a task's defaults serve every rule
    resolved = IterativePruner().resolve({"hparams": "auto"}, {"unit_step": 30, "edge_step": 2.5})
    assert "unit_step" not in resolved and "edge_step" not in resolved


@pytest.mark.parametrize("value", [0, -1, 1.5, "x", True])
def test_bad_restarts(value):
    with pytest.raises(SculptbenchError, match=re.escape("invalid iterative.restarts") + ".*" + re.escape("it must be an integer in [1, inf)")):
        IterativePruner().resolve({"restarts": value})


def _start_jobs(task, params, seeds=(5,)):
    """The protocol's jobs for ``seeds`` of ``task`` at (8,) under ``params``: one per start."""
    group = Group(task, (8,), "iterative", params, task.training, list(seeds), [], [], "cpu", {})
    return start_jobs(group, list(seeds))


def test_auto_grid_is_steps_per_start_and_the_protocol_restarts_each(small_task):
    pruner = IterativePruner()

    def candidates(params):
        """(unit step, edge step, restart, start seed) of every candidate of the cell with seed 5, in the protocol's order."""
        return [(v.get("unit_step"), v.get("edge_step"), job.restart, job.seed)
                for job in _start_jobs(small_task, params) for v in pruner.variants(params, job)]

    auto = pruner.resolve({"hparams": "auto"})
    assert auto["restarts"] == 9 and pruner.candidates_per_start(auto) == 1
    assert candidates(auto) == [(50.0, 1.5, r, restart_seed(5, r)) for r in range(9)]
    assert {job.cell_seed for job in _start_jobs(small_task, auto)} == {5}
    grid = pruner.resolve({"hparams": "auto", "auto_unit_steps": [30, 70], "restarts": 2})
    assert pruner.candidates_per_start(grid) == 2
    assert [(u, r) for u, _, r, _ in candidates(grid)] == [(30.0, 0), (70.0, 0), (30.0, 1), (70.0, 1)]
    one = pruner.resolve({"hparams": "auto", "restarts": 1, "auto_unit_steps": [30, 50, 70], "auto_edge_steps": [0.5, 2.5]})
    assert candidates(one) == [(30.0, 0.5, 0, 5), (30.0, 2.5, 0, 5), (50.0, 0.5, 0, 5), (50.0, 2.5, 0, 5), (70.0, 0.5, 0, 5), (70.0, 2.5, 0, 5)]
    fixed = pruner.resolve({"hparams": "task"})
    assert pruner.variants(fixed, None) == [{"unit_step": 50.0, "edge_step": 1.5}] and fixed["restarts"] == 1
    dense = DensePruner()  # nothing to prune: one training per start, and no hparams rule to take
    with pytest.raises(SculptbenchError, match="unknown option dense.hparams; valid: restarts, select"):
        dense.resolve({"hparams": "auto"})
    options = dense.resolve({})
    assert dict(options) == {"restarts": 1, "adapt": 3} and dense.variants(options, _start_jobs(small_task, options)[0]) == [{}]


def test_restart_seeds():
    assert restart_seed(7, 0) == 7
    seeds = {restart_seed(s, r) for s in range(50) for r in range(4)}
    assert len(seeds) == 200 and all(0 <= x < 2**63 for x in seeds)


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(SculptbenchError) as info:
        IterativePruner().resolve({"foo": 1})
    message = str(info.value)
    assert message.startswith("unknown option iterative.foo; valid: ")
    assert "unit_step" in message and "edge_schedule" in message and "restarts" in message and "select" in message


def test_valid_params_are_normalised():
    resolved = IterativePruner().resolve({"unit_step": 30, "unit_schedule": "cosine", "schedule_iterations": 5.0})
    assert resolved["unit_step"] == 30.0 and isinstance(resolved["unit_step"], float) and resolved["edge_step"] == 1.5
    assert resolved["unit_schedule"] == "cosine" and resolved["schedule_iterations"] == 5 and isinstance(resolved["schedule_iterations"], int)
    assert resolved.given == {"unit_step", "unit_schedule", "schedule_iterations"}
    auto = IterativePruner().resolve({"hparams": "auto", "auto_unit_steps": 40, "restarts": 3.0})
    assert auto["auto_unit_steps"] == (40.0,) and auto["restarts"] == 3 and isinstance(auto["restarts"], int)
    assert IterativePruner().resolve(auto.as_dict()) == auto  # resolving the resolved options gives them back
    magnitude = MagnitudePruner().resolve({})
    assert (magnitude["edge_schedule"], magnitude["edge_step"]) == ("lth", 20.0)


def test_magnitude_and_random_follow_their_own_schedule_without_hparams():
    for pruner in (MagnitudePruner(), RandomPruner()):
        options = pruner.resolve({})
        assert "hparams" not in options and (options["edge_schedule"], options["edge_step"]) == ("lth", 20.0)
        assert pruner.variants(options, None) == [{"edge_step": 20.0}]
        with pytest.raises(SculptbenchError, match=f"unknown option {pruner.name}.hparams"):
            pruner.resolve({"hparams": "auto"})
    assert MagnitudePruner().resolve({})["edge_score"] == "magnitude"
    with pytest.raises(SculptbenchError, match="unknown option random.edge_score"):
        RandomPruner().resolve({"edge_score": "magnitude"})
    assert "edge_score" not in RandomPruner().resolve({}) and RandomPruner().phases(RandomPruner().resolve({}), {"edge_step": 20.0})[0].score == "random"


# --------------------------------------------------------------------------- the LAMP edge score
def test_lamp_scores_by_layer_on_a_hand_built_network():
    # 1-2-1: layer 0 has weights 3 and 4, layer 1 has 1 and 2 (both outputs of one unit).
    layout = engine.Layout((1, 2, 1))
    params = torch.zeros(1, layout.n_params)
    params[0, layout.weight_slice(0)] = torch.tensor([3.0, 4.0])
    params[0, layout.weight_slice(1)] = torch.tensor([1.0, 2.0])
    mask = torch.ones_like(params)
    lamp = edge_scores("lamp", layout, params, [torch.Generator()], mask)[0]
    # w^2 / (sum of w^2 of the layer's weights at least as large): 9/25, 16/16, 1/5, 4/4
    assert torch.allclose(lamp, torch.tensor([9 / 25, 1.0, 1 / 5, 1.0]))
    # by magnitude the cut would take 1 and 2 (the whole second layer) before 3; LAMP takes 1, then 3
    assert lamp.argsort().tolist()[:2] == [2, 0]
    # a pruned weight scores 0 and leaves the others' denominators
    mask[0, layout.weight_slice(0)] = torch.tensor([0.0, 1.0])
    lamp = edge_scores("lamp", layout, params, [torch.Generator()], mask)[0]
    assert torch.allclose(lamp, torch.tensor([0.0, 1.0, 1 / 5, 1.0]))
