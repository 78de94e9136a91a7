"""Guards that refuse a grid before any work: too many cells, or more memory than the machine has."""

from __future__ import annotations

import os
from typing import Any, Sequence

from sculptbench.contracts.errors import SculptbenchError
# The limits run enforces unless --large-grid; read from this module, so a test may change them here.
from sculptbench.contracts.limits import MAX_CELLS, MAX_SEEDS, MEMORY_SHARE  # noqa: F401
from sculptbench.contracts.work import Group
from sculptbench.run.parsing import PAPER_ARCHS
from sculptbench.run.planning import estimate_group_bytes


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _largest(groups: Sequence[Group], spec: Any) -> list[Group]:
    """The groups that may run at once at the peak: the ``--jobs`` largest."""
    return sorted(groups, key=lambda g: -estimate_group_bytes(g, spec.batch))[: max(1, spec.jobs)]


def estimate_run_bytes(groups: Sequence[Group], spec: Any) -> int:
    """The memory a run of ``groups`` needs at its peak: the ``--jobs`` largest groups at once."""
    return sum(estimate_group_bytes(g, spec.batch) for g in _largest(groups, spec))


def count_cells(spec: Any) -> int:
    """The cells of a run, counted from its selection before anything is planned: per task, its
    architectures x pruners x detectors x seeds."""
    per_arch = len(spec.pruners) * len(spec.detectors) * len(spec.seeds)
    cells = 0
    for task in spec.tasks:
        if spec.archs == PAPER_ARCHS:
            from sculptbench.paper import paper_archs

            archs = len(paper_archs(task))
        else:
            archs = len(spec.archs or task.default_archs)
        cells += archs * per_arch
    return cells


def check_cells(spec: Any) -> None:
    """Refuse a grid beyond :data:`MAX_CELLS` cells before it is planned (planning a million cells
    takes minutes), saying what to narrow, or ``--large-grid``."""
    cells = count_cells(spec)
    if cells > MAX_CELLS:
        raise SculptbenchError(f"the grid has {cells:,} cells, more than {MAX_CELLS:,}; narrow --tasks/--arch/--seeds, or pass --large-grid to run it")


def check_grid(groups: Sequence[Group], spec: Any) -> None:
    """Refuse a grid whose memory estimate (:func:`estimate_run_bytes`) exceeds :data:`MEMORY_SHARE`
    of this machine's memory, saying what to narrow, or ``--large-grid``. (Its cells are counted
    before planning: :func:`check_cells`.)"""
    memory_share = MEMORY_SHARE
    need = estimate_run_bytes(groups, spec)
    running = _largest(groups, spec)
    total = machine_memory()
    if total is None or need <= memory_share * total:
        return
    widest = max(running, key=lambda g: len(g.seeds) * g.networks_per_seed)
    raise SculptbenchError(
        f"the grid needs about {need / 2**30:,.1f} GiB at once (estimated: {len(running)} groups, the largest "
        f"{len(widest.seeds):,} seeds x {widest.networks_per_seed:,} networks side by side), more than "
        f"{int(memory_share * 100)}% of this machine's {total / 2**30:,.1f} GiB; use fewer --seeds, smaller --arch, --no-batch "
        "or fewer --jobs, or pass --large-grid to start anyway"
    )
