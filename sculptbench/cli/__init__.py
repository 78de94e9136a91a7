# Over 500 lines because every command of the click group lives here; each command is short and only parses and prints, the work is in the framework modules.
"""The ``sculptbench`` command line."""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from functools import wraps
from types import SimpleNamespace
from typing import Any, Callable

import click

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.results.store import DEFAULT_PATH

DEFAULT_SEEDS = 4
#: Limits that `run` enforces unless --large-grid is given.
MAX_SEEDS = 1_000
MAX_CELLS = 100_000
#: Share of this machine's memory the grid's estimate may take (beyond it, --large-grid is needed).
MEMORY_SHARE = 0.8
#: ``--results``, shared by the commands that read or write the results database.
results_option = click.option("--results", default=DEFAULT_PATH, show_default=True, type=click.Path(), help="SQLite results database.")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
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


def mnist_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add --mnist-root, --download and --profile; apply them (sculptbench.plugins.tasks.mnist.configure) first."""

    @click.option("--mnist-root", default=None, type=click.Path(file_okay=False),
                  help="MNIST root in torchvision's layout (DIR/MNIST/raw/...); default: $SCULPTBENCH_MNIST_ROOT, else the embedded MNIST 5k subset.")
    @click.option("--download", is_flag=True, help="Download MNIST into --mnist-root if it is missing.")
    @click.option("--profile", type=click.Choice(["quick", "paper"]), default=None,
                  help="MNIST task sizes and recipe (default: $SCULPTBENCH_MNIST_PROFILE, else quick).")
    @wraps(fn)
    def wrapper(*args: Any, mnist_root: str | None = None, download: bool = False, profile: str | None = None, **kwargs: Any) -> Any:
        if mnist_root is not None or download or profile is not None:
            from sculptbench.plugins.tasks.mnist import configure

            configure(root=mnist_root, profile=profile, download=download)
        return fn(*args, **kwargs)

    return wrapper


def _registry():
    from sculptbench.plugin.registry import load_registry

    registry = load_registry()
    for record in registry.failed():
        if record.status == "clash":
            what = f"lost names to a clash (its other components are loaded): {record.error}"
        else:
            what = f"failed and was skipped: {record.error}"
        click.echo(f"warning: plugin {record.name!r} (package {record.package} {record.version}) {what}", err=True)
    return registry


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


#: Commands that only read a results database: they do not import torch.
_NO_TORCH_COMMANDS = frozenset({"report", "runs"})


@main.command()
@click.option("--tasks", "tasks_opt", default="exemplars", show_default=True, help="Tasks: all, a family, names, globs or circuit .yaml paths (comma-separated).")
@click.option("--pruners", default="iterative", show_default=True, help="Comma-separated pruner names.")
@click.option("--detectors", default="sculpting", show_default=True, help="Comma-separated detector names.")
@click.option("--scorers", default="structure", show_default=True, help="Comma-separated scorer names.")
@click.option("--seeds", default=DEFAULT_SEEDS, show_default=True, type=int, help="Number of seeds (0..N-1).")
@click.option("--seed-start", default=0, show_default=True, type=int, help="First seed.")
@click.option("--arch", default=None, help="Hidden shapes, e.g. 24,24x24,36x36x36 (default: each task's own).")
@results_option
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes (local), or LocalCluster workers (dask without --scheduler).")
@click.option("--executor", default="local", show_default=True, help="How to run the grid: local (worker processes on this machine), dask, or a plugin's executor.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler, e.g. tcp://HOST:8786 (with --executor dask; default: a LocalCluster of --jobs workers).")
@click.option("--timeout", type=float, default=None, metavar="SECONDS", help="Seconds per cell: a group of N cells may take N x SECONDS, then its running cell is recorded as timeout.")
@click.option("--retry-failed", is_flag=True, help="Rerun only the cells whose latest row is an error or a timeout.")
@click.option("--cache", "cache_dir", default=None, type=click.Path(file_okay=False), help="Stage cache directory (default: .sculptbench-cache next to --results).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the stage cache.")
@click.option("--force", default=None, metavar="STAGE", help="Recompute this stage (prune, detect or score) and the later ones, also for finished cells.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--no-batch", is_flag=True, help="Prune one network at a time instead of batching seeds.")
@click.option("--param", "params", multiple=True, metavar="NAME.KEY=VALUE", help="Set a pruner or detector option, e.g. iterative.unit_step=30.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the tasks' epochs per (re)training.")
@click.option("--lr", type=float, default=None, help="Override the tasks' learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override the tasks' batch size.")
@click.option("--resume", "resume_id", default=None, is_flag=False, flag_value="", metavar="[RUN_ID]",
              help="Continue run RUN_ID: its recorded options (unless given again), new cells written under its id. Finished cells are always skipped unless --no-resume.")
@click.option("--no-resume", is_flag=True, help="Recompute cells already finished in the database.")
@click.option("--trust-recorded-executor", is_flag=True,
              help="With --resume RUN_ID, also take the executor and dask scheduler recorded in the database (a scheduler can run any code here; docs/execution.md).")
@click.option("--large-grid", is_flag=True,
              help=f"Start even beyond --seeds {MAX_SEEDS:,}, {MAX_CELLS:,} cells or {int(MEMORY_SHARE * 100)}% of this machine's memory (estimated).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--format", "fmt", default="github", show_default=True, help="Leaderboard format.")
@click.option("--columns", default="auto", show_default=True, help="Leaderboard columns: auto, task, family, task-depth, family-depth, depth.")
@user_errors
@mnist_options
def run(results, retry_failed, force, resume_id, no_resume, trust_recorded_executor, large_grid, quiet, fmt, columns, **_run_options):
    """Run tasks x architectures x pruners x detectors x seeds and print a leaderboard.

    Execution, caching, resuming and timeouts: docs/execution.md.
    """
    # The options that define the run (tasks ... batch_size) are read from the click context
    # below, where ``--resume RUN_ID`` overlays the recorded ones that were not given again.
    from pathlib import Path

    from sculptbench.results import report
    from sculptbench.results.store import ResultsStore
    from sculptbench.run import execution, manifest, parsing, planning

    ctx = click.get_current_context()
    recorded_cli = {k: list(v) if isinstance(v, tuple) else v for k, v in ctx.params.items() if k not in _RUN_NOT_RECORDED}
    resumed = None
    if resume_id:
        resumed, restored = _recorded_options(ctx, results, resume_id, trust_recorded_executor)
        recorded_cli = {**recorded_cli, **restored}
        if restored.get("mnist_root") is not None or restored.get("profile") is not None:
            from sculptbench.plugins.tasks.mnist import configure

            configure(root=recorded_cli.get("mnist_root"), profile=recorded_cli.get("profile"))
    else:
        restored = {}
    # The options of this run: the command line's, and under --resume the run's recorded ones not given again.
    opt = SimpleNamespace(**{**ctx.params, **restored})
    if opt.scheduler and opt.executor != "dask":
        raise SculptbenchError(f"--scheduler {opt.scheduler} needs --executor dask (the {opt.executor!r} executor takes no scheduler)")
    if opt.seeds < 1:
        raise SculptbenchError(f"invalid --seeds {opt.seeds}; it must be >= 1")
    if opt.seeds > MAX_SEEDS and not large_grid:
        raise SculptbenchError(f"--seeds {opt.seeds:,} is more than {MAX_SEEDS:,}; pass --large-grid to run that many")
    if opt.seed_start < 0:
        raise SculptbenchError(f"invalid --seed-start {opt.seed_start}; it must be >= 0")
    if fmt not in report.FORMATS:
        raise SculptbenchError(f"invalid --format {fmt!r}; valid: {', '.join(report.FORMATS)}")
    if columns not in report.COLUMN_MODES:
        raise SculptbenchError(f"invalid --columns {columns!r}; valid: {', '.join(report.COLUMN_MODES)}")
    registry = _registry()
    overrides = {k: getattr(opt, k) for k in ("epochs", "lr", "batch_size") if getattr(opt, k) is not None}
    spec = planning.RunSpec(
        tasks=planning.select_tasks(registry, parsing.split_names(opt.tasks_opt)),
        pruners=parsing.split_names(opt.pruners),
        detectors=parsing.split_names(opt.detectors),
        scorers=parsing.split_names(opt.scorers),
        seeds=list(range(opt.seed_start, opt.seed_start + opt.seeds)),
        archs=parsing.parse_archs(opt.arch),
        params=parsing.parse_params(opt.params),
        training_overrides=overrides,
        device=planning.resolve_device(opt.device),
        batch=not opt.no_batch,
        jobs=opt.jobs,
        executor=opt.executor,
        timeout=opt.timeout,
        scheduler=opt.scheduler,
        force=force,
    )
    groups = planning.plan(registry, spec)
    for task in spec.tasks:  # tasks that read data files (MNIST) check them before anything is written
        getattr(task, "check_data", lambda: None)()
    if not large_grid:
        _check_grid_size(groups, spec)
    execution.prepare_execution(registry, spec)
    store = ResultsStore(results)
    for note in store.notes:
        click.echo(note, err=True)
    if not opt.no_cache:
        spec.cache_dir = str(Path(opt.cache_dir).resolve() if opt.cache_dir else Path(results).resolve().parent / ".sculptbench-cache")
    keys = {k for g in groups for k in g.keys.values()}
    skip = set() if no_resume or force else store.finished_keys(among=keys)
    only = store.failed_keys() & keys if retry_failed else None
    command = "sculptbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    # The resolved spec as recorded (the stage cache directory under "cache"), and the options given.
    config = {("cache" if f.name == "cache_dir" else f.name): getattr(spec, f.name) for f in dataclasses.fields(spec)}
    config.update(tasks=[t.name for t in spec.tasks], retry_failed=retry_failed, cli=recorded_cli)
    if resumed is not None:
        run_id = resume_id
        store.resume_run(run_id, executor=spec.executor)
    else:
        run_id = store.start_run(command, config, manifest.manifest(spec, registry), executor=spec.executor)
    total = len(keys)
    cached = sum(1 for k in keys if k in skip)
    to_run = sum(1 for k in keys if k not in skip and (only is None or k in only))
    cells = []
    status = "failed"
    if to_run:
        from sculptbench.engine.torch_import import load_torch

        load_torch()  # once, here, so that forked workers share it
    try:
        if quiet:
            cells = execution.execute(registry, spec, groups, store, run_id, skip=skip, only=only, on_wait=lambda m: click.echo(m, err=True))
        else:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            with Progress(
                TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=True, console=_stderr_console(),
            ) as progress:
                bar = progress.add_task("cells", total=to_run)
                cells = execution.execute(registry, spec, groups, store, run_id, on_cell=lambda c: progress.advance(bar), skip=skip, only=only,
                                        on_wait=lambda m: progress.console.print(m))
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        click.echo(f"interrupted; finished cells are saved in {results}. Run the same command again to resume.", err=True)
        sys.exit(130)
    finally:
        try:
            store.finish_run(run_id, status)
        except SculptbenchError:
            if status == "done":
                raise
            # Already failing (a full disk, a held lock, Ctrl-C): that first error is the one to show.
    shown = store.summary_cells(keys=keys, timings=False)
    board = report.build(shown, columns=columns)
    errors = [c for c in cells if c.status in ("error", "timeout")]
    click.echo(report.render(board, fmt, secondary=True))
    if cached:
        click.echo(f"{cached} of {total} cells were already in {results} and were not recomputed.")
    if only is not None:
        click.echo(f"--retry-failed: {len(only)} failed cells rerun; {total - cached - len(only)} cells without a row were left out.")
    for cell in errors[:5]:
        click.echo(f"{cell.status} in {cell.task} {cell.arch} {cell.pruner}/{cell.detector} seed {cell.seed}: {cell.error}", err=True)
    if len(errors) > 5:
        click.echo(f"... and {len(errors) - 5} more error cells (see `sculptbench report --metric ...` or the database)", err=True)
    planned_epochs: dict[str, set[int]] = {}
    for group in groups:
        planned_epochs.setdefault(group.task.name, set()).add(group.training.epochs)
    for warning in report.untrainable_warnings(shown, planned_epochs):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"run {run_id}: {len(cells)} cells written to {results}", err=True)


def _recorded_options(ctx: click.Context, results: str, resume_id: str, trust_recorded_executor: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--resume RUN_ID``: the recorded run, and its recorded options that were not given again."""
    from sculptbench.results.store import ResultsStore

    resumed = ResultsStore(results, create=False).get_run(resume_id)
    recorded = resumed["config"].get("cli")
    if not recorded:
        raise SculptbenchError(f"run {resume_id!r} did not record its options; run its command again instead: {resumed['command']}")
    source = click.core.ParameterSource
    restored = {k: v for k, v in recorded.items() if k in ctx.params and ctx.get_parameter_source(k) in (source.DEFAULT, None)}
    if not trust_recorded_executor:
        # Where the work runs comes from the command line only: a database (maybe someone
        # else's) must not point this process at a host, least of all a dask scheduler, which
        # can run anything here.
        untrusted = {k: restored.pop(k) for k in _RESUME_FROM_COMMAND_LINE if k in restored}
        if any(untrusted.get(k) not in (None, "local") for k in _RESUME_FROM_COMMAND_LINE):
            shown = ", ".join(f"--{k} {v}" for k, v in untrusted.items() if v is not None)
            click.echo(f"note: run {resume_id} recorded {shown}; --resume takes the executor only from the command line "
                       "(pass it again, or --trust-recorded-executor)", err=True)
    return resumed, restored


