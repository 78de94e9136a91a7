"""Built-in tasks: the paper's 39 Boolean circuits, shipped as YAML under ``sculptbench.tasks``."""

from __future__ import annotations

from sculptbench.plugins.tasks.boolean.circuits import load_builtin_tasks

from sculptbench import hookimpl


@hookimpl
def register_tasks(register):
    """Register every shipped Boolean circuit task."""
    for task in load_builtin_tasks():
        register(task)
