"""The public API: the one module a plugin imports, built-in or third-party.

Everything listed in ``__all__`` is stable: a name keeps its meaning and signature within a major
version, and every change is listed in ``CHANGELOG.md`` with how to migrate. Every other module
of sculptbench, and the built-ins under ``sculptbench.plugins``, is internal. docs/plugins.md
documents each name.

- ``hookimpl`` marks a plugin module's ``register_*`` hooks (:mod:`sculptbench.plugin.hookspecs`).
- Contracts a component implements: :class:`Task` (with :class:`TaskSource` for tasks made from
  selectors), :class:`Pruner`, :class:`Detector`, :class:`Scorer`, :class:`Executor`; what the
  command line takes from a plugin: :class:`CliOption`, :class:`CliCommand`.
- What they receive or return: :class:`GroundTruth`, :class:`GroundTruthModule`,
  :class:`TrainingConfig`, :class:`TaskData`, :class:`PruneJob`, :class:`CellSettings`,
  :class:`SculptedNetwork`, :class:`Detection`, :class:`OverlappingDetection`,
  :class:`ScoreRecord`; :class:`SculptbenchError` for a bad input (one line, exit 2).
- Declared options: :class:`Option`, :class:`When`, :class:`Check`, :class:`Default`, and the
  resolved :class:`Options` (docs/options.md); the protocol's rules (:data:`SELECT_RULES`,
  :func:`restart_seed`).
- The protocol's density search: :func:`density_search` finds the sparsest network that meets
  the task's threshold, for a method that takes a target density; :data:`DENSITY_LADDER` and
  :data:`DENSITY_BISECT_STEPS` are its default ladder and bisection steps.
- Training: :func:`train_masked` trains masked networks of a task in one batch;
  :func:`initial_network` is where a seed starts; :func:`mlp_logits` and :func:`training_loss`
  are the forward pass and loss the engine trains with, differentiable. The batched engine
  itself, for pruners that train many networks side by side: :class:`Layout`,
  :func:`init_params`, :func:`train_batch`, :func:`evaluate_batch`, :func:`to_network`,
  :func:`network_row`, :func:`hidden_activations_and_grads`, :func:`single_threaded`,
  :class:`TrainResult`; :class:`TrainingHooks` adds a regulariser's gradient, a hook every N
  steps, the weights at a step or the last step to a training; :func:`steps_per_epoch`.
- The paper's published settings: :class:`PaperSetting`, :func:`find_paper_setting`,
  :func:`find_paper_cell`, :func:`paper_setting`, :func:`paper_archs`, :func:`paper_settings`, :func:`paper_task_id`.
- Hidden shapes: :func:`parse_shape`, :func:`width_problem`; hashing: :func:`digest`.
- For executors: :class:`WorkUnit`, :class:`Group`, :class:`Cell`, :class:`ExecutionOptions`,
  :func:`run_unit`, :class:`UnitTracker`, :func:`death_message`, :func:`describe_exception`,
  :func:`load_registry`, :func:`warm_up`, :func:`worker_preload`, :class:`CoordinatorGone`
  (raised by :func:`run_unit` instead of writing the stage cache of a run whose coordinating
  process is gone: the worker should stop).
- The contract kit for a plugin's tests: :class:`TaskContract`, :class:`PrunerContract`,
  :class:`DetectorContract`, :class:`ScorerContract` and :func:`builtin_registry`. They live in
  :mod:`sculptbench.plugin.testing` and need pytest (``pip install "sculptbench[testing]"``),
  so they are imported only when first used.
"""

from __future__ import annotations

from typing import Any

from sculptbench.contracts.cli import CliCommand, CliOption
from sculptbench.contracts.components import Detector, Executor, Pruner, Scorer, Task, TaskSource
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.hashing import digest
from sculptbench.contracts.options import Check, Default, Option, Options, When
from sculptbench.contracts.protocol import SELECT_RULES, restart_seed
from sculptbench.contracts.types import (
    CellSettings,
    Detection,
    GroundTruth,
    GroundTruthModule,
    OverlappingDetection,
    PruneJob,
    ScoreRecord,
    SculptedNetwork,
    TaskData,
    TrainingConfig,
)
from sculptbench.contracts.work import Cell, ExecutionOptions, Group, WorkUnit
from sculptbench.engine.kernels import Layout, init_params, single_threaded
from sculptbench.engine.public import initial_network, mlp_logits, network_row, train_masked, training_loss
from sculptbench.engine.training import TrainingHooks, TrainResult, evaluate as evaluate_batch, steps_per_epoch, to_network
from sculptbench.engine.training import train as train_batch
from sculptbench.engine.training import unit_activations_and_grads as hidden_activations_and_grads
from sculptbench.paper import PaperSetting, find as find_paper_setting, find_cell as find_paper_cell, lookup as paper_setting, paper_archs
from sculptbench.paper import table as paper_settings, task_id as paper_task_id
from sculptbench.plugin.hookspecs import hookimpl
from sculptbench.plugin.registry import load_registry, warm_up, worker_preload
from sculptbench.run.execution import UnitTracker, death_message
from sculptbench.run.parsing import parse_shape, width_problem
from sculptbench.run.cache import CoordinatorGone
from sculptbench.run.running import describe_exception, run_unit
from sculptbench.run.search import BISECT_STEPS as DENSITY_BISECT_STEPS, LADDER as DENSITY_LADDER, density_search

#: Names served by :mod:`sculptbench.plugin.testing`, imported on first use (it needs pytest).
_CONTRACT_KIT = ("TaskContract", "PrunerContract", "DetectorContract", "ScorerContract", "builtin_registry")

__all__ = [
    "hookimpl", "SculptbenchError",
    "Task", "TaskSource", "Pruner", "Detector", "Scorer", "Executor", "CliOption", "CliCommand",
    "GroundTruth", "GroundTruthModule", "TrainingConfig", "TaskData", "PruneJob", "CellSettings",
    "SculptedNetwork", "Detection", "OverlappingDetection", "ScoreRecord",
    "Option", "When", "Check", "Default", "Options", "SELECT_RULES", "restart_seed",
    "train_masked", "initial_network", "mlp_logits", "training_loss", "density_search", "DENSITY_LADDER", "DENSITY_BISECT_STEPS",
    "Layout", "init_params", "train_batch", "evaluate_batch", "to_network", "network_row",
    "hidden_activations_and_grads", "single_threaded", "TrainResult", "TrainingHooks", "steps_per_epoch",
    "PaperSetting", "find_paper_setting", "find_paper_cell", "paper_setting", "paper_archs", "paper_settings", "paper_task_id",
    "parse_shape", "width_problem", "digest",
    "WorkUnit", "Group", "Cell", "ExecutionOptions", "run_unit", "UnitTracker", "death_message",
    "describe_exception", "load_registry", "warm_up", "worker_preload", "CoordinatorGone",
    *_CONTRACT_KIT,
]


def __getattr__(name: str) -> Any:
    """Serve the contract kit's names from :mod:`sculptbench.plugin.testing` when first asked for."""
    if name in _CONTRACT_KIT:
        from sculptbench.plugin import testing

        return getattr(testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """Every public name, the lazily served ones included."""
    return sorted(__all__)
