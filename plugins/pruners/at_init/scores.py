"""The scores of pruning at initialisation, for one network at a time, and the masks they give.

Weights are lists of ``(out, in)`` tensors, as :class:`SculptedNetwork` holds them; every score
is computed in float64 on copies, through the engine's own forward pass and loss
(:func:`mlp_logits`, :func:`training_loss`), so a network's scores depend on nothing but its
own weights and data. Higher scores are kept, except GraSP's ``S``, where the largest go first.

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

import torch

from sculptbench.api import digest, mlp_logits, training_loss

Tensors = Sequence[torch.Tensor]


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


def synflow_scores(weights: Tensors, biases: Tensors) -> list[torch.Tensor]:
    """``|w * dR/dw|`` per weight, ``R`` the output sum of the network with ``|w|``, ``|b|`` on an all-ones row."""
    w, b = _leaves([t.abs() for t in weights]), [t.abs() for t in _plain(biases)]
    flow = mlp_logits(w, b, torch.ones(1, w[0].shape[1], dtype=torch.float64)).sum()
    return [(t.detach() * g).abs() for t, g in zip(w, torch.autograd.grad(flow, w))]


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
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[torch.sort(flat, descending=True, stable=True).indices[:count]] = True
    return [part.view(s.shape) for part, s in zip(keep.split([s.numel() for s in scores]), scores)]


def synflow_masks(weights: Tensors, biases: Tensors, density: float, rounds: int) -> list[torch.Tensor]:
    """SynFlow's masks at ``density``: ``rounds`` rounds, each re-scoring the surviving weights
    and keeping the highest ``density^((e+1)/rounds)`` share of all weights (``e = 0..rounds-1``)."""
    total = sum(w.numel() for w in weights)
    alive = [torch.ones(w.shape, dtype=torch.bool) for w in weights]
    for e in range(rounds):
        scores = synflow_scores([w * a for w, a in zip(weights, alive)], biases)
        alive = keep_highest(scores, kept_count(density ** ((e + 1) / rounds), total), alive)
    return alive


def xavier_weights(sizes: Sequence[int], seed: int) -> list[torch.Tensor]:
    """Xavier-normal weights ``(out, in)`` (std ``sqrt(2 / (in + out))``), as GraSP's reference
    re-initialises linear layers before scoring; drawn from a generator of their own, seeded from
    ``seed``, so they share no draw with the network's initialisation."""
    gen = torch.Generator().manual_seed(int(digest(["grasp-xavier", int(seed)], 15), 16))
    return [torch.randn(b, a, generator=gen, dtype=torch.float64) * math.sqrt(2.0 / (a + b)) for a, b in zip(sizes[:-1], sizes[1:])]
