"""Training K masked MLPs of one shape at once as a stacked model.

The engine knows nothing about pruning decisions. It trains and evaluates a batch of *members*;
each member has its own parameters, masks, learning rate, random generator (for minibatch order
and input noise), Adam state and best-epoch checkpoint. Every member draws only from its own
generator, so a member trained in a batch of K gets the same bits as when trained alone (the
kernels' conditions: :mod:`sculptbench.engine.kernels`). Wide layouts
(:data:`COMPACT_MIN_INPUTS` inputs, MNIST) train one member at a time on its own surviving inputs
and units (:func:`train_compacted`), which keeps that property.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from sculptbench.contracts.types import (
    SculptedNetwork,
    TaskData,
    TrainingConfig,
    per_bit_accuracy,
)
from sculptbench.engine.kernels import (
    Layout,
    _backward_parts,
    _forward_parts,
    _join,
    _split,
    _stacked,
    bce_with_logits,
    forward,
    sigmoid,
)

AccuracyFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
#: Largest number of floats one member's pre-drawn noise may take per chunk of epochs.
_NOISE_CHUNK_FLOATS = 1 << 20
#: Layouts with at least this many inputs (MNIST's 1568 pixels; no Boolean task comes close) are
#: trained one member at a time on the member's own surviving inputs and units only
#: (:func:`compact_index`): exact, as every dropped parameter is masked at zero, and far cheaper
#: once pruning has removed most pixels and units. A member's numbers then depend only on its own
#: mask, so they are still the same alone or batched.
COMPACT_MIN_INPUTS = 512
#: Adam updates only the unmasked entries when fewer than this share of them are unmasked
#: (:func:`train_stacked`); gathering and scattering them costs more than it saves above it.
SPARSE_ADAM_BELOW = 0.5


@dataclass
class TrainResult:
    """Best-epoch parameters and their validation accuracy and loss, one row per member
    (the last step's under :attr:`TrainingHooks.keep_last`); ``captured``: the parameters at
    :attr:`TrainingHooks.capture_step`, when one was asked for."""

    params: torch.Tensor
    accuracy: torch.Tensor
    loss: torch.Tensor
    captured: torch.Tensor | None = None


#: ``penalty(step, total_steps, parts)``: see :class:`TrainingHooks`.
PenaltyFn = Callable[[int, int, list["torch.Tensor"]], Sequence["torch.Tensor | None"]]
#: ``at_step(step, parts)``: see :class:`TrainingHooks`.
StepFn = Callable[[int, list["torch.Tensor"]], None]


@dataclass(frozen=True)
class TrainingHooks:
    """What a pruner adds to the engine's training, for every member of the batch (all optional).

    ``parts`` below are the members' current parameters: each layer's weights ``(K, in, out)``,
    then each layer's biases ``(K, 1, out)`` (:class:`~sculptbench.engine.kernels.Layout`'s
    order). A hook must compute each member's row from that row alone, so that a member's bits
    never depend on its batch.

    - ``penalty(step, total_steps, parts)``: the gradient of a regulariser, added to the loss's
      gradient before every optimizer step (``step`` counts from 0 to ``total_steps - 1``):
      one tensor of its part's shape, or ``None``, per part. Masked entries get none of it.
    - ``at_step(step, parts)``: called after every ``every``-th optimizer step (``step`` counts
      from 1); it may rewrite the unmasked parameters in place (e.g. permute hidden units) and
      must leave masked ones at zero. The optimizer's moments stay where they are.
    - ``capture_step``: the parameters after this many optimizer steps (0: the starting ones,
      after ``at_step``) come back as :attr:`TrainResult.captured`.
    - ``keep_last``: hand back the parameters after the last step, with their validation
      accuracy and loss, instead of the best epoch's (the per-epoch validation is skipped).

    Wide layouts train each member on its compacted network (:func:`train_compacted`); the hooks
    then see that member's compacted parts (all of them when its mask is dense).
    """

    penalty: PenaltyFn | None = None
    every: int = 0
    at_step: StepFn | None = None
    capture_step: int | None = None
    keep_last: bool = False

    def __post_init__(self) -> None:
        if self.at_step is not None and self.every < 1:
            raise ValueError(f"at_step needs every >= 1, got {self.every}")
        if self.capture_step is not None and self.capture_step < 0:
            raise ValueError(f"capture_step must be >= 0, got {self.capture_step}")


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    """Optimizer steps in one epoch over ``n_rows`` training rows in minibatches of ``batch_size``."""
    return -(-n_rows // batch_size)


def evaluate(layout: Layout, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, accuracy: AccuracyFn = per_bit_accuracy) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy (per-bit by default) and BCE loss of every member on a shared ``(x, y)``."""
    logits = forward(layout, flat, x)[-1]
    return accuracy(logits, y).to(flat.dtype), bce_with_logits(logits, y)


