"""Every built-in Boolean task: does each of its cells train at its default architectures?

For every shipped Boolean task (the paper's 39 and the classic family) and each of its default
architectures, ``--seeds`` seeds are pruned by ``dense`` under the protocol with one start each:
the share of cells whose dense network meets the threshold at the first attempt, and with the
protocol's adaptation. Prints one row per task, the tasks below the 95% target, the time, the
peak memory and the machine. ``trained at attempt``: the cells that trained, by the attempt that trained
them (0: the first; 1-3: the adaptation ladder's steps, docs/protocol.md).

    python bench/builtin_trainability.py [--seeds 4] [--tasks bool/hxor,classic]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tasks_common import machine, peak_mib, rate, rescued, trainability  # noqa: E402

TARGET = 0.95


def main(argv: list[str] | None = None) -> int:
    """Measure every task and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--tasks", default="bool", help="task selectors, comma-separated (default: every Boolean task)")
    parser.add_argument("--adapt", type=int, default=None, help="the protocol's adapt budget (default: its default)")
    args = parser.parse_args(argv)

    from tabulate import tabulate

    from sculptbench.plugin.registry import load_registry
    from sculptbench.run.planning import select_tasks

    registry = load_registry(entry_points=False)
    tasks = [t for t in select_tasks(registry, args.tasks.split(",")) if t.data_source == "truth table"]
    t0 = time.perf_counter()
    rows, below, every = [], [], []
    for task in tasks:
        t1 = time.perf_counter()
        cells = trainability(registry, task, range(args.seeds), args.adapt)
        every += cells
        archs = sorted({c.arch for c in cells}, key=lambda a: (a.count("x"), a))
        rows.append([task.name, task.family, ", ".join(archs), len(cells), f"{rate(cells, 'first'):.2f}", f"{rate(cells):.2f}",
                     rescued(cells), f"{time.perf_counter() - t1:.1f}"])
        if rate(cells) < TARGET:
            below.append(f"{task.name} {rate(cells):.2f}")
    print(tabulate(rows, headers=["task", "family", "archs", "cells", "first attempt", "with adaptation", "trained at attempt", "s"], tablefmt="github",
                   disable_numparse=True))
    print(f"\n{len(tasks)} tasks, {len(every)} cells: {rate(every, 'first'):.3f} trained at the first attempt, "
          f"{rate(every):.3f} with the adaptation (trained at attempt {rescued(every)}); tasks below {TARGET:.0%}: {', '.join(below) or 'none'}")
    print(f"wall {time.perf_counter() - t0:.0f} s, peak RSS {peak_mib():.0f} MiB, machine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
