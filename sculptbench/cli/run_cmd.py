"""``sculptbench run``: plan a grid, run its cells, record them, and print the leaderboard."""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from types import SimpleNamespace
from typing import Any

import click

from sculptbench.cli.common import (
    DEFAULT_SEEDS,
    TaskCommand,
    _registry,
    apply_plugin_options,
    echo,
    main,
    plugin_registry,
    refuse_unread_cache,
    results_option,
    terminal_safe,
    user_errors,
)
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.limits import MAX_CELLS, MAX_SEEDS, MEMORY_SHARE


@main.command(cls=TaskCommand)
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
@click.option("--cache", "cache_dir", default=None, type=click.Path(file_okay=False), help="Stage cache directory (default: $SCULPTBENCH_CACHE, else $XDG_CACHE_HOME/sculptbench, else ~/.cache/sculptbench).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the stage cache.")
@click.option("--force", default=None, metavar="STAGE", help="Recompute this stage (prune, detect or score) and the later ones, also for finished cells.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--no-batch", is_flag=True, help="Prune one network at a time instead of batching seeds.")
@click.option("--param", "params", multiple=True, metavar="NAME.KEY=VALUE", help="Set a pruner or detector option, e.g. iterative.unit_step=30.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the tasks' epochs per (re)training.")
@click.option("--lr", type=float, default=None, help="Override the tasks' learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override the tasks' batch size.")
@click.option("--resume", "resume_id", default=None, is_flag=False, flag_value="", metavar="[RUN_ID]",
              help="Continue run RUN_ID: the grid it recorded (unless given again; how and where to run come from this command line), new cells written under its id. Finished cells are always skipped unless --no-resume.")
@click.option("--no-resume", is_flag=True, help="Recompute cells already finished in the database.")
@click.option("--trust-recorded-executor", is_flag=True,
              help="With --resume RUN_ID, also take the executor and dask scheduler recorded in the database (a scheduler can run any code here; docs/execution.md).")
@click.option("--large-grid", is_flag=True,
              help=f"Start even beyond --seeds {MAX_SEEDS:,}, {MAX_CELLS:,} cells or {int(MEMORY_SHARE * 100)}% of this machine's memory (estimated).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--format", "fmt", default="github", show_default=True, help="Leaderboard format.")
