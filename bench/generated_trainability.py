"""Generated circuits: do they load, pass the ground-truth check, and train?

Draws ``--circuits`` parameter sets of the hierarchy generator across its ranges
(``tasks_common.RANGES``: 1-4 levels, 2-4 modules per level, fan-in 2-4, reuse 0-3, every overlap,
four gate sets, at most ``--max-inputs`` inputs), generates each circuit (``gen/...``; a parameter
set the generator refuses is counted and replaced by the next draw), loads it (the ground-truth
check runs on load), checks that the same parameters give the same bytes twice, and measures the
share of its (architecture, seed) cells at the default architectures whose dense network meets
the accuracy threshold: at the first attempt, and with the protocol's adaptation. Prints the
rates, the attempts that rescued cells, the worst circuits, the time, the peak memory and the
machine.

``--recipe default`` trains every circuit with sculptbench's default recipe (the paper's
Boolean one: lr 0.05, batch size 8, 15 epochs) instead of the generator's, as a circuit a user
writes without a ``training`` key is trained.

    python bench/generated_trainability.py [--circuits 200] [--seeds 4] [--sample-seed 2026] [--max-inputs 10]
    python bench/generated_trainability.py --circuits 80 --max-inputs 6 --recipe default
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tasks_common import machine, peak_mib, rate, rescued, sample_params, trainability  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Generate, load, check and train the sample; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--sample-seed", type=int, default=2026)
    parser.add_argument("--max-inputs", type=int, default=10)
    parser.add_argument("--adapt", type=int, default=None, help="the protocol's adapt budget (default: its default)")
    parser.add_argument("--recipe", choices=("generator", "default"), default="generator",
                        help="train with each circuit's own recipe, or with sculptbench's default one")
    args = parser.parse_args(argv)

    from sculptbench.api import SculptbenchError, TrainingConfig
    from sculptbench.plugin.registry import load_registry
    from sculptbench.plugins.tasks.boolean.generate_cmd import generated_task
    from sculptbench.plugins.tasks.boolean.generator import generate

    registry = load_registry(entry_points=False)
    t0 = time.perf_counter()
    refused: list[str] = []
    tasks = []
    draw = 0
    while len(tasks) < args.circuits:
        for params in sample_params(4 * args.circuits, args.sample_seed, args.max_inputs)[draw:]:
            draw += 1
            try:
                task = generated_task(params.name())
            except SculptbenchError as exc:
                refused.append(str(exc).split(":")[0])
                continue
            if generate(params) != generate(params):
                raise AssertionError(f"{params.name()} gave two different texts")
            tasks.append(task)
            if len(tasks) == args.circuits:
                break
    generated_s = time.perf_counter() - t0
    print(f"{len(tasks)} circuits generated and loaded (ground-truth check passed: {len(tasks)}), {len(refused)} parameter sets "
          f"refused by the generator, in {generated_s:.1f} s", flush=True)
    cells = []
    recipe = TrainingConfig().__dict__ if args.recipe == "default" else None
    for i, task in enumerate(tasks, 1):
        cells += trainability(registry, task, range(args.seeds), args.adapt, recipe)
        if i % 20 == 0:
            print(f"  {i}/{len(tasks)} circuits: {rate(cells, 'first'):.3f} first attempt, {rate(cells):.3f} with adaptation "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    wall = time.perf_counter() - t0
    by_task: dict[str, list] = collections.defaultdict(list)
    for c in cells:
        by_task[c.task].append(c)
    worst = sorted(by_task.items(), key=lambda kv: rate(kv[1]))[:8]
    print(f"cells: {len(cells)} ({len(tasks)} circuits x default archs x {args.seeds} seeds), recipe: {args.recipe}")
    print(f"trained at the first attempt: {sum(c.first for c in cells)} = {rate(cells, 'first'):.3f}")
    print(f"trained with the adaptation: {sum(c.final for c in cells)} = {rate(cells):.3f} (target 0.95)")
    print(f"trained at attempt: {rescued(cells)}")
    print(f"circuits with every cell trained: {sum(rate(v) == 1.0 for v in by_task.values())} of {len(by_task)}")
    print("least trainable circuits: " + "; ".join(f"{name} {rate(v):.2f}" for name, v in worst))
    inputs = collections.Counter(t.n_inputs for t in tasks)
    print("inputs: " + ", ".join(f"{n}: {inputs[n]}" for n in sorted(inputs)))
    print(f"wall {wall:.0f} s, peak RSS {peak_mib():.0f} MiB, machine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