#: `run` options that are not part of what a run computes (not restored by --resume RUN_ID).
_RUN_NOT_RECORDED = frozenset({"results", "resume_id", "no_resume", "retry_failed", "quiet", "fmt", "columns", "force", "download",
                               "trust_recorded_executor", "large_grid"})
#: Recorded options that --resume RUN_ID takes only from the command line (or --trust-recorded-executor).
_RESUME_FROM_COMMAND_LINE = ("executor", "scheduler")


def _check_grid_size(groups: list, spec: Any) -> None:
    """Refuse, before any work, a grid beyond :data:`MAX_CELLS` cells or whose memory estimate
    (the largest groups that run at once) exceeds :data:`MEMORY_SHARE` of this machine's memory."""
    import os

    from sculptbench.run import planning

    cells = sum(g.cell_count() for g in groups)
    if cells > MAX_CELLS:
        raise SculptbenchError(f"the grid has {cells:,} cells, more than {MAX_CELLS:,}; narrow --tasks/--arch/--seeds, or pass --large-grid to run it")
    sizes = sorted((planning.estimate_group_bytes(g, spec.batch) for g in groups), reverse=True)
    need = sum(sizes[: max(1, spec.jobs)])
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > MEMORY_SHARE * total:
        raise SculptbenchError(
            f"the grid needs about {need / 2**30:,.1f} GiB at once (estimated: {len(sizes[: max(1, spec.jobs)])} groups of up to "
            f"{max(len(g.seeds) for g in groups):,} seeds x {planning.VARIANTS_PER_SEED} networks side by side), more than "
            f"{int(MEMORY_SHARE * 100)}% of this machine's {total / 2**30:,.1f} GiB; use fewer --seeds, smaller --arch, --no-batch "
            "or fewer --jobs, or pass --large-grid to start anyway"
        )


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@main.command()
@results_option
@click.option("--format", "fmt", default="github", show_default=True, help="github, markdown, plain, latex, csv or json.")
@click.option("--metric", default="success", show_default=True, help="success, input_ari, output_ari, ged, density, accuracy, time or any recorded metric (short or scorer.metric name).")
@click.option("--group-by", "group_by", default=None, metavar="ROWS[:COLUMNS]",
              help="Row and column fields, e.g. pruner,detector:task or o:u. Fields: task, family, depth, arch, pruner, detector, seed and task parameters. Default: pruner,detector with --columns.")
