"""Hook specifications: how plugins add tasks, pruners, detectors, scorers and executors.

Every hook receives a ``register`` callback provided by sculptbench. Call it once per
component. The callback validates the component (base class, a non-empty unique name) and
raises :class:`sculptbench.core.SculptbenchError` when it is wrong; sculptbench then reports
the plugin as failed and skips it. Built-in plugins use exactly these hooks.

Example::

    from sculptbench import hookimpl

    @hookimpl
    def register_detectors(register):
        register(MyDetector())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:  # annotations only: importing sculptbench must not import torch (`report` and `runs` do without it)
    from sculptbench.contracts.components import (
        Detector,
        Executor,
        Pruner,
        Scorer,
        Task,
    )

PROJECT_NAME = "sculptbench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_tasks(register: Callable[[Task], None]) -> None:
    """Register tasks.

    :param register: call ``register(task)`` with a :class:`sculptbench.core.Task` instance
        for each task. ``task.name`` must be unique across all plugins; ``task.family`` groups
        tasks for selection (``--tasks FAMILY``) and for reports.
    """


@hookspec
def register_pruners(register: Callable[[Pruner], None]) -> None:
    """Register pruning strategies.

    :param register: call ``register(pruner)`` with a :class:`sculptbench.core.Pruner`
        instance. Implement ``prune(job)``; override ``prune_many(jobs)`` to train several
        networks of one shape together.
    """


@hookspec
def register_detectors(register: Callable[[Detector], None]) -> None:
    """Register module detectors.

    :param register: call ``register(detector)`` with a :class:`sculptbench.core.Detector`
        instance implementing ``detect(network, task, params, seed)``.
    """


@hookspec
def register_scorers(register: Callable[[Scorer], None]) -> None:
    """Register scorers that compare a detection with the task's ground truth.

    :param register: call ``register(scorer)`` with a :class:`sculptbench.core.Scorer`
        instance implementing ``score(detection, network, task)``.
    """


@hookspec
def register_executors(register: Callable[[Executor], None]) -> None:
    """Register executors: how ``sculptbench run --executor NAME`` runs the grid.

    :param register: call ``register(executor)`` with a :class:`sculptbench.core.Executor`
        instance implementing ``run(units, options, deliver)``. It runs each work unit (some
        cells of one task x architecture x pruner group) anywhere, and calls ``deliver(cell)``
        in the calling process once per cell, also for cells whose plugin raised, hung or
        killed its worker (as ``error`` or ``timeout`` rows). The built-ins are ``local`` (a
        pool of worker processes) and ``dask`` (a dask.distributed cluster).
    """
