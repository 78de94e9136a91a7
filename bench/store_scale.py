"""How the results store scales: build a synthetic store of N cells, then time `sculptbench report`,
`sculptbench runs` and a re-run of an already-finished grid, each in its own subprocess (so its
peak RSS is its own), and print the figures against the targets of issue 14.

The first ``--rerun-cells`` cells (default 10,000, at most N) are the real grid that
``sculptbench run --tasks bool/input-separable --arch 24,25,... --seeds S`` plans, so that
re-running that command finds every cell finished; the other cells carry synthetic keys. Every
row looks like a real one: the structure scorer's metrics, a real-sized config and a pruning
history of ``--history-steps`` steps (200 steps make a row of about 23 KB, as measured on real
stores).

    python bench/store_scale.py --cells 100000
    python bench/store_scale.py --cells 1000000 --history-steps 20 --db /tmp/big.db
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"report": (10.0, 500.0), "finished re-run": (5.0, None)}  # seconds, MB (for the sizes in the issue)
TASK = "bool/input-separable"


def rerun_args(cells: int) -> list[str]:
    """The `sculptbench run` options of a real grid of ``cells`` cells (archs x seeds)."""
    archs = max(1, -(-cells // 1000))
    seeds = -(-cells // archs)
    arch = ",".join(str(24 + i) for i in range(archs))
    return ["--tasks", TASK, "--arch", arch, "--seeds", str(seeds), "--pruners", "iterative", "--detectors", "sculpting",
            "--scorers", "structure"]


def planned_keys(args: list[str]) -> list[tuple[str, int, tuple[int, ...]]]:
    """The (cell key, seed, hidden shape) of every cell that `run` with ``args`` plans."""
    from sculptbench.run import parsing
    from sculptbench.run import planning
    from sculptbench.plugin.registry import load_registry

    opts = dict(zip(args[::2], args[1::2]))
    registry = load_registry()
    spec = planning.RunSpec(
        tasks=planning.select_tasks(registry, [TASK]), pruners=["iterative"], detectors=["sculpting"], scorers=["structure"],
        seeds=list(range(int(opts["--seeds"]))), archs=parsing.parse_archs(opts["--arch"]), params={}, training_overrides={},
        device="cpu", batch=True, jobs=1, executor="local", timeout=None, scheduler=None, force=None,
    )
    return [(key, seed, group.hidden) for group in planning.plan(registry, spec) for (seed, _), key in group.keys.items()]


def synthetic_cell(key: str, seed: int, hidden: tuple[int, ...], rng: random.Random, history_steps: int):
    """A cell with a real row's shape (metrics, config, versions, pruning history)."""
    from sculptbench.contracts.work import Cell

    success = rng.random() < 0.8
    density = 1.0
    history = [{"phase": "dense", "target": 0.0, "density": 1.0, "accuracy": 1.0, "accepted": True}]
    for step in range(1, history_steps):
        density *= 0.97
        history.append({"phase": "unit" if step < history_steps // 2 else "edge", "target": round(100 * (1 - density), 3),
                        "density": density, "accuracy": 1.0 - rng.random() * 0.01, "accepted": rng.random() < 0.9})
    modules = [[[0, i], [1, i + 4], [2, i]] for i in range(4)]
    return Cell(
        cell_key=key, task=TASK, family="exemplars", arch="x".join(map(str, hidden)), depth=len(hidden), pruner="iterative",
        detector="sculpting", seed=seed, status="ok", density=density, accuracy=1.0, test_accuracy=1.0, dense_accuracy=1.0,
        metrics={"structure.ged": float(not success), "structure.ged_exact": True, "structure.ged_raw": int(not success),
                 "structure.hidden_separability": success, "structure.input_ari": rng.random(), "structure.input_separability": success,
                 "structure.modules_expected": 2, "structure.modules_found": 2, "structure.output_ari": rng.random(),
                 "structure.output_grouping": success, "structure.success": success},
        timings={"prune": rng.random() * 3, "detect": rng.random() * 0.01, "score": rng.random() * 0.05},
        config={"cache": {"detect": "miss", "prune": "miss", "score": {"structure": "miss"}}, "data_source": "truth table",
                "detector_params": {"linkage": "average", "merge_threshold": 0.9, "metric": "cosine", "mm_threshold": 0.2},
                "device": "cpu", "modules": modules, "pruner_info": {"threshold": 1.0, "trainings": 20, "variants_tried": 9},
                "pruner_params": {"edge_schedule": "linear", "edge_score": "magnitude", "schedule_iterations": 10,
                                  "unit_schedule": "linear", "unit_score": "act_grad"},
                "task_hash": "74a37764372241af", "task_parameters": {}, "history": history,
                "training": {"batch_size": 8, "epochs": 60, "lr": 0.05, "noise_std": 0.1, "weight_decay": 0.0001}},
        versions={"detectors": {"sculpting": {"package": "sculptbench", "package_version": "0.1.0", "version": "1.0"}},
                  "pruner": {"package": "sculptbench", "package_version": "0.1.0", "version": "1.1"},
                  "scorers": {"structure": {"package": "sculptbench", "package_version": "0.1.0", "version": "2.1"}},
                  "sculptbench": "0.1.0", "task": {"package": "sculptbench", "package_version": "0.1.0", "version": ""}, "torch": "2"},
    )


