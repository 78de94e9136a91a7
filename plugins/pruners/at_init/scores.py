"""The scores of pruning at initialisation, for one network at a time, and the masks they give.

Weights are lists of ``(out, in)`` tensors, as :class:`SculptedNetwork` holds them; every score
is computed in float64 on copies, so a network's scores depend on nothing but its own weights
and data. SNIP and GraSP differentiate the engine's own forward pass and loss
(:func:`mlp_logits`, :func:`training_loss`); SynFlow's flow has a closed form (equal to autograd
through :func:`mlp_logits`, tested). Higher scores are kept, except GraSP's ``S``, where the
largest go first.

- SNIP (Lee et al., ICLR 2019): ``|dL/dm|`` at ``m = 1`` for the masked weights ``m * w``,
  which is ``|g * w|`` (the gradient with respect to the mask, Synaptic-Flow issue #3).
- GraSP (Wang et al., ICLR 2020): ``S = -w * (H g)``, with ``H g`` the gradient of
  ``stop-grad(g)^T g`` and the logits divided by a temperature ``T``; the largest ``S`` go first.
- SynFlow (Tanaka et al., NeurIPS 2020): data-free; the network with ``|w|`` and ``|b|`` fed one
  all-ones row, ``R`` the sum of its outputs, score ``|w * dR/dw|``; pruned over ``rounds``
  rounds to densities ``d^((e+1)/rounds)``, re-scored each round.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from sculptbench.api import digest, mlp_logits, training_loss

Tensors = Sequence["torch.Tensor"]


def _leaves(weights: Tensors) -> list[torch.Tensor]:
    return [w.detach().to("cpu", torch.float64).clone().requires_grad_(True) for w in weights]


def _plain(tensors: Tensors) -> list[torch.Tensor]:
    return [t.detach().to("cpu", torch.float64) for t in tensors]


def snip_scores(weights: Tensors, biases: Tensors, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """``|dL/dm|`` at ``m = 1`` per weight (``= |g * w|``), ``L`` the training loss on rows ``x``, ``y``."""
    w, b = _plain(weights), _plain(biases)
    masks = _leaves([torch.ones_like(t) for t in w])
    loss = training_loss(mlp_logits([m * t for m, t in zip(masks, w)], b, x.double()), y.double())
    return [g.abs() for g in torch.autograd.grad(loss, masks)]


def grasp_scores(weights: Tensors, biases: Tensors, x: torch.Tensor, y: torch.Tensor, temperature: float) -> list[torch.Tensor]:
    """GraSP's ``S = -w * (H g)`` per weight; ``g`` and ``H`` of the loss of the logits over ``temperature``."""
    w, b = _leaves(weights), _plain(biases)
    loss = training_loss(mlp_logits(w, b, x.double()) / temperature, y.double())
    grads = torch.autograd.grad(loss, w, create_graph=True)
    flow = sum((g.detach() * g).sum() for g in grads)  # stop-grad(g)^T g: its gradient is H g
    hessian_grad = torch.autograd.grad(flow, w)
    return [-(t.detach() * hg) for t, hg in zip(w, hessian_grad)]


def _synflow_flat(abs_weights: list[np.ndarray], abs_biases: list[np.ndarray]) -> np.ndarray:
    """SynFlow's scores of every weight, flat (layer by layer, each ``(out, in)`` row by row), for
    non-negative weights and biases: ``|w| x (flow into its source) x (flow from its target on)``."""
    into = [np.ones(abs_weights[0].shape[1])]
    for w, b in zip(abs_weights[:-1], abs_biases[:-1]):
        into.append((w * into[-1]).sum(axis=1) + b)
    out_of = np.ones(abs_weights[-1].shape[0])
    scores = []
    for w, flow_in in zip(reversed(abs_weights), reversed(into)):
        scores.append((w * np.outer(out_of, flow_in)).ravel())
        out_of = (w * out_of[:, None]).sum(axis=0)
    return np.concatenate(scores[::-1])


def _absolute(tensors: Tensors) -> list[np.ndarray]:
    return [np.abs(t.detach().to("cpu", torch.float64).numpy()) for t in tensors]


