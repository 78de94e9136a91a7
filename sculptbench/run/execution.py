"""Execution: the options executors get, the glue that hands a run's work units to its executor
and writes each cell as it arrives, and helpers for writing executors.

An executor (:class:`sculptbench.api.Executor`) runs :class:`sculptbench.run.planning.WorkUnit`
objects with :func:`sculptbench.run.running.run_unit`, which reports *events*: ``("begin",
cell_key or None, what)`` before each stage (``what`` is e.g. ``"pruner 'magnitude'"`` or
``"detector 'louvain'"``; the key is ``None`` for the group's prune stage) and ``("cell", Cell)``
when a cell is finished. A :class:`UnitTracker` follows these events, so when a unit times out or
its worker dies, the executor knows which cell was running: that cell gets a ``timeout`` or
``error`` row, the cells already finished are kept, and the unit's remaining cells are run again
as a new unit (their pruned networks come from the stage cache). A failure in the prune stage
fails every unfinished cell of the unit. See ``docs/execution.md``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace
from typing import Callable

from sculptbench.contracts.work import Cell, ExecutionOptions, Group, WorkUnit
from sculptbench.engine.torch_import import torch_threads
from sculptbench.plugin.registry import Registry
from sculptbench.results.store import ResultsStore
from sculptbench.run.planning import RunSpec, make_units
from sculptbench.run.running import failure_cell


def threads_per_worker(requested: int, jobs: int, cores: int | None = None) -> int:
    """torch threads per worker so that workers x threads does not exceed the cores."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(requested, cores // max(jobs, 1)))


