"""Halves-MNIST (Filan et al. 2021, "Clusterability in neural networks"): two MNIST digits, each
resized to 28x14, side by side in one 28x28 image (784 pixel inputs).

``halves-mnist/sum`` is labelled ``(left + right) mod 10``; ``halves-mnist/same``, the control,
puts two digits of one class side by side and is labelled with that class. Both have 10 sigmoid
outputs (one-hot), read by argmax. Source read: ``dfilan/clusterability_in_neural_networks``,
``src/generate_datasets.py`` (``halves_data_gen``, ``halves_same_data_gen``); the differences
are in docs/tasks.md. Composites are drawn from a fixed data seed from the same digit pools as
the paper's MNIST tasks (:func:`~sculptbench.plugins.tasks.mnist.data.load_digits`), so every
cell sees the same data.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from sculptbench.api import GroundTruth, GroundTruthModule, SculptbenchError, TrainingConfig
from sculptbench.plugins.tasks.mnist.data import DATA_SEED, H, W, DigitSet, _norm_root, data_source, env_root, load_digits
from sculptbench.plugins.tasks.mnist.task import Composites, MnistTask, Profile, Split, get_profile

HALVES_KINDS = ("sum", "same")
#: Width of each half: a 28x28 digit resized to 28x14.
HALF_W = W // 2
INPUT_NAMES: tuple[str, ...] = tuple(f"p{r}_{c}" for r in range(H) for c in range(W))
INPUT_GROUPS: dict[str, str] = {f"p{r}_{c}": ("left" if c < HALF_W else "right") for r in range(H) for c in range(W)}
OUTPUT_NAMES = tuple(f"y{i}" for i in range(1, 11))


@dataclass(frozen=True)
class HalvesProfile:
    """Sizes and recipe of the halves tasks under one MNIST profile: ``sizes`` the (train,
    validation, test) composites, ``archs`` the default hidden shapes, ``tolerance`` the accuracy
    a pruning step may lose against the dense network."""

    name: str
    sizes: tuple[int, int, int]
    archs: tuple[tuple[int, ...], ...]
    training: TrainingConfig
    pruning: tuple[tuple[str, Any], ...]
    tolerance: float

    def summary(self) -> dict[str, Any]:
        """JSON-friendly form (part of the task definition, hence of its hash)."""
        out = asdict(self)
        out["archs"] = [list(a) for a in self.archs]
        out["pruning"] = dict(self.pruning)
        return out


HALVES_PROFILES: dict[str, HalvesProfile] = {
    # Sized for a CPU like the paper's MNIST tasks' quick profile; the sum needs both digits and
    # their sum mod 10, so more composites and epochs than two-digits (docs/results/tasks.md).
    "quick": HalvesProfile(
        name="quick", sizes=(60000, 1000, 1000), archs=((64, 64),),
        training=TrainingConfig(lr=1e-3, batch_size=128, epochs=5, weight_decay=1e-4, noise_std=0.0),
        pruning=(("unit_step", 30.0), ("unit_min_step", 20.0), ("edge_step", 5.0), ("edge_min_step", 0.01)),
        tolerance=0.05,
    ),
    # The leaderboard's budget (the MNIST board profile): a sixth of the quick profile's composites, 3 epochs.
    "board": HalvesProfile(
        name="board", sizes=(10000, 1000, 1000), archs=((64, 64),),
        training=TrainingConfig(lr=1e-3, batch_size=128, epochs=3, weight_decay=1e-4, noise_std=0.0),
        pruning=(("unit_step", 30.0), ("unit_min_step", 20.0), ("edge_step", 10.0), ("edge_min_step", 0.05), ("steps", 1500)),
        tolerance=0.05,
    ),
    # Filan et al.'s: 60,000 training and 10,000 test composites, an MLP of 4 x 256 units trained
    # 20 epochs at batch size 128 (src/train_nn.py, mlp_config; Adam at its default 1e-3). Meant for a GPU.
    "paper": HalvesProfile(
        name="paper", sizes=(60000, 10000, 10000), archs=((256, 256, 256, 256),),
        training=TrainingConfig(lr=1e-3, batch_size=128, epochs=20, weight_decay=0.0, noise_std=0.0),
        pruning=(("unit_step", 30.0), ("unit_min_step", 20.0), ("edge_step", 5.0), ("edge_min_step", 0.01)),
        tolerance=0.01,
    ),
}


def halves_profile(profile: Profile) -> HalvesProfile:
    """The halves tasks' sizes and recipe under an MNIST profile (one that reproduces the paper's
    table takes Filan et al.'s, any other the quick one)."""
    return HALVES_PROFILES.get(profile.name) or HALVES_PROFILES["paper" if profile.reference_table else "quick"]


def halve(images: np.ndarray) -> np.ndarray:
    """``(n, 28, 28)`` uint8 digits resized to ``(n, 28, 14)`` float32 in [0, 1]: each output
    pixel the mean of two neighbouring columns (area resampling, exact for a factor of 2)."""
    return images.reshape(len(images), H, HALF_W, 2).astype(np.float32).mean(axis=3) / np.float32(255)


