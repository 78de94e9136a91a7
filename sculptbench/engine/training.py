# Over 500 lines because the batched trainer, its compacted path for wide layouts and the public helper share the private forward/backward and Adam steps.
"""The training engine: K masked MLPs of one shape trained at once as a stacked model.

The engine knows nothing about pruning decisions. It trains, evaluates and scores a batch of
*members*; each member has its own parameters, masks, learning rate, random generator (for
minibatch order and input noise), Adam state and best-epoch checkpoint. Every member draws only
from its own generator, so a member trained in a batch of K gets the same bits as when trained
alone, provided no kernel's result depends on the batch around it. Three that did are avoided:
a batched product of K = 1 can go to another matrix kernel than K > 1 (multi-threaded, or with
one output column even on one thread, measured on AVX-512 CPUs), so a lone member is computed as
a batch of two (``pad_single``); ``torch.sigmoid`` gives other last bits in the tail of a
tensor than in its body, so :func:`sigmoid` is built from ``torch.exp``; and callers run the
engine inside :func:`single_threaded` (as :func:`sculptbench.plugins.pruners.iterative.loop.sculpt` does).
Wide layouts (:data:`COMPACT_MIN_INPUTS` inputs, MNIST) train one member at a time on its own
surviving inputs and units (:func:`train_compacted`), which keeps that property.

Parameters are kept flat: one ``(K, P)`` tensor per batch, laid out by :class:`Layout`. Forward
and backward passes are written out by hand (ReLU hidden layers, sigmoid outputs, binary
cross-entropy), which avoids autograd's per-operation overhead on these tiny networks.

Plugin authors train through :func:`train_masked` and :func:`initial_network` (public, re-exported
by :mod:`sculptbench.api`); the rest of this module is internal.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

from sculptbench.contracts.components import Task
from sculptbench.contracts.types import (
    SculptedNetwork,
    TaskData,
    TrainingConfig,
    per_bit_accuracy,
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


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch's CPU kernels on one thread inside the block, then restore the thread count.

    A member's numbers then depend neither on its batch nor on ``--threads``.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Layout:
    """Where each layer's weight ``(in, out)`` and bias ``(out,)`` lie in a flat parameter row."""

    sizes: tuple[int, ...]

    @property
    def n_layers(self) -> int:
        """Number of weight layers."""
        return len(self.sizes) - 1

    def weight_slice(self, layer: int) -> slice:
        """Columns of the flat row holding layer ``layer``'s weight matrix."""
        start = self._offsets[layer]
        return slice(start, start + self.sizes[layer] * self.sizes[layer + 1])

    def bias_slice(self, layer: int) -> slice:
        """Columns of the flat row holding layer ``layer``'s bias."""
        start = self.weight_slice(layer).stop
        return slice(start, start + self.sizes[layer + 1])

    @property
    def _offsets(self) -> list[int]:
        offsets, pos = [], 0
        for a, b in zip(self.sizes[:-1], self.sizes[1:]):
            offsets.append(pos)
            pos += a * b + b
        return offsets

    @property
    def n_params(self) -> int:
        """Length of a flat parameter row."""
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def n_weights(self) -> int:
        """Number of weights (biases excluded)."""
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def n_hidden(self) -> int:
        """Number of hidden units."""
        return sum(self.sizes[1:-1])

    def weights(self, flat: torch.Tensor, layer: int) -> torch.Tensor:
        """View of layer ``layer``'s weights as ``(K, in, out)``."""
        return flat[:, self.weight_slice(layer)].view(flat.shape[0], self.sizes[layer], self.sizes[layer + 1])

    def biases(self, flat: torch.Tensor, layer: int) -> torch.Tensor:
        """View of layer ``layer``'s biases as ``(K, 1, out)``."""
        return flat[:, self.bias_slice(layer)].view(flat.shape[0], 1, self.sizes[layer + 1])

    def weight_columns(self) -> torch.Tensor:
        """Boolean row marking which flat columns are weights (not biases)."""
        is_weight = torch.zeros(self.n_params, dtype=torch.bool)
        for layer in range(self.n_layers):
            is_weight[self.weight_slice(layer)] = True
        return is_weight


def init_params(layout: Layout, generators: Sequence[torch.Generator], device: str | torch.device = "cpu") -> torch.Tensor:
    """Kaiming-normal weights (fan-in, ReLU gain) and zero biases, one row per generator."""
    rows = []
    for gen in generators:
        row = torch.zeros(layout.n_params)
        for layer in range(layout.n_layers):
            fan_in = layout.sizes[layer]
            std = math.sqrt(2.0 / fan_in)
            n = layout.sizes[layer] * layout.sizes[layer + 1]
            # Drawn as (out, in) like torch.nn.Linear, stored transposed as (in, out).
            w = torch.randn(layout.sizes[layer + 1], layout.sizes[layer], generator=gen) * std
            row[layout.weight_slice(layer)] = w.t().reshape(n)
        rows.append(row)
    return torch.stack(rows).to(device)


