"""Training with a sparsity regulariser, then the protocol's threshold search: what ``l1`` and
``bimt`` share, and ``l1`` itself.

The regularised training follows BIMT's notebook (KindXiaoming/BIMT,
``symbolic_formulas_3.1.ipynb``): AdamW at lr 2e-3 without weight decay for 20,000 steps, lambda
1e-3, x10 from a quarter of the training, x0.1 from three quarters, and the last step's weights
kept. The task's minibatches and input noise are used, the step count rounded up to whole epochs.
Then :func:`sculptbench.api.density_search` looks for the sparsest network that meets the task's
threshold: at each density it keeps the largest |w| of the regularised network and fine-tunes
them, from those weights, with the task's recipe (``retrain=none``: thresholds them only, as the
notebook does).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch

from sculptbench.api import (
    Option,
    PruneJob,
    Pruner,
    SculptedNetwork,
    TrainingConfig,
    TrainingHooks,
    density_search,
    evaluate_batch,
    single_threaded,
    steps_per_epoch,
    train_batch,
    When,
)
from sculptbench.plugins.pruners.sparse_training.common import Batch, prunable_columns, top_magnitude_mask

LAMBDA_SCHEDULES = ("bimt", "constant")
OPTIMIZERS = ("adamw", "task")
RETRAINS = ("finetune", "none")


def regularised_options(applies: Any = None) -> tuple[Option, ...]:
    """The options of a regularised training (``applies``: a condition, ``When(...)``, under which the regulariser's own apply)."""
    return (
        Option("lambda", float, 1e-3, low=0, low_open=True, applies=applies,
               help="Strength of the regulariser (BIMT's baseline: 1e-3)."),
        Option("lambda_schedule", str, "bimt", choices=LAMBDA_SCHEDULES, applies=applies,
               help="bimt: lambda x10 from a quarter of the training, x0.1 from three quarters (BIMT's notebook); constant: lambda throughout."),
        Option("steps", int, 20000, low=1, task=True,
               help="Optimizer steps of the regularised training (BIMT: 20,000), rounded up to whole epochs of the task's batches "
                    "(the MNIST board profile sets 1,500)."),
        Option("optimizer", str, "adamw", choices=OPTIMIZERS,
               help="adamw: AdamW without weight decay at lr (BIMT's); task: Adam with the task's lr and weight decay."),
        Option("lr", float, 2e-3, low=0, low_open=True, applies=When("optimizer", "adamw"),
               help="Learning rate of the regularised training under optimizer=adamw (BIMT: 2e-3)."),
        Option("retrain", str, "finetune", choices=RETRAINS,
               help="What the threshold search does with the weights it keeps at each density: finetune (from the regularised "
                    "weights, with the task's recipe) or none (threshold only, as BIMT's notebook)."),
    )


def lambda_at(lam: float, schedule: str, step: int, total: int) -> float:
    """Lambda at ``step`` (from 0) of ``total``: under ``bimt`` x10 from step int(total/4) and x0.1
    from int(3 total/4), multiplied in that order as the notebook does."""
    value = lam
    if schedule == "bimt":
        if step >= total // 4:
            value *= 10
        if step >= 3 * total // 4:
            value *= 0.1
    return value


def regularised_config(training: TrainingConfig, options: Mapping, rows: int) -> TrainingConfig:
    """The regularised training's recipe: the task's batches and noise, ``steps`` rounded up to
    whole epochs, and AdamW at ``lr`` without weight decay or the task's Adam."""
    epochs = math.ceil(options["steps"] / steps_per_epoch(rows, training.batch_size))
    adamw = options["optimizer"] == "adamw"
    return TrainingConfig(lr=options["lr"] if adamw else training.lr, batch_size=training.batch_size, epochs=epochs,
                          weight_decay=0.0 if adamw else training.weight_decay, noise_std=training.noise_std)


def l1_penalty(lam: float, schedule: str):
    """The gradient of ``lambda x sum |w|`` over the weights: ``lambda(step) x sign(w)``; biases are not penalised."""
    def penalty(step: int, total: int, parts: list[torch.Tensor]) -> list[torch.Tensor | None]:
        value = lambda_at(lam, schedule, step, total)
        layers = len(parts) // 2
        return [value * torch.sign(w) for w in parts[:layers]] + [None] * layers
    return penalty


def threshold_search(batch: Batch, trained: torch.Tensor, phase: str) -> list[SculptedNetwork]:
    """The protocol's density search on each member's regularised weights ``trained``: at each
    density the largest |w| kept (biases all kept), fine-tuned with the job's recipe or not."""
    layout, task, data = batch.layout, batch.task, batch.data
    config = batch.jobs[0].training
    prunable = prunable_columns(layout).to(trained.device)
    count = int(prunable.sum())

    def build(requests: list[tuple[int, float]]) -> list[SculptedNetwork]:
        rows = [j for j, _ in requests]
        masks = torch.stack([top_magnitude_mask(trained[j], prunable, max(1, round(d * count))) for j, d in requests])
        start = trained[rows] * masks
        if batch.options["retrain"] == "finetune":
            result = train_batch(layout, start, masks, data, config, batch.gens(rows), accuracy=task.accuracy)
            params, accuracy = result.params, result.accuracy
        else:
            params = start
            accuracy, _ = evaluate_batch(layout, start, data.val_x, data.val_y, task.accuracy)
        return batch.networks(params, masks, accuracy.tolist(), [{} for _ in rows])

    return density_search(batch.jobs, build, phase=phase)


class RegularisedPruner(Pruner):
    """A method that trains the dense network with a regulariser, then searches the sparsest threshold."""

    #: The history's name for the search's candidates.
    phase = "threshold"

    def hooks(self, batch: Batch, config: TrainingConfig) -> TrainingHooks:
        """The regularised training's hooks (always with ``keep_last``)."""
        raise NotImplementedError

    def prune_many(self, jobs: Sequence[PruneJob]) -> list[SculptedNetwork]:
        """Every job's regularised training side by side, then the threshold search."""
        if not jobs:
            return []
        with single_threaded():
            batch = Batch(jobs)
            config = regularised_config(jobs[0].training, batch.options, int(batch.data.train_x.shape[0]))
            ones = torch.ones_like(batch.initial)
            regularised = train_batch(batch.layout, batch.initial, ones, batch.data, config, batch.generators,
                                      accuracy=batch.task.accuracy, hooks=self.hooks(batch, config))
            nets = threshold_search(batch, regularised.params, self.phase)
        for net, acc in zip(nets, regularised.accuracy.tolist()):
            net.info["regularised_accuracy"] = acc
            net.info["regularised_steps"] = config.epochs * steps_per_epoch(int(batch.data.train_x.shape[0]), config.batch_size)
        return nets

    def prune(self, job: PruneJob) -> SculptedNetwork:
        """One job: :meth:`prune_many` of it alone."""
        return self.prune_many([job])[0]


class L1Pruner(RegularisedPruner):
    """L1-regularised training (lambda x sum |w|), then the sparsest threshold on |w| that meets the task's accuracy."""

    name = "l1"
    version = "1.0"
    citation = ("L1 regularisation as the baseline of Liu, Gan & Tegmark, Seeing is Believing: Brain-Inspired Modular "
                "Training, Entropy 2023 (KindXiaoming/BIMT); threshold search by the sculptbench protocol")
    options = regularised_options()
    phase = "l1"

    def hooks(self, batch: Batch, config: TrainingConfig) -> TrainingHooks:
        """``lambda(step) x sign(w)`` added to the weights' gradients; the last step kept."""
        return TrainingHooks(penalty=l1_penalty(batch.options["lambda"], batch.options["lambda_schedule"]), keep_last=True)
