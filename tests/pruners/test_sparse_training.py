"""L1-regularised training (``l1``) and what it shares with ``bimt``: the penalty and its update
pinned by hand, lambda's schedule, the regularised recipe, the threshold search, batch independence."""

from __future__ import annotations

import pytest
import torch

from sculptbench.api import Layout, PruneJob, TaskData, TrainingConfig, TrainingHooks, network_row, single_threaded, train_batch
from sculptbench.plugins.pruners.sparse_training.bimt import BimtPruner
from sculptbench.plugins.pruners.sparse_training.common import prunable_columns, top_magnitude_mask
from sculptbench.plugins.pruners.sparse_training.regularised import L1Pruner, l1_penalty, lambda_at, regularised_config

HAND = Layout((2, 2, 1))


def test_lambda_follows_bimts_schedule():
    # 8 steps: int(8/4) = 2 and int(3 x 8/4) = 6. lambda 1e-3 before step 2, x10 from 2, x0.1 from 6.
    assert [lambda_at(1e-3, "bimt", s, 8) for s in range(8)] == [1e-3, 1e-3] + [1e-2] * 4 + [1e-3 * 10 * 0.1] * 2
    # 10 steps: int(2.5) = 2, int(7.5) = 7.
    assert [lambda_at(1.0, "bimt", s, 10) for s in (1, 2, 6, 7)] == [1.0, 10.0, 10.0, 1.0]
    assert {lambda_at(1e-3, "constant", s, 8) for s in range(8)} == {1e-3}


def test_the_l1_gradient_is_lambda_times_the_sign_of_each_weight():
    # Weights of layer 0 (in, out) [[0.5, -0.2], [0.0, 0.3]], layer 1 [[-2.0], [0.0]]; at step 3 of 8
    # lambda is 1e-2, so the gradient is 1e-2 x sign(w): [[0.01, -0.01], [0, 0.01]] and [[-0.01], [0]];
    # the biases get nothing.
    w0, w1 = torch.tensor([[[0.5, -0.2], [0.0, 0.3]]]), torch.tensor([[[-2.0], [0.0]]])
    b0, b1 = torch.zeros(1, 1, 2), torch.zeros(1, 1, 1)
    grads = l1_penalty(1e-3, "bimt")(3, 8, [w0, w1, b0, b1])
    assert torch.equal(grads[0], torch.tensor([[[0.01, -0.01], [0.0, 0.01]]]))
    assert torch.equal(grads[1], torch.tensor([[[-0.01], [0.0]]]))
    assert grads[2] is None and grads[3] is None


def test_one_l1_step_moves_a_weight_the_loss_does_not_see_by_lr_toward_zero():
    """A dead hidden unit (negative bias and weights, inputs in {0, 1}, no noise) gets no gradient from
    the loss, nor does its outgoing weight. AdamW (lr 2e-3, no decay), first step, gradient
    g = lambda sign(w) = 1e-3: update = -lr g / (|g| + 1e-8) = -2e-3 x 1e-3 / (1e-3 + 1e-8)
    = -0.00199998; the outgoing weight 0.7 becomes 0.69800002, its incoming -0.4 becomes
    -0.39800002 (sign -1). Without the penalty both stay where they are."""
    flat = torch.zeros(1, HAND.n_params)
    HAND.weights(flat, 0)[0] = torch.tensor([[1.0, -0.4], [1.0, -0.4]])  # (in, out): hidden 1 reads -0.4 x inputs
    HAND.biases(flat, 0)[0] = torch.tensor([[0.0, -1.0]])
    HAND.weights(flat, 1)[0] = torch.tensor([[0.5], [0.7]])
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0], [1.0]])
    data = TaskData(x, y, x, y, x, y)
    config = regularised_config(TrainingConfig(batch_size=2, noise_std=0.0), {"steps": 1, "optimizer": "adamw", "lr": 2e-3}, rows=2)
    assert (config.lr, config.weight_decay, config.epochs) == (2e-3, 0.0, 1)

    def step(penalty):
        with single_threaded():
            return train_batch(HAND, flat.clone(), torch.ones_like(flat), data, config, [torch.Generator().manual_seed(0)],
                               hooks=TrainingHooks(penalty=penalty, keep_last=True)).params[0]

    with_l1, without = step(l1_penalty(1e-3, "constant")), step(None)
    update = 2e-3 * 1e-3 / (1e-3 + 1e-8)
    assert float(HAND.weights(with_l1.unsqueeze(0), 1)[0, 1, 0]) == pytest.approx(0.7 - update, abs=1e-7)
    assert float(HAND.weights(with_l1.unsqueeze(0), 0)[0, 0, 1]) == pytest.approx(-0.4 + update, abs=1e-7)
    assert float(HAND.weights(without.unsqueeze(0), 1)[0, 1, 0]) == float(torch.tensor(0.7))
    assert float(HAND.biases(with_l1.unsqueeze(0), 0)[0, 0, 1]) == float(HAND.biases(without.unsqueeze(0), 0)[0, 0, 1])


