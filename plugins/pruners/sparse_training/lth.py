"""The lottery ticket: iterative magnitude pruning with weight rewinding (Frankle & Carbin 2019;
Frankle, Dziugaite, Roy & Carbin 2020), after facebookresearch/open_lth
(``pruning/sparse_global.py``, ``lottery/runner.py``).

Train the dense network, noting its weights at step k; then, round after round, remove
``ceil(fraction x remaining)`` of the remaining prunable weights with the smallest |w| (ties at
the threshold go too), reset every surviving parameter to its value at step k and train again
with the task's recipe. Stop when a round misses the task's accuracy threshold (or reaches the
target density) and hand in the last network that met it.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from sculptbench.api import (
    Layout,
    Option,
    Options,
    PruneJob,
    Pruner,
    SculptbenchError,
    SculptedNetwork,
    Task,
    TrainingConfig,
    TrainingHooks,
    single_threaded,
    steps_per_epoch,
    train_batch,
)
from sculptbench.plugins.pruners.sparse_training.common import TOLERANCE, Batch, density_of, history_point, prunable_columns

SCOPES = ("global", "layer")


def lottery_mask(layout: Layout, trained: torch.Tensor, mask: torch.Tensor, prunable: torch.Tensor, fraction: float,
                 scope: str) -> torch.Tensor:
    """One round's mask row: in each group of prunable weights (all of them under ``global``, each
    layer's under ``layer``) remove ``ceil(fraction x remaining)`` of the remaining ones, those
    with |w| at or below the threshold, the n-th smallest |w| (so ties at the threshold go too)."""
    if scope not in SCOPES:
        raise SculptbenchError(f"unknown scope {scope!r}; valid: {', '.join(SCOPES)}")
    groups = [prunable]
    if scope == "layer":
        groups = []
        for layer in range(layout.n_layers):
            columns = torch.zeros_like(prunable)
            columns[layout.weight_slice(layer)] = True
            if bool((columns & prunable).any()):
                groups.append(columns & prunable)
    magnitude = trained.abs()
    new = mask.clone()
    for columns in groups:
        alive = columns & (mask > 0)
        remaining = int(alive.sum())
        if remaining == 0:
            continue
        count = math.ceil(fraction * remaining)
        threshold = torch.sort(magnitude[alive]).values[count - 1]
        new[alive & (magnitude <= threshold)] = 0.0
    return new


def lottery(batch: Batch) -> list[SculptedNetwork]:
    """Every job's lottery ticket, its rounds trained side by side."""
    options = batch.options
    layout, task, data = batch.layout, batch.task, batch.data
    config = batch.jobs[0].training
    k = len(batch.jobs)
    prunable = prunable_columns(layout, options["prune_output"]).to(batch.initial.device)
    masks = torch.ones_like(batch.initial)
    dense = train_batch(layout, batch.initial, masks, data, config, batch.generators, accuracy=task.accuracy,
                        hooks=TrainingHooks(capture_step=options["rewind"]))
    rewound, params = dense.captured, dense.params.clone()
    accuracy = [float(a) for a in dense.accuracy]
    thresholds = [task.acceptance_threshold(a) for a in accuracy]
    history = [[history_point("dense", 1.0, a, a >= t - TOLERANCE)] for a, t in zip(accuracy, thresholds)]
    trainings, rounds = [1] * k, [0] * k
    active = [r for r in range(k) if history[r][0]["accepted"]]
    target = options.get("target_density")
    while active:
        candidates = {r: lottery_mask(layout, params[r], masks[r], prunable, options["fraction"], options["scope"]) for r in active}
        rows = [r for r in active if not torch.equal(candidates[r], masks[r])]
        if not rows:
            break
        new_masks = torch.stack([candidates[r] for r in rows])
        result = train_batch(layout, rewound[rows] * new_masks, new_masks, data, config, batch.gens(rows), accuracy=task.accuracy)
        active = []
        for i, r in enumerate(rows):
            acc, density = float(result.accuracy[i]), density_of(layout, new_masks[i])
            passed = acc >= thresholds[r] - TOLERANCE
            history[r].append(history_point("lth", density, acc, passed))
            trainings[r] += 1
            if passed:
                params[r], masks[r], accuracy[r] = result.params[i], new_masks[i], acc
                rounds[r] += 1
                if target is None or density > target:
                    active.append(r)
    info = [{"threshold": thresholds[r], "trainings": trainings[r], "rounds": rounds[r], "rewind": options["rewind"]} for r in range(k)]
    nets = batch.networks(params, masks, accuracy, info)
    for r, net in enumerate(nets):
        net.dense_accuracy = float(dense.accuracy[r])
        net.status = "ok" if history[r][0]["accepted"] else "untrainable"
        net.history = history[r]
    return nets