def _epoch_draws(gens: Sequence[torch.Generator], n_rows: int, n_in: int, epochs: int, noise_std: float, device: torch.device):
    """Yield per-epoch (row order, noise) for every member, drawn per member in chunks of epochs.

    Chunk sizes depend only on the task and config, never on the batch, so a member's random
    stream is the same alone or batched.
    """
    per_epoch = n_rows * max(n_in, 1)
    chunk = max(1, min(epochs, _NOISE_CHUNK_FLOATS // per_epoch))
    done = 0
    while done < epochs:
        e = min(chunk, epochs - done)
        orders, noises = [], []
        for gen in gens:
            orders.append(torch.rand(e, n_rows, generator=gen).argsort(dim=1))
            if noise_std > 0:
                noises.append(torch.randn(e, n_rows, n_in, generator=gen))
        order = torch.stack(orders).to(device)
        noise = torch.stack(noises).to(device) * noise_std if noises else None
        for i in range(e):
            yield order[:, i], (noise[:, i] if noise is not None else None)
        done += e



def train(layout: Layout, *args, **kwargs) -> TrainResult:
    """Train K members from ``params`` with a fresh Adam each and return their best epochs
    (arguments: :func:`train_stacked`'s, without ``draw_inputs``).

    Layouts with :data:`COMPACT_MIN_INPUTS` inputs or more train each member on its compacted
    network (:func:`train_compacted`); the rest train as one stacked model (:func:`train_stacked`).
    """
    if layout.sizes[0] >= COMPACT_MIN_INPUTS:
        return train_compacted(layout, *args, **kwargs)
    return train_stacked(layout, *args, **kwargs)


def compact_index(layout: Layout, mask_row: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The units one member still uses and where the compacted network's parameters lie.

    Returns, per layer of units (inputs, hidden layers, outputs), the indices kept: an input with
    an unmasked outgoing weight; a hidden unit with an unmasked incoming or outgoing weight or
    bias; every output (at least one unit per layer is kept). Also the flat columns of
    ``mask_row``'s layout holding the compacted layout's parameters, in that layout's order.
    """
    m = (mask_row != 0).unsqueeze(0)
    n = layout.n_layers
    keep = [torch.nonzero(layout.weights(m, 0)[0].any(dim=1)).flatten()]
    for layer in range(1, n):
        alive = layout.weights(m, layer - 1)[0].any(dim=0) | layout.weights(m, layer)[0].any(dim=1) | layout.biases(m, layer - 1)[0, 0]
        keep.append(torch.nonzero(alive).flatten())
    keep.append(torch.arange(layout.sizes[-1], device=mask_row.device))
    keep = [k if len(k) else torch.zeros(1, dtype=torch.long, device=mask_row.device) for k in keep]
    cols = []
    for layer in range(n):
        start, width = layout.weight_slice(layer).start, layout.sizes[layer + 1]
        cols.append((start + keep[layer].unsqueeze(1) * width + keep[layer + 1].unsqueeze(0)).flatten())
        cols.append(layout.bias_slice(layer).start + keep[layer + 1])
    return keep, torch.cat(cols)


def train_compacted(layout: Layout, params: torch.Tensor, masks: torch.Tensor, data: TaskData, config: TrainingConfig,
                    generators: Sequence[torch.Generator], lrs: torch.Tensor | None = None, **options) -> TrainResult:
    """:func:`train_stacked`, one member at a time on its compacted network (:func:`compact_index`).

    Dropped parameters are masked, so they stay zero and never affect the kept ones; only the
    order of the sums in the matrix products differs from the full network. Each member draws
    its minibatch order as it would in the full network.
    """
    out = torch.zeros_like(params)
    hooks = options.get("hooks")
    captured = torch.zeros_like(params) if hooks is not None and hooks.capture_step is not None else None
    accs, losses = [], []
    n_all = layout.sizes[0]
    for r in range(params.shape[0]):
        keep, cols = compact_index(layout, masks[r])
        sub = Layout(tuple(len(k) for k in keep))
        if len(keep[0]) == n_all:
            sub_data = data
        else:
            inputs = keep[0]
            sub_data = TaskData(data.train_x[:, inputs], data.train_y, data.val_x[:, inputs], data.val_y, data.test_x, data.test_y)
        res = train_stacked(sub, params[r:r + 1, cols], masks[r:r + 1, cols], sub_data, config, generators[r:r + 1],
                            None if lrs is None else lrs[r:r + 1], draw_inputs=(n_all, keep[0]), pad_single=False, **options)
        out[r, cols] = res.params[0]
        if captured is not None:
            captured[r, cols] = res.captured[0]
        accs.append(res.accuracy)
        losses.append(res.loss)
    return TrainResult(params=out, accuracy=torch.cat(accs), loss=torch.cat(losses), captured=captured)


def train_stacked(
    layout: Layout,
    params: torch.Tensor,
    masks: torch.Tensor,
    data: TaskData,
    config: TrainingConfig,
    generators: Sequence[torch.Generator],
    lrs: torch.Tensor | None = None,
    accuracy: AccuracyFn = per_bit_accuracy,
    prefer_later: bool = False,
    draw_inputs: tuple[int, torch.Tensor] | None = None,
    pad_single: bool = True,
    hooks: TrainingHooks | None = None,
) -> TrainResult:
    """Train K members as one stacked model.

    ``masks`` (``(K, P)``, 0/1) fixes pruned weights and biases at zero. Every epoch visits the
    training rows in the member's own random order in minibatches of ``config.batch_size``,
    adding Gaussian noise of ``config.noise_std`` to the inputs, then evaluates on the
    validation split; the epoch with the highest accuracy (ties: lower loss, then earlier)
    is kept (``prefer_later``: on a tie in both, the later epoch, as the reference code). ``lrs`` (``(K,)``) overrides ``config.lr`` per member; ``accuracy`` is the task's
    accuracy rule. Adam (with coupled weight
    decay, as ``torch.optim.Adam``) runs as single element-wise operations over one buffer
    per state (:func:`_stacked`). ``draw_inputs`` = (n, columns): the random draws are made
    for ``n`` inputs and the noise of ``columns`` used, so a compacted member draws as the full one.
    ``pad_single``: a lone member trains as a batch of two copies (see :func:`_forward_parts`);
    the copy draws from a clone of the member's generator, which advances as it would alone.
    ``hooks``: a regulariser's gradient, a hook every N steps, the parameters at a step, the
    last step instead of the best epoch (:class:`TrainingHooks`); without them nothing changes.
    """
    if pad_single and params.shape[0] == 1:
        gen = generators[0]
        twin = torch.Generator(device=gen.device)
        twin.set_state(gen.get_state())
        pair = train_stacked(layout, params.repeat(2, 1), masks.repeat(2, 1), data, config, [gen, twin],
                             None if lrs is None else lrs.repeat(2), accuracy, prefer_later, draw_inputs, pad_single=False, hooks=hooks)
        return TrainResult(params=pair.params[:1], accuracy=pair.accuracy[:1], loss=pair.loss[:1],
                           captured=None if pair.captured is None else pair.captured[:1])
    k = params.shape[0]
    device = params.device
    dtype = params.dtype
    n = layout.n_layers
    masks = masks.to(dtype)
    # Parameters, masks, gradients and Adam's moments live in one buffer each (:func:`_stacked`).
    mask_buffer, _ = _stacked(layout, masks, k, params)
    theta_buffer, theta = _stacked(layout, params * masks, k, params)
    grad_buffer, grad_parts = _stacked(layout, None, k, params)
    uniform_lr = lrs is None or bool((lrs == lrs[0]).all())
    lr = float(lrs[0]) if lrs is not None else config.lr
    lr_buffer = None if uniform_lr else _stacked(layout, lrs.to(device=device, dtype=dtype).view(k, 1).expand(k, layout.n_params), k, params)[0]
    # Adam updates only the unmasked entries, gathered into short tensors, once most are masked
    # (:data:`SPARSE_ADAM_BELOW`): the same element-wise operations on the same values, while a
    # masked entry stays at zero either way.
    alive = torch.nonzero(mask_buffer).flatten()
    sparse_adam = alive.numel() < SPARSE_ADAM_BELOW * mask_buffer.numel()
    if sparse_adam:
        theta_alive = theta_buffer.index_select(0, alive)
        lr_alive = None if lr_buffer is None else lr_buffer.index_select(0, alive)
        exp_avg = torch.zeros_like(theta_alive)
        exp_avg_sq = torch.zeros_like(theta_alive)
    else:
        exp_avg = torch.zeros_like(theta_buffer)
        # A masked entry's second moment starts at 1 instead of 0: its gradient and first moment
        # are zero, so its update stays exactly zero (and the entry at zero), and torch's CPU square
        # root is several times slower on zeros (bench/where_time_goes.py).
        exp_avg_sq = 1.0 - mask_buffer
    beta1, beta2 = ADAM_BETAS
    wd = config.weight_decay
    x_train, y_train = data.train_x, data.train_y
    n_rows, n_in = x_train.shape
    n_out = y_train.shape[1]
    best = [t.clone() for t in theta]
    best_acc = torch.full((k,), -1.0, dtype=dtype, device=device)
    best_loss = torch.full((k,), float("inf"), dtype=dtype, device=device)
    step = 0
    bs = config.batch_size
    total_steps = config.epochs * steps_per_epoch(n_rows, bs)
    hooks = hooks or TrainingHooks()
    if hooks.capture_step is not None and hooks.capture_step > total_steps:
        raise ValueError(f"capture_step {hooks.capture_step} is beyond the training's {total_steps} steps")
    captured = _join(layout, theta) if hooks.capture_step == 0 else None
    draw_n = n_in if draw_inputs is None else draw_inputs[0]
    for order, noise in _epoch_draws(generators, n_rows, draw_n, config.epochs, config.noise_std, device):
        xb_all = x_train[order]
        if noise is not None:
            xb_all = xb_all + (noise if draw_inputs is None else noise[..., draw_inputs[1]])
        yb_all = y_train[order]
        for start in range(0, n_rows, bs):
            xb = xb_all[:, start:start + bs]
            yb = yb_all[:, start:start + bs]
            acts = _forward_parts(theta, n, xb, pad_single)
            dlogits = (sigmoid(acts[-1]) - yb) / (xb.shape[1] * n_out)
            _backward_parts(theta, n, acts, dlogits, None, pad_single, out=grad_parts)
            if hooks.penalty is not None:
                for part, extra in zip(grad_parts, hooks.penalty(step, total_steps, theta)):
                    if extra is not None:
                        part.add_(extra)
            step += 1
            # Adam with coupled weight decay, as torch.optim.Adam, on the whole buffers (or on
            # their unmasked entries).
            if sparse_adam:
                grad, param, member_lr = grad_buffer.index_select(0, alive), theta_alive, lr_alive
            else:
                grad, param, member_lr = grad_buffer, theta_buffer, lr_buffer
            if wd:
                grad.add_(param, alpha=wd)
            if not sparse_adam:
                grad.mul_(mask_buffer)
            exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bias1 = 1 - beta1**step
            bias2_sqrt = math.sqrt(1 - beta2**step)
            denom = exp_avg_sq.sqrt().div_(bias2_sqrt).add_(ADAM_EPS)
            if member_lr is None:
                param.addcdiv_(exp_avg, denom, value=-lr / bias1)
            else:
                param.sub_(exp_avg.div(denom).mul_(member_lr), alpha=1 / bias1)
            if sparse_adam:
                theta_buffer.index_copy_(0, alive, theta_alive)
            if hooks.at_step is not None and step % hooks.every == 0:
                hooks.at_step(step, theta)
                if sparse_adam:
                    theta_alive.copy_(theta_buffer.index_select(0, alive))
            if step == hooks.capture_step:
                captured = _join(layout, theta)
        if hooks.keep_last:
            continue
        logits = _forward_parts(theta, n, data.val_x, pad_single)[-1]
        acc = accuracy(logits, data.val_y).to(dtype)
        loss = bce_with_logits(logits, data.val_y)
        better = better_epoch(acc, loss, best_acc, best_loss, prefer_later)
        keep = better.view(k, 1, 1)
        best = [torch.where(keep, t, b) for t, b in zip(theta, best)]
        best_acc = torch.where(better, acc, best_acc)
        best_loss = torch.where(better, loss, best_loss)
    if hooks.keep_last:
        logits = _forward_parts(theta, n, data.val_x, pad_single)[-1]
        best, best_acc, best_loss = theta, accuracy(logits, data.val_y).to(dtype), bce_with_logits(logits, data.val_y)
    return TrainResult(params=_join(layout, best), accuracy=best_acc, loss=best_loss, captured=captured)


def better_epoch(acc: torch.Tensor, loss: torch.Tensor, best_acc: torch.Tensor, best_loss: torch.Tensor, prefer_later: bool = False) -> torch.Tensor:
    """Whether an epoch replaces the best so far: higher accuracy, or equal accuracy and lower loss.

    ``prefer_later``: equal accuracy and equal loss also replace it (the later epoch wins, as in
    the reference's ``train_network``).
    """
    lower = (loss <= best_loss) if prefer_later else (loss < best_loss)
    return (acc > best_acc) | ((acc == best_acc) & lower)


def unit_activations_and_grads(layout: Layout, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Hidden activations and per-row loss gradients w.r.t. them, on a shared ``(x, y)``.

    The loss of one row is the mean BCE over its output bits, as when the reference feeds the
    table one row at a time.
    """
    parts = _split(layout, flat)
    acts = _forward_parts(parts, layout.n_layers, x)
    dlogits = (sigmoid(acts[-1]) - y) / y.shape[1]
    hidden_grads: list[torch.Tensor] = []
    _backward_parts(parts, layout.n_layers, acts, dlogits, hidden_grads)
    return acts[1:-1], hidden_grads


def to_network(layout: Layout, flat_row: torch.Tensor, mask_row: torch.Tensor) -> SculptedNetwork:
    """Convert one flat member row into a :class:`SculptedNetwork` (CPU tensors)."""
    flat = flat_row.detach().to("cpu").unsqueeze(0)
    mask = mask_row.detach().to("cpu").unsqueeze(0).bool()
    weights, biases, wmasks, bmasks = [], [], [], []
    for layer in range(layout.n_layers):
        wmask = layout.weights(mask, layer)[0].t().contiguous()
        weights.append(layout.weights(flat, layer)[0].t().contiguous() * wmask)
        wmasks.append(wmask)
        bmask = layout.biases(mask, layer)[0, 0].clone()
        biases.append(layout.biases(flat, layer)[0, 0].clone() * bmask)
        bmasks.append(bmask)
    return SculptedNetwork(sizes=list(layout.sizes), weights=weights, biases=biases, weight_masks=wmasks, bias_masks=bmasks)
