"""``sculptbench report``, ``runs``, ``plugins`` and ``list``: read a results database, and describe
what is installed."""

from __future__ import annotations

import json
from typing import Any

import click

from sculptbench.cli.common import _registry, echo, main, results_option, user_errors
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.text import terminal_safe


@main.command()
@results_option
@click.option("--format", "fmt", default="github", show_default=True, help="github, markdown, plain, latex, csv, json or html (a web page; needs -o).")
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
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False), help="Write the report to this file instead of printing it (needed by --format html).")
@click.option("--cache", "cache_dir", default=None, type=click.Path(file_okay=False),
              help="--format html: the stage cache its network drawings are read from (default: the runs' default, see `run --help`).")
@click.option("--throughput", is_flag=True, help="Print cells per minute of compute per pruner (or per --group-by rows) instead of the leaderboard.")
@click.pass_context
@user_errors
def report(ctx, results, fmt, metric, group_by, columns, show_secondary, run_id, task_filter, show_manifest, untrainable, output, cache_dir,
           throughput):
    """Re-render the leaderboard from a results database (see docs/reporting.md)."""
    from sculptbench.cli.board_cmd import check_report_options, html_page, write_output
    from sculptbench.results import report as report_mod
    from sculptbench.results.store import ResultsStore

    given = {name for name in ctx.params if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)}
    check_report_options(fmt, given, output)
    store = ResultsStore(results, create=False)
    runs = store.runs()
    if run_id == "latest":
        run_id = store.latest_run_id()
    if run_id is not None and run_id not in {r["run_id"] for r in runs}:
        raise SculptbenchError(f"no run {run_id!r} in {results}; see `sculptbench runs`")
    cells = store.summary_cells(run_id, timings=metric == "time" or throughput or fmt == "html")
    if task_filter:
        cells = report_mod.filter_tasks(cells, [t.strip() for t in task_filter.split(",") if t.strip()])
    if show_manifest:
        text = json.dumps(report_mod.manifest_report(cells, runs), indent=2, sort_keys=True)
    elif throughput:
        from sculptbench.results import throughput as throughput_mod

        text = throughput_mod.render(throughput_mod.build(store, cells, group_by, untrainable), fmt)
    elif fmt == "html":
        text = html_page(store, cells, runs, results, metric, untrainable, cache_dir)
    else:
        board = report_mod.build(cells, metric=metric, columns=columns, group_by=group_by, runs=runs, untrainable=untrainable)
        text = report_mod.render(board, fmt, secondary=show_secondary)
    if output is None:
        echo(text)
    else:
        write_output(output, text)
        echo(f"wrote {output}", err=True)


@main.command()
@results_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--check", "full_check", is_flag=True,
              help="Check the whole database instead: SQLite's integrity_check and every field of every run and cell (exit status 2 if damaged).")
@user_errors
def runs(results, as_json, full_check):
    """List the runs recorded in a results database (opening it runs SQLite's quick_check)."""
    from tabulate import tabulate

    from sculptbench.results.store import ResultsStore

    store = ResultsStore(results, create=False)
    if full_check:
        if as_json:
            raise SculptbenchError("--check prints one line; leave out --json")
        n_runs, n_cells = store.check()
        echo(f"ok: {results} passed SQLite's integrity_check and every field of its {n_runs} runs and {n_cells} cell rows checks out")
        return
    items = store.runs()
    if as_json:
        echo(json.dumps([{k: v for k, v in r.items() if k != "manifest"} for r in items], indent=2, sort_keys=True))
        return
    import datetime as dt

    def when(t):
        return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "-"

    rows = [[terminal_safe(str(v), one_line=True) for v in (
        r["run_id"], r["status"], when(r["started"]), when(r["finished"]), ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items())),
        _executor_label(r), r["command"])] for r in items]
    echo(tabulate(rows, headers=["run", "status", "started", "finished", "cells", "executor", "command"], tablefmt="github"))


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
        echo(json.dumps([p.to_dict() for p in registry.plugins], indent=2, sort_keys=True))
        return
    rows = []
    for p in registry.plugins:
        regs = "; ".join(f"{kind}s: {_abbrev(names)}" for kind, names in p.registers.items()) or "-"
        status = "ok" if p.status == "ok" else p.error if p.status == "clash" else f"failed: {p.error}"
        rows.append([p.name, p.package, p.version, regs, status])
    echo(tabulate(rows, headers=["plugin", "package", "version", "registers", "status"], tablefmt="github"))


def _abbrev(names: list[str], limit: int = 6) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... ({len(names)} in all)"


@main.command(name="list")
@click.argument("kind", type=click.Choice(["tasks", "pruners", "detectors", "scorers"]))
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@user_errors
def list_cmd(kind, name, as_json):
    """List the registered tasks, pruners, detectors or scorers; with NAME, one of them in full:
    its description, citation and every option (type, accepted values, default, when it applies)."""
    from tabulate import tabulate

    from sculptbench.cli.describe import describe_component, options_table

    registry = _registry()
    singular = kind[:-1]
    if name is not None:
        item = describe_component(registry, singular, name)
        if as_json:
            echo(json.dumps(item, indent=2, sort_keys=True))
            return
        echo(f"{singular} {item['name']} {item['version']} (package {item['package']})")
        if item["description"]:
            echo(item["description"])
        if item.get("citation"):
            echo(f"citation: {item['citation']}")
        for key in ("family", "inputs", "outputs", "modules", "archs", "data", "metrics"):
            if key in item:
                value = item[key]
                echo(f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}")
        if "options" in item:
            echo("options:" if item["options"] else "options: none")
            if item["options"]:
                echo(options_table(item["options"]))
        return
    items = [describe_component(registry, singular, n) for n in sorted(registry.components[singular])]
    if as_json:
        echo(json.dumps(items, indent=2, sort_keys=True))
        return
    if singular == "task":
        rows = [[i["name"], i["family"], i["inputs"], i["outputs"], i["modules"], ", ".join(i["archs"]), i["package"]] for i in items]
        headers = ["task", "family", "inputs", "outputs", "modules", "default archs", "package"]
    else:
        rows = [[i["name"], i["package"], i["version"], ", ".join(o["name"] for o in i.get("options", []) if not o["protocol"]) or "-",
                 i["description"]] for i in items]
        headers = [singular, "package", "version", "options", "description"]
    echo(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    if singular == "pruner":
        from sculptbench.contracts.protocol import PROTOCOL_OPTIONS

        echo(f"\nEvery pruner but published also takes the protocol's options: {', '.join(PROTOCOL_OPTIONS)}.")
    if singular != "task":
        echo(f"\nEvery option with its type, accepted values, default and when it applies: sculptbench list {kind} NAME")