def build(db: Path, cells: int, rerun_cells: int, history_steps: int) -> float:
    """Write the synthetic store; return the seconds it took."""
    from sculptbench.results.store import ResultsStore

    t0 = time.perf_counter()
    rng = random.Random(0)
    store = ResultsStore(db)
    run_id = store.start_run("sculptbench run " + " ".join(rerun_args(rerun_cells)) + " (synthetic, bench/store_scale.py)",
                             {"cli": {}}, {}, executor="local")
    real = planned_keys(rerun_args(rerun_cells))[:rerun_cells] if rerun_cells else []
    batch = []
    for i in range(cells):
        key, seed, hidden = real[i] if i < len(real) else (f"synthetic{i:012d}", i % 1000, (24 + i // 1000 % 10,))
        batch.append(synthetic_cell(key, seed, hidden, rng, history_steps))
        if len(batch) == 5000:
            store.write_cells(run_id, batch)
            batch = []
    if batch:
        store.write_cells(run_id, batch)
    store.finish_run(run_id, "done")
    store.close()
    return time.perf_counter() - t0


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, float, subprocess.CompletedProcess]:
    """Run the `sculptbench` console script; (wall seconds, its CPU seconds, its peak RSS in MB, the process).

    Each command runs through a fresh `python bench/store_scale.py --measure ...` parent, so that
    RUSAGE_CHILDREN holds that one command's peak only.
    """
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--measure", *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"sculptbench {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    last = dict(item.split("=") for item in proc.stderr.strip().splitlines()[-1].split())
    return wall, float(last["cpu_s"]), float(last["peak_rss_mb"]), proc


def measure(args: list[str]) -> None:
    """Run one `sculptbench` command and report its peak RSS on stderr's last line."""
    import shutil

    exe = shutil.which("sculptbench") or "sculptbench"
    proc = subprocess.run([exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(proc.stderr)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write(f"\ncpu_s={usage.ru_utime + usage.ru_stime:.2f} peak_rss_mb={usage.ru_maxrss / 1024:.1f}\n")
    sys.exit(proc.returncode)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        measure(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=100_000, help="cells in the synthetic store")
    ap.add_argument("--rerun-cells", type=int, default=10_000, help="cells of the real grid that is re-run (at most --cells)")
    ap.add_argument("--history-steps", type=int, default=200, help="pruning-history steps per cell (200: about 23 KB a row)")
    ap.add_argument("--db", default=None, help="where to build the store (default: a temporary directory, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep an existing --db instead of rebuilding it")
    args = ap.parse_args()
    rerun = min(args.rerun_cells, args.cells)
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="store-scale-")
        db = Path(tmp.name) / "scale.db"
    else:
        db = Path(args.db)
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"SQLite {__import__('sqlite3').sqlite_version}")
    if not (args.keep and db.exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        seconds = build(db, args.cells, rerun, args.history_steps)
        print(f"built {args.cells:,} cells ({rerun:,} of a real grid, {args.history_steps} history steps each) in {seconds:.1f} s; "
              f"database {db.stat().st_size / 1e6:,.0f} MB ({db.stat().st_size / args.cells / 1e3:.1f} KB a cell)")
    rows = []
    load = os.getloadavg()[0]
    wall, cpu, rss, _ = timed(["report", "--results", str(db)], env)
    rows.append(("report", wall, cpu, rss))
    wall, cpu, rss, _ = timed(["runs", "--results", str(db)], env)
    rows.append(("runs", wall, cpu, rss))
    if rerun:
        wall, cpu, rss, proc = timed(["run", *rerun_args(rerun), "--results", str(db), "--no-cache", "--quiet", "--large-grid"], env)
        skipped = [line for line in proc.stderr.splitlines() if "cells written" in line]
        rows.append((f"finished re-run ({rerun:,} cells)", wall, cpu, rss))
        print(f"re-run: {skipped[-1] if skipped else proc.stderr.strip()[-200:]}")
    print(f"load average before timing: {load:.1f} on {os.cpu_count()} cores (CPU s is the command's own user+system time)")
    print("\n| command | cells | wall s | CPU s | peak RSS MB | target | vs target |\n|---|---|---|---|---|---|---|")
    for name, wall, cpu, rss in rows:
        key = "finished re-run" if name.startswith("finished") else name
        target = TARGETS.get(key)
        if target:
            t_s, t_mb = target
            ratio = f"{wall / t_s:.2f} x time" + (f", {rss / t_mb:.2f} x memory" if t_mb else "")
            text = f"<= {t_s:g} s" + (f", <= {t_mb:g} MB" if t_mb else "")
        else:
            ratio, text = "-", "-"
        cells = rerun if key == "finished re-run" else args.cells
        print(f"| {name} | {cells:,} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {text} | {ratio} |")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