class LotteryTicketPruner(Pruner):
    """Lottery ticket: iterative global magnitude pruning, 20% of the remaining weights a round, survivors rewound to step k and retrained."""

    name = "lth"
    version = "1.0"
    citation = ("Frankle & Carbin, The Lottery Ticket Hypothesis, ICLR 2019; Frankle, Dziugaite, Roy & Carbin, "
                "Linear Mode Connectivity and the Lottery Ticket Hypothesis, ICML 2020 (rewinding); after facebookresearch/open_lth")
    options = (
        Option("scope", str, "global", choices=SCOPES,
               help="Rank the weights over all prunable layers together (global, open_lth's sparse_global) or within each layer."),
        Option("fraction", float, 0.2, low=0, high=1, low_open=True, high_open=True,
               help="Share of the remaining prunable weights removed per round: ceil(fraction x remaining)."),
        Option("rewind", int, 0, low=0,
               help="Step k of the dense training (optimizer steps) whose parameters the survivors are reset to before each "
                    "retraining: 0 is the original lottery ticket (the initialisation), a small k late rewinding."),
        Option("prune_output", bool, True,
               help="Whether the output layer's weights are pruned too (open_lth's LeNet leaves them dense: false)."),
        Option("target_density", float, None, nullable=True, low=0, high=1, low_open=True, high_open=True,
               help="Stop once a round reaches this density or below (null: prune until a round misses the task's accuracy threshold)."),
    )

    def check_cell(self, task: Task, hidden: tuple[int, ...], training: TrainingConfig, options: Options) -> None:
        """A rewind step beyond the dense training's steps, or a target density no round can reach, is refused."""
        sizes = [task.n_inputs, *hidden, task.n_outputs]
        shape = "x".join(str(h) for h in hidden)
        if options["rewind"] > 0:
            rows = int(task.data("cpu").train_x.shape[0])
            total = training.epochs * steps_per_epoch(rows, training.batch_size)
            if options["rewind"] > total:
                raise SculptbenchError(
                    f"lth.rewind={options['rewind']} is beyond the dense training's {total} steps on {task.name} {shape} "
                    f"({training.epochs} epochs of {steps_per_epoch(rows, training.batch_size)} batches of {training.batch_size}); "
                    f"give a step from 0 to {total}")
        target = options.get("target_density")
        if target is None:
            return
        weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        fixed = 0 if options["prune_output"] else sizes[-2] * sizes[-1]
        floor = max(fixed, 1) / weights
        if target < floor:
            why = (f"the output layer's {fixed} weights, never pruned under prune_output=false, are a density of {floor:.4g}"
                   if fixed else f"one weight of {weights} is a density of {floor:.4g}")
            raise SculptbenchError(f"lth.target_density={target:g} is unreachable on {task.name} {shape}: {why}; "
                                   f"give a target of at least {floor:.4g}{', or lth.prune_output=true' if fixed else ''}")

    def prune_many(self, jobs: Sequence[PruneJob]) -> list[SculptedNetwork]:
        """Every job's lottery ticket, trained side by side."""
        if not jobs:
            return []
        with single_threaded():
            return lottery(Batch(jobs))

    def prune(self, job: PruneJob) -> SculptedNetwork:
        """One job: :meth:`prune_many` of it alone."""
        return self.prune_many([job])[0]
