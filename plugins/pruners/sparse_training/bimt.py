"""BIMT, brain-inspired modular training (Liu, Gan & Tegmark, "Seeing is Believing", Entropy 2023),
after KindXiaoming/BIMT (``symbolic_formulas_3.1.ipynb``: ``BioMLP.get_cc``, ``relocate``).

Each layer's n units sit at ``linspace(1/2n, 1 - 1/2n, n)`` on a line, layers 0.1 apart. The
connection cost of a network is ``cc = sum |W_ij| (w_f |x_i - x_j| + 0.1)`` over its weights
(w_f = 1 with the local term, 0 without: then cc is L1 times 0.1), plus ``0.1 sum |b|`` from
three quarters of the training on. The loss is the task's plus ``lambda x cc`` (lambda's
schedule: :func:`~sculptbench.plugins.pruners.sparse_training.regularised.lambda_at`). Every 200
steps, in each hidden layer, the 5 units with the largest sum of in- and outgoing |w| are, one
after another, swapped with the unit of the layer that lowers cc most (``w_f = 1``), if any.
Inputs and outputs never move, so they keep their labels; a swap moves a unit's incoming
weights, bias and outgoing weights together, so the network computes the same function.
"""

from __future__ import annotations

from typing import Mapping

import torch

from sculptbench.api import (
    Layout,
    Option,
    Options,
    SculptbenchError,
    Task,
    TrainingConfig,
    TrainingHooks,
    When,
    steps_per_epoch,
)
from sculptbench.plugins.pruners.sparse_training.common import Batch
from sculptbench.plugins.pruners.sparse_training.regularised import RegularisedPruner, lambda_at, regularised_config, regularised_options

#: Distance between two neighbouring layers, added to every weight's length (BioMLP.l0).
LAYER_DISTANCE = 0.1
#: ablation -> (regularise, weight of the distance term w_f, swap units): the notebook's train_type 1-5.
ABLATIONS: Mapping[str, tuple[bool, float, bool]] = {
    "none": (False, 0.0, False),
    "l1": (True, 0.0, False),
    "l1+local": (True, 1.0, False),
    "l1+swap": (True, 0.0, True),
    "all": (True, 1.0, True),
}
_REGULARISED = When("ablation", *[name for name, (on, _, _) in ABLATIONS.items() if on])
_SWAPPING = When("ablation", *[name for name, (_, _, swap) in ABLATIONS.items() if swap])


def positions(size: int) -> torch.Tensor:
    """Where a layer's ``size`` units sit: ``linspace(1/2n, 1 - 1/2n, n)`` (float32, as the notebook)."""
    return torch.linspace(1 / (2 * size), 1 - 1 / (2 * size), size, dtype=torch.float64).float()


def distances(layout: Layout, layer: int) -> torch.Tensor:
    """``|x_i - x_j|`` between the units of layer ``layer``'s inputs ``i`` and outputs ``j``, ``(in, out)``."""
    return (positions(layout.sizes[layer]).unsqueeze(1) - positions(layout.sizes[layer + 1]).unsqueeze(0)).abs()


def connection_cost(layout: Layout, row: torch.Tensor, weight_factor: float = 1.0, biases: bool = True) -> float:
    """The connection cost of one flat parameter row: ``sum |W_ij| (w_f |x_i - x_j| + 0.1)``, plus
    ``0.1 sum |b|`` when ``biases``."""
    flat = row.detach().cpu().unsqueeze(0)
    cost = 0.0
    for layer in range(layout.n_layers):
        w = layout.weights(flat, layer)[0].abs()
        cost += float((w * (weight_factor * distances(layout, layer) + LAYER_DISTANCE)).sum())
        if biases:
            cost += float(layout.biases(flat, layer).abs().sum()) * LAYER_DISTANCE
    return cost


def cc_penalty(layout: Layout, lam: float, schedule: str, weight_factor: float, device: torch.device):
    """The gradient of ``lambda(step) x cc``: ``lambda sign(W_ij) (w_f |x_i - x_j| + 0.1)`` on the
    weights, and ``lambda 0.1 sign(b)`` on the biases from step int(3 total/4) on."""
    factors = [(weight_factor * distances(layout, layer) + LAYER_DISTANCE).to(device) for layer in range(layout.n_layers)]

    def penalty(step: int, total: int, parts: list[torch.Tensor]) -> list[torch.Tensor | None]:
        value = lambda_at(lam, schedule, step, total)
        weights = [value * torch.sign(w) * f for w, f in zip(parts[:layout.n_layers], factors)]
        if step < 3 * total // 4:
            return weights + [None] * layout.n_layers
        return weights + [value * LAYER_DISTANCE * torch.sign(b) for b in parts[layout.n_layers:]]
    return penalty


def placement_costs(w_in: torch.Tensor, w_out: torch.Tensor, d_in: torch.Tensor, d_out: torch.Tensor) -> torch.Tensor:
    """``A[k, u, s]``: the length-weighted |w| of the unit now at ``u`` of a hidden layer (its
    incoming and outgoing weights) if it sat at position ``s``, for every member ``k``.

    ``w_in`` ``(K, previous, n)`` and ``w_out`` ``(K, n, next)`` are the layer's weights, ``d_in``
    ``(previous, n)`` and ``d_out`` ``(n, next)`` the distances between positions. Computed by
    products and sums within each member's row, so a member's numbers do not depend on its batch.
    """
    into = (w_in.abs().unsqueeze(3) * d_in.unsqueeze(1)).sum(dim=1)
    out_of = (w_out.abs().unsqueeze(2) * d_out.unsqueeze(0)).sum(dim=3)
    return into + out_of