def forward(layout: Layout, flat: torch.Tensor, x: torch.Tensor) -> list[torch.Tensor]:
    """Run the stacked networks on ``x`` (``(K, B, in)`` or a shared ``(B, in)``).

    Returns the activations of every layer: the input, each hidden layer after ReLU, and the
    output logits last.
    """
    return _forward_parts(_split(layout, flat), layout.n_layers, x)


def backward(layout: Layout, flat: torch.Tensor, acts: list[torch.Tensor], dlogits: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Backpropagate ``dlogits`` (``(K, B, out)``) through the activations of :func:`forward`.

    Returns the flat gradient ``(K, P)`` and the gradients with respect to every hidden
    activation (after ReLU), first hidden layer first.
    """
    hidden_grads: list[torch.Tensor] = []
    grads = _backward_parts(_split(layout, flat), layout.n_layers, acts, dlogits, hidden_grads)
    return _join(layout, grads), hidden_grads


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + exp(-z))``, the same bits wherever an entry sits in its tensor.

    ``torch.sigmoid`` on CPU computes the vectorised body of a tensor and its tail in two ways that
    differ in the last bit (measured on AVX2 and AVX-512), so a member's gradient would depend on
    how many members share its batch. ``torch.exp`` gives the same bits on both paths.
    """
    return 1 / (1 + torch.exp(-z))


def bce_with_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy per member over the last two dims."""
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets.expand_as(logits), reduction="none")
    return loss.mean(dim=(-2, -1))


@dataclass
class TrainResult:
    """Best-epoch parameters and their validation accuracy and loss, one row per member."""

    params: torch.Tensor
    accuracy: torch.Tensor
    loss: torch.Tensor


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


def _split(layout: Layout, flat: torch.Tensor) -> list[torch.Tensor]:
    """Contiguous per-layer copies of a flat batch: weights ``(K, in, out)`` then biases ``(K, 1, out)``."""
    ws = [layout.weights(flat, layer).contiguous() for layer in range(layout.n_layers)]
    bs = [layout.biases(flat, layer).contiguous() for layer in range(layout.n_layers)]
    return ws + bs


def _stacked(layout: Layout, flat: torch.Tensor | None, k: int, like: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One 1-D buffer holding :func:`_split`'s parts one after another, and those parts as views.

    Each part is contiguous, so the matrix products read it in place, while an element-wise update
    (Adam's) is one kernel over the whole buffer instead of one per part; element-wise kernels give
    the same bits wherever an entry sits. ``flat`` (``(K, P)``) fills it; ``None`` leaves it empty.
    """
    shapes = [(k, a, b) for a, b in zip(layout.sizes[:-1], layout.sizes[1:])] + [(k, 1, b) for b in layout.sizes[1:]]
    buffer = torch.empty(k * layout.n_params, dtype=like.dtype, device=like.device)
    parts, pos = [], 0
    for shape in shapes:
        size = math.prod(shape)
        parts.append(buffer[pos:pos + size].view(shape))
        pos += size
    if flat is not None:
        torch._foreach_copy_(parts, _split(layout, flat))
    return buffer, parts


def _join(layout: Layout, parts: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`_split`."""
    n = layout.n_layers
    cols = []
    for layer in range(n):
        cols.append(parts[layer].flatten(1))
        cols.append(parts[n + layer].flatten(1))
    return torch.cat(cols, dim=1)


def _forward_parts(parts: list[torch.Tensor], n_layers: int, x: torch.Tensor, pad_single: bool = True) -> list[torch.Tensor]:
    """Every layer's activations (:func:`forward`). ``pad_single``: a lone member (K = 1) is
    computed as a batch of two copies. On some CPUs (measured: an AVX-512 AMD EPYC with MKL) torch
    sends a batched product of one matrix to another kernel than a batch of several, whose sums
    run in another order: a network with one output then gets other last bits alone than batched,
    even on one thread. Members trained one at a time on their compacted networks
    (:func:`train_compacted`) are never batched and skip it."""
    if pad_single and parts[0].shape[0] == 1:
        twice = _forward_parts([torch.cat([p, p]) for p in parts], n_layers, x if x.dim() == 2 else torch.cat([x, x]), False)
        return [a[:1] for a in twice]
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(parts[0].shape[0], -1, -1)
    acts = [x]
    h = x
    for layer in range(n_layers):
        z = torch.baddbmm(parts[n_layers + layer], h, parts[layer])
        h = z.relu_() if layer < n_layers - 1 else z
        acts.append(h)
    return acts


def _backward_parts(
    parts: list[torch.Tensor], n_layers: int, acts: list[torch.Tensor], dz: torch.Tensor, hidden_grads: list[torch.Tensor] | None = None,
    pad_single: bool = True, out: list[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Gradients of every weight ``(K, in, out)`` and bias ``(K, 1, out)`` for output gradient ``dz``.

    When ``hidden_grads`` is a list, the gradients w.r.t. each hidden activation (after ReLU) are
    appended to it, first hidden layer first. ``pad_single``: a lone member is computed as a batch
    of two (:func:`_forward_parts`). ``out``: contiguous tensors of the gradients' shapes to
    write them into (never padded).
    """
    if pad_single and parts[0].shape[0] == 1:
        def twice(ts: list[torch.Tensor]) -> list[torch.Tensor]:
            return [torch.cat([t, t]) if t.dim() == 3 else t for t in ts]

        inner: list[torch.Tensor] | None = [] if hidden_grads is not None else None
        grads = _backward_parts(twice(parts), n_layers, twice(acts), torch.cat([dz, dz]), inner, False)
        if hidden_grads is not None:
            hidden_grads.extend(g[:1] for g in inner)
        return [g[:1] for g in grads]
    grads: list[torch.Tensor] = [None] * (2 * n_layers)  # type: ignore[list-item]
    for layer in range(n_layers - 1, -1, -1):
        h_in = acts[layer]
        grads[layer] = torch.bmm(h_in.transpose(1, 2), dz, out=None if out is None else out[layer])
        grads[n_layers + layer] = torch.sum(dz, dim=1, keepdim=True, out=None if out is None else out[n_layers + layer])
        if layer > 0:
            dh = torch.bmm(dz, parts[layer].transpose(1, 2))
            if hidden_grads is not None:
                hidden_grads.insert(0, dh)
            # ReLU's backward in one kernel (the values of ``dh * (h_in > 0)``, a third of its time).
            dz = torch.ops.aten.threshold_backward(dh, h_in, 0.0)
    return grads


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
        accs.append(res.accuracy)
        losses.append(res.loss)
    return TrainResult(params=out, accuracy=torch.cat(accs), loss=torch.cat(losses))


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
    """
    if pad_single and params.shape[0] == 1:
        gen = generators[0]
        twin = torch.Generator(device=gen.device)
        twin.set_state(gen.get_state())
        pair = train_stacked(layout, params.repeat(2, 1), masks.repeat(2, 1), data, config, [gen, twin],
                             None if lrs is None else lrs.repeat(2), accuracy, prefer_later, draw_inputs, pad_single=False)
        return TrainResult(params=pair.params[:1], accuracy=pair.accuracy[:1], loss=pair.loss[:1])
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
        logits = _forward_parts(theta, n, data.val_x, pad_single)[-1]
        acc = accuracy(logits, data.val_y).to(dtype)
        loss = bce_with_logits(logits, data.val_y)
        better = better_epoch(acc, loss, best_acc, best_loss, prefer_later)
        keep = better.view(k, 1, 1)
        best = [torch.where(keep, t, b) for t, b in zip(theta, best)]
        best_acc = torch.where(better, acc, best_acc)
        best_loss = torch.where(better, loss, best_loss)
    return TrainResult(params=_join(layout, best), accuracy=best_acc, loss=best_loss)


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


# --------------------------------------------------------------------------- the public helper
WeightMasks = Sequence["torch.Tensor"]


def initial_network(sizes: Sequence[int], seed: int) -> SculptedNetwork:
    """The dense network of layer ``sizes`` at ``seed``'s initialisation (all masks set).

    It is exactly where :func:`train_masked` starts a network of this ``seed`` when no ``start``
    is given, so a pruner can score the initial weights (pruning at initialisation) and then
    train the masks it chose from the same weights.
    """
    layout = Layout(tuple(int(n) for n in sizes))
    flat = init_params(layout, [torch.Generator().manual_seed(int(seed))])[0]
    return to_network(layout, flat, torch.ones_like(flat))


def _mask_row(layout: Layout, index: int, weight_masks: WeightMasks | None, bias_masks: WeightMasks | None) -> torch.Tensor:
    """One flat 0/1 mask row from per-layer ``(out, in)`` weight masks and ``(out,)`` bias masks."""
    row = torch.ones(layout.n_params)
    for name, given, shape_of, where in (
        ("masks", weight_masks, lambda l: (layout.sizes[l + 1], layout.sizes[l]), layout.weight_slice),
        ("bias_masks", bias_masks, lambda l: (layout.sizes[l + 1],), layout.bias_slice),
    ):
        if given is None:
            continue
        if len(given) != layout.n_layers:
            raise ValueError(f"{name}[{index}] has {len(given)} layers; the network has {layout.n_layers}")
        for layer, mask in enumerate(given):
            mask = torch.as_tensor(mask).detach().to("cpu")
            if tuple(mask.shape) != shape_of(layer):
                raise ValueError(f"{name}[{index}][{layer}] has shape {tuple(mask.shape)}; expected {shape_of(layer)} (out, in)")
            # Weights are stored (in, out) in a flat row: transpose the (out, in) mask.
            row[where(layer)] = (mask.t() if mask.dim() == 2 else mask).reshape(-1).ne(0).float()
    return row


def train_masked(
    task: Task,
    sizes: Sequence[int],
    masks: Sequence[WeightMasks | None],
    seed: int | Sequence[int],
    config: TrainingConfig | None = None,
    device: str | torch.device = "cpu",
    *,
    bias_masks: Sequence[WeightMasks | None] | None = None,
    start: SculptedNetwork | Sequence[SculptedNetwork | None] | None = None,
) -> list[SculptedNetwork]:
    """Train one masked network of ``task`` per entry of ``masks``, all in one batch; the public training helper.

    ``sizes`` are the layer sizes, inputs and outputs included (``PruneJob.sizes``). Each entry of
    ``masks`` is ``None`` (dense) or one bool mask per weight layer, shaped ``(out, in)`` as
    :attr:`SculptedNetwork.weight_masks`; masked weights stay zero throughout. Biases are all
    trained unless ``bias_masks`` gives, per network, ``None`` or one ``(out,)`` mask per layer.
    ``seed`` is one seed for every network or one per network. A network starts from its seed's
    initialisation (:func:`initial_network`), or from the weights and biases of ``start`` (one
    network for all, or one per entry; ``None`` entries start from the initialisation), times its
    masks. ``config`` defaults to the task's recipe for the hidden shape
    (:meth:`Task.training_for`); a pruner passes ``job.training``.

    Each network trains with a fresh Adam and its own generator seeded with its seed (which first
    draws the initialisation, then the minibatch order and input noise), on one CPU thread: its
    result depends only on (task, sizes, mask, seed, start, config, device), never on the other
    networks of the call. Returns one CPU :class:`SculptedNetwork` per mask, in order, with the
    best-epoch weights, their validation ``accuracy`` and ``test_accuracy``, status ``"ok"``;
    whether that accuracy is enough is the caller's rule (:meth:`Task.acceptance_threshold`).
    """
    layout = Layout(tuple(int(n) for n in sizes))
    if layout.sizes[0] != task.n_inputs or layout.sizes[-1] != task.n_outputs:
        raise ValueError(f"sizes {list(layout.sizes)} must start with the task's {task.n_inputs} inputs "
                         f"and end with its {task.n_outputs} outputs")
    count = len(masks)
    seeds = [int(seed)] * count if isinstance(seed, int) else [int(s) for s in seed]
    starts = list(start) if isinstance(start, Sequence) else [start] * count
    biases = [None] * count if bias_masks is None else list(bias_masks)
    for name, values in (("seed", seeds), ("start", starts), ("bias_masks", biases)):
        if len(values) != count:
            raise ValueError(f"{name} gives {len(values)} entries for {count} masks")
    if count == 0:
        return []
    config = (config or task.training_for(tuple(layout.sizes[1:-1]))).validate()
    device = torch.device(device)
    mask_rows = torch.stack([_mask_row(layout, i, masks[i], biases[i]) for i in range(count)]).to(device)
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    params = init_params(layout, generators, device)  # drawn even under `start`: the generators move on alike
    for i, net in enumerate(starts):
        if net is not None:
            params[i] = _flat_row(layout, net).to(device)
    data = task.data(device)
    with single_threaded():
        result = train(layout, params, mask_rows, data, config, generators, accuracy=task.accuracy)
        test_accuracy, _ = evaluate(layout, result.params * mask_rows, data.test_x, data.test_y, task.accuracy)
    networks = []
    for i in range(count):
        net = to_network(layout, result.params[i], mask_rows[i])
        net.accuracy, net.test_accuracy = float(result.accuracy[i]), float(test_accuracy[i])
        networks.append(net)
    return networks


def _flat_row(layout: Layout, net: SculptedNetwork) -> torch.Tensor:
    """The flat parameter row of ``net`` (the inverse of :func:`to_network` for its weights and biases)."""
    if list(net.sizes) != list(layout.sizes):
        raise ValueError(f"start network has sizes {list(net.sizes)}; expected {list(layout.sizes)}")
    row = torch.zeros(layout.n_params)
    for layer in range(layout.n_layers):
        row[layout.weight_slice(layer)] = net.weights[layer].detach().to("cpu", torch.float32).t().reshape(-1)
        row[layout.bias_slice(layer)] = net.biases[layer].detach().to("cpu", torch.float32).reshape(-1)
    return row
