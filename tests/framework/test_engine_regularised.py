"""The engine's training hooks (TrainingHooks): a regulariser's gradient per step, a hook every N
steps, the weights at step k, the last step; without them the engine computes what it did before."""

from __future__ import annotations

import pytest
import torch

from sculptbench.api import Layout, TaskData, TrainingConfig, TrainingHooks, init_params, single_threaded, steps_per_epoch, train_batch
from sculptbench.engine.kernels import bce_with_logits, forward

SIZES = (4, 6, 5, 4)


def problem(small_task, k, noise=0.1, epochs=3):
    layout = Layout(SIZES)
    gens = [torch.Generator().manual_seed(10 + i) for i in range(k)]
    params = init_params(layout, gens)
    config = TrainingConfig(**{**small_task.training.__dict__, "epochs": epochs, "noise_std": noise})
    return layout, params, config, gens


def run(small_task, k=3, hooks=None, masks=None, **kw):
    layout, params, config, gens = problem(small_task, k, **kw)
    masks = torch.ones_like(params) if masks is None else masks
    with single_threaded():
        return layout, train_batch(layout, params, masks, small_task.data(), config, gens, accuracy=small_task.accuracy, hooks=hooks)


def l1(lam):
    """lam * sign(w) on the weights (the first half of the parts), nothing on the biases."""
    def penalty(step, total, parts):
        n = len(parts) // 2
        return [lam * torch.sign(p) for p in parts[:n]] + [None] * n
    return penalty


def test_without_hooks_nothing_changes(small_task):
    _, plain = run(small_task)
    _, empty = run(small_task, hooks=TrainingHooks())
    _, silent = run(small_task, hooks=TrainingHooks(penalty=lambda step, total, parts: [None] * len(parts)))
    for other in (empty, silent):
        assert torch.equal(plain.params, other.params) and torch.equal(plain.accuracy, other.accuracy)
        assert other.captured is None


def test_the_penalty_is_added_to_the_loss_gradient_before_adam(small_task):
    """One full-batch step, no noise: the engine's step equals torch.optim.Adam on BCE + lam * sum |w|."""
    lam = 0.3
    layout, params, config, gens = problem(small_task, 2, noise=0.0, epochs=1)
    data = small_task.data()
    config = TrainingConfig(lr=0.01, batch_size=len(data.train_x), epochs=1, weight_decay=1e-4, noise_std=0.0)
    with single_threaded():
        res = train_batch(layout, params, torch.ones_like(params), data, config, gens,
                          hooks=TrainingHooks(penalty=l1(lam), keep_last=True))
    leaf = params.clone().requires_grad_()
    opt = torch.optim.Adam([leaf], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4)
    is_weight = layout.weight_columns()
    loss = bce_with_logits(forward(layout, leaf, data.train_x)[-1], data.train_y).sum() + lam * leaf[:, is_weight].abs().sum()
    loss.backward()
    opt.step()
    torch.testing.assert_close(res.params, leaf.detach(), rtol=0, atol=1e-6)
    assert not torch.allclose(res.params, run_plain_step(small_task, layout, params, data, config, gens), atol=1e-4)


def run_plain_step(small_task, layout, params, data, config, gens):
    """The same step without the penalty."""
    gens = [torch.Generator().manual_seed(10 + i) for i in range(len(gens))]
    with single_threaded():
        return train_batch(layout, params, torch.ones_like(params), data, config, gens, hooks=TrainingHooks(keep_last=True)).params


def test_the_penalty_sees_every_step_and_never_reaches_masked_entries(small_task):
    seen = []

    def penalty(step, total, parts):
        seen.append((step, total))
        return [torch.ones_like(p) for p in parts]

    layout, params, _, _ = problem(small_task, 3)
    masks = (torch.rand(params.shape, generator=torch.Generator().manual_seed(1)) < 0.7).float()
    masks[1] = (torch.rand(params.shape[1], generator=torch.Generator().manual_seed(2)) < 0.3).float()  # sparse Adam in row 1
    _, res = run(small_task, hooks=TrainingHooks(penalty=penalty), masks=masks)
    total = 3 * steps_per_epoch(len(small_task.data().train_x), small_task.training.batch_size)
    assert seen == [(s, total) for s in range(total)]
    assert torch.all(res.params[masks == 0] == 0)