def best_swaps(costs: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    """For each member ``k``, the unit whose swap with ``units[k]`` lowers the connection cost most
    (``units[k]`` itself when none lowers it; the first of equals, as the notebook's ``argmin``).

    A swap of ``j`` and ``u`` changes cc by ``A[j, u] + A[u, j] - A[j, j] - A[u, u]``
    (:func:`placement_costs`); every other weight keeps its length.
    """
    rows = torch.arange(costs.shape[0], device=costs.device)
    stay = costs.diagonal(dim1=1, dim2=2)
    change = (costs[rows, units, :] + costs[rows, :, units]) - (stay[rows, units].unsqueeze(1) + stay)
    change[rows, units] = 0.0
    return torch.argmin(change, dim=1)


def swap_units(tensors: list[tuple[torch.Tensor, int]], units: torch.Tensor, others: torch.Tensor) -> None:
    """Swap, in each member's row, unit ``units[k]`` with ``others[k]`` along the given dim of every tensor, in place."""
    k, n = units.shape[0], tensors[0][0].shape[tensors[0][1]]
    rows = torch.arange(k, device=units.device)
    order = torch.arange(n, device=units.device).repeat(k, 1)
    order[rows, units] = others
    order[rows, others] = units
    for tensor, dim in tensors:
        shape = [k] + [1] * (tensor.dim() - 1)
        shape[dim] = n
        tensor.copy_(tensor.gather(dim, order.view(shape).expand_as(tensor)))


def relocate(layout: Layout, parts: list[torch.Tensor], top: int) -> None:
    """BIMT's swaps on every member and hidden layer, in place: the ``top`` units with the largest
    sum of in- and outgoing |w| (ranked once per layer, largest first; the notebook's
    ``get_top_id``), one after another, each swapped with the unit that lowers the connection
    cost most (the notebook's ``relocate_ij``). A unit's incoming weights, bias and outgoing
    weights move together."""
    n = layout.n_layers
    for layer in range(1, n):
        w_in, w_out, bias = parts[layer - 1], parts[layer], parts[n + layer - 1]
        d_in, d_out = distances(layout, layer - 1).to(w_in.device), distances(layout, layer).to(w_in.device)
        score = w_out.abs().sum(dim=2) + w_in.abs().sum(dim=1)
        ranked = torch.flip(torch.argsort(score, dim=1, stable=True), [1])[:, :top]
        costs = placement_costs(w_in, w_out, d_in, d_out)
        for units in ranked.t():
            others = best_swaps(costs, units)
            # A unit carries its own costs: the rows of A swap with the units.
            swap_units([(w_in, 2), (bias, 2), (w_out, 1), (costs, 1)], units, others)


class BimtPruner(RegularisedPruner):
    """BIMT: training with a connection cost on unit positions, unit swaps and L1, then the sparsest threshold that meets the task's accuracy."""

    name = "bimt"
    version = "1.0"
    citation = ("Liu, Gan & Tegmark, Seeing is Believing: Brain-Inspired Modular Training for Mechanistic Interpretability, "
                "Entropy 2023; after KindXiaoming/BIMT (symbolic_formulas_3.1.ipynb)")
    options = (
        Option("ablation", str, "all", choices=tuple(ABLATIONS),
               help="What the training adds (the paper's ablations): none, l1 (cc without distances: L1 x 0.1), l1+local "
                    "(cc with distances), l1+swap (L1 and swaps), all (cc with distances and swaps)."),
        *regularised_options(_REGULARISED),
        Option("swap_every", int, 200, low=1, applies=_SWAPPING, help="Steps between two rounds of unit swaps (BIMT: 200)."),
        Option("swap_top", int, 5, low=1, applies=_SWAPPING,
               help="Units per hidden layer that each round tries to move: those with the largest in+out |w| (BIMT: 5)."),
    )
    phase = "bimt"

    def check_cell(self, task: Task, hidden: tuple[int, ...], training: TrainingConfig, options: Options) -> None:
        """Swaps that would never happen (``swap_every`` beyond the training's steps) are refused."""
        if "swap_every" not in options:
            return
        rows = int(task.data("cpu").train_x.shape[0])
        total = regularised_config(training, options, rows).epochs * steps_per_epoch(rows, training.batch_size)
        if options["swap_every"] > total:
            raise SculptbenchError(f"bimt.swap_every={options['swap_every']} would swap nothing: the regularised training of "
                                   f"{task.name} has {total} steps; give at most {total}, more bimt.steps, or bimt.ablation=l1+local")

    def hooks(self, batch: Batch, config: TrainingConfig) -> TrainingHooks:
        """The connection cost's gradient (unless ``ablation=none``) and the swaps (under l1+swap and all)."""
        options = batch.options
        regularise, weight_factor, swap = ABLATIONS[options["ablation"]]
        penalty = cc_penalty(batch.layout, options["lambda"], options["lambda_schedule"], weight_factor, batch.initial.device) \
            if regularise else None
        if not swap:
            return TrainingHooks(penalty=penalty, keep_last=True)
        layout, top = batch.layout, options["swap_top"]
        return TrainingHooks(penalty=penalty, every=options["swap_every"], at_step=lambda step, parts: relocate(layout, parts, top),
                             keep_last=True)
