"""The pruners' scores: which hidden units and which weights go first (lowest score first).

Units: activation x gradient (the paper's), activation x mean outgoing weight, activation
variance, random. Weights: global magnitude (the paper's), layer-adaptive magnitude (LAMP),
random. Each function scores every member of a batch at once and is testable alone on a
hand-built network (``tests/test_pruning_loop.py``).
"""

from __future__ import annotations

from typing import Sequence

import torch

from sculptbench.api import Layout, SculptbenchError, TaskData, hidden_activations_and_grads

UNIT_SCORES = ("act_grad", "act_weight", "act_variance", "random")
EDGE_SCORES = ("magnitude", "lamp", "random")


def unit_scores(kind: str, layout: Layout, params: torch.Tensor, mask: torch.Tensor, data: TaskData, gens: Sequence[torch.Generator]) -> torch.Tensor:
    """Scores of all hidden units, ``(K, n_hidden)``, on the noise-free training rows."""
    if kind == "random":
        return torch.stack([torch.rand(layout.n_hidden, generator=g) for g in gens]).to(params.device)
    acts, grads = hidden_activations_and_grads(layout, params * mask, data.train_x, data.train_y)
    a = torch.cat(acts, dim=2)
    if kind == "act_grad":
        return (a * torch.cat(grads, dim=2)).abs().mean(dim=1)
    if kind == "act_variance":
        return a.var(dim=1, unbiased=False)
    if kind == "act_weight":
        out_w = [layout.weights(params * mask, layer).abs().mean(dim=2) for layer in range(1, layout.n_layers)]
        return torch.cat(out_w, dim=1) * a.mean(dim=1)
    raise SculptbenchError(f"unknown unit score {kind!r}; valid: {', '.join(UNIT_SCORES)}")


def edge_scores(kind: str, layout: Layout, params: torch.Tensor, gens: Sequence[torch.Generator], mask: "torch.Tensor | None" = None) -> torch.Tensor:
    """Scores of all weights (flat weight columns only), ``(K, n_weights)``.

    ``magnitude``: |w|. ``lamp``: layer-adaptive magnitude (Lee et al., ICLR 2021): within its
    layer, w^2 over the sum of w^2 of the layer's surviving weights at least as large, so one
    global cut prunes every layer in proportion to how dispensable its weights are relative to
    each other (it needs ``mask``: pruned weights do not count). ``random``: uniform.
    """
    cols = layout.weight_columns().to(params.device)
    if kind == "random":
        return torch.stack([torch.rand(layout.n_weights, generator=g) for g in gens]).to(params.device)
    if kind == "magnitude":
        return params[:, cols].abs()
    if kind == "lamp":
        alive = torch.ones_like(params) if mask is None else (mask > 0).to(params.dtype)
        return lamp_scores(layout, (params * alive)[:, cols])
    raise SculptbenchError(f"unknown edge score {kind!r}; valid: {', '.join(EDGE_SCORES)}")


def lamp_scores(layout: Layout, weights: torch.Tensor) -> torch.Tensor:
    """LAMP scores of flat weight columns ``(K, n_weights)`` (pruned ones given as 0, scoring 0)."""
    squared = weights.double() ** 2
    out = torch.empty_like(squared)
    pos = 0
    for layer in range(layout.n_layers):
        n = layout.sizes[layer] * layout.sizes[layer + 1]
        block = squared[:, pos:pos + n]
        ascending, order = block.sort(dim=1, stable=True)
        at_least = ascending.flip(1).cumsum(1).flip(1)
        out[:, pos:pos + n] = torch.zeros_like(block).scatter_(1, order, ascending / at_least.clamp_min(1e-300))
        pos += n
    return out.to(weights.dtype)