@click.option("--columns", default="auto", show_default=True, help="Leaderboard columns: auto, task, family, task-depth, family-depth, depth.")
@user_errors
def run(results, retry_failed, force, resume_id, no_resume, trust_recorded_executor, large_grid, quiet, fmt, columns, **_run_options):
    """Run tasks x architectures x pruners x detectors x seeds and print a leaderboard.

    Execution, caching, resuming and timeouts: docs/execution.md.
    """
    # The options that define the run (tasks ... batch_size) are read from the click context
    # below, where ``--resume RUN_ID`` overlays the recorded ones that were not given again.
    from sculptbench.results import report
    from sculptbench.results.store import ResultsStore
    from sculptbench.run import execution, guard, manifest, parsing, planning
    from sculptbench.run.cache import cache_root

    ctx = click.get_current_context()
    recorded_cli = {k: list(v) if isinstance(v, tuple) else v for k, v in ctx.params.items() if k not in _RUN_NOT_RECORDED}
    recorded_cli["plugin_options"] = dict(ctx.meta.get("plugin_options", {}))
    resumed = None
    if resume_id:
        resumed, restored = _recorded_options(ctx, results, resume_id, trust_recorded_executor)
        recorded_cli = {**recorded_cli, **restored}
        plugin_options = restored.pop("plugin_options", {})
        recorded_cli["plugin_options"] = {**plugin_options, **recorded_cli.get("plugin_options", {})}
        apply_plugin_options(plugin_options)
    else:
        restored = {}
    # The options of this run: the command line's, and under --resume the run's recorded ones not given again.
    opt = SimpleNamespace(**{**ctx.params, **restored})
    refuse_unread_cache(ctx.params.get("cache_dir"), ctx.params.get("no_cache"))  # this command line's, not a resumed run's
    if opt.scheduler and opt.executor != "dask":
        raise SculptbenchError(f"--scheduler {opt.scheduler} needs --executor dask (the {opt.executor!r} executor takes no scheduler)")
    if opt.seeds < 1:
        raise SculptbenchError(f"invalid --seeds {opt.seeds}; it must be >= 1")
    if opt.seeds > guard.MAX_SEEDS and not large_grid:
        raise SculptbenchError(f"--seeds {opt.seeds:,} is more than {guard.MAX_SEEDS:,}; pass --large-grid to run that many")
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
    if not large_grid:
        guard.check_cells(spec)  # counted before planning: a million cells are refused at once
    groups = planning.plan(registry, spec)
    for task in spec.tasks:  # tasks that read data files (MNIST) check them before anything is written
        getattr(task, "check_data", lambda: None)()
    if not large_grid:
        guard.check_grid(groups, spec)
    execution.prepare_execution(registry, spec)
    store = ResultsStore(results)
    for note in store.notes:
        echo(note, err=True)
    if not opt.no_cache:
        spec.cache_dir = cache_root(opt.cache_dir)
    keys = {k for g in groups for k in g.keys.values()}
    store.summary_cells(keys=keys)  # every row of this grid is checked before anything is written
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
    unstored = _UnstoredWarning(spec.cache_dir)
    try:
        if quiet:
            cells = execution.execute(registry, spec, groups, store, run_id, skip=skip, only=only, on_wait=lambda m: echo(m, err=True),
                                      on_cell=lambda c: unstored.see(c, lambda m: echo(m, err=True)))
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
                cells = execution.execute(registry, spec, groups, store, run_id, skip=skip, only=only,
                                          on_cell=lambda c: (progress.advance(bar), unstored.see(c, lambda m: progress.console.print(terminal_safe(m), markup=False, highlight=False, soft_wrap=True))),
                                          on_wait=lambda m: progress.console.print(terminal_safe(m), markup=False, highlight=False, soft_wrap=True))
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        echo(f"interrupted; finished cells are saved in {results}. Run the same command again to resume.", err=True)
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
    echo(report.render(board, fmt, secondary=True, paired=False))  # `sculptbench report` adds the paired comparisons
    if cached:
        echo(f"{cached} of {total} cells were already in {results} and were not recomputed.")
    if only is not None:
        echo(f"--retry-failed: {len(only)} failed cells rerun; {total - cached - len(only)} cells without a row were left out.")
    for cell in errors[:5]:
        echo(f"{cell.status} in {cell.task} {cell.arch} {cell.pruner}/{cell.detector} seed {cell.seed}: {cell.error}", err=True)
    if len(errors) > 5:
        echo(f"... and {len(errors) - 5} more error cells (see `sculptbench report --metric ...` or the database)", err=True)
    planned_epochs: dict[str, set[int]] = {}
    for group in groups:
        planned_epochs.setdefault(group.task.name, set()).add(group.training.epochs)
    for warning in report.untrainable_warnings(shown, planned_epochs):
        echo(f"warning: {warning}", err=True)
    echo(f"run {run_id}: {len(cells)} cells written to {results}", err=True)


