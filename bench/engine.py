"""Benchmark the batched engine against one-network-at-a-time (`--no-batch`) on the same workload.

Default workload: the 4 exemplars x 1, 2 and 3 hidden layers of width 24 x 8 seeds with
`iterative` + `sculpting` + `structure` (96 sculpt runs). Each mode runs in its own subprocess
so that its peak RSS is its own. Prints sculpt-runs per minute, their ratio, peak RSS, where
the time went (train, prune decisions, detect, score), and whether both modes produced the same
networks bit for bit (they must: a network does not depend on its batch).

    python bench/engine.py                  # both modes, default workload
    python bench/engine.py --seeds 4 --modes batched
    python bench/engine.py --param hparams=auto
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time

EXEMPLARS = ["bool/input-separable", "bool/reused", "bool/both", "bool/none"]


def run_mode(mode: str, tasks: list[str], archs: list[tuple[int, ...]], seeds: int, params: dict, threads: int) -> dict:
    """Run the workload in this process, the way ``sculptbench run`` does, and return its figures."""
    import torch

    from sculptbench.run import planning
    from sculptbench.run import running
    from sculptbench.plugin.registry import load_registry

    torch.set_num_threads(threads)
    registry = load_registry(entry_points=False)
    spec = planning.RunSpec(tasks=[registry.tasks[name] for name in tasks], pruners=["iterative"], detectors=["sculpting"],
                            scorers=["structure"], seeds=list(range(seeds)), archs=archs, params={"iterative": params})
    split = {"train": 0.0, "decide": 0.0, "detect": 0.0, "score": 0.0}
    _count_pruner_time(registry.pruners["iterative"], split)
    digest = hashlib.sha256()
    runs = successes = untrainable = 0
    start = time.perf_counter()
    for group in planning.plan(registry, spec):
        for scored in running.scored_networks(registry, group, "sculpting", batch=mode == "batched"):
            runs += 1
            net = scored.network
            for tensor in [*net.weights, *net.weight_masks, *net.biases]:
                digest.update(tensor.numpy().tobytes())
            if scored.cell.status == "untrainable":
                untrainable += 1
                continue
            split["detect"] += scored.cell.timings["detect"]
            split["score"] += scored.cell.timings["score"]
            successes += bool(scored.cell.metrics["structure.success"])
    wall = time.perf_counter() - start
    return {
        "mode": mode,
        "runs": runs,
        "wall_s": wall,
        "runs_per_min": 60 * runs / wall,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "split_s": split,
        "success_rate": successes / runs if runs else 0.0,
        "untrainable": untrainable,
        "networks_sha256": digest.hexdigest(),
    }


def _count_pruner_time(pruner: object, split: dict[str, float]) -> None:
    """Add the train and decide seconds of every ``candidates`` call of ``pruner`` (what the protocol
    calls; ``prune`` and ``prune_many`` go through it too) to ``split``."""
    for name in ("candidates",):
        call = getattr(pruner, name)

        def counted(*args, _call=call, **kwargs):
            out = _call(*args, **kwargs)
            split["train"] += pruner.last_stats.train
            split["decide"] += pruner.last_stats.decide
            return out

        setattr(pruner, name, counted)


def add_workload_options(ap: argparse.ArgumentParser) -> None:
    """The workload options shared by the bench scripts: --tasks, --archs, --seeds."""
    ap.add_argument("--tasks", default=",".join(EXEMPLARS))
    ap.add_argument("--archs", default="24,24x24,24x24x24")
    ap.add_argument("--seeds", type=int, default=8)


def workload(args: argparse.Namespace) -> tuple[list[str], list[tuple[int, ...]]]:
    """The task names and hidden shapes that ``args`` select."""
    return args.tasks.split(","), [tuple(int(w) for w in a.split("x")) for a in args.archs.split(",")]


def main() -> None:
    """Parse options, run each mode in a subprocess, print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_options(ap)
    ap.add_argument("--modes", default="batched,nobatch")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--param", action="append", default=[], help="iterative option KEY=VALUE (YAML value)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    import yaml

    params = {k: yaml.safe_load(v) for k, v in (p.split("=", 1) for p in args.param)}
    tasks, archs = workload(args)
    if args.child:
        print(json.dumps(run_mode(args.child, tasks, archs, args.seeds, params, args.threads)))
        return
    results = {}
    for mode in args.modes.split(","):
        cmd = [sys.executable, __file__, "--child", mode, "--tasks", args.tasks, "--archs", args.archs,
               "--seeds", str(args.seeds), "--threads", str(args.threads), *sum((["--param", p] for p in args.param), [])]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    print(f"workload: {len(tasks)} tasks x {len(archs)} archs x {args.seeds} seeds = {len(tasks) * len(archs) * args.seeds} sculpt runs"
          f" (iterative + sculpting + structure; params {params or 'task defaults'}; {args.threads} torch thread(s) per process)")
    print(f"{'mode':<9} {'wall s':>8} {'runs/min':>9} {'peak RSS MiB':>13} {'train s':>8} {'decide s':>9} {'detect s':>9} {'score s':>8} {'success':>8}")
    for mode, r in results.items():
        s = r["split_s"]
        print(f"{mode:<9} {r['wall_s']:>8.1f} {r['runs_per_min']:>9.1f} {r['peak_rss_mib']:>13.0f} {s['train']:>8.1f} {s['decide']:>9.1f}"
              f" {s['detect']:>9.2f} {s['score']:>8.2f} {r['success_rate']:>8.2f}")
    for mode, r in results.items():
        print(f"{mode} networks sha256 (weights, masks and biases of every network, in order): {r['networks_sha256'][:16]}")
    if "batched" in results and "nobatch" in results:
        ratio = results["batched"]["runs_per_min"] / results["nobatch"]["runs_per_min"]
        print(f"batched / no-batch throughput: {ratio:.1f}x")
        same = results["batched"]["networks_sha256"] == results["nobatch"]["networks_sha256"]
        print(f"same networks (weights and masks, bit for bit) in both modes: {'yes' if same else 'NO'}")
    if "batched" in results:
        # The reference implementation needs about 105-209 s per run on 2 CPU cores (seed 0, measured once
        # outside this repository: unit pruning, edge pruning and detection of one exemplar network).
        ref_per_run = 110.0
        print(f"batched vs reference (~{ref_per_run:.0f} s per run): {ref_per_run * results['batched']['runs_per_min'] / 60:.0f}x")


if __name__ == "__main__":
    main()