@click.option("--columns", default="auto", show_default=True, help="auto, task, family, task-depth, family-depth or depth (when --group-by names no columns).")
@click.option("--secondary/--no-secondary", "show_secondary", default=True, show_default=True, help="Show the secondary metric (mean input_ari for success) in text tables.")
@click.option("--run", "run_id", default=None, help="Report one run (an id from `sculptbench runs`, or 'latest').")
@click.option("--tasks", "task_filter", default=None, help="Only these tasks: families, task names or globs (comma-separated).")
@click.option("--manifest", "show_manifest", is_flag=True, help="Print the reproducibility manifests of the reported runs as JSON instead of the table.")
@click.option("--untrainable", default="count", show_default=True,
              help="count: untrainable cells enter the means (as failures, 0, for success and its aspects); exclude: leave them out. Either way each entry shows how many there were.")
@user_errors
def report(results, fmt, metric, group_by, columns, show_secondary, run_id, task_filter, show_manifest, untrainable):
    """Re-render the leaderboard from a results database (see docs/reporting.md)."""
    from sculptbench.results import report as report_mod
    from sculptbench.results.store import ResultsStore

    if fmt not in report_mod.FORMATS:
        raise SculptbenchError(f"invalid --format {fmt!r}; valid: {', '.join(report_mod.FORMATS)}")
    store = ResultsStore(results, create=False)
    runs = store.runs()
    if run_id == "latest":
        run_id = store.latest_run_id()
    if run_id is not None and run_id not in {r["run_id"] for r in runs}:
        raise SculptbenchError(f"no run {run_id!r} in {results}; see `sculptbench runs`")
    cells = store.summary_cells(run_id, timings=metric == "time")
    if task_filter:
        cells = report_mod.filter_tasks(cells, [t.strip() for t in task_filter.split(",") if t.strip()])
    if show_manifest:
        click.echo(json.dumps(report_mod.manifest_report(cells, runs), indent=2, sort_keys=True))
        return
    board = report_mod.build(cells, metric=metric, columns=columns, group_by=group_by, runs=runs, untrainable=untrainable)
    click.echo(report_mod.render(board, fmt, secondary=show_secondary))