@pytest.mark.parametrize("sparse", [False, True])
def test_a_hook_every_n_steps_may_rewrite_the_parameters(small_task, sparse):
    """Every 2nd step the hook swaps the first two hidden units of layer 1 (in- and outgoing weights,
    biases): with no training in between (lr tiny), the network is the start's with its units swapped."""
    calls = []
    layout = Layout(SIZES)

    def swap(step, parts):
        calls.append(step)
        w_in, w_out, b = parts[0], parts[1], parts[layout.n_layers]
        for t, dim in ((w_in, 2), (w_out, 1), (b, 2)):
            t.copy_(t.index_select(dim, torch.tensor([1, 0, 2, 3, 4, 5])))

    _, params, _, gens = problem(small_task, 2)
    masks = torch.ones_like(params)
    if sparse:  # below SPARSE_ADAM_BELOW alive: the hook's change must survive Adam's gathered copy
        masks[:, layout.weight_slice(2)] = 0
        masks[:, layout.bias_slice(2)] = 0
        masks[:, layout.weight_slice(1)] = 0
        start = layout.weight_slice(1).start  # in-units 0 and 1 of layer 1 keep 4 weights each: the swap maps alive to alive
        masks[:, start:start + 4] = 1
        masks[:, start + 5:start + 9] = 1
    config = TrainingConfig(lr=1e-30, batch_size=8, epochs=2, weight_decay=0.0, noise_std=0.0)
    with single_threaded():
        res = train_batch(layout, params, masks, small_task.data(), config, gens, hooks=TrainingHooks(every=2, at_step=swap, keep_last=True))
    assert calls == [2, 4]  # 16 rows / 8 = 2 steps per epoch, 2 epochs
    torch.testing.assert_close(res.params, params * masks)  # swapped twice: back where it started
    calls.clear()
    with single_threaded():
        once = train_batch(layout, params, masks, small_task.data(), TrainingConfig(**{**config.__dict__, "epochs": 1}), gens,
                           hooks=TrainingHooks(every=2, at_step=swap, keep_last=True))
    w = layout.weights(once.params, 0)
    torch.testing.assert_close(w[:, :, [1, 0]], layout.weights(params * masks, 0)[:, :, [0, 1]])


def test_capture_gives_the_weights_at_step_k(small_task):
    """Capture at step 0 is the start; at step 2 (the end of epoch 1, no noise: the same draws) it is
    what a one-epoch training ends with."""
    layout, params, _, _ = problem(small_task, 2)
    masks = torch.ones_like(params)
    masks[0, :5] = 0
    _, at0 = run(small_task, k=2, hooks=TrainingHooks(capture_step=0), masks=masks)
    assert torch.equal(at0.captured, params * masks)
    _, at2 = run(small_task, k=2, hooks=TrainingHooks(capture_step=2), masks=masks, noise=0.0)
    _, one_epoch = run(small_task, k=2, hooks=TrainingHooks(keep_last=True), masks=masks, noise=0.0, epochs=1)
    assert torch.equal(at2.captured, one_epoch.params)
    assert not torch.equal(at2.captured, at2.params)


def test_keep_last_hands_back_the_last_step_and_its_validation(small_task):
    _, last = run(small_task, hooks=TrainingHooks(keep_last=True, capture_step=6))
    assert torch.equal(last.params, last.captured)  # 3 epochs x 2 steps: step 6 is the last
    layout = Layout(SIZES)
    data = small_task.data()
    logits = forward(layout, last.params, data.val_x)[-1]
    assert torch.equal(last.accuracy, small_task.accuracy(logits, data.val_y))
    torch.testing.assert_close(last.loss, bce_with_logits(logits, data.val_y))


def test_bad_hooks_are_named(small_task):
    with pytest.raises(ValueError, match="beyond the training's 6 steps"):
        run(small_task, hooks=TrainingHooks(capture_step=7))
    with pytest.raises(ValueError, match="every >= 1"):
        TrainingHooks(at_step=lambda step, parts: None)
    with pytest.raises(ValueError, match="capture_step must be >= 0"):
        TrainingHooks(capture_step=-1)


def test_with_hooks_a_member_gets_the_same_bits_alone_and_batched(small_task):
    """Penalty, a hook that reads its own row, capture: row 1 of a batch of three equals it alone
    (a lone member runs as a padded pair, so its hooks see another batch size)."""
    def rescale(step, parts):
        for p in parts:
            for row in range(p.shape[0]):
                p[row].mul_(1.0 - 0.01 * float(p[row].abs().max()))

    hooks = TrainingHooks(penalty=l1(0.01), every=3, at_step=rescale, capture_step=4)
    layout, params, config, gens = problem(small_task, 3)
    masks = torch.ones_like(params)
    data = small_task.data()
    lone_gen = torch.Generator().manual_seed(11)
    lone = init_params(layout, [lone_gen])  # the same draws as row 1's generator made
    with single_threaded():
        batch = train_batch(layout, params, masks, data, config, gens, accuracy=small_task.accuracy, hooks=hooks)
        alone = train_batch(layout, lone, masks[1:2], data, config, [lone_gen], accuracy=small_task.accuracy, hooks=hooks)
    for name in ("params", "accuracy", "loss", "captured"):
        assert torch.equal(getattr(batch, name)[1:2], getattr(alone, name)), name


def test_compacted_training_captures_in_the_full_layout():
    """Wide layouts (>= 512 inputs) train each member on its surviving units; the capture comes back
    in the full layout, zero where the member's mask is."""
    n_in = 520
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(16, n_in, generator=g) > 0.5).float()
    y = x[:, :2].clone()
    data = TaskData(x, y, x, y, x, y)
    layout = Layout((n_in, 4, 2))
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    params = init_params(layout, gens)
    masks = torch.ones_like(params)
    masks[1, : n_in * 2] = 0
    with single_threaded():
        res = train_batch(layout, params, masks, data, TrainingConfig(epochs=2, batch_size=8), gens, hooks=TrainingHooks(capture_step=0))
    assert torch.equal(res.captured, params * masks)
