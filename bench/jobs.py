"""Wall time of `sculptbench run --jobs 1` against `--jobs 2` (and more) on one fixed workload.

Each run is a fresh `sculptbench run` subprocess with its own results database and `--no-cache`,
so the times include everything a user waits for: start-up, the worker processes' start-up
(importing torch and the plugins once), pruning, detection, scoring and the database writes.

Default workload: the 4 exemplar tasks x hidden shapes 24 and 24x24 x `magnitude` pruning x
`louvain` x 4 seeds, 30 epochs (8 groups of 4 seeds, 32 cells).

    python bench/jobs.py
    python bench/jobs.py --jobs 1,2,4 --seeds 8
    python bench/jobs.py --tasks bool/input-separable --arch 24 --pruners iterative --detectors sculpting
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(jobs: int, args: argparse.Namespace, workdir: Path) -> float:
    """Seconds one `sculptbench run --jobs JOBS` takes."""
    db = workdir / f"jobs{jobs}-{time.monotonic_ns()}.db"
    cmd = [sys.executable, "-m", "sculptbench.cli", "run", "--tasks", args.tasks, "--arch", args.arch, "--pruners", args.pruners,
           "--detectors", args.detectors, "--seeds", str(args.seeds), "--epochs", str(args.epochs), "--jobs", str(jobs),
           "--no-cache", "--quiet", "--results", str(db)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"`{' '.join(cmd)}` failed:\n{proc.stderr}")
    return elapsed


def _spin(_: int) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(10_000_000):
        x += i
    return time.perf_counter() - t0


def machine_check(n: int) -> float:
    """How much faster N busy processes get through N pieces of work than one process (ideal: N)."""
    from multiprocessing import get_context

    alone = _spin(0)
    with get_context("spawn").Pool(n) as pool:
        pool.map(_spin, range(n))  # warm up
        t0 = time.perf_counter()
        pool.map(_spin, range(n))
        together = time.perf_counter() - t0
    return n * alone / together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="exemplars")
    parser.add_argument("--arch", default="24,24x24")
    parser.add_argument("--pruners", default="magnitude")
    parser.add_argument("--detectors", default="louvain")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values; the first is the baseline")
    parser.add_argument("--repeat", type=int, default=1, help="runs per --jobs value (the fastest is kept)")
    args = parser.parse_args()
    jobs_values = [int(j) for j in args.jobs.split(",")]
    print(f"workload: --tasks {args.tasks} --arch {args.arch} --pruners {args.pruners} --detectors {args.detectors} "
          f"--seeds {args.seeds} --epochs {args.epochs}; {os.cpu_count()} cores")
    top = max(jobs_values)
    if top > 1:
        print(f"machine check: {top} busy processes do {machine_check(top):.2f}x the work of one (the ceiling for --jobs {top}; "
              "below it, the cores are shared or busy)", flush=True)
    times: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in jobs_values:
            times[jobs] = min(run_once(jobs, args, Path(tmp)) for _ in range(args.repeat))
            print(f"--jobs {jobs}: {times[jobs]:.1f} s wall", flush=True)
    base = times[jobs_values[0]]
    for jobs in jobs_values[1:]:
        print(f"speed-up of --jobs {jobs} over --jobs {jobs_values[0]}: {base / times[jobs]:.2f}x")


if __name__ == "__main__":
    main()
