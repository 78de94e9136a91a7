"""``sculptbench generate``: write a generated circuit's YAML (docs/tasks.md), and the task source
that makes tasks of ``gen/...`` selectors on the fly."""

from __future__ import annotations

import os
import tempfile
from dataclasses import fields
from pathlib import Path

import click

from sculptbench.api import SculptbenchError, Task, TaskSource
from sculptbench.plugins.tasks.boolean.generator import GATE_LETTERS, PREFIX, GeneratorParams, generate, parse_selector
from sculptbench.plugins.tasks.boolean.source import _load_yaml
from sculptbench.plugins.tasks.boolean.task import parse_circuit


def generated_task(selector: str) -> Task:
    """The task of a ``gen/...`` selector: its circuit generated, loaded and checked like a file."""
    params = parse_selector(selector)
    return parse_circuit(_load_yaml(generate(params), params.name()), params.name())


class GeneratedCircuits(TaskSource):
    """Random hierarchical circuits named by their parameters, e.g. ``gen/l3-m2-f2-r0-o0-s7``."""

    name = "generated-circuit"
    version = "1.0"
    description = "a generated circuit gen/l<levels>-m<modules>-f<fanin>-r<reuse>-o<overlap>-s<seed> (docs/tasks.md)"

    def matches(self, selector: str) -> bool:
        """Selectors that start with ``gen/``."""
        return selector.startswith(PREFIX)

    def load(self, selector: str) -> Task:
        """The generated circuit's task; bad parameters are one line naming the selector."""
        return generated_task(selector)


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in its folder, so nothing half-written remains."""
    if path.is_dir():
        raise SculptbenchError(f"-o {path} is a folder; give a file name, e.g. -o {path / 'circuit.yaml'}")
    if not path.parent.is_dir():
        raise SculptbenchError(f"-o {path}: folder {path.parent} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_generate_command() -> click.Command:
    """The ``generate`` command."""
    defaults = GeneratorParams()

    @click.command(name="generate")
    @click.argument("selector", required=False)
    @click.option("--levels", "-l", type=int, default=None, help=f"Levels of modules (default {defaults.levels}).")
    @click.option("--modules", "-m", type=int, default=None, help=f"Modules per level (default {defaults.modules}).")
    @click.option("--fanin", "-f", type=int, default=None,
                  help=f"Inputs a level-1 module reads; lower modules a higher one combines (default {defaults.fanin}).")
    @click.option("--reuse", "-r", type=int, default=None, help=f"Extra outputs each top module drives (default {defaults.reuse}).")
    @click.option("--overlap", type=int, default=None, help=f"Inputs adjacent level-1 modules share (default {defaults.overlap}).")
    @click.option("--gates", "-g", default=None,
                  help=f"Gate set, letters of {', '.join(f'{k}={v}' for k, v in GATE_LETTERS.items())} (default {defaults.gates}).")
    @click.option("--seed", "-s", type=int, default=None, help=f"Seed of the draw (default {defaults.seed}).")
    @click.option("--output", "-o", type=click.Path(dir_okay=True), default=None, help="Write the YAML here (default: print it).")
    def generate_cmd(selector, output, **given):
        """Write the circuit YAML of a generated hierarchy: from a SELECTOR such as
        gen/l3-m2-f2-r0-o0-s7, or from the options (docs/tasks.md). The same parameters give the
        same bytes on any machine."""
        chosen = {k: v for k, v in given.items() if v is not None}
        if selector is not None and chosen:
            raise SculptbenchError(f"give either a selector ({selector}) or the options --{', --'.join(chosen)}, not both")
        params = parse_selector(selector) if selector is not None else GeneratorParams(**chosen).check()
        text = generate(params)
        parse_circuit(_load_yaml(text, params.name()), params.name())  # the ground-truth check, before anything is written
        if output is None:
            click.echo(text, nl=False)
            return
        _write_atomic(Path(output), text)
        summary = ", ".join(f"{f.name} {getattr(params, f.name)}" for f in fields(params))
        click.echo(f"wrote {output}: {params.name()} ({params.n_inputs} inputs, {params.modules * (1 + params.reuse)} outputs; {summary})",
                   err=True)

    return generate_cmd
