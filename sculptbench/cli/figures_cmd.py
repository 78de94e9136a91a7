"""``sculptbench draw`` and ``sculptbench plot``: a sculpted network, and figures of a results database."""

from __future__ import annotations

from typing import Any

import click

from sculptbench.cli.common import TaskCommand, _registry, echo, main, refuse_unread_cache, results_option, user_errors
from sculptbench.contracts.errors import SculptbenchError


@main.command(cls=TaskCommand)
@click.option("--task", "task_name", required=True, help="Task name or circuit .yaml path.")
@click.option("--arch", default=None, help="One hidden shape, e.g. 24x24 (default: the task's first).")
@click.option("--pruner", default="iterative", show_default=True)
@click.option("--detector", default="sculpting", show_default=True)
@click.option("--scorers", default="structure", show_default=True, help="Comma-separated scorers whose verdict is printed.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="cpu", show_default=True)
@click.option("--param", "params", multiple=True, metavar="NAME.KEY=VALUE", help="Pruner or detector option.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the task's epochs.")
@click.option("--cache", "cache_dir", default=None, type=click.Path(file_okay=False),
              help="Stage cache: a network a run stored there is drawn as it was scored; one computed here is stored "
                   "(default: the runs' default, $SCULPTBENCH_CACHE, else $XDG_CACHE_HOME/sculptbench, else ~/.cache/sculptbench).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the stage cache (the network is computed as a run would).")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Output file: .png, .pdf or .svg.")
@user_errors
def draw(task_name, arch, pruner, detector, scorers, seed, device, params, epochs, cache_dir, no_cache, output):
    """Draw the network a run scores for one cell (from the stage cache, or computed as a run would)."""
    from sculptbench.results.draw import FORMATS
    from sculptbench.run import parsing, planning
    from sculptbench.run.cache import cache_root

    if not output.lower().endswith(FORMATS):
        raise SculptbenchError(f"cannot draw to {output}: use a .png, .pdf or .svg file name")
    refuse_unread_cache(cache_dir, no_cache)
    registry = _registry()
    tasks = planning.select_tasks(registry, [task_name])
    if len(tasks) != 1:
        raise SculptbenchError(f"--task {task_name!r} selects {len(tasks)} tasks; name exactly one")
    task = tasks[0]
    archs = parsing.parse_archs(arch) or [task.default_archs[0]]
    if len(archs) != 1:
        raise SculptbenchError("--arch takes one hidden shape for draw, e.g. 24x24")
    parsed = parsing.parse_params(params)
    for component in parsed:
        if component not in (pruner, detector):
            raise SculptbenchError(f"--param names {component!r}, which is neither --pruner nor --detector")
    spec = planning.RunSpec(
        tasks=[task], pruners=[pruner], detectors=[detector], scorers=parsing.split_names(scorers), seeds=[seed], archs=archs,
        params=parsed, training_overrides={"epochs": epochs} if epochs else {}, device=planning.resolve_device(device),
    )
    (group,) = planning.plan(registry, spec)
    path, _ = _draw_scored(registry, group, seed, detector, None if no_cache else cache_root(cache_dir), output)
    echo(f"wrote {path}")


def _draw_scored(registry: Any, group: Any, seed: int, detector: str, cache_dir: str | None, output: str) -> tuple[str, Any]:
    """Draw the scored network of one cell and print its density and verdict; return the path and
    the :class:`sculptbench.run.running.ScoredNetwork`."""
    from sculptbench.results.draw import draw_network
    from sculptbench.run import running

    scored = running.scored_network(registry, group, seed, detector, cache_dir)
    cell, net = scored.cell, scored.network
    if cell.status == "untrainable" and net is not None:
        raise SculptbenchError(f"the dense network is untrainable (accuracy {net.dense_accuracy:.4f}); try more --epochs or another --seed")
    if net is None or scored.detection is None:
        raise SculptbenchError(f"cannot draw {group.task.name} {cell.arch} {group.pruner}/{detector} seed {seed}: {cell.error}")
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(cell.metrics.items()) if k.endswith(".success"))
    title = (f"{group.task.name}  {cell.arch}  {group.pruner}/{detector}  seed {seed}: "
             f"{len(scored.detection.modules)} modules, density {net.density():.3f}")
    path = draw_network(net, scored.detection, output, group.task.input_names, group.task.output_names, title=title)
    echo(f"{group.task.name} {cell.arch} {group.pruner}/{detector} seed {seed}: density {net.density():.6f}, "
               f"{len(scored.detection.modules)} modules" + (f", {verdicts}" if verdicts else "")
               + (" (network: from the stage cache)" if (cell.config.get("cache") or {}).get("prune") == "hit" else " (network: computed)"))
    return str(path), scored


