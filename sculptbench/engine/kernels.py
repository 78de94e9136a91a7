"""The engine's kernels: the flat layout of K stacked MLPs, their initialisation, and forward and
backward passes written out by hand (ReLU hidden layers, sigmoid outputs, binary cross-entropy).

Parameters are kept flat: one ``(K, P)`` tensor per batch, laid out by :class:`Layout`. Writing
the passes out avoids autograd's per-operation overhead on these tiny networks. Every member's
numbers are the same whatever shares its batch, provided no kernel's result depends on the batch
around it. Three that did are avoided: a batched product of K = 1 can go to another matrix
kernel than K > 1 (multi-threaded, or with one output column even on one thread, measured on
AVX-512 CPUs), so a lone member is computed as a batch of two (``pad_single``); ``torch.sigmoid``
gives other last bits in the tail of a tensor than in its body, so :func:`sigmoid` is built from
``torch.exp``; and callers run the engine inside :func:`single_threaded`.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch


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