def synflow_scores(weights: Tensors, biases: Tensors) -> list[torch.Tensor]:
    """``|w * dR/dw|`` per weight, ``R`` the output sum of the network with ``|w|``, ``|b|`` on an all-ones row.

    Every activation of that network is non-negative, so each ReLU passes its input on and
    ``dR/dw[o, i] = (flow into unit i) x (flow from unit o to the outputs)``: one forward and one
    backward sweep of sums (where a unit's input is exactly 0, autograd through
    :func:`mlp_logits` stops the backward flow instead; every weight that changes scores 0 either
    way: tested). SynFlow scores a network 100 times per density, so these sweeps in numpy
    replace autograd's per-operation overhead.
    """
    flat = _synflow_flat(_absolute(weights), _absolute(biases))
    return [torch.from_numpy(part.copy()).view(w.shape) for part, w in zip(np.split(flat, np.cumsum([w.numel() for w in weights])[:-1]), weights)]


def kept_count(density: float, n_weights: int) -> int:
    """How many weights a density keeps: ``density x n_weights``, rounded half up."""
    return min(n_weights, max(0, math.floor(density * n_weights + 0.5)))


def keep_highest(scores: Tensors, count: int, alive: Tensors | None = None) -> list[torch.Tensor]:
    """Bool masks keeping the ``count`` highest scores over all layers together (global), among
    ``alive`` weights only (default: all); ties go to the weight that comes first (layer by layer,
    each ``(out, in)`` row by row)."""
    flat = torch.cat([s.reshape(-1) for s in scores]).double()
    if alive is not None:
        flat = torch.where(torch.cat([a.reshape(-1) for a in alive]), flat, torch.tensor(-math.inf, dtype=flat.dtype))
    if alive is not None:
        count = min(count, int(sum(int(a.sum()) for a in alive)))
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[torch.sort(flat, descending=True, stable=True).indices[:count]] = True
    return [part.view(s.shape) for part, s in zip(keep.split([s.numel() for s in scores]), scores)]


def _highest(flat: np.ndarray, count: int) -> np.ndarray:
    """Bool row keeping the ``count`` highest of ``flat``, ties to the lower index: what a stable
    descending sort keeps, found by a partition (linear time)."""
    keep = np.zeros(flat.size, dtype=bool)
    if count <= 0:
        return keep
    cut = np.partition(flat, flat.size - count)[flat.size - count]  # the count-th highest
    keep = flat > cut
    keep[np.flatnonzero(flat == cut)[:count - int(keep.sum())]] = True
    return keep


def synflow_masks(weights: Tensors, biases: Tensors, density: float, rounds: int) -> list[torch.Tensor]:
    """SynFlow's masks at ``density``: ``rounds`` rounds, each re-scoring the surviving weights and
    keeping the highest ``density^((e+1)/rounds)`` share of all weights (``e = 0..rounds-1``), as
    :func:`keep_highest` does (pruned weights never return; ties: the first kept)."""
    abs_weights, abs_biases = _absolute(weights), _absolute(biases)
    bounds = np.cumsum([0, *(w.size for w in abs_weights)])
    alive = np.ones(bounds[-1], dtype=bool)
    for e in range(rounds):
        survivors = [w * alive[a:b].reshape(w.shape) for w, a, b in zip(abs_weights, bounds[:-1], bounds[1:])]
        flat = np.where(alive, _synflow_flat(survivors, abs_biases), -np.inf)
        alive = _highest(flat, min(kept_count(density ** ((e + 1) / rounds), bounds[-1]), int(alive.sum())))
    return [torch.from_numpy(alive[a:b].reshape(w.shape).copy()) for w, a, b in zip(abs_weights, bounds[:-1], bounds[1:])]


def xavier_weights(sizes: Sequence[int], seed: int) -> list[torch.Tensor]:
    """Xavier-normal weights ``(out, in)`` (std ``sqrt(2 / (in + out))``), as GraSP's reference
    re-initialises linear layers before scoring; drawn from a generator of their own, seeded from
    ``seed``, so they share no draw with the network's initialisation."""
    gen = torch.Generator().manual_seed(int(digest(["grasp-xavier", int(seed)], 15), 16))
    return [torch.randn(b, a, generator=gen, dtype=torch.float64) * math.sqrt(2.0 / (a + b)) for a, b in zip(sizes[:-1], sizes[1:])]