class UnitTracker:
    """Follows one unit's events; builds the rows of a failed unit and the unit to run again.

    With a ``timeout`` (seconds per cell) it also keeps the unit's :attr:`deadline`: each cell
    is granted ``timeout`` seconds when its first stage begins, and the group's prune stage
    ``timeout`` x the unit's unfinished cells (it serves them all). A hanging cell therefore
    costs one ``timeout``, wherever it sits in its group. ``clock`` is for tests.
    """

    def __init__(self, unit: WorkUnit, timeout: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.unit = unit
        self.finished: set[str] = set()
        self.current: tuple[str | None, str] | None = None
        self.lock = threading.Lock()
        self.closed = False
        self.timeout, self.clock = timeout, clock
        #: Every budget granted, as ``(cell key or None for the prune stage, seconds)``.
        self.grants: list[tuple[str | None, float]] = []
        self.deadline: float | None = None
        # Until the first stage begins (loading cached networks), one cell's worth.
        self._grant(None, timeout)

    def _grant(self, key: str | None, seconds: float | None) -> None:
        if seconds is None:
            return
        self.grants.append((key, seconds))
        self.deadline = self.clock() + seconds

    def expired(self) -> bool:
        """Whether the running stage is past its budget."""
        with self.lock:
            return self.deadline is not None and not self.closed and self.clock() >= self.deadline

    def remaining(self) -> float | None:
        """Seconds until the deadline (``None``: no limit)."""
        with self.lock:
            return None if self.deadline is None else max(0.0, self.deadline - self.clock())

    def timeout_detail(self) -> str:
        """What follows "timed out while running X" in a ``timeout`` row."""
        key, seconds = self.grants[-1] if self.grants else (None, 0.0)
        if key is None and self.current is not None and self.current[0] is None:
            cells = round(seconds / self.timeout) if self.timeout else 0
            return f" (budget {seconds:g} s for the prune stage of {cells} cells: --timeout {self.timeout:g} s per cell)"
        return f" (budget {seconds:g} s: --timeout {self.timeout:g} s per cell)"

    def observe(self, event: tuple, deliver: Callable[[Cell], None]) -> None:
        """Record an event; deliver a finished cell (once; events after :meth:`fail` are dropped)."""
        with self.lock:
            if self.closed:
                return
            if event[0] == "begin":
                if self.timeout is not None:
                    if event[1] is None:
                        self._grant(None, self.timeout * max(len(self.unfinished), 1))
                    elif self.current is None or self.current[0] != event[1]:
                        self._grant(event[1], self.timeout)
                self.current = (event[1], event[2])
            elif event[0] == "cell":
                cell = event[1]
                if cell.cell_key in self.finished or cell.cell_key not in self.unit.keys:
                    return
                self.finished.add(cell.cell_key)
                if self.current and self.current[0] == cell.cell_key:
                    self.current = None
                deliver(cell)

    @property
    def unfinished(self) -> list[str]:
        """Keys of the unit not delivered yet, in order."""
        return [k for k in self.unit.keys if k not in self.finished]

    def fail(self, status: str, message: str, deliver: Callable[[Cell], None], isolate: bool = True, detail: str = "") -> WorkUnit | None:
        """Deliver ``status`` rows for the failure and return the unit of cells to run again.

        When a cell's stage was running (and ``isolate``), only that cell fails; otherwise (the
        prune stage, or nothing known) every unfinished cell does.
        """
        with self.lock:
            if self.closed:
                return None
            self.closed = True
            key, what = self.current if self.current else (None, None)
            text = (f"{message} while running {what}" if what else message) + detail
            left = self.unfinished
            if isolate and key is not None and key in left:
                deliver(failure_cell(self.unit, key, status, text))
                rest = [k for k in left if k != key]
                return replace(self.unit, keys=rest) if rest else None
            for k in left:
                deliver(failure_cell(self.unit, k, status, text))
            return None


def death_message(exitcode: int | None) -> str:
    """The ``error`` row's message for a worker process that died."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = str(-exitcode)
        return f"worker died (exit code {exitcode}, signal {name})"
    return f"worker died (exit code {exitcode})"


def execution_options(registry: Registry, spec: RunSpec) -> ExecutionOptions:
    """The :class:`ExecutionOptions` of a run (threads: workers x threads <= cores)."""
    return ExecutionOptions(
        jobs=spec.jobs, timeout=spec.timeout, scheduler=spec.scheduler,
        threads=threads_per_worker(torch_threads(), spec.jobs), registry=registry,
    )


def prepare_execution(registry: Registry, spec: RunSpec) -> None:
    """Let the executor check its options (e.g. reach the dask scheduler) before a run starts."""
    registry.get("executor", spec.executor).prepare(execution_options(registry, spec))


def execute(
    registry: Registry,
    spec: RunSpec,
    groups: list[Group],
    store: ResultsStore,
    run_id: str,
    on_cell: Callable[[Cell], None] = lambda cell: None,
    skip: set[str] | None = None,
    only: set[str] | None = None,
    on_wait: Callable[[str], None] = lambda message: None,
) -> list[Cell]:
    """Run the cells of ``groups`` not in ``skip`` (and in ``only``, if given) with the spec's
    executor; write each cell in this process as soon as it arrives, and return them all.

    Cells are claimed in the store first. Those that another live run is computing are left to
    it: this run waits for them, takes over the ones whose run ended without writing them, and
    lists the others' rows as theirs (``on_wait`` hears why it waits).
    """
    skip = set(skip or ())
    todo = {k for unit in make_units(spec, groups, skip, only) for k in unit.keys}
    since = store.get_run(run_id)["started"]
    held = store.claim(run_id, sorted(todo))
    # Cells another run finished between this run's start and its claim are theirs too.
    late = store.written_since(todo - set(held), since, other_than=run_id)
    store.release(run_id, late)
    skip |= late
    if held:
        others = sorted(set(held.values()))
        on_wait(f"{len(held)} of these cells are being computed by run {', '.join(others)}; waiting for them instead of computing them twice")
    done: list[Cell] = []
    _execute_units(registry, spec, groups, store, run_id, skip | set(held), only, on_cell, done)
    while held:
        time.sleep(CLAIM_POLL_S)
        still = store.claim(run_id, sorted(held))
        freed = set(held) - set(still)
        theirs = store.written_since(freed, since, other_than=run_id)
        store.release(run_id, theirs)
        if freed - theirs:  # their run ended without them: computed here
            _execute_units(registry, spec, groups, store, run_id, skip, freed - theirs, on_cell, done)
        held = still
    return done


#: Seconds between looks at the cells another run is computing.
CLAIM_POLL_S = 0.5


def _execute_units(registry: Registry, spec: RunSpec, groups: list[Group], store: ResultsStore, run_id: str,
                   skip: set[str], only: set[str] | None, on_cell: Callable[[Cell], None], done: list[Cell]) -> None:
    units = make_units(spec, groups, skip, only)
    executor = registry.get("executor", spec.executor)
    options = execution_options(registry, spec)
    wanted = {k for unit in units for k in unit.keys}

    def deliver(cell: Cell) -> None:
        if cell.cell_key not in wanted:
            return  # unknown or already written: never a duplicate row
        wanted.discard(cell.cell_key)
        store.write_cell(run_id, cell)
        done.append(cell)
        on_cell(cell)

    executor.run(units, options, deliver)
    for unit in units:
        for key in [k for k in unit.keys if k in wanted]:
            deliver(failure_cell(unit, key, "error", f"executor {spec.executor!r} delivered no result for this cell"))
