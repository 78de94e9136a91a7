"""Benchmark the built-in pruners on the exemplars, one after another on one machine.

Workload per pruner: the 4 exemplars x their default architectures (24, 24x24, 24x24x24) x 4
seeds, detector ``sculpting``, scorer ``structure``, each pruner under its default options and
the task's protocol (the exemplars set 9 starts and ``sparsest_modularity`` for every pruner), no
stage cache. Each pruner runs in its own subprocess with one torch thread, so its wall time and
peak RSS are its own. Prints per pruner: cells per minute, seconds per cell and its ratio to
``iterative``'s, peak RSS; then per exemplar: the median number of kept weights and the success
rate (``structure.success``). For the pruners at initialisation, the seconds spent choosing masks
(scoring, training excluded) are given apart.

    python bench/pruners.py                                          # every built-in pruner but published
    python bench/pruners.py --pruners snip,grasp,synflow,iterative,magnitude
    python bench/pruners.py --seeds 2 --tasks bool/both --archs 24x24  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

EXEMPLARS = ("bool/input-separable", "bool/reused", "bool/both", "bool/none")
BASELINE = "iterative"


def run_pruner(pruner: str, tasks: list[str], archs: list[tuple[int, ...]] | None, seeds: int) -> dict:
    """Run the workload of one pruner in this process, as ``sculptbench run`` does; its figures."""
    import torch

    from sculptbench.api import WorkUnit, load_registry, run_unit
    from sculptbench.contracts.work import CacheLocation
    from sculptbench.run import planning

    torch.set_num_threads(1)
    registry = load_registry(entry_points=False)
    spec = planning.RunSpec(tasks=[registry.tasks[name] for name in tasks], pruners=[pruner], detectors=["sculpting"],
                            scorers=["structure"], seeds=list(range(seeds)), archs=archs)
    cells = []
    masking = _time_masks(registry.pruners[pruner])
    start = time.perf_counter()
    for group in planning.plan(registry, spec):
        unit = WorkUnit(group, [group.keys[(seed, "sculpting")] for seed in group.seeds], True, CacheLocation())
        run_unit(unit, registry, lambda event: cells.append(event[1]) if event[0] == "cell" else None)
    wall = time.perf_counter() - start
    per_task: dict[str, dict] = {}
    for cell in cells:
        sizes = [registry.tasks[cell.task].n_inputs, *(int(w) for w in cell.arch.split("x")), registry.tasks[cell.task].n_outputs]
        entry = per_task.setdefault(cell.task, {"kept": [], "success": [], "status": []})
        entry["status"].append(cell.status)
        if cell.status == "ok":
            entry["kept"].append(round(cell.density * sum(a * b for a, b in zip(sizes, sizes[1:]))))
            entry["success"].append(float(cell.metrics.get("structure.success", 0.0)))
    return {
        "pruner": pruner,
        "label": cells[0].pruner if cells else pruner,
        "cells": len(cells),
        "errors": sum(c.status == "error" for c in cells),
        "wall_s": wall,
        "prune_s": sum(c.timings.get("prune", 0.0) for c in cells),
        "mask_s": masking[0] if masking else None,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "per_task": {task: {"median_kept": statistics.median(e["kept"]) if e["kept"] else None,
                            "success": sum(e["success"]) / len(e["status"]), "cells": len(e["status"]),
                            "untrainable": e["status"].count("untrainable")} for task, e in per_task.items()},
    }


def _time_masks(pruner: object) -> list[float] | None:
    """For a pruner at initialisation, add up the seconds its ``masks`` calls take (scoring and
    choosing the weights, training excluded) in the returned one-item list; else ``None``."""
    call = getattr(pruner, "masks", None)
    if call is None:
        return None
    total = [0.0]

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            total[0] += time.perf_counter() - t0

    pruner.masks = timed  # type: ignore[attr-defined]
    return total


def machine() -> str:
    """CPU model, cores and OS, for the results page."""
    from sculptbench.engine.torch_import import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def builtin_pruners() -> list[str]:
    """Every built-in pruner with a protocol (all but ``published``), the baseline first."""
    from sculptbench.plugin.registry import load_registry

    registry = load_registry(entry_points=False)
    names = sorted(name for name, pruner in registry.pruners.items() if pruner.protocol)
    return sorted(names, key=lambda name: name != BASELINE)


def report(results: list[dict], tasks: list[str]) -> str:
    """The two tables: cost per pruner, then kept weights and success per exemplar."""
    base = next((r for r in results if r["pruner"] == BASELINE), None)
    lines = [f"{'pruner':<11} {'row label':<32} {'cells':>5} {'wall s':>8} {'cells/min':>10} {'s/cell':>7} "
             f"{'vs iterative':>13} {'masks s':>8} {'peak RSS MiB':>13}"]
    for r in results:
        per_cell = r["wall_s"] / r["cells"] if r["cells"] else float("nan")
        ratio = per_cell / (base["wall_s"] / base["cells"]) if base and base["cells"] else float("nan")
        masks = "-" if r.get("mask_s") is None else f"{r['mask_s']:.1f}"
        lines.append(f"{r['pruner']:<11} {r['label']:<32} {r['cells']:>5} {r['wall_s']:>8.1f} {60 * r['cells'] / r['wall_s']:>10.1f} "
                     f"{per_cell:>7.2f} {ratio:>12.2f}x {masks:>8} {r['peak_rss_mib']:>13.0f}")
    lines.append("(vs iterative: seconds per cell over iterative's, above 1 costs more; masks s: of the wall time, the seconds a "
                 "pruner at initialisation spent scoring and choosing weights, training excluded)")
    lines.append("")
    short = [t.split("/", 1)[-1] for t in tasks]
    lines.append(f"{'pruner':<11} " + " ".join(f"{s + ' kept':>22} {'success':>8}" for s in short))
    for r in results:
        row = []
        for task in tasks:
            e = r["per_task"].get(task)
            kept = "-" if e is None or e["median_kept"] is None else f"{e['median_kept']:g}"
            success = "-" if e is None else f"{e['success']:.2f}"
            row.append(f"{kept:>22} {success:>8}")
        lines.append(f"{r['pruner']:<11} " + " ".join(row))
    lines.append("(kept: median kept weights over seeds and architectures; success: mean structure.success, untrainable cells as 0)")
    untrainable = [f"{r['pruner']} {t.split('/', 1)[-1]} {e['untrainable']}/{e['cells']}" for r in results
                   for t, e in r["per_task"].items() if e["untrainable"]]
    if untrainable:
        lines.append("untrainable cells: " + ", ".join(untrainable))
    errors = [f"{r['pruner']} {r['errors']}" for r in results if r["errors"]]
    if errors:
        lines.append("error cells: " + ", ".join(errors))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run each pruner in a subprocess, then print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pruners", default=None, help="Comma-separated pruners (default: every built-in but published).")
    ap.add_argument("--tasks", default=",".join(EXEMPLARS))
    ap.add_argument("--archs", default=None, help="Hidden shapes, e.g. 24,24x24 (default: each task's).")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    tasks = args.tasks.split(",")
    archs = [tuple(int(w) for w in a.split("x")) for a in args.archs.split(",")] if args.archs else None
    if args.child:
        print(json.dumps(run_pruner(args.child, tasks, archs, args.seeds)))
        return 0
    pruners = args.pruners.split(",") if args.pruners else builtin_pruners()
    known = builtin_pruners()
    unknown = [p for p in pruners if p not in known]
    if unknown:
        print(f"error: unknown pruner {unknown[0]!r}; valid: {', '.join(known)}", file=sys.stderr)
        return 2
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    results = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for pruner in pruners:
        cmd = [sys.executable, __file__, "--child", pruner, "--tasks", args.tasks, "--seeds", str(args.seeds),
               *(["--archs", args.archs] if args.archs else [])]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(f"error: {pruner} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}", file=sys.stderr)
            return 1
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"workload per pruner: {len(tasks)} tasks x {'default archs' if archs is None else args.archs} x {args.seeds} seeds, "
          "detector sculpting, scorer structure, default options and the tasks' protocol, no cache, 1 torch thread")
    print(f"machine: {machine()}")
    print(f"started {started:%Y-%m-%d %H:%M} UTC; total wall {time.perf_counter() - t0:.0f} s")
    print()
    print(report(results, tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
