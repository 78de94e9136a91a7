"""What a plugin adds to the command line: options of the commands that build tasks, and commands.

Both are plain descriptions; the CLI turns them into click options and commands, so a plugin's
CLI additions load with the plugin and a broken plugin never takes the command line down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class CliOption:
    """An option a plugin adds to ``run``, ``draw`` and ``plot``.

    ``flag`` is the option as typed (``"--mnist-root"``); ``kind`` is ``"text"``, ``"path"`` (a
    directory), ``"flag"`` (on/off) or ``"choice"`` (one of ``choices``); ``envvar`` is read when
    the option is not given. ``apply(value, given)`` runs before any task is selected, only when
    the option or its environment variable was given; ``given`` maps the name of every plugin
    option given in the same command to its value (for options that act together). ``defines_grid``: whether the value changes
    what a run computes (e.g. the MNIST task sizes): ``--resume RUN_ID`` then takes it from the
    recorded run; otherwise (e.g. where data lives) only from the command line.
    """

    flag: str
    help: str
    apply: Callable[[Any, dict[str, Any]], None]
    kind: str = "text"
    choices: tuple[str, ...] = ()
    envvar: str | None = None
    defines_grid: bool = False

    @property
    def name(self) -> str:
        """The option's parameter name: ``--mnist-root`` -> ``mnist_root``."""
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class CliCommand:
    """A command a plugin adds: ``build()`` returns its ``click.Command`` (called when the CLI starts)."""

    name: str
    build: Callable[[], Any]