@main.command()
@results_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@user_errors
def runs(results, as_json):
    """List the runs recorded in a results database."""
    from tabulate import tabulate

    from sculptbench.results.store import ResultsStore

    store = ResultsStore(results, create=False)
    items = store.runs()
    if as_json:
        click.echo(json.dumps([{k: v for k, v in r.items() if k != "manifest"} for r in items], indent=2, sort_keys=True))
        return
    import datetime as dt

    def when(t):
        return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "-"

    rows = [[r["run_id"], r["status"], when(r["started"]), when(r["finished"]), ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items())),
             _executor_label(r), r["command"]] for r in items]
    click.echo(tabulate(rows, headers=["run", "status", "started", "finished", "cells", "executor", "command"], tablefmt="github"))


def _executor_label(run_record: dict[str, Any]) -> str:
    """``local x2``, ``dask tcp://host:8786`` or ``dask x2`` (a LocalCluster) for the runs table."""
    name = run_record.get("executor") or "local"
    config = run_record.get("config") or {}
    if config.get("scheduler"):
        return f"{name} {config['scheduler']}"
    return f"{name} x{config['jobs']}" if config.get("jobs") else name


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@user_errors
def plugins(as_json):
    """Show every plugin: name, package, version, what it registers and its status."""
    from tabulate import tabulate

    from sculptbench.plugin.registry import load_registry

    registry = load_registry()
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in registry.plugins], indent=2, sort_keys=True))
        return
    rows = []
    for p in registry.plugins:
        regs = "; ".join(f"{kind}s: {_abbrev(names)}" for kind, names in p.registers.items()) or "-"
        status = "ok" if p.status == "ok" else p.error if p.status == "clash" else f"failed: {p.error}"
        rows.append([p.name, p.package, p.version, regs, status])
    click.echo(tabulate(rows, headers=["plugin", "package", "version", "registers", "status"], tablefmt="github"))


