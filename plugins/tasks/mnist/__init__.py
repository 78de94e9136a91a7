"""The MNIST tasks' plugin: ``mnist/two-digits`` and ``mnist/xor`` (docs/mnist.md), halves-MNIST
(``halves-mnist/sum`` and its control ``halves-mnist/same``, docs/tasks.md), and the options
``--mnist-root``, ``--download`` and ``--profile`` that it adds to the command line."""

from __future__ import annotations

import os
from typing import Any

from sculptbench.api import CliOption, SculptbenchError, hookimpl
from sculptbench.plugins.tasks.mnist.data import ENV_ROOT, _norm_root, download_mnist, load_digits
from sculptbench.plugins.tasks.mnist.halves import HALVES_KINDS, HALVES_PROFILES, HalvesTask, clear_halves_caches, halves_tasks
from sculptbench.plugins.tasks.mnist.task import ENV_PROFILE, KINDS, PROFILES, MnistTask, Profile, default_tasks, get_profile
from sculptbench.plugins.tasks.mnist.task import clear_caches as _clear_task_caches

__all__ = ["ENV_PROFILE", "ENV_ROOT", "HALVES_KINDS", "HALVES_PROFILES", "KINDS", "PROFILES", "HalvesTask", "MnistTask", "Profile",
           "clear_caches", "configure", "default_tasks", "get_profile", "halves_tasks"]

def clear_caches() -> None:
    """Drop every cached digit set, composite and device copy of every MNIST task (frees memory)."""
    clear_halves_caches()
    _clear_task_caches()


#: The task objects this plugin registered in this process, which :func:`configure` updates.
_REGISTERED: list[MnistTask] = []


def configure(root: str | os.PathLike | None = None, profile: str | None = None, download: bool = False) -> None:
    """Set the MNIST root and profile for this process, its workers and the tasks registered here.

    Sets ``$SCULPTBENCH_MNIST_ROOT`` / ``$SCULPTBENCH_MNIST_PROFILE`` and validates eagerly: a
    root is downloaded into (with ``download``) and then loaded, so a missing or corrupt root is
    a :class:`SculptbenchError` before anything runs.
    """
    if profile is not None:
        os.environ[ENV_PROFILE] = get_profile(profile).name
    if download and root is None:
        raise SculptbenchError("--download needs --mnist-root DIR (where to put MNIST); without both, the embedded MNIST 5k subset is used")
    if root is not None:
        norm = _norm_root(root)
        if download:
            download_mnist(norm)
        load_digits(norm)
        os.environ[ENV_ROOT] = norm
    for task in _REGISTERED:
        task.configure(root=os.environ.get(ENV_ROOT) or None, profile=os.environ.get(ENV_PROFILE) or None)


def _apply_root(value: Any, given: dict[str, Any]) -> None:
    configure(root=value, download=bool(given.get("download")))


def _apply_download(value: Any, given: dict[str, Any]) -> None:
    if value and given.get("mnist_root") is None:
        configure(download=True)  # refuses: --download needs --mnist-root


def _apply_profile(value: Any, given: dict[str, Any]) -> None:
    configure(profile=value)


@hookimpl
def register_cli_options(register):
    """``--mnist-root``, ``--download`` and ``--profile``."""
    register(CliOption("--mnist-root", "MNIST root in torchvision's layout (DIR/MNIST/raw/...); default: $SCULPTBENCH_MNIST_ROOT, "
                                       "else the embedded MNIST 5k subset.", _apply_root, kind="path"))
    register(CliOption("--download", "Download MNIST into --mnist-root if it is missing.", _apply_download, kind="flag"))
    register(CliOption("--profile", "MNIST task sizes and recipe (default: $SCULPTBENCH_MNIST_PROFILE, else quick).", _apply_profile,
                       kind="choice", choices=tuple(PROFILES), defines_grid=True))


@hookimpl
def register_tasks(register):
    """Register the paper's two MNIST tasks and the two halves-MNIST tasks with the configured root
    and profile (reads no data)."""
    tasks = [*default_tasks(), *halves_tasks()]
    _REGISTERED[:] = tasks
    for task in tasks:
        register(task)
