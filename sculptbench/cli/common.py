"""The command line's group and the helpers its commands share: one-line user errors, the plugin
registry loaded once, and what plugins add (options of the commands that build tasks, commands)."""

from __future__ import annotations

import functools
import sys
from functools import wraps
from typing import Any, Callable

import click

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.text import terminal_safe
from sculptbench.results.store import DEFAULT_PATH

DEFAULT_SEEDS = 4
#: ``--results``, shared by the commands that read or write the results database.
results_option = click.option("--results", default=DEFAULT_PATH, show_default=True, type=click.Path(), help="SQLite results database.")
#: Commands that only read a results database: they load no plugin and do not import torch.
_NO_TORCH_COMMANDS = frozenset({"report", "runs", "merge"})


def echo(text: Any = "", err: bool = False) -> None:
    """``click.echo`` of :func:`terminal_safe` text: how commands print what they read from disk."""
    click.echo(terminal_safe(str(text)), err=err)


def _fail(message: str) -> None:
    echo(f"error: {message}", err=True)
    sys.exit(2)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`SculptbenchError` into one line on stderr and exit status 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SculptbenchError as exc:
            _fail(str(exc))

    return wrapper


@functools.lru_cache(maxsize=1)
def plugin_registry() -> Any:
    """The registry of built-ins and installed plugins, loaded once per process; each plugin that
    failed to load (or lost a name to a clash) is named in one warning line."""
    from sculptbench.engine.torch_import import defer_torch, torch_threads
    from sculptbench.plugin.registry import load_registry

    if "torch" not in sys.modules:  # a plugin's `import torch` must not run torch's import yet
        defer_torch(1)
    else:
        defer_torch(torch_threads())
    registry = load_registry()
    for record in registry.failed():
        if record.status == "clash":
            what = f"lost names to a clash (its other components are loaded): {record.error}"
        else:
            what = f"failed and was skipped: {record.error}"
        click.echo(f"warning: plugin {record.name!r} (package {record.package} {record.version}) {what}", err=True)
    return registry


def refuse_unread_cache(cache_dir: str | None, no_cache: bool) -> None:
    """``--cache DIR`` with ``--no-cache`` names a cache nothing would read: refused."""
    if no_cache and cache_dir is not None:
        raise SculptbenchError(f"--cache {cache_dir} and --no-cache contradict each other (--no-cache neither reads nor writes a "
                               "stage cache); drop one of them")


def _registry() -> Any:
    return plugin_registry()


def _plugin_cli_options() -> list[Any]:
    """The options plugins add to the commands that build tasks, in name order."""
    options = plugin_registry().cli_options
    return [options[name] for name in sorted(options)]


def _click_option(option: Any) -> click.Option:
    kinds = {"path": click.Path(file_okay=False), "choice": click.Choice(list(option.choices)), "text": click.STRING}
    if option.kind == "flag":
        return click.Option([option.flag], is_flag=True, default=False, envvar=option.envvar, help=option.help)
    return click.Option([option.flag], type=kinds.get(option.kind, click.STRING), default=None, envvar=option.envvar, help=option.help)


def apply_plugin_options(given: dict[str, Any]) -> None:
    """Run the ``apply`` of every plugin option in ``given`` (name -> value), in name order."""
    for option in _plugin_cli_options():
        if option.name in given:
            option.apply(given[option.name], dict(given))


class TaskCommand(click.Command):
    """A command that builds tasks (``run``, ``draw``, ``plot``): it takes the plugins' options too,
    applies the ones given before its body runs, and leaves them in ``ctx.meta["plugin_options"]``."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        """The command's own options, then the plugins'."""
        own = super().get_params(ctx)
        taken = {name for p in own for name in p.opts}
        return own + [_click_option(o) for o in _plugin_cli_options() if o.flag not in taken]

    def invoke(self, ctx: click.Context) -> Any:
        """Apply the plugin options given (on the command line or by their environment variable)."""
        source = click.core.ParameterSource
        given = {}
        for option in _plugin_cli_options():
            value = ctx.params.pop(option.name, None)
            if ctx.get_parameter_source(option.name) not in (source.DEFAULT, None) and value not in (None, False):
                given[option.name] = value
        ctx.meta["plugin_options"] = given
        try:
            apply_plugin_options(given)
        except SculptbenchError as exc:
            _fail(str(exc))
        return super().invoke(ctx)


class PluginGroup(click.Group):
    """The ``sculptbench`` group: the built-in commands, and those plugins register."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in and plugin command names, sorted."""
        return sorted({*super().list_commands(ctx), *self._plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """A built-in command, else a plugin's (loading the plugins only then)."""
        return super().get_command(ctx, name) or self._plugin_commands().get(name)

    @functools.cached_property
    def _plugin_commands_cache(self) -> dict[str, click.Command]:
        built = {}
        for name, command in sorted(plugin_registry().commands.items()):
            try:
                built[name] = command.build()
            except Exception as exc:  # noqa: BLE001 - a broken plugin command must not take the CLI down
                click.echo(f"warning: command {name!r} of a plugin could not be built and is left out: {exc}", err=True)
                continue
            if built[name].callback is not None:  # a plugin's SculptbenchError is one line and exit status 2, as ours
                built[name].callback = user_errors(built[name].callback)
        return built

    def _plugin_commands(self) -> dict[str, click.Command]:
        return self._plugin_commands_cache


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sculptbench")
@click.option("--threads", envvar="SCULPTBENCH_THREADS", default=1, show_default=True, type=click.IntRange(min=1),
              help="torch threads per process. The built-in pruners' engine always runs on one thread, so their results do not depend on it.")
@click.pass_context
def main(ctx: click.Context, threads: int) -> None:
    """sculptbench: can pruning and network analysis recover the modular structure of a task?"""
    if ctx.invoked_subcommand in _NO_TORCH_COMMANDS:
        return  # reading a results database needs no torch (importing it costs seconds and 0.5 GB)
    from sculptbench.engine.torch_import import defer_torch

    defer_torch(threads)  # torch is imported at its first use: planning a grid needs none
