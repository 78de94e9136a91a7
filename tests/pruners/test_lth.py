"""The lottery ticket (``lth``): its pruning round pinned on a hand-built network, the rewind values
and the stop rule on real runs, batch independence, and its bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner

from sculptbench.api import Layout, PruneJob, initial_network, network_row
from sculptbench.cli import main
from sculptbench.plugins.pruners.sparse_training import lth as lth_module
from sculptbench.plugins.pruners.sparse_training.common import prunable_columns
from sculptbench.plugins.pruners.sparse_training.lth import LotteryTicketPruner, lottery_mask
from conftest import assert_user_error

# A 2-2-1 network. Flat row (Layout order): layer 0's weights (in, out) = w[x0,h0], w[x0,h1],
# w[x1,h0], w[x1,h1]; its biases h0, h1; layer 1's weights w[h0,y], w[h1,y]; the output bias.
HAND = Layout((2, 2, 1))
TRAINED = torch.tensor([0.5, -0.1, 0.3, 0.1, 7.0, -7.0, 0.9, -0.1, 3.0])


def weights(row):
    return [round(float(v), 6) for v in row[HAND.weight_columns()]]


def test_a_round_removes_ceil_a_fifth_of_the_remaining_weights_ties_at_the_threshold_too():
    mask = torch.ones(HAND.n_params)
    # Global, output layer included: 6 prunable weights, |w| = 0.5 0.1 0.3 0.1 0.9 0.1.
    # count = ceil(0.2 x 6) = ceil(1.2) = 2; sorted |w| = 0.1 0.1 0.1 0.3 0.5 0.9; the threshold is
    # the 2nd smallest, 0.1, and every weight with |w| <= 0.1 goes: three (the tie), biases stay.
    one = lottery_mask(HAND, TRAINED, mask, prunable_columns(HAND), 0.2, "global")
    assert weights(one * TRAINED) == [0.5, 0.0, 0.3, 0.0, 0.9, 0.0]
    assert torch.equal(one[HAND.bias_slice(0)], torch.ones(2)) and one[-1] == 1
    # Next round: 3 remain, count = ceil(0.6) = 1, threshold 0.3: the 0.3 goes.
    two = lottery_mask(HAND, TRAINED, one, prunable_columns(HAND), 0.2, "global")
    assert weights(two * TRAINED) == [0.5, 0.0, 0.0, 0.0, 0.9, 0.0]


def test_the_output_layer_and_the_scope():
    mask = torch.ones(HAND.n_params)
    # Output layer kept (open_lth's LeNet): 4 prunable, |w| = 0.5 0.1 0.3 0.1; count = ceil(0.8) = 1,
    # threshold 0.1: both 0.1 of layer 0 go; the output's -0.1 stays.
    kept = lottery_mask(HAND, TRAINED, mask, prunable_columns(HAND, prune_output=False), 0.2, "global")
    assert weights(kept * TRAINED) == [0.5, 0.0, 0.3, 0.0, 0.9, -0.1]
    # Per layer: layer 0 as above (count 1, threshold 0.1, two go); layer 1 has 0.9 0.1,
    # count = ceil(0.4) = 1, threshold 0.1: the -0.1 goes.
    layer = lottery_mask(HAND, TRAINED, mask, prunable_columns(HAND), 0.2, "layer")
    assert weights(layer * TRAINED) == [0.5, 0.0, 0.3, 0.0, 0.9, 0.0]
    # A larger fraction: ceil(0.5 x 6) = 3 -> threshold 0.1 again (three ties), the same three go.
    assert torch.equal(lottery_mask(HAND, TRAINED, mask, prunable_columns(HAND), 0.5, "global"),
                       lottery_mask(HAND, TRAINED, mask, prunable_columns(HAND), 0.2, "global"))
    # ceil(0.7 x 6) = ceil(4.2) = 5: the threshold is the 5th smallest, 0.5; only the 0.9 stays.
    assert weights(lottery_mask(HAND, TRAINED, mask, prunable_columns(HAND), 0.7, "global") * TRAINED) == [0.0, 0.0, 0.0, 0.0, 0.9, 0.0]


def jobs_for(task, seeds, hidden=(24,), **user):
    pruner = LotteryTicketPruner()
    options = pruner.resolve(user, {})
    return pruner, [PruneJob(task, hidden, seed, options, task.training_for(hidden)) for seed in seeds]


@pytest.fixture
def spy(monkeypatch):
    """Every train_batch call of the lth module: its start parameters, masks and what it returned."""
    calls = []
    real = lth_module.train_batch

    def recording(layout, params, masks, *args, **kwargs):
        result = real(layout, params, masks, *args, **kwargs)
        calls.append({"params": params.clone(), "masks": masks.clone(), "result": result})
        return result

    monkeypatch.setattr(lth_module, "train_batch", recording)
    return calls


def test_survivors_are_rewound_to_the_initialisation_and_a_fifth_is_pruned_each_round(small_task, spy):
    pruner, [job] = jobs_for(small_task, [3])
    net = pruner.prune(job)
    assert net.status == "ok" and len(spy) >= 3, "fewer than two rounds: the test proves little"
    start = network_row(Layout(tuple(job.sizes)), initial_network(job.sizes, 3))
    dense_trained = spy[0]["result"].params[0]
    for before, after in zip(spy, spy[1:]):
        mask = after["masks"][0]
        # Rewinding to k = 0: every survivor, biases included, starts from its initial value.
        assert torch.equal(after["params"][0], start * mask)
        # ceil(0.2 x remaining) weights go, those of smallest trained |w| (no ties among trained floats).
        old = before["masks"][0]
        remaining = int(old[Layout(tuple(job.sizes)).weight_columns()].sum())
        gone = old.bool() & ~mask.bool()
        assert int(gone.sum()) == math.ceil(0.2 * remaining)
        trained = (before["result"].params[0] if before is not spy[0] else dense_trained).abs()
        assert trained[gone].max() < trained[mask.bool() & Layout(tuple(job.sizes)).weight_columns()].min()
    # The network handed in is the last round that met the threshold: its mask, its trained weights.
    passed = [c for c, h in zip(spy[1:], net.history[1:]) if h["accepted"]]
    assert [h["accepted"] for h in net.history] == [True] * (len(passed) + 1) + [False] * (len(net.history) - len(passed) - 1)
    assert net.history[-1]["accepted"] is False, "it stops when a round misses the threshold"
    row = network_row(Layout(tuple(job.sizes)), net)
    assert torch.equal(row, passed[-1]["result"].params[0] * passed[-1]["masks"][0])
    assert net.info["rounds"] == len(passed) and net.info["trainings"] == len(spy)


def test_late_rewinding_resets_to_the_weights_at_step_k(small_task, spy):
    pruner, [job] = jobs_for(small_task, [1], rewind=4)
    pruner.prune(job)
    captured = spy[0]["result"].captured[0]
    assert not torch.equal(captured, spy[0]["params"][0]), "step 4 differs from the initialisation"
    assert torch.equal(spy[1]["params"][0], captured * spy[1]["masks"][0])


def test_a_target_density_stops_the_rounds(small_task):
    pruner, [job] = jobs_for(small_task, [3], target_density=0.5)
    net = pruner.prune(job)
    # 192 weights: 192 - ceil(38.4) = 153, 153 - ceil(30.6) = 122, 122 - ceil(24.4) = 97 (0.505 > 0.5),
    # 97 - ceil(19.4) = 77 (0.401): the target is reached, no further round.
    assert [round(h["density"] * 192) for h in net.history] == [192, 153, 122, 97, 77]
    assert net.density() == 77 / 192 and all(h["accepted"] for h in net.history)


def test_a_network_trained_in_a_batch_equals_it_trained_alone(small_task):
    pruner, jobs = jobs_for(small_task, [0, 1, 2], scope="layer", rewind=2)
    batch = pruner.prune_many(jobs)
    alone = LotteryTicketPruner().prune(jobs[1])
    assert batch[1].density() < 1
    for name in ("weights", "biases", "weight_masks", "bias_masks"):
        for x, y in zip(getattr(batch[1], name), getattr(alone, name)):
            assert torch.equal(x, y), name
    assert (batch[1].accuracy, batch[1].test_accuracy, batch[1].history) == (alone.accuracy, alone.test_accuracy, alone.history)


@pytest.mark.parametrize("params, fragments", [
    (["lth.scope=neuron"], ["invalid lth.scope neuron", "global, layer"]),
    (["lth.rewind=-1"], ["invalid lth.rewind -1", "[0, inf)"]),
    (["lth.rewind=121"], ["lth.rewind=121 is beyond the dense training's 120 steps", "give a step from 0 to 120"]),
    (["lth.target_density=0.005"], ["lth.target_density=0.005 is unreachable", "one weight of 192"]),
    (["lth.target_density=0.2", "lth.prune_output=false"], ["is unreachable", "output layer's 96 weights", "lth.prune_output=true"]),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, params, fragments):
    db = tmp_path / "r.db"
    args = ["run", "--tasks", "bool/input-separable", "--arch", "24", "--pruners", "lth", "--results", str(db), "--quiet"]
    for param in params:
        args += ["--param", param]
    assert_user_error(CliRunner().invoke(main, args), *fragments)
    assert not db.exists(), "nothing is written for a refused option"


def test_the_rewind_step_is_checked_against_the_final_recipe(tmp_path):
    """Pruner.check_cell sees the recipe after --epochs: 10 epochs of 2 batches are 20 steps."""
    db = tmp_path / "r.db"
    args = ["run", "--tasks", "bool/input-separable", "--arch", "24", "--pruners", "lth", "--results", str(db), "--quiet",
            "--epochs", "10", "--param", "lth.rewind=21"]
    assert_user_error(CliRunner().invoke(main, args), "beyond the dense training's 20 steps", "10 epochs of 2 batches of 8")
    assert not db.exists()
