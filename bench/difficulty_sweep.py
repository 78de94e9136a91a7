"""Where each method breaks: recovery along the generator's levels, reuse and overlap axes.

Three sweeps of generated circuits (docs/tasks.md), each moving one parameter from a base:

- levels 1..4: ``gen/l{L}-m3-f2-r0-o0-s{c}`` (6 inputs, 3 modules per level);
- reuse 0..3: ``gen/l1-m2-f3-r{R}-o1-s{c}`` (5 inputs, two modules sharing one, each driving 1 + R
  outputs);
- overlap 0..3: ``gen/l1-m2-f4-r1-o{O}-gt-s{c}`` (8 - O inputs, two table modules sharing O inputs,
  the shape of the paper's input-overlap family).

At each point ``--circuits`` circuits (draw seeds 0..c-1) x ``--seeds`` network seeds are run by
``sculptbench run``'s own path (every ``--pruners``, detector ``sculpting``, scorer ``structure``,
architecture ``--arch``, each task's recipe, the protocol's defaults with its adaptation). Prints,
per point and pruner, the success rate (an untrainable cell counts as a failure, as in the
leaderboard) and the mean of each other ``--metrics`` entry over the scored cells, and draws one
panel per axis and metric (``--figure``), with the time, the peak memory and the machine.

    python bench/difficulty_sweep.py [--circuits 3] [--seeds 2] [--pruners iterative,magnitude,dense] [--arch 24x24]
                                     [--metrics success,input_ari] [--jobs 2] [--figure docs/img/difficulty.png]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tasks_common import machine, peak_mib  # noqa: E402

AXES = {
    "levels": [(v, f"gen/l{v}-m3-f2-r0-o0-s{{c}}") for v in (1, 2, 3, 4)],
    "reuse": [(v, f"gen/l1-m2-f3-r{v}-o1-s{{c}}") for v in (0, 1, 2, 3)],
    "overlap": [(v, f"gen/l1-m2-f4-r1-o{v}-gt-s{{c}}") for v in (0, 1, 2, 3)],
}


def run_cells(registry, selectors, args, results: Path):
    """Every cell of ``selectors`` under the bench's settings, run as ``sculptbench run`` runs them."""
    from sculptbench.results.store import ResultsStore
    from sculptbench.run import execution, manifest, planning
    from sculptbench.run.parsing import parse_shape

    spec = planning.RunSpec(tasks=planning.select_tasks(registry, selectors), pruners=args.pruners.split(","), detectors=["sculpting"],
                            scorers=["structure"], seeds=list(range(args.seeds)), archs=[parse_shape(args.arch)], jobs=args.jobs)
    store = ResultsStore(results)
    try:
        run_id = store.start_run("difficulty_sweep", {}, manifest.manifest(spec, registry))
        cells = execution.execute(registry, spec, planning.plan(registry, spec), store, run_id)
        store.finish_run(run_id, "done")
    finally:
        store.close()
    return cells


def value(cell, metric: str) -> float | None:
    """``success``: 1 for a cell the structure scorer calls a success, else 0 (untrainable and error
    cells too); any other metric: its value on a scored cell (``None`` elsewhere)."""
    if metric == "success":
        return float(cell.status == "ok" and bool(cell.metrics.get("structure.success")))
    found = cell.metrics.get(f"structure.{metric}") if cell.status == "ok" else None
    return None if found is None else float(found)


def mean_of(cells, metric: str) -> tuple[float, int]:
    """The mean of ``metric`` over ``cells`` that have a value, and how many did."""
    values = [v for v in (value(c, metric) for c in cells) if v is not None]
    return (sum(values) / len(values) if values else float("nan")), len(values)


def draw(table: dict, pruners: list[str], metrics: list[str], path: Path, title: str) -> None:
    """One panel per axis (columns) and metric (rows), a line per pruner; success with binomial
    standard errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, grid = plt.subplots(len(metrics), len(AXES), figsize=(4.2 * len(AXES), 3.2 * len(metrics)), sharey="row", squeeze=False)
    for row, metric in enumerate(metrics):
        for ax, axis in zip(grid[row], AXES):
            values = [v for v, _ in AXES[axis]]
            for pruner in pruners:
                points = [table[(axis, v, pruner, metric)] for v in values]
                means = [m for m, _ in points]
                errors = [math.sqrt(m * (1 - m) / n) if metric == "success" and n else 0.0 for m, n in points]
                ax.errorbar(values, means, yerr=errors, marker="o", capsize=3, label=pruner)
            ax.set_xlabel(axis)
            ax.set_xticks(values)
            ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
        grid[row][0].set_ylabel(f"structure.{metric}")
    grid[0][-1].legend(loc="best", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Run the three sweeps and print and draw the rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--pruners", default="iterative,magnitude,dense")
    parser.add_argument("--arch", default="24x24")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--axes", default=",".join(AXES))
    parser.add_argument("--metrics", default="success,input_ari", help="success first, then other structure metrics")
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args(argv)

    from tabulate import tabulate

    from sculptbench.plugin.registry import load_registry

    registry = load_registry(entry_points=False)
    pruners = args.pruners.split(",")
    axes = args.axes.split(",")
    metrics = args.metrics.split(",")
    t0 = time.perf_counter()
    table: dict = {}
    with tempfile.TemporaryDirectory(prefix="sweep-") as tmp:
        for axis in axes:
            for value, pattern in AXES[axis]:
                selectors = [pattern.format(c=c) for c in range(args.circuits)]
                cells = run_cells(registry, selectors, args, Path(tmp) / f"{axis}-{value}.db")
                for pruner in pruners:
                    mine = [c for c in cells if c.pruner.split("[")[0] == pruner]
                    for metric in metrics:
                        table[(axis, value, pruner, metric)] = mean_of(mine, metric)
                    untrainable = sum(c.status == "untrainable" for c in mine)
                    shown = ", ".join(f"{m} {table[(axis, value, pruner, m)][0]:.2f}" for m in metrics)
                    print(f"{axis}={value} {pruner}: {shown} over {len(mine)} cells"
                          f"{f' ({untrainable} untrainable)' if untrainable else ''} ({time.perf_counter() - t0:.0f} s)", flush=True)
    wall = time.perf_counter() - t0
    for axis in axes:
        values = [v for v, _ in AXES[axis]]
        rows = [[pruner, metric, *(f"{table[(axis, v, pruner, metric)][0]:.2f}" for v in values)] for metric in metrics for pruner in pruners]
        print(f"\n{axis}: {', '.join(pattern.format(c='<c>') for _, pattern in AXES[axis])}")
        print(tabulate(rows, headers=["pruner", "metric", *(f"{axis} {v}" for v in values)], tablefmt="github", disable_numparse=True))
    where = machine()
    print(f"\n{args.circuits} circuits x {args.seeds} seeds per point, arch {args.arch}; wall {wall:.0f} s, peak RSS {peak_mib():.0f} MiB "
          f"(this process), machine: {where}")
    if args.figure is not None and set(axes) == set(AXES):
        draw(table, pruners, metrics, args.figure,
             f"sculpting's modules scored by structure, on generated circuits ({args.circuits} circuits x {args.seeds} seeds "
             f"per point, {args.arch}; untrainable cells count as failures for success)")
        print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
