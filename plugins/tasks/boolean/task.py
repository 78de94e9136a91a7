"""Boolean-circuit tasks: :class:`BooleanTask`, built by :func:`load_circuit` (a YAML file) or
:func:`parse_circuit` (a mapping), and the shipped task files (:func:`builtin_task_files`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from sculptbench.api import GroundTruth, Task, TaskData, TrainingConfig
from sculptbench.plugins.tasks.boolean.check import check_against_function
from sculptbench.plugins.tasks.boolean.source import CircuitSpecError, _load_yaml
from sculptbench.plugins.tasks.boolean.spec import DEFAULT_ARCHS, FAMILY_TRAINING, CircuitSpec, _Parser
from sculptbench.plugins.tasks.boolean.truth import _evaluate


# --------------------------------------------------------------------------- the task
class BooleanTask(Task):
    """A task defined by a Boolean circuit: data is its noise-free truth table.

    Attributes beyond :class:`sculptbench.api.Task`: ``spec`` (the :class:`CircuitSpec`),
    ``source`` (the file it came from, as given) and ``description``.
    """

    accuracy_threshold = 1.0
    require_all_inputs = True
    data_source = "truth table"

    def __init__(self, spec: CircuitSpec, source: str | Path = "<memory>"):
        self.spec = spec
        self.source = str(source)
        self.name = spec.name
        self.family = spec.family
        self.description = spec.description
        self.paper_name = spec.paper_name
        self.input_names = spec.inputs
        self.output_names = tuple(y for y, _ in spec.outputs)
        self.ground_truth = GroundTruth(
            inputs=self.input_names,
            outputs=self.output_names,
            modules=spec.modules,
        )
        base = FAMILY_TRAINING.get(spec.family, TrainingConfig())
        self.training = TrainingConfig(**{**dataclasses.asdict(base), **spec.training})
        self.default_archs = spec.archs if spec.archs is not None else DEFAULT_ARCHS
        self.pruning_defaults = dict(spec.pruning)
        self.detector_defaults = dict(spec.detector)
        self.task_parameters = dict(spec.parameters)
        self._table: tuple[torch.Tensor, torch.Tensor] | None = None
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"BooleanTask({self.name!r}, source={self.source!r})"

    def truth_table(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, Y)``: float32 tensors of shape ``[2^n, n]`` and ``[2^n, m]``, rows in binary order.

        Row ``r`` holds the binary digits of ``r`` with x1 the most significant. The result is
        cached; do not modify it in place.
        """
        if self._table is None:
            x, y = self.truth_arrays()
            self._table = (torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32)))
        return self._table

    def truth_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`truth_table` as numpy arrays (cached): what loading a task checks, without
        importing torch, so that a command that refuses its grid starts in about a second."""
        if self._arrays is None:
            self._arrays = _evaluate(self.spec)
        return self._arrays

    def data(self, device: torch.device | str = "cpu") -> TaskData:
        """The truth table on ``device`` as train, validation and test sets (separate copies)."""
        x, y = self.truth_table()
        copies = [t.to(device, copy=True) for t in (x, y, x, y, x, y)]
        return TaskData(*copies)

    def definition(self) -> dict[str, Any]:
        """The base definition plus the normalised circuit spec, so the hash follows the circuit."""
        return {**super().definition(), "circuit": self.spec.to_dict()}


# --------------------------------------------------------------------------- entry points
def parse_circuit(data: Mapping[str, Any], source: str = "<memory>") -> BooleanTask:
    """Validate an already-loaded spec mapping and build its task.

    The module graph is checked against the circuit's truth table (:mod:`.check`): each output's
    modules must read exactly the inputs it depends on. ``source`` names the origin in error
    messages. Raises :class:`CircuitSpecError`.
    """
    spec = _Parser(str(source)).parse(data)
    task = BooleanTask(spec, source)
    _, y = task.truth_arrays()
    check_against_function(str(source), spec.inputs, task.output_names, spec.modules, y > 0.5)
    return task


def load_circuit(path: str | Path) -> BooleanTask:
    """Load, validate and build the task of one circuit YAML file.

    Raises :class:`CircuitSpecError` (one line: ``<file>: <key.path>: <why>``).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CircuitSpecError(source, "(file)", f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    data = _load_yaml(text, source)
    return parse_circuit(data, source)


def _tasks_dir() -> Path:
    try:
        from importlib.resources import files

        root = files("sculptbench.tasks")
        if isinstance(root, Path) and root.is_dir():
            return root
    except (ImportError, TypeError, ValueError):
        pass
    return Path(__file__).resolve().parents[3] / "tasks"  # a source checkout: plugins/tasks/boolean/ -> tasks/


def builtin_task_files() -> list[Path]:
    """The shipped task YAML files (package ``sculptbench.tasks``, or the repo's ``tasks/``), sorted."""
    root = _tasks_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.yaml") if p.is_file())


def load_builtin_tasks() -> list[BooleanTask]:
    """Load every shipped task file, in :func:`builtin_task_files` order."""
    return [load_circuit(p) for p in builtin_task_files()]
