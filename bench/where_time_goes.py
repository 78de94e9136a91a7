"""Profile the batched exemplar workload and say where the time goes, by code area and by function.

Runs the same workload as `bench/engine.py` (batched mode only) under cProfile and prints the
own time ("tottime") of every function summed by area: torch kernels, the engine, the pruning
loop, the detectors, the scorers, networkx, scikit-learn/scipy, and the rest. cProfile adds
overhead to every Python call, so the shares matter more than the absolute seconds.

    python bench/where_time_goes.py                 # 4 exemplars x 1-3 layers x 8 seeds
    python bench/where_time_goes.py --seeds 2 --top 30
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import pstats
import time
from pathlib import Path

#: (area, test on a profiled function's file name and function name), first match wins.
AREAS = [
    ("torch kernels and tensor methods", lambda f, n: f == "~" and ("torch" in n or "Tensor" in n or "_foreach" in n)),
    ("engine (sculptbench/engine/)", lambda f, n: "/sculptbench/engine/" in f),
    ("pruning loop (plugins/pruners/)", lambda f, n: "/pruners/" in f),
    ("detectors (plugins/detectors)", lambda f, n: "/detectors/" in f),
    ("scorers (plugins/scorers)", lambda f, n: "/scorers/" in f),
    ("networkx", lambda f, n: "/networkx/" in f),
    ("scikit-learn, scipy, numpy", lambda f, n: any(p in f for p in ("/sklearn/", "/scipy/", "/numpy/")) or "numpy" in n),
    ("torch Python code", lambda f, n: "/torch/" in f),
]


def _load_engine_bench():
    """`bench/engine.py` as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_engine", Path(__file__).with_name("engine.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def area_of(filename: str, name: str) -> str:
    """The area a profiled function belongs to."""
    for area, matches in AREAS:
        if matches(filename, name):
            return area
    return "other Python (the run, interpreter, stdlib)"


def sqrt_with_zeros_microbench(repeats: int = 500) -> list[tuple[str, float, float]]:
    """Microseconds per ``_foreach_sqrt`` and ``_foreach_div`` call on Adam-state-like lists.

    A pruned network's masked weights keep an exact-zero ``exp_avg_sq``; this measures what such
    zeros cost torch's CPU square root (the division is the control).
    """
    import torch

    generator = torch.Generator().manual_seed(0)

    def lists(zero_share: float) -> list:
        out = []
        for _ in range(3):
            values = torch.rand(72, 24, 24, generator=generator)
            out.append(values * (torch.rand(72, 24, 24, generator=generator) >= zero_share))
        return out

    def per_call(fn) -> float:
        fn()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        return 1e6 * (time.perf_counter() - start) / repeats

    rows = []
    for label, share in (("no zeros", 0.0), ("half zeros", 0.5), ("all zeros", 1.0)):
        tensors = lists(share)
        rows.append((label, per_call(lambda: torch._foreach_sqrt(tensors)), per_call(lambda: torch._foreach_div(tensors, 3.0))))
    return rows


def main() -> None:
    """Profile the workload and print the split by area and the top functions."""
    engine_bench = _load_engine_bench()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    engine_bench.add_workload_options(ap)
    ap.add_argument("--top", type=int, default=15, help="how many functions to list by own time")
    args = ap.parse_args()
    tasks, archs = engine_bench.workload(args)

    profiler = cProfile.Profile()
    profiler.enable()
    result = engine_bench.run_mode("batched", tasks, archs, args.seeds, {}, threads=1)
    profiler.disable()

    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    total = sum(entry[2] for entry in stats.values())
    by_area: dict[str, float] = {}
    for (filename, _, name), (_, _, tottime, _, _) in stats.items():
        area = area_of(filename, name)
        by_area[area] = by_area.get(area, 0.0) + tottime

    split = result["split_s"]
    print(f"workload: {len(tasks)} tasks x {len(archs)} archs x {args.seeds} seeds = {result['runs']} sculpt runs, batched, "
          f"under cProfile: {result['wall_s']:.1f} s wall")
    print(f"stages: train {split['train']:.1f} s, prune decisions {split['decide']:.1f} s, detect {split['detect']:.2f} s, "
          f"score {split['score']:.2f} s")
    print(f"\n{'area':<48} {'own s':>8} {'share':>7}")
    for area, seconds in sorted(by_area.items(), key=lambda kv: -kv[1]):
        print(f"{area:<48} {seconds:>8.2f} {100 * seconds / total:>6.1f}%")
    print(f"{'total profiled':<48} {total:>8.2f}")
    print(f"\ntop {args.top} functions by own time:")
    print(f"{'own s':>8} {'calls':>9}  function")
    ranked = sorted(stats.items(), key=lambda kv: -kv[1][2])[: args.top]
    for (filename, line, name), (_, calls, tottime, _, _) in ranked:
        where = name if filename == "~" else f"{name} ({Path(filename).parent.name}/{Path(filename).name}:{line})"
        print(f"{tottime:>8.2f} {calls:>9}  {where}")

    print("\n_foreach_sqrt vs _foreach_div, 3 tensors of 72x24x24, 1 thread (microseconds per call):")
    rows = sqrt_with_zeros_microbench()
    for label, sqrt_us, div_us in rows:
        print(f"  {label:<11} sqrt {sqrt_us:7.1f}   div {div_us:6.1f}   sqrt/div {sqrt_us / div_us:5.1f}x")


if __name__ == "__main__":
    main()
