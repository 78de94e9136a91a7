"""Gradual magnitude pruning with the cubic schedule (Zhu & Gupta, "To prune, or not to prune:
exploring the efficacy of pruning for model compression", arXiv:1710.01878, 2017).

The dense network is trained first; then, over ``steps`` pruning steps, each layer's sparsity
rises from 0 to the final sparsity ``s_f`` on the cubic schedule

    s_t = s_f (1 - (1 - t / steps)^3),   t = 1 .. steps

(fast at first, while the network has redundant weights, then slowly). At each step every layer
keeps its largest-magnitude surviving weights (the paper's per-layer masks) and the network trains
``step_epochs`` more epochs from where it stands, through sculptbench's public helper
:func:`sculptbench.api.train_masked`. The final sparsity is a target: sculptbench's density
search (:func:`sculptbench.api.density_search`) finds the sparsest one that still meets the
task's accuracy threshold, the protocol every pruner runs under.

Departures from the paper: it prunes every ``Δt`` training steps inside one run with one
optimiser; here each step is its own short training (a fresh Adam, the best epoch kept), as the
public helper trains; the dense phase is the task's whole recipe.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch

from sculptbench.api import Option, PruneJob, Pruner, SculptedNetwork, density_search, train_masked


def cubic_sparsity(final: float, step: int, steps: int) -> float:
    """The sparsity after pruning step ``step`` of ``steps``, rising to ``final`` on the cubic schedule."""
    return final * (1.0 - (1.0 - step / steps) ** 3)


def layer_magnitude_masks(network: SculptedNetwork, sparsity: float) -> list[torch.Tensor]:
    """Per layer, bool masks ``(out, in)`` keeping the largest ``|w|`` of the surviving weights so
    that ``round(sparsity x n)`` of the layer's ``n`` weights are pruned (ties: the first kept)."""
    masks = []
    for weight, alive in zip(network.weights, network.weight_masks):
        n = weight.numel()
        keep = min(int(alive.sum()), n - round(sparsity * n))
        score = torch.where(alive, weight.abs(), torch.tensor(-1.0)).reshape(-1)
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.sort(score, descending=True, stable=True).indices[:keep]] = True
        masks.append(mask.view_as(weight))
    return masks


class GradualMagnitudePruner(Pruner):
    """Gradual magnitude pruning on the cubic schedule, the final sparsity found by the density search."""

    name = "gradual"
    version = "0.2.0"
    citation = "Zhu & Gupta, To prune, or not to prune: exploring the efficacy of pruning for model compression, arXiv:1710.01878 (2017)"
    options = (
        Option("steps", int, 5, low=1, help="Pruning steps from the dense network to the final sparsity (the cubic schedule's n)."),
        Option("step_epochs", int, 5, low=1, help="Epochs trained after each pruning step."),
        Option("bisect_steps", int, 3, low=0, help="Bisection steps of the density search between its last pass and first fail."),
    )

    def prune(self, job: PruneJob) -> SculptedNetwork:
        """One job: :meth:`prune_many` of it alone."""
        return self.prune_many([job])[0]

    def prune_many(self, jobs: Sequence[PruneJob]) -> list[SculptedNetwork]:
        """The sparsest network of each job that meets the threshold; every training of a round,
        for every job, is one :func:`train_masked` call. Jobs share task, shape, recipe and options."""
        if not jobs:
            return []
        first = jobs[0]
        steps, step_training = first.params["steps"], dataclasses.replace(first.training, epochs=first.params["step_epochs"])
        dense: dict[int, SculptedNetwork] = {}

        def train(which: list[int], masks: list, config, start=None) -> list[SculptedNetwork]:
            return train_masked(first.task, first.sizes, masks, [jobs[j].seed for j in which], config, first.device, start=start)

        def build(requests: list[tuple[int, float]]) -> list[SculptedNetwork]:
            untrained = sorted({j for j, _ in requests} - set(dense))
            dense.update(zip(untrained, train(untrained, [None] * len(untrained), first.training)))
            pruned = [(i, j, d) for i, (j, d) in enumerate(requests) if d < 1]
            nets = [dense[j] for _, j, _ in pruned]
            for step in range(1, steps + 1):
                masks = [layer_magnitude_masks(net, cubic_sparsity(1 - d, step, steps)) for net, (_, _, d) in zip(nets, pruned)]
                nets = train([j for _, j, _ in pruned], masks, step_training, start=nets)
            out = [dense[j] for j, _ in requests]
            for (i, _, _), net in zip(pruned, nets):
                out[i] = net
            return out

        return density_search(jobs, build, bisect_steps=first.params["bisect_steps"], phase="gradual")
