"""Selection rules and the reference's loop semantics, measured on all variants of each seed.

For one task and architecture, every seed is pruned under the authors' 70-variant grid
(``hparams=authors``: P_e {2.5..0.5} x P_u {70..5}) with each requested loop setting (``ours``,
each point of ``sculptbench.plugins.pruners.iterative.loop.LOOP_POINTS`` alone, ``reference`` = all of them). Every variant
that meets the threshold is detected (``sculpting``) and scored (``structure``), so several
selection rules are compared on the same networks:

- ``sparsest``: the sparsest variant, ties to the first in the authors' loop order (what
  ``hparams=authors`` keeps; with ``--hparams auto``, what the default rule keeps);
- ``consensus``: label-free: the module structure the detector finds most often among the
  variants (inputs, outputs and layer count of each module), its sparsest variant (what
  ``select=consensus`` keeps; the bench ranks a group like the authors' rule);
- ``modularity``: label-free: the variant whose detected modules have the highest Newman
  modularity on the graph of its surviving edges, the sparsest on ties (what ``select=modularity``
  keeps; ranked like the authors' rule);
- ``sparsest_modularity``: label-free: among the sparsest variants (equal rounded sparsity), the
  one with the highest modularity (the first on ties);
- ``oracle``: a variant the scorer calls a success, if any (uses the ground truth: an upper bound).

    python bench/paper_loop.py --task bool/both --arch 24x24x24 --seeds 48 --loops ours,percentile,reference
    python bench/paper_loop.py --task bool/reused --arch 24x24 --seeds 24 --lr 0.1 --batch-size 8 --epochs 40

Prints one row per loop setting: success rate per rule, untrainable seeds, and the time.
"""

from __future__ import annotations

import argparse
import collections
import time

CHUNK = 8


def measure(task_name: str, hidden: tuple[int, ...], seeds: int, loop: str, training_overrides: dict, seed_start: int = 0,
            hparams: str = "authors") -> dict:
    """Prune every seed under the ``hparams`` rule's variants with ``loop`` and return per-rule successes."""
    import torch

    from sculptbench.api import PruneJob, TrainingConfig, load_registry, restart_seed
    from sculptbench.plugins.pruners.iterative.loop import LOOP_POINTS, sculpt
    from sculptbench.plugins.pruners.iterative.selection import authors_choice, sparsity_key
    from sculptbench.run.selection import MODULARITY_TIE, module_signature, partition_modularity

    torch.set_num_threads(1)
    registry = load_registry(entry_points=False)
    task = registry.tasks[task_name]
    pruner = registry.get("pruner", "iterative")
    detector = registry.get("detector", "sculpting")
    scorer = registry.get("scorer", "structure")
    points = () if loop == "ours" else LOOP_POINTS if loop == "reference" else tuple(loop.split("+"))
    user = {"hparams": hparams, "loop": loop if loop in ("ours", "reference") else list(points)}
    training = TrainingConfig(**{**task.training.__dict__, **training_overrides}).validate()
    dparams = detector.resolve({}, task.detector_defaults)
    wins = collections.Counter()
    untrainable = 0
    detail = []
    t0 = time.perf_counter()
    all_seeds = list(range(seed_start, seed_start + seeds))
    for start in range(0, len(all_seeds), CHUNK):
        cell_seeds = all_seeds[start:start + CHUNK]
        params = pruner.resolve(user, task.pruning_defaults_for(hidden, cell_seeds[0]))
        # One job per start of each seed (the protocol's restarts: 9 under hparams=auto, 1 under
        # authors); a seed's variants are those of all its starts, restart-major.
        restarts = params.get("restarts", 1)
        starts = [PruneJob(task, hidden, restart_seed(s, r), params, training, restart=r, cell_seed=s)
                  for s in cell_seeds for r in range(restarts)]
        variants = [(v, pruner.phases(params, v)) for v in pruner.variants(params, starts[0])]
        per_start, _ = sculpt(starts, variants, loop=points)
        jobs = [starts[i * restarts] for i in range(len(cell_seeds))]
        results = [[net for nets in per_start[i * restarts:(i + 1) * restarts] for net in nets] for i in range(len(cell_seeds))]
        for job, nets in zip(jobs, results):
            ok = [n for n in nets if n.status == "ok"]
            if not ok:
                untrainable += 1
                continue
            success, sigs, mods = {}, {}, {}
            for i, net in enumerate(nets):
                if net.status != "ok":
                    continue
                det = detector.detect(net, task, dparams, job.seed)
                success[i] = bool(scorer.score(det, net, task).metrics.get("success"))
                sigs[i] = module_signature(det, len(hidden) + 1)
                mods[i] = partition_modularity(net, det)
            index = {id(net): i for i, net in enumerate(nets)}
            wins["authors"] += success[index[id(authors_choice(nets))]]
            common = collections.Counter(sigs.values()).most_common(1)[0][0]
            pool = [nets[i] for i in sigs if sigs[i] == common]
            wins["consensus"] += success[index[id(authors_choice(pool))]]
            top = max(mods.values())
            wins["modularity"] += success[index[id(authors_choice([nets[i] for i in mods if mods[i] >= top - MODULARITY_TIE]))]]
            least = min(sparsity_key(nets[i], "authors") for i in mods)
            ties = [i for i in mods if sparsity_key(nets[i], "authors") == least]
            wins["sparsest_modularity"] += success[max(ties, key=lambda i: (mods[i], -i))]
            wins["oracle"] += any(success.values())
            wins["variants"] += sum(success.values()) / len(success)
            detail.append({"seed": job.seed, "variants": [
                {"index": i, "pruned": -sparsity_key(nets[i], "authors"), "modularity": round(mods[i], 6), "success": success[i],
                 "signature": hash(sigs[i]) % 10**8} for i in sorted(mods)]})
    return {"loop": loop, "seeds": seeds, "untrainable": untrainable, "seconds": time.perf_counter() - t0, **wins, "detail": detail}