def test_the_regularised_recipe_rounds_steps_up_to_whole_epochs():
    task_recipe = TrainingConfig(lr=0.05, batch_size=8, epochs=60, weight_decay=1e-4, noise_std=0.1)
    # 16 rows in batches of 8: 2 steps an epoch; 20,000 steps = 10,000 epochs, 5 steps round up to 3 epochs.
    assert regularised_config(task_recipe, {"steps": 20000, "optimizer": "adamw", "lr": 2e-3}, 16) == \
        TrainingConfig(lr=2e-3, batch_size=8, epochs=10000, weight_decay=0.0, noise_std=0.1)
    assert regularised_config(task_recipe, {"steps": 5, "optimizer": "task"}, 16) == \
        TrainingConfig(lr=0.05, batch_size=8, epochs=3, weight_decay=1e-4, noise_std=0.1)


def test_the_search_keeps_the_largest_weights_and_all_biases():
    # Row: layer-0 weights 0.5 -0.1 0.3 0.2, biases 7 -7, layer-1 weights 0.9 -0.6, bias 3. Keeping 3 of
    # the 6 weights keeps |w| 0.9, 0.6, 0.5; keeping 4 adds 0.3. Biases are never masked.
    row = torch.tensor([0.5, -0.1, 0.3, 0.2, 7.0, -7.0, 0.9, -0.6, 3.0])
    prunable = prunable_columns(HAND)
    assert top_magnitude_mask(row, prunable, 3).tolist() == [1, 0, 0, 0, 1, 1, 1, 1, 1]
    assert top_magnitude_mask(row, prunable, 4).tolist() == [1, 0, 1, 0, 1, 1, 1, 1, 1]
    # Ties: the lower index first.
    assert top_magnitude_mask(torch.tensor([0.5, -0.5, 0.5, 0.5, 0, 0, 0.5, 0.5, 0]), prunable, 2).tolist() == [1, 1, 0, 0, 1, 1, 0, 0, 1]


def jobs_for(pruner, task, seeds, hidden=(12,), **user):
    options = pruner.resolve(user, {})
    return [PruneJob(task, hidden, seed, options, task.training_for(hidden)) for seed in seeds]


def test_l1_hands_in_the_sparsest_threshold_that_meets_the_accuracy(small_task):
    [net] = L1Pruner().prune_many(jobs_for(L1Pruner(), small_task, [0], hidden=(24,), steps=2000))
    assert net.status == "ok" and net.accuracy >= 1.0 and net.density() < 0.5
    assert len(net.history) >= 5, "a curve needs five operating points"
    passed = [p for p in net.history if p["accepted"]]
    assert net.density() == min(p["density"] for p in passed)
    assert net.info["regularised_steps"] == 2000 and 0 <= net.info["regularised_accuracy"] <= 1


def test_without_retraining_the_search_thresholds_the_regularised_weights(small_task, monkeypatch):
    """retrain=none (BIMT's notebook): one training, the regularised one; the network handed in is its
    last step's weights with the smallest cut."""
    from sculptbench.plugins.pruners.sparse_training import regularised

    results = []
    real = regularised.train_batch
    monkeypatch.setattr(regularised, "train_batch", lambda *args, **kwargs: results.append(real(*args, **kwargs)) or results[-1])
    [net] = L1Pruner().prune_many(jobs_for(L1Pruner(), small_task, [0], hidden=(24,), steps=2000, retrain="none"))
    assert len(results) == 1 and net.status == "ok" and net.density() < 1
    layout = Layout(tuple(net.sizes))
    mask = torch.cat([torch.cat([m.t().reshape(-1).float(), torch.ones(m.shape[0])]) for m in net.weight_masks])
    assert torch.equal(network_row(layout, net), results[0].params[0] * mask)


@pytest.mark.parametrize("pruner, user", [(L1Pruner(), {"steps": 300}), (BimtPruner(), {"steps": 400, "swap_every": 50})])
def test_a_network_trained_in_a_batch_equals_it_trained_alone(small_task, pruner, user):
    jobs = jobs_for(pruner, small_task, [0, 1, 2], hidden=(8, 8), **user)
    batch = pruner.prune_many(jobs)
    alone = type(pruner)().prune(jobs[1])
    assert batch[1].density() < 1
    for name in ("weights", "biases", "weight_masks", "bias_masks"):
        for x, y in zip(getattr(batch[1], name), getattr(alone, name)):
            assert torch.equal(x, y), name
    assert (batch[1].accuracy, batch[1].history, batch[1].info) == (alone.accuracy, alone.history, alone.info)
