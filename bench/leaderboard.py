"""The leaderboard: every built-in pruner x every built-in detector on every task family, 4 seeds,
into docs/results/leaderboard.md and docs/results/leaderboard.json.

Each family is one `sculptbench run` into one results database and one stage cache in
``--workdir``, so a stopped run resumes where it stopped (finished cells are skipped, pruned
networks come from the cache) and adding a method costs that method's cells only. Per family it
records the wall time and the peak RSS of the largest process (the coordinator or a worker),
then renders the family's leaderboard (success with 95% intervals and the paired verdict of the
best row) and the throughput per pruner from the database.

    python bench/leaderboard.py                                  # every family, --jobs 2
    python bench/leaderboard.py --families exemplars --jobs 2    # the exemplar cross product
    python bench/leaderboard.py --render                         # only re-render the page from --workdir
    python bench/leaderboard.py --families classic --retry-failed  # rerun a family's error and timeout cells
    python bench/leaderboard.py --dask-speedup                   # 1 vs 2 single-thread dask workers
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "results" / "leaderboard.md"
JSON_PAGE = ROOT / "docs" / "results" / "leaderboard.json"
#: The generator sweep: the difficulty sweep's points (bench/difficulty_sweep.py), circuit 1 of each.
GENERATED = ",".join([*(f"gen/l{v}-m3-f2-r0-o0-s1" for v in (1, 2, 3, 4)), *(f"gen/l1-m2-f3-r{v}-o1-s1" for v in (0, 1, 2, 3)),
                      *(f"gen/l1-m2-f4-r1-o{v}-gt-s1" for v in (0, 1, 2, 3))])
#: The MNIST families run on the board profile: the leaderboard's budget (docs/mnist.md, "The board profile").
BOARD = ("--profile", "board")
#: Family -> (the --tasks selector of its run, its --arch or None for each task's default architectures, further run options).
FAMILIES = {
    "exemplars": ("exemplars", None, ()), "reuse": ("reuse", None, ()), "overlap": ("overlap", None, ()), "levels": ("levels", None, ()),
    "classic": ("classic", None, ()), "generated": (GENERATED, "24x24", ()), "mnist": ("mnist", None, BOARD),
    "halves-mnist": ("halves-mnist", None, BOARD),
}
SCORERS = "structure,clusterability"


def builtins(kind: str) -> list[str]:
    """The built-in components of ``kind`` that a leaderboard ranks (``published`` needs the paper's checkout)."""
    from sculptbench.plugin.registry import load_registry

    registry = load_registry(entry_points=False)
    names = sorted(n for n in registry.components[kind] if registry.owner[(kind, n)].builtin and n != "published")
    return names


def available_families() -> dict[str, tuple[str, str | None, tuple[str, ...]]]:
    """The families of :data:`FAMILIES` that have tasks in this installation."""
    from sculptbench.plugin.registry import load_registry

    registry = load_registry(entry_points=False)
    families = {t.family.split("/")[-1] for t in registry.tasks.values()} | {t.family for t in registry.tasks.values()}
    families.add("generated")  # a task source: its circuits are made on demand, not listed
    return {name: grid for name, grid in FAMILIES.items() if name in families}


def machine() -> str:
    """CPU model and core count."""
    from sculptbench.engine.torch_import import cpu_model

    import os

    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def run_measured(command: list[str]) -> tuple[int, float, int, str]:
    """Run ``command``; its exit status, wall seconds, the peak RSS of its largest process (bytes) and stderr's tail."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def watch() -> None:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                procs = [parent, *parent.children(recursive=True)]
                peak[0] = max([peak[0], *(p.memory_info().rss for p in procs if p.is_running())])
            except psutil.Error:
                pass
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    watcher.join(timeout=2)
    return proc.returncode, time.perf_counter() - start, peak[0], err[-2000:]


def run_command(grid: tuple[str, str | None, tuple[str, ...]], workdir: Path, seeds: int, jobs: int, executor: str,
                pruners: list[str], detectors: list[str], cache: bool = True) -> list[str]:
    """The `sculptbench run` of one family's (selector, architecture, further options); without
    ``cache``, from scratch (``--no-cache``) instead of with the workdir's stage cache."""
    selector, arch, extra = grid
    return ["sculptbench", "run", "--tasks", selector, *(["--arch", arch] if arch else []), *extra, "--pruners", ",".join(pruners), "--detectors", ",".join(detectors),
            "--scorers", SCORERS, "--seeds", str(seeds), "--jobs", str(jobs), "--executor", executor,
            "--results", str(workdir / "leaderboard.db"), *(["--cache", str(workdir / "cache")] if cache else ["--no-cache"]), "--quiet"]


def report(workdir: Path, selector: str, fmt: str, *extra: str) -> str:
    """`sculptbench report` of one family from the workdir's database (columns by task, or ``extra``)."""
    columns = [] if "--throughput" in extra or "--group-by" in extra else ["--columns", "task"]
    command = ["sculptbench", "report", "--results", str(workdir / "leaderboard.db"), "--tasks", selector,
               *columns, "--format", fmt, *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed: {done.stderr.strip()}")
    return done.stdout


def render(workdir: Path, timings: dict[str, dict]) -> None:
    """Write the page and its JSON from the database and the recorded timings."""
    lines = ["# The leaderboard", "",
             "Every built-in pruner (but `published`) x every built-in detector on every task family, 4 seeds, "
             "scored by `structure` (against the ground truth) and `clusterability` (label-free). Regenerated by "
             "`python bench/leaderboard.py`; each block says its command, time, peak memory and machine. Entries are "
             "`structure.success` with 95% bootstrap intervals; the paired table says whether the best row beats each "
             "other row on the same cells (`docs/reporting.md`).", ""]
    missing = [f for f in available_families() if f not in timings]
    if missing:
        lines += [f"**Not on this page yet:** {', '.join(missing)} (no finished run of the family in the workdir; "
                  f"`python bench/leaderboard.py --families {','.join(missing)}` adds them and re-renders).", ""]
    if timings:
        total = sum(r["wall_s"] for r in timings.values()) + sum(x["wall_s"] for r in timings.values() for x in r.get("reruns", []))
        lines += [f"**The whole board:** {sum(r['cells'] for r in timings.values()):,} cells of {len(timings)} families in "
                  f"{total / 60:.1f} min of wall time (the families' runs below, and their reruns, added up), the largest "
                  f"process at most {max(r['peak_rss'] for r in timings.values()) / 2**30:.2f} GiB.", ""]
    speedup_file = workdir / "dask-speedup.json"
    if speedup_file.exists():
        dask = json.loads(speedup_file.read_text())
        lines += ["**On a dask cluster:** the exemplar cross product from scratch (`--no-cache`) on a LocalCluster of "
                  "single-thread workers, `python bench/leaderboard.py --dask-speedup`:", ""]
        lines += [f"- {r['workers']} worker(s): {r['wall_s'] / 60:.1f} min, peak RSS {r['peak_rss'] / 2**30:.2f} GiB "
                  f"(`{r['command']}`)" for r in dask["runs"]]
        lines += ["", f"Speed-up of 2 workers over 1: **{dask['speedup']:.2f}x**; {dask['machine']}; measured {dask['when']}.", ""]
    data = {}
    for family, record in timings.items():
        selector = record["selector"]
        lines += [f"## {family}", "", "```bash", record["command"], "```", "",
                  f"Wall {record['wall_s'] / 60:.1f} min (this run; finished cells of earlier runs were skipped), peak RSS of the "
                  f"largest process {record['peak_rss'] / 2**30:.2f} GiB, {record['cells']} cells; {record['machine']}; "
                  f"measured {record['when']}.", ""]
        for rerun in record.get("reruns", []):
            lines += ["Its error and timeout cells rerun afterwards:", "", "```bash", rerun["command"], "```", "",
                      f"Wall {rerun['wall_s']:.0f} s, peak RSS {rerun['peak_rss'] / 2**30:.2f} GiB; measured {rerun['when']}.", ""]
        lines += [report(workdir, selector, "markdown").rstrip(), ""]
        if BOARD[0] in FAMILIES[family][2]:  # the board profile's budget: how well its networks learn
            lines += ["Validation accuracy of the networks the detectors read (dense: the trained network itself), by pruner; "
                      "each network is counted once per detector, so n is 9 per network and the intervals are narrower than "
                      "over networks:", "",
                      report(workdir, selector, "markdown", "--metric", "accuracy", "--no-secondary", "--group-by", "pruner:task").rstrip(), ""]
        lines += ["Throughput:", "",
                  report(workdir, selector, "markdown", "--throughput").rstrip(), ""]
        data[family] = json.loads(report(workdir, selector, "json"))
    PAGE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    JSON_PAGE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {PAGE} and {JSON_PAGE}")


def dask_speedup(workdir: Path, seeds: int, pruners: list[str], detectors: list[str]) -> None:
    """The exemplar grid on a LocalCluster of 1, then 2, single-thread workers, each from scratch."""
    walls, record = {}, {"runs": [], "machine": machine(), "when": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    for workers in (1, 2):
        folder = workdir / f"dask-{workers}"
        folder.mkdir(parents=True, exist_ok=True)
        for stale in ("leaderboard.db", "leaderboard.db-wal", "leaderboard.db-shm"):
            (folder / stale).unlink(missing_ok=True)
        command = run_command(FAMILIES["exemplars"], folder, seeds, workers, "dask", pruners, detectors, cache=False)
        status, wall, peak, err = run_measured(command)
        if status != 0:
            raise SystemExit(f"error: the dask run with {workers} worker(s) failed: {err.strip()}")
        walls[workers] = wall
        record["runs"].append({"workers": workers, "command": shlex.join(command), "wall_s": wall, "peak_rss": peak})
        print(f"dask, {workers} single-thread worker(s): {wall:.1f} s, peak RSS {peak / 2**20:.0f} MiB  ({shlex.join(command)})")
    record["speedup"] = walls[1] / walls[2]
    (workdir / "dask-speedup.json").write_text(json.dumps(record, indent=1))
    print(f"speed-up of 2 workers over 1: {walls[1] / walls[2]:.2f}x  ({machine()})")


def main(argv: list[str] | None = None) -> int:
    """Run the families asked for (resuming), then render the page."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=ROOT / "leaderboard-work", help="Results database, stage cache and timings.")
    ap.add_argument("--families", default=None, help=f"Comma-separated, of {', '.join(FAMILIES)} (default: every one installed).")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--executor", default="local")
    ap.add_argument("--pruners", default=None, help="Comma-separated (default: every built-in but published).")
    ap.add_argument("--detectors", default=None, help="Comma-separated (default: every built-in).")
    ap.add_argument("--retry-failed", action="store_true",
                    help="Rerun only the families' error and timeout cells; the page shows each such rerun under its family.")
    ap.add_argument("--render", action="store_true", help="Only re-render the page from --workdir.")
    ap.add_argument("--no-render", action="store_true", help="Run, but leave the page alone.")
    ap.add_argument("--dask-speedup", action="store_true", help="Time the exemplar grid on 1 and 2 dask workers instead.")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    timings_file = args.workdir / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    pruners = args.pruners.split(",") if args.pruners else builtins("pruner")
    detectors = args.detectors.split(",") if args.detectors else builtins("detector")
    if args.dask_speedup:
        dask_speedup(args.workdir, args.seeds, pruners, detectors)
        return 0
    families = available_families()
    chosen = args.families.split(",") if args.families else list(families)
    unknown = [f for f in chosen if f not in families]
    if unknown:
        raise SystemExit(f"error: unknown or uninstalled family {unknown[0]!r}; valid: {', '.join(families)}")
    if not args.render:
        for family in chosen:
            command = run_command(families[family], args.workdir, args.seeds, args.jobs, args.executor, pruners, detectors)
            if args.retry_failed:
                if family not in timings:
                    raise SystemExit(f"error: {family} has no finished run in {args.workdir} to retry; run it without --retry-failed first")
                command.append("--retry-failed")
            print(f"{family}: {shlex.join(command)}", flush=True)
            status, wall, peak, err = run_measured(command)
            if status != 0:
                raise SystemExit(f"error: {family} failed (exit {status}): {err.strip()}")
            cells = sum(json.loads(report(args.workdir, families[family][0], "json"))["statuses"].values())
            if args.retry_failed:
                timings[family].setdefault("reruns", []).append({"command": shlex.join(command), "wall_s": wall, "peak_rss": peak,
                                                                 "when": datetime.now(timezone.utc).strftime("%Y-%m-%d")})
                timings_file.write_text(json.dumps(timings, indent=1))
                print(f"{family}: rerun of its failed cells {wall:.0f} s", flush=True)
                continue
            timings[family] = {"selector": families[family][0], "command": shlex.join(command), "wall_s": wall, "peak_rss": peak,
                               "cells": cells, "machine": machine(), "when": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
            timings_file.write_text(json.dumps(timings, indent=1))
            print(f"{family}: {wall / 60:.1f} min, peak RSS {peak / 2**30:.2f} GiB", flush=True)
    if not args.no_render:
        render(args.workdir, {f: timings[f] for f in (chosen if args.families else timings) if f in timings})
    return 0


if __name__ == "__main__":
    sys.exit(main())
