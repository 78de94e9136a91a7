"""Guards that refuse a grid before any work: too many cells, or more memory than the machine has."""

from __future__ import annotations

import os
from typing import Any, Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.work import Group

#: Limits that ``run`` enforces unless ``--large-grid`` is given.
MAX_SEEDS = 1_000
MAX_CELLS = 100_000
#: Share of this machine's memory the grid's estimate may take.
MEMORY_SHARE = 0.8


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_grid(groups: Sequence[Group], spec: Any) -> None:
    """Refuse a grid beyond :data:`MAX_CELLS` cells, or whose memory estimate (the largest groups
    that run at once, :func:`~sculptbench.run.planning.estimate_group_bytes`) exceeds
    :data:`MEMORY_SHARE` of this machine's memory; each refusal says what to narrow, or ``--large-grid``."""
    from sculptbench.run.planning import estimate_group_bytes  # here: the CLI imports this module for its limits, without torch

    max_cells, memory_share = MAX_CELLS, MEMORY_SHARE
    cells = sum(g.cell_count() for g in groups)
    if cells > max_cells:
        raise SculptbenchError(f"the grid has {cells:,} cells, more than {max_cells:,}; narrow --tasks/--arch/--seeds, or pass --large-grid to run it")
    sizes = sorted(((estimate_group_bytes(g, spec.batch), g) for g in groups), key=lambda item: -item[0])
    running = sizes[: max(1, spec.jobs)]
    need = sum(size for size, _ in running)
    total = machine_memory()
    if total is None or need <= memory_share * total:
        return
    widest = max((g for _, g in running), key=lambda g: len(g.seeds) * g.networks_per_seed)
    raise SculptbenchError(
        f"the grid needs about {need / 2**30:,.1f} GiB at once (estimated: {len(running)} groups, the largest "
        f"{len(widest.seeds):,} seeds x {widest.networks_per_seed:,} networks side by side), more than "
        f"{int(memory_share * 100)}% of this machine's {total / 2**30:,.1f} GiB; use fewer --seeds, smaller --arch, --no-batch "
        "or fewer --jobs, or pass --large-grid to start anyway"
    )