@main.command(cls=TaskCommand)
@click.option("--kind", required=True, metavar="KIND", help="bars, sweep, curve, network or tradeoff.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Output file: .png, .pdf or .svg.")
@results_option
@click.option("--run", "run_id", default=None, help="Plot one run (an id from `sculptbench runs`, or 'latest').")
@click.option("--metric", default="success", show_default=True, help="bars and sweep: the metric plotted (as in `report --metric`).")
@click.option("--param", "sweep_param", default=None, help="sweep: the task parameter on the x axis, e.g. u, o or m.")
@click.option("--lines", default=None, help="sweep: the field giving one line per value (default: the other task parameter, else depth).")
@click.option("--task", "task_sel", default=None, help="Filter: task names, short names or globs (comma-separated), or the circuit .yaml file of the cells' task.")
@click.option("--arch", default=None, help="Filter: architectures, e.g. 24x24 (comma-separated).")
@click.option("--pruner", default=None, help="Filter: pruners (comma-separated).")
@click.option("--detector", default=None, help="Filter: detectors (comma-separated).")
@click.option("--seed", default=None, type=int, help="Filter: one seed.")
@click.option("--cell-id", "cell_ident", default=None, type=int, help="curve and network: the cell's row id in the database.")
@click.option("--device", default=None, help="network: device to re-sculpt on (default: the cell's).")
@click.option("--cache", "cache_dir", default=None, type=click.Path(file_okay=False),
              help="network: the stage cache holding the scored network (default: the runs' default, see `run --help`).")
@user_errors
def plot(kind, output, results, run_id, metric, sweep_param, lines, task_sel, arch, pruner, detector, seed, cell_ident, device, cache_dir):
    """Plot results: success bars, a parameter sweep, a pruning curve, a sculpted network or the methods'
    accuracy-versus-density trade-off (see docs/reporting.md)."""
    from sculptbench.results import plot as plot_mod
    from sculptbench.results.store import ResultsStore

    task_file, registry = None, None
    if task_sel and task_sel.endswith((".yaml", ".yml")):
        from sculptbench.run import planning

        registry = _registry()
        (task_file,) = planning.select_tasks(registry, [task_sel])
        task_sel = task_file.name

    if kind not in plot_mod.KINDS:
        raise SculptbenchError(f"unknown --kind {kind!r}; valid: {', '.join(plot_mod.KINDS)}")
    plot_mod.check_output(output)
    store = ResultsStore(results, create=False)
    if run_id == "latest":
        run_id = store.latest_run_id()
    if run_id is not None and run_id not in {r["run_id"] for r in store.runs()}:
        raise SculptbenchError(f"no run {run_id!r} in {results}; see `sculptbench runs`")
    cells = store.cells(run_id)
    if not cells:
        raise SculptbenchError("no results to plot; run `sculptbench run` first or pass another --results database")
    filters = {"task": task_sel, "arch": arch, "pruner": pruner, "detector": detector, "seed": seed}
    if kind in ("bars", "sweep", "tradeoff"):
        chosen = plot_mod.select(cells, **filters)
        if not chosen:
            raise SculptbenchError(f"no cells match {plot_mod.describe_filters(**filters)}")
        if kind == "bars":
            path = plot_mod.plot_bars(chosen, output, metric=metric)
        elif kind == "sweep":
            path = plot_mod.plot_sweep(chosen, output, sweep_param, metric=metric, lines=lines)
        else:
            from sculptbench.results.tradeoff import MIN_POINTS, plot_tradeoff

            path, short = plot_tradeoff(chosen, output)
            if short:
                echo(f"warning: fewer than {MIN_POINTS} operating points: {', '.join(short)}", err=True)
    else:
        cell = plot_mod.one_network(store, cells, cell_ident, **filters)
        ident = cell_ident if cell_ident is not None else plot_mod.cell_id(store, cell)
        if kind == "curve":
            path = plot_mod.plot_curve(cell, output, ident)
        else:
            registry = registry or _registry()
            warn = lambda m: echo(f"warning: {m}", err=True)  # noqa: E731
            group = plot_mod.network_group(cell, registry, task_file, device, warn=warn)
            from sculptbench.run.cache import cache_root

            cache = cache_root(cache_dir)
            path, scored = _draw_scored(registry, group, cell.seed, cell.detector, cache, output)
            if cell.density is not None and scored.cell.density != cell.density:
                warn(f"the drawn network has density {scored.cell.density:.6f}, the stored cell {cell.density:.6f} "
                     "(a different device or package version?)")
    echo(f"wrote {path}")
