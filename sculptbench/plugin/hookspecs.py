"""Hook specifications: how plugins add components to sculptbench.

Every hook receives a ``register`` callback provided by sculptbench. Call it once per
component. The callback validates the component (its base class, a non-empty unique name) and
raises :class:`~sculptbench.contracts.errors.SculptbenchError` when it is wrong; sculptbench then
reports the plugin as failed and skips it. Built-in plugins use exactly these hooks, and import
only :mod:`sculptbench.api`.

Example::

    from sculptbench.api import hookimpl

    @hookimpl
    def register_detectors(register):
        register(MyDetector())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:  # annotations only: importing sculptbench must not import torch (`report` and `runs` do without it)
    from sculptbench.contracts.components import Detector, Executor, Pruner, Scorer, Task, TaskSource
    from sculptbench.contracts.cli import CliCommand, CliOption

PROJECT_NAME = "sculptbench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_tasks(register: Callable[[Task], None]) -> None:
    """Register tasks.

    :param register: call ``register(task)`` with a :class:`~sculptbench.api.Task` instance for
        each task. ``task.name`` must be unique across all plugins; ``task.family`` groups tasks
        for selection (``--tasks FAMILY``) and for reports.
    """


@hookspec
def register_task_sources(register: Callable[[TaskSource], None]) -> None:
    """Register task sources: makers of tasks from selectors that are not registered names.

    :param register: call ``register(source)`` with a :class:`~sculptbench.api.TaskSource`
        instance. ``--tasks SELECTOR`` asks each source whether it ``matches`` a selector that
        names no registered task, family or glob, and ``load``\\ s the task from the first that
        does (the Boolean plugin's: a circuit ``.yaml`` path, or a generated circuit's name).
    """


@hookspec
def register_pruners(register: Callable[[Pruner], None]) -> None:
    """Register pruning strategies.

    :param register: call ``register(pruner)`` with a :class:`~sculptbench.api.Pruner` instance.
        Declare its ``options``; implement ``prune(job)``, and ``prune_many(jobs)`` to train
        several networks of one shape together. The framework runs the protocol (restarts and
        the ``select`` rule) around it.
    """


@hookspec
def register_detectors(register: Callable[[Detector], None]) -> None:
    """Register module detectors.

    :param register: call ``register(detector)`` with a :class:`~sculptbench.api.Detector`
        instance declaring its ``options`` and implementing ``detect(network, task, options, seed)``.
    """


@hookspec
def register_scorers(register: Callable[[Scorer], None]) -> None:
    """Register scorers: of a detection against the task's ground truth, or label-free.

    :param register: call ``register(scorer)`` with a :class:`~sculptbench.api.Scorer` instance
        declaring its ``metrics`` and ``options`` and implementing
        ``score(detection, network, task, options, seed)``.
    """


@hookspec
def register_executors(register: Callable[[Executor], None]) -> None:
    """Register executors: how ``sculptbench run --executor NAME`` runs the grid.

    :param register: call ``register(executor)`` with a :class:`~sculptbench.api.Executor`
        instance implementing ``run(units, options, deliver)``. It runs each work unit (some
        cells of one task x architecture x pruner group) anywhere, and calls ``deliver(cell)``
        in the calling process once per cell, also for cells whose plugin raised, hung or
        killed its worker (as ``error`` or ``timeout`` rows). The built-ins are ``local`` (a
        pool of worker processes) and ``dask`` (a dask.distributed cluster).
    """


@hookspec
def register_cli_options(register: Callable[[CliOption], None]) -> None:
    """Add options to the commands that build tasks (``run``, ``draw``, ``plot``).

    :param register: call ``register(option)`` with a :class:`~sculptbench.api.CliOption`. Its
        ``apply`` is called with the value before any task is selected, when the user gave it
        (or its environment variable). E.g. the MNIST plugin's ``--mnist-root``.
    """


@hookspec
def register_commands(register: Callable[[CliCommand], None]) -> None:
    """Add commands to the ``sculptbench`` command line.

    :param register: call ``register(command)`` with a :class:`~sculptbench.api.CliCommand`:
        a name, and a function that builds its ``click.Command`` (e.g. the Boolean plugin's
        ``sculptbench generate``).
    """
