"""What the methods that train for sparsity share: the batch of jobs they train side by side,
the weights they may prune, a top-|w| mask, and the networks they hand back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from sculptbench.api import Layout, PruneJob, SculptedNetwork, TaskData, evaluate_batch, init_params, to_network

#: Accuracy a network may fall short of its threshold by and still pass (rounding of the mean).
TOLERANCE = 1e-9


@dataclass
class Batch:
    """Jobs of one task, shape, recipe, device and options, trained side by side: one member each,
    with its own generator (seeded with the job's seed, which first draws the initialisation)."""

    jobs: Sequence[PruneJob]
    layout: Layout = field(init=False)
    data: TaskData = field(init=False)
    generators: list[torch.Generator] = field(init=False)
    initial: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        first = self.jobs[0]
        for job in self.jobs:
            if (job.task.name, job.hidden, job.training, job.device, job.params) != (first.task.name, first.hidden, first.training, first.device, first.params):
                raise ValueError("a batch needs jobs of one task, shape, recipe, device and options")
        self.layout = Layout(tuple(first.sizes))
        self.data = first.task.data(torch.device(first.device))
        self.generators = [torch.Generator().manual_seed(job.seed) for job in self.jobs]
        self.initial = init_params(self.layout, self.generators, torch.device(first.device))

    @property
    def task(self):
        """The jobs' task."""
        return self.jobs[0].task

    @property
    def options(self):
        """The jobs' resolved options."""
        return self.jobs[0].params

    def gens(self, rows: Sequence[int]) -> list[torch.Generator]:
        """The generators of members ``rows``."""
        return [self.generators[r] for r in rows]

    def networks(self, params: torch.Tensor, masks: torch.Tensor, accuracy: Sequence[float], info: Sequence[dict]) -> list[SculptedNetwork]:
        """One network per member from its parameter and mask rows, with its validation ``accuracy``,
        its test accuracy and ``info``."""
        test_accuracy, _ = evaluate_batch(self.layout, params * masks, self.data.test_x, self.data.test_y, self.task.accuracy)
        nets = []
        for r in range(params.shape[0]):
            net = to_network(self.layout, params[r], masks[r])
            net.accuracy, net.test_accuracy = float(accuracy[r]), float(test_accuracy[r])
            net.info = dict(info[r])
            nets.append(net)
        return nets


def prunable_columns(layout: Layout, prune_output: bool = True) -> torch.Tensor:
    """Boolean row marking the flat columns a method may prune: every layer's weights (the output
    layer's only when ``prune_output``); biases are never pruned."""
    columns = torch.zeros(layout.n_params, dtype=torch.bool)
    for layer in range(layout.n_layers if prune_output else layout.n_layers - 1):
        columns[layout.weight_slice(layer)] = True
    return columns


def top_magnitude_mask(row: torch.Tensor, prunable: torch.Tensor, keep: int) -> torch.Tensor:
    """A 0/1 mask row keeping the ``keep`` prunable entries of ``row`` with the largest |w| (the
    lower index first among equals) and every entry that is not prunable."""
    mask = (~prunable).to(row.dtype)
    columns = torch.nonzero(prunable).flatten()
    order = torch.sort(-row[columns].abs().double(), stable=True).indices
    mask[columns[order[:keep]]] = 1.0
    return mask


def history_point(phase: str, density: float, accuracy: float, accepted: bool) -> dict:
    """One operating point of a cell, as every pruner records them."""
    return {"phase": phase, "target": 100.0 * (1.0 - density), "density": density, "accuracy": accuracy, "accepted": bool(accepted)}


def density_of(layout: Layout, mask: torch.Tensor) -> float:
    """The share of a mask row's weights that are kept (as :meth:`SculptedNetwork.density`)."""
    return float(mask[layout.weight_columns().to(mask.device)].sum()) / layout.n_weights