def _recorded_options(ctx: click.Context, results: str, resume_id: str, trust_recorded_executor: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--resume RUN_ID``: the recorded run, and the recorded options it takes.

    Only what defines the grid comes from the database (:data:`_GRID_OPTIONS` and plugin options
    declared ``defines_grid``), each unless given again and checked as if typed; how and where the
    grid runs (workers, executor, cache, timeouts, where data lives) comes from the command line
    or the defaults. What the run recorded and this one does not take is named in one ``note:`` line.
    """
    from sculptbench.results.store import ResultsStore

    resumed = ResultsStore(results, create=False).get_run(resume_id)
    recorded = resumed["config"].get("cli")
    if not recorded:
        raise SculptbenchError(f"run {resume_id!r} did not record its options; run its command again instead: {resumed['command']}")
    if not isinstance(recorded, dict):
        raise SculptbenchError(f"run {resume_id!r} in {results}: its recorded options (config.cli) are not a JSON object; "
                               "the database is damaged or was edited: run the command again instead of --resume")
    source = click.core.ParameterSource
    taken = _GRID_OPTIONS + (_RESUME_FROM_COMMAND_LINE if trust_recorded_executor else ())
    params = {p.name: p for p in ctx.command.params}
    restored: dict[str, Any] = {}
    left: list[str] = []
    for name, value in recorded.items():
        if name not in params or name == "plugin_options":
            continue
        if name not in taken:
            if value != ctx.params.get(name):
                left.append(_as_flag(params[name], value))
            continue
        if ctx.get_parameter_source(name) in (source.DEFAULT, None):
            restored[name] = _typed(ctx, params[name], value, resume_id)
    # A plugin option that defines the grid (e.g. the MNIST profile) comes back unless given again;
    # one that says where data lives comes only from the command line.
    given = ctx.meta.get("plugin_options", {})
    options = plugin_registry().cli_options
    recorded_plugins = recorded.get("plugin_options") or {}
    if not isinstance(recorded_plugins, dict):
        raise SculptbenchError(f"run {resume_id!r} in {results}: its recorded plugin options are not a JSON object; "
                               "the database is damaged or was edited: run the command again instead of --resume")
    restored["plugin_options"] = {}
    for name, value in sorted(recorded_plugins.items()):
        option = options.get(name)
        if option is not None and option.defines_grid and name not in given:
            if not isinstance(value, (str, bool)):
                raise SculptbenchError(f"run {resume_id!r} recorded an invalid {option.flag} ({_short(value)}); "
                                       "the database is damaged or was edited: run the command again instead of --resume")
            restored["plugin_options"][name] = value
        elif option is not None and not option.defines_grid and given.get(name) != value:
            left.append(f"{option.flag} {_short(value)}")
    if left:
        echo(f"note: run {resume_id} recorded {', '.join(left)}; --resume takes from the database only what defines the grid "
                   "(tasks, architectures, components, options, seeds); the rest comes from this command line or the defaults: "
                   "pass them again to use them" + ("" if trust_recorded_executor else " (--trust-recorded-executor takes the recorded executor and scheduler)"),
                   err=True)
    return resumed, restored


def _typed(ctx: click.Context, param: click.Parameter, value: Any, resume_id: str) -> Any:
    """A recorded value converted and checked as if it had been typed (a database is not trusted)."""
    try:
        if param.multiple and not isinstance(value, list):
            raise click.BadParameter("not a list")
        typed = param.type_cast_value(ctx, value)
    except click.BadParameter as exc:
        raise SculptbenchError(f"run {resume_id!r} recorded an invalid {param.opts[0]} ({_short(value)}: {exc.message}); "
                               "the database is damaged or was edited: run the command again instead of --resume") from None
    return list(typed) if isinstance(typed, tuple) else typed


def _as_flag(param: click.Parameter, value: Any) -> str:
    """How a recorded value would be given on the command line (for the note)."""
    if getattr(param, "is_flag", False):
        return param.opts[0] if value else f"no {param.opts[0]}"
    return f"{param.opts[0]} {_short(value)}"


def _short(value: Any) -> str:
    """A recorded value for a one-line message: shortened."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 240 else text[:237] + "..."


#: `run` options that are not part of what a run computes (not restored by --resume RUN_ID).
_RUN_NOT_RECORDED = frozenset({"results", "resume_id", "no_resume", "retry_failed", "quiet", "fmt", "columns", "force",
                               "trust_recorded_executor", "large_grid"})

#: Recorded `run` options that define the grid (what its cells compute): --resume RUN_ID takes them.
_GRID_OPTIONS = ("tasks_opt", "pruners", "detectors", "scorers", "seeds", "seed_start", "arch", "params", "epochs", "lr",
                 "batch_size", "device")

#: Recorded options that --resume RUN_ID takes only with --trust-recorded-executor.
_RESUME_FROM_COMMAND_LINE = ("executor", "scheduler")


class _UnstoredWarning:
    """One warning per run when the stage cache cannot be written (a full disk): the cells are
    recorded, their stages are recomputed by the next run that needs them."""

    def __init__(self, cache_dir: str | None):
        self.cache_dir, self.shown = cache_dir, False

    def see(self, cell: Any, echo: Any) -> None:
        """Warn (once) if ``cell`` has a stage result that could not be stored."""
        from sculptbench.run.running import unstored_reason

        reason = None if self.shown else unstored_reason(cell)
        if reason is not None:
            self.shown = True
            echo(f"warning: cannot write the stage cache {self.cache_dir} ({reason}); the cells are recorded, but stages that "
                 "were not stored are recomputed when needed again: free some space, or pass another --cache DIR or --no-cache "
                 "(said once per run)")


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)
