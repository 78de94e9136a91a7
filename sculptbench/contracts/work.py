"""The work a run hands its executor: groups of cells, the units an executor schedules, the rows it
delivers and the options it runs under. Plain, picklable data: they travel to worker processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: reading results (store, report) must not import torch
    from sculptbench.contracts.components import Task
    from sculptbench.contracts.types import TrainingConfig


@dataclass
class CacheLocation:
    """Where a unit's stage cache lives (``root=None``: no cache), which stage is recomputed
    (``force``: ``prune``, ``detect`` or ``score``, with every later stage) and whose run it serves
    (``owner``: the coordinating process as ``(host, pid)``; while it is known to be gone, nothing
    is written)."""

    root: str | None = None
    force: str | None = None
    owner: tuple[str, int] | None = None


@dataclass(slots=True)  # slots: a report holds 100,000s of cells
class Cell:
    """One result row. ``metrics`` maps ``"scorer.metric"`` to a value."""

    cell_key: str
    task: str
    family: str
    arch: str
    depth: int
    pruner: str
    detector: str
    seed: int
    status: str
    error: str | None = None
    density: float | None = None
    accuracy: float | None = None
    test_accuracy: float | None = None
    dense_accuracy: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    created: float = 0.0


@dataclass
class Group:
    """Cells sharing a task, architecture, pruner, resolved options, training recipe and detector
    settings: pruned together.

    ``pruner_params``, each detector's and each scorer's options are resolved
    (:class:`~sculptbench.contracts.options.Options`); ``protocol`` holds the components the
    pruner's ``select`` rule runs, as ``(kind, name, options)``.
    """

    task: Task
    hidden: tuple[int, ...]
    pruner: str
    pruner_params: Any
    training: TrainingConfig
    seeds: list[int]
    detectors: list[tuple[str, Any]]
    scorers: list[tuple[str, Any]]
    device: str
    versions: dict[str, Any]
    #: (seed, detector) -> cell key
    keys: dict[tuple[int, str], str] = field(default_factory=dict)
    #: How the pruner is shown in results (e.g. ``iterative[oracle]``).
    pruner_label: str = ""
    protocol: tuple[tuple[str, str, Any], ...] = ()
    #: Networks one seed trains side by side: restarts x what one start of the pruner trains.
    networks_per_seed: int = 1

    def params_for(self, seed: int) -> Any:
        """The pruner's resolved options (the same for every seed of a group)."""
        return self.pruner_params

    def cell_count(self) -> int:
        """Number of cells in the group."""
        return len(self.seeds) * len(self.detectors)


@dataclass
class WorkUnit:
    """Some cells of one group, run together: what an executor schedules.

    The group's seeds that have a cell in ``keys`` are pruned together (batched, unless
    ``batch`` is off; seeds whose pruned network is in ``cache`` are loaded instead), then each
    cell is detected and scored. Picklable: it travels to worker processes.
    """

    group: Group
    keys: list[str]
    batch: bool = True
    cache: CacheLocation = field(default_factory=CacheLocation)

    def cell_count(self) -> int:
        """Number of cells in the unit."""
        return len(self.keys)


@dataclass
class ExecutionOptions:
    """How to run: worker count, per-cell timeout, dask scheduler, torch threads per worker.

    ``registry`` is the coordinating process's registry, used when a unit runs in-process.
    """

    jobs: int = 1
    timeout: float | None = None
    scheduler: str | None = None
    threads: int = 1
    registry: Any = None