def make_halves(kind: str, digits_set: DigitSet, split: str, n: int, rng: np.random.Generator) -> Split:
    """``n`` composites from ``split``'s digit pool. ``sum``: two digits drawn uniformly, labelled
    ``(left + right) mod 10``; ``same``: a digit drawn uniformly and another of its class, labelled
    with it (the source's generators)."""
    pool = digits_set.splits[split]
    labels = digits_set.labels[pool]
    left = pool[rng.integers(0, len(pool), size=n)]
    if kind == "sum":
        right = pool[rng.integers(0, len(pool), size=n)]
    else:
        right = np.zeros(n, dtype=np.int64)
        for digit in np.unique(digits_set.labels[left]):
            same = pool[labels == digit]
            where = np.flatnonzero(digits_set.labels[left] == digit)
            right[where] = same[rng.integers(0, len(same), size=len(where))]
    ids = np.stack([left, right], axis=1)
    digits = digits_set.labels[ids]
    label = (digits[:, 0] + digits[:, 1]) % 10 if kind == "sum" else digits[:, 0]
    images = halve(digits_set.images[ids.reshape(-1)]).reshape(n, 2, H, HALF_W)
    x = np.concatenate([images[:, 0], images[:, 1]], axis=2).reshape(n, H * W)
    y = np.zeros((n, 10), dtype=np.float32)
    y[np.arange(n), label] = 1
    return Split(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y), ids, digits, np.zeros((n, 2, 2), dtype=np.int64))


@lru_cache(maxsize=8)
def build_halves(kind: str, root: str | None, profile: HalvesProfile) -> Composites:
    """The composites of a halves task for a source and profile, generated from :data:`DATA_SEED`."""
    if kind not in HALVES_KINDS:
        raise SculptbenchError(f"unknown halves-MNIST task kind {kind!r}; valid: {', '.join(HALVES_KINDS)}")
    digits_set = load_digits(root)
    splits = [make_halves(kind, digits_set, split, n, np.random.default_rng([DATA_SEED, 100 + HALVES_KINDS.index(kind), index]))
              for index, (split, n) in enumerate(zip(("train", "val", "test"), profile.sizes))]
    return Composites(*splits, source=digits_set.source)


def clear_halves_caches() -> None:
    """Drop the cached halves composites and their device copies."""
    build_halves.cache_clear()


def argmax_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Fraction of images whose largest output is the label's."""
    return (logits.argmax(-1) == targets.argmax(-1)).float().mean(dim=-1)


def halves_ground_truth(kind: str) -> GroundTruth:
    """``sum``: a module per half (its pixels) feeding a combiner that drives the ten outputs.
    ``same``: each half's module drives the outputs alone (either half holds the label)."""
    halves = {side: tuple(n for n in INPUT_NAMES if INPUT_GROUPS[n] == side) for side in ("left", "right")}
    if kind == "same":  # either half holds the label: nothing has to be combined
        modules = tuple(GroundTruthModule(side, reads=pixels, drives=OUTPUT_NAMES) for side, pixels in halves.items())
    else:
        modules = (*(GroundTruthModule(side, reads=pixels) for side, pixels in halves.items()),
                   GroundTruthModule("sum", uses=tuple(halves), drives=OUTPUT_NAMES))
    return GroundTruth(inputs=INPUT_NAMES, outputs=OUTPUT_NAMES, modules=modules)


class HalvesTask(MnistTask):
    """Two MNIST digits resized to 28x14 side by side; see docs/tasks.md."""

    citation = "Filan et al., Clusterability in neural networks, 2021"
    family = "halves-mnist"
    version = "1.0"
    #: Pixel input -> its half (column < 14: "left").
    input_groups = INPUT_GROUPS
    input_names = INPUT_NAMES

    kinds = HALVES_KINDS
    prefix = "halves-mnist"
    what = "halves-MNIST"

    def kind_ground_truth(self, kind: str) -> GroundTruth:
        """The ground truth of task ``kind`` (:func:`halves_ground_truth`)."""
        return halves_ground_truth(kind)

    def configure(self, root: str | os.PathLike | None = None, profile: str | Profile | None = None) -> None:
        """Use MNIST from ``root`` (``None``: the embedded subset) and the sizes and recipe that
        the MNIST ``profile`` gives the halves tasks (:func:`halves_profile`)."""
        self.root = _norm_root(root)
        self.profile = get_profile(profile)
        self.halves = halves_profile(self.profile)
        self.output_names = OUTPUT_NAMES
        self.training = self.halves.training
        self.default_archs = self.halves.archs
        self.pruning_defaults = dict(self.halves.pruning)
        self.accuracy_tolerance = self.halves.tolerance
        self.data_source = data_source(self.root)
        self.task_parameters = {"profile": self.halves.name}
        self.__doc__ = ("Two MNIST digits at half width side by side; 10 outputs: one-hot of (left + right) mod 10" if self.kind == "sum"
                        else "Two MNIST digits of one class at half width side by side; 10 outputs: one-hot of the class (control)")

    def composites(self) -> Composites:
        """The cached CPU composites with how they were made (image ids, digits)."""
        return build_halves(self.kind, self.root, self.halves)

    def training_for(self, hidden: tuple[int, ...]) -> TrainingConfig:
        """The profile's training, for every shape."""
        return self.training

    def pruning_defaults_for(self, hidden: tuple[int, ...], seed: int) -> dict[str, Any]:
        """The profile's pruning defaults, for every shape and seed."""
        return dict(self.pruning_defaults)

    def accuracy(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The share of images whose largest output is their label."""
        return argmax_accuracy(logits, targets)

    def definition(self) -> dict[str, Any]:
        """Name, ground truth, data source, data seed and the halves profile."""
        return {
            "name": self.name, "ground_truth": self.ground_truth.to_dict(), "data_source": self.data_source, "data_seed": DATA_SEED,
            "profile": self.halves.summary(), "accuracy": "argmax", "min_dense_accuracy": self.min_dense_accuracy,
        }


def halves_tasks() -> list[HalvesTask]:
    """Both halves tasks with the root and profile from the environment (the plugin registers these)."""
    root, profile = env_root(), get_profile(None)
    return [HalvesTask(kind, root=root, profile=profile) for kind in HALVES_KINDS]
