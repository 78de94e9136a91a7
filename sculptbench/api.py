"""The public API for plugin authors: import what a plugin needs from here, and only from here.

Everything listed in ``__all__`` is stable: a name keeps its meaning and signature within a major
version. Everything else in sculptbench (every other module, and the built-ins under
``sculptbench.plugins``) is internal and may change or move without notice, so a third-party
plugin should not import it. docs/plugins.md documents each name.

- ``hookimpl``: marks a module's ``register_*`` hooks.
- The contracts a component implements or returns: :class:`Task` (with :class:`GroundTruth`,
  :class:`GroundTruthModule`, :class:`TrainingConfig`, :class:`TaskData`), :class:`Pruner` (with
  :class:`PruneJob`, :class:`CellSettings`, :class:`SculptedNetwork`), :class:`Detector` (with
  :class:`Detection`, :class:`OverlappingDetection`), :class:`Scorer` (with :class:`ScoreRecord`)
  and :class:`Executor`.
- :class:`SculptbenchError`: raise it for a bad option; the CLI prints its one-line message.
- Circuits for a task plugin: :func:`load_circuit` (a YAML file) and :func:`parse_circuit` (a
  mapping) build a :class:`BooleanTask` (docs/circuits.md).
- Training for a pruner: :func:`train_masked` trains masked networks of a task with the batched
  engine; :func:`initial_network` is the network it starts from for a seed.
- :func:`load_registry`: the registry of built-ins and installed plugins.
- The contract kit for a plugin's tests: :class:`TaskContract`, :class:`PrunerContract`,
  :class:`DetectorContract`, :class:`ScorerContract` and :func:`builtin_registry`. They live in
  :mod:`sculptbench.plugin.testing` and need pytest (``pip install "sculptbench[testing]"``), so they
  are imported only when first used: importing this module does not import pytest.
"""

from __future__ import annotations

from typing import Any

from sculptbench.contracts.components import Detector, Executor, Pruner, Scorer, Task
from sculptbench.contracts.errors import SculptbenchError
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
from sculptbench.engine.training import initial_network, train_masked
from sculptbench.plugin.hookspecs import hookimpl
from sculptbench.plugin.registry import load_registry
from sculptbench.plugins.tasks.boolean.circuits import (
    BooleanTask,
    load_circuit,
    parse_circuit,
)

#: Names served by :mod:`sculptbench.plugin.testing`, imported on first use (it needs pytest).
_CONTRACT_KIT = ("TaskContract", "PrunerContract", "DetectorContract", "ScorerContract", "builtin_registry")

__all__ = [
    "hookimpl",
    "SculptbenchError",
    "Task",
    "GroundTruth",
    "GroundTruthModule",
    "TrainingConfig",
    "TaskData",
    "Pruner",
    "PruneJob",
    "CellSettings",
    "SculptedNetwork",
    "Detector",
    "Detection",
    "OverlappingDetection",
    "Scorer",
    "ScoreRecord",
    "Executor",
    "BooleanTask",
    "load_circuit",
    "parse_circuit",
    "train_masked",
    "initial_network",
    "load_registry",
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
