"""Boolean-circuit tasks: the paper's 39 circuits and the classic family (YAML under
``sculptbench.tasks``), any circuit a user writes, selected by its file's path
(``--tasks my_circuit.yaml``), and generated circuits (``--tasks gen/l3-m2-f2-r0-o0-s7``,
``sculptbench generate``)."""

from __future__ import annotations

from pathlib import Path

from sculptbench.api import CliCommand, SculptbenchError, Task, TaskSource, hookimpl
from sculptbench.plugins.tasks.boolean.generate_cmd import GeneratedCircuits, build_generate_command
from sculptbench.plugins.tasks.boolean.source import CircuitSpecError
from sculptbench.plugins.tasks.boolean.spec import GATE_OPS, PAPER_ARCHS, CircuitSpec, Gate
from sculptbench.plugins.tasks.boolean.task import BooleanTask, builtin_task_files, load_builtin_tasks, load_circuit, parse_circuit

__all__ = ["BooleanTask", "CircuitSpec", "CircuitSpecError", "GATE_OPS", "Gate", "PAPER_ARCHS", "builtin_task_files",
           "load_builtin_tasks", "load_circuit", "parse_circuit"]


class CircuitFiles(TaskSource):
    """A circuit YAML file given by its path (docs/circuits.md)."""

    name = "circuit-file"
    version = "1.0"
    description = "a path to a circuit .yaml file"

    def matches(self, selector: str) -> bool:
        """A selector ending in ``.yaml``/``.yml``, or any path that exists and is not a folder."""
        return selector.lower().endswith((".yaml", ".yml")) or ("/" in selector and Path(selector).is_file())

    def load(self, selector: str) -> Task:
        """The circuit's task; a missing file or a bad spec is one line naming the file."""
        if not Path(selector).is_file():
            raise SculptbenchError(f"task file {selector} does not exist; pass a path to a circuit YAML file")
        return load_circuit(selector)


@hookimpl
def register_tasks(register):
    """Register every shipped Boolean circuit task."""
    for task in load_builtin_tasks():
        register(task)


@hookimpl
def register_task_sources(register):
    """Circuit files given by path, and generated circuits named ``gen/...``."""
    register(CircuitFiles())
    register(GeneratedCircuits())


@hookimpl
def register_commands(register):
    """``sculptbench generate``: write a generated circuit's YAML."""
    register(CliCommand("generate", build_generate_command))