def main() -> None:
    """Parse options, measure each loop setting in turn and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="bool/both")
    ap.add_argument("--arch", default="24x24x24")
    ap.add_argument("--seeds", type=int, default=48)
    ap.add_argument("--seed-start", type=int, default=0)
    ap.add_argument("--loops", default="ours,reference,keep_pruning,keep_retrain,percentile,mask_bias,later_epoch",
                    help="comma-separated: ours, reference, a point, or points joined by '+'")
    ap.add_argument("--hparams", default="authors", choices=["authors", "auto"],
                    help="the variants: the authors' 70-variant grid, or the default rule's 9 initialisations")
    ap.add_argument("--lr", type=float)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--epochs", type=int)
    args = ap.parse_args()
    hidden = tuple(int(w) for w in args.arch.split("x"))
    overrides = {k: v for k, v in (("lr", args.lr), ("batch_size", args.batch_size), ("epochs", args.epochs)) if v is not None}
    grid = "authors' 70-variant grid" if args.hparams == "authors" else "default rule's 9 initialisations (P_u 50, P_e 1.5)"
    print(f"{args.task} {args.arch}, {args.seeds} seeds from {args.seed_start}, {grid}, training {overrides or 'task recipe'}")
    print("| loop | sparsest (authors' rule) | consensus (label-free) | modularity (label-free) | sparsest, then modularity "
          "(label-free) | oracle | mean success of a variant | untrainable | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for loop in args.loops.split(","):
        r = measure(args.task, hidden, args.seeds, loop, overrides, args.seed_start, args.hparams)
        n = r["seeds"]
        print(f"| {loop} | {r.get('authors', 0) / n:.2f} | {r.get('consensus', 0) / n:.2f} | {r.get('modularity', 0) / n:.2f} | "
              f"{r.get('sparsest_modularity', 0) / n:.2f} | {r.get('oracle', 0) / n:.2f} | "
              f"{r.get('variants', 0) / n:.2f} | {r['untrainable']} | {r['seconds'] / 60:.1f} min |", flush=True)


if __name__ == "__main__":
    main()