def _abbrev(names: list[str], limit: int = 6) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... ({len(names)} in all)"


@main.command(name="list")
@click.argument("kind", type=click.Choice(["tasks", "pruners", "detectors", "scorers"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@user_errors
def list_cmd(kind, as_json):
    """List the registered tasks, pruners, detectors or scorers."""
    from tabulate import tabulate

    registry = _registry()
    singular = kind[:-1]
    items = []
    for name in sorted(registry.components[singular]):
        comp = registry.components[singular][name]
        owner = registry.owner[(singular, name)]
        item: dict[str, Any] = {"name": name, "package": owner.package, "plugin": owner.name, "version": str(getattr(comp, "version", ""))}
        if singular == "task":
            item.update(family=comp.family, inputs=comp.n_inputs, outputs=comp.n_outputs, modules=len(comp.ground_truth.modules),
                        archs=["x".join(map(str, a)) for a in comp.default_archs], data=comp.data_source)
        elif singular == "scorer":
            item["metrics"] = sorted(comp.metrics)
        else:
            options = {**comp.defaults, **getattr(comp, "optional_defaults", {})}
            item["options"] = {k: v if not isinstance(v, tuple) else list(v) for k, v in options.items()}
            if getattr(comp, "fallbacks", None):
                # None above: the task's default; these values when the task gives none.
                item["fallbacks"] = {k: v if not isinstance(v, tuple) else list(v) for k, v in comp.fallbacks.items() if k in options}
        item["description"] = (comp.__doc__ or "").strip().splitlines()[0] if comp.__doc__ else ""
        items.append(item)
    if as_json:
        click.echo(json.dumps(items, indent=2, sort_keys=True))
        return
    if singular == "task":
        rows = [[i["name"], i["family"], i["inputs"], i["outputs"], i["modules"], ", ".join(i["archs"]), i["package"]] for i in items]
        headers = ["task", "family", "inputs", "outputs", "modules", "default archs", "package"]
    else:
        rows = [[i["name"], i["package"], i["version"], i["description"]] for i in items]
        headers = [singular, "package", "version", "description"]
    click.echo(tabulate(rows, headers=headers, tablefmt="github"))


@main.command()
@click.option("--task", "task_name", required=True, help="Task name or circuit .yaml path.")
@click.option("--arch", default=None, help="One hidden shape, e.g. 24x24 (default: the task's first).")
@click.option("--pruner", default="iterative", show_default=True)
@click.option("--detector", default="sculpting", show_default=True)
@click.option("--scorers", default="structure", show_default=True, help="Comma-separated scorers whose verdict is printed.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="cpu", show_default=True)
@click.option("--param", "params", multiple=True, metavar="NAME.KEY=VALUE", help="Pruner or detector option.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the task's epochs.")
@click.option("--cache", "cache_dir", default=".sculptbench-cache", show_default=True, type=click.Path(file_okay=False),
              help="Stage cache: a network a run stored there is drawn as it was scored; one computed here is stored.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the stage cache (the network is computed as a run would).")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Output file: .png, .pdf or .svg.")
@user_errors
@mnist_options
def draw(task_name, arch, pruner, detector, scorers, seed, device, params, epochs, cache_dir, no_cache, output):
    """Draw the network a run scores for one cell (from the stage cache, or computed as a run would)."""
    from pathlib import Path

    from sculptbench.results.draw import FORMATS
    from sculptbench.run import parsing, planning

    if not output.lower().endswith(FORMATS):
        raise SculptbenchError(f"cannot draw to {output}: use a .png, .pdf or .svg file name")
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
    path, _ = _draw_scored(registry, group, seed, detector, None if no_cache else str(Path(cache_dir).resolve()), output)
    click.echo(f"wrote {path}")


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
    click.echo(f"{group.task.name} {cell.arch} {group.pruner}/{detector} seed {seed}: density {net.density():.6f}, "
               f"{len(scored.detection.modules)} modules" + (f", {verdicts}" if verdicts else "")
               + (" (network: from the stage cache)" if (cell.config.get("cache") or {}).get("prune") == "hit" else " (network: computed)"))
    return str(path), scored


@main.command()
@click.option("--kind", required=True, metavar="KIND", help="bars, sweep, curve or network.")
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
              help="network: the stage cache holding the scored network (default: .sculptbench-cache next to --results).")
@user_errors
@mnist_options
def plot(kind, output, results, run_id, metric, sweep_param, lines, task_sel, arch, pruner, detector, seed, cell_ident, device, cache_dir):
    """Plot results: success bars, a parameter sweep, a pruning curve or a sculpted network (see docs/reporting.md)."""
    from pathlib import Path

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
    if kind in ("bars", "sweep"):
        chosen = plot_mod.select(cells, **filters)
        if not chosen:
            raise SculptbenchError(f"no cells match {plot_mod.describe_filters(**filters)}")
        if kind == "bars":
            path = plot_mod.plot_bars(chosen, output, metric=metric)
        else:
            path = plot_mod.plot_sweep(chosen, output, sweep_param, metric=metric, lines=lines)
    else:
        cell = plot_mod.one_network(store, cells, cell_ident, **filters)
        ident = cell_ident if cell_ident is not None else plot_mod.cell_id(store, cell)
        if kind == "curve":
            path = plot_mod.plot_curve(cell, output, ident)
        else:
            registry = registry or _registry()
            warn = lambda m: click.echo(f"warning: {m}", err=True)  # noqa: E731
            group = plot_mod.network_group(cell, registry, task_file, device, warn=warn)
            cache = str(Path(cache_dir).resolve() if cache_dir else Path(results).resolve().parent / ".sculptbench-cache")
            path, scored = _draw_scored(registry, group, cell.seed, cell.detector, cache, output)
            if cell.density is not None and scored.cell.density != cell.density:
                warn(f"the drawn network has density {scored.cell.density:.6f}, the stored cell {cell.density:.6f} "
                     "(a different device or package version?)")
    click.echo(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
