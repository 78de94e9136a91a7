"""Is the memory guard honest? For grids of different sizes and rules, print the guard's estimate
(what `sculptbench run` checks against 80% of this machine's memory) beside the peak RSS that
`sculptbench run` measurably reaches, and their ratio; the guard is honest when every ratio lies
between 0.5 and 2. Also time the refusal of a million-cell grid (counted before it is planned) and
of a network 20,000 hidden layers deep.

Each grid runs as `sculptbench run ... --jobs 1 --no-cache --large-grid` (so the guard never stops
it) in a fresh subprocess; its peak RSS is the largest of that process and its children
(`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`, which covers the forked child that runs each
work unit). `--epochs` is small so that each grid finishes in a minute or two: how many networks
a seed trains side by side, and how large they are, set the peak, not how long each trains.

    python bench/memory_guard.py                 # every grid
    python bench/memory_guard.py --grids auto,authors
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SCULPTBENCH = [sys.executable, "-m", "sculptbench.cli"]


@dataclass(frozen=True)
class Grid:
    """One grid: its name and what `sculptbench run` is given."""

    name: str
    task: str
    arch: str
    pruner: str
    seeds: int
    params: tuple[str, ...] = ()
    epochs: int = 2
    detector: str = "louvain"

    def args(self) -> list[str]:
        """The `sculptbench run` options of the grid."""
        out = ["--tasks", self.task, "--arch", self.arch, "--pruners", self.pruner, "--detectors", self.detector,
               "--seeds", str(self.seeds), "--epochs", str(self.epochs)]
        for param in self.params:
            out += ["--param", param]
        return out


GRIDS = (
    Grid("small", "bool/input-separable", "24x24", "magnitude", 4),
    Grid("dense-wide", "bool/levels-m16", "512x512", "dense", 24, params=("dense.restarts=1",)),
    Grid("auto", "bool/both", "256x256x256", "iterative", 4),
    Grid("authors", "bool/both", "128x128x128", "iterative", 4, params=("iterative.hparams=authors",)),
    Grid("restarts", "bool/both", "192x192", "iterative", 2, params=("iterative.hparams=task", "iterative.restarts=120")),
    Grid("restarts-large", "bool/both", "320x320", "iterative", 2, params=("iterative.hparams=task", "iterative.restarts=300"), epochs=1),
)


def estimate(grid: Grid) -> tuple[int, int, str]:
    """The guard's estimate for ``grid`` (bytes), the process's own share of it (this process's
    resident memory once the plugins are loaded and the grid planned, as in `run`) and what it
    counted, planned as `run` plans it."""
    from sculptbench.engine.torch_import import defer_torch

    defer_torch(1)  # as the command line does: planning a grid does not import torch
    from sculptbench.plugin.registry import load_registry
    from sculptbench.run import guard, parsing, planning

    registry = load_registry()
    spec = planning.RunSpec(
        tasks=planning.select_tasks(registry, [grid.task]), pruners=[grid.pruner], detectors=[grid.detector], scorers=["structure"],
        seeds=list(range(grid.seeds)), archs=parsing.parse_archs(grid.arch), params=parsing.parse_params(list(grid.params)),
        training_overrides={"epochs": grid.epochs}, device="cpu", batch=True, jobs=1,
    )
    groups = planning.plan(registry, spec)
    baseline = guard.process_bytes()
    need = guard.estimate_run_bytes(groups, spec, baseline)
    widest = max(groups, key=lambda g: len(g.seeds) * g.networks_per_seed)
    return need, baseline, f"{len(widest.seeds)} seeds x {widest.networks_per_seed} networks"


def measure(args: list[str], timeout: float) -> tuple[int, float, int, str]:
    """Run ``sculptbench`` with ``args`` in a fresh process: (exit status, wall seconds, peak RSS
    in bytes of it and its children, stderr's last line)."""
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
        "print(json.dumps({'rc': p.returncode, 'wall': time.perf_counter() - t,\n"
        "                  'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,\n"
        "                  'err': (p.stderr.strip().splitlines() or [''])[-1]}))\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", wrapper, *SCULPTBENCH, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"error: the measuring wrapper failed: {proc.stderr.strip()[-500:]}")
    out = json.loads(proc.stdout)
    return out["rc"], out["wall"], out["rss"], out["err"]


def refusal(args: list[str], timeout: float) -> tuple[int, float, int, str]:
    """A grid the guard must refuse: (exit status, wall seconds, peak RSS, the error line)."""
    return measure(["run", *args, "--quiet", "--no-cache", "--results", str(Path(tempfile.gettempdir()) / "never-written.db")], timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", default=",".join(g.name for g in GRIDS), help="Comma-separated grid names.")
    parser.add_argument("--timeout", type=float, default=900, help="Seconds per grid.")
    args = parser.parse_args(argv)
    chosen = [g for g in GRIDS if g.name in args.grids.split(",")]
    unknown = set(args.grids.split(",")) - {g.name for g in GRIDS}
    if unknown:
        print(f"error: unknown grid {sorted(unknown)[0]!r}; valid: {', '.join(g.name for g in GRIDS)}", file=sys.stderr)
        return 2
    from sculptbench.engine.torch_import import cpu_model

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB; "
          f"python {platform.python_version()}")
    print("| grid | options | side by side | estimate (process) | peak RSS | peak / estimate | wall |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    with tempfile.TemporaryDirectory(prefix="sculptbench-memory-") as tmp:
        for grid in chosen:
            need, baseline, counted = estimate(grid)
            rc, wall, rss, err = measure(["run", *grid.args(), "--jobs", "1", "--no-cache", "--large-grid", "--quiet",
                                          "--results", str(Path(tmp) / f"{grid.name}.db")], args.timeout)
            if rc != 0:
                print(f"error: grid {grid.name} failed (exit {rc}): {err}", file=sys.stderr)
                return 1
            ratios.append(rss / need)
            print(f"| {grid.name} | `{' '.join(grid.args())}` | {counted} | {need / 2**30:.2f} GiB ({baseline / 2**30:.2f}) | {rss / 2**30:.2f} GiB | "
                  f"{rss / need:.2f} | {wall:.0f} s |", flush=True)
    print(f"\npeak / estimate from {min(ratios):.2f} to {max(ratios):.2f} "
          f"({'within' if all(0.5 <= r <= 2 for r in ratios) else 'NOT within'} a factor of 2)")
    million = ",".join(str(8 + i) for i in range(1000))
    rc, wall, rss, err = refusal(["--tasks", "bool/none", "--arch", million, "--seeds", "1000"], args.timeout)
    print(f"a grid of 1,000,000 cells: exit {rc} after {wall:.2f} s (peak RSS {rss / 2**20:.0f} MiB): {err}")
    rc, wall, rss, err = refusal(["--tasks", "bool/none", "--arch", "x".join(["4"] * 20_000), "--seeds", "1"], args.timeout)
    print(f"20,000 hidden layers: exit {rc} after {wall:.2f} s (peak RSS {rss / 2**20:.0f} MiB): {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
