"""Every exemplar bar under every selection rule: the authors', the label-free ones and the oracle.

For each exemplar task (input-separable, reused, both, none) at 1, 2 and 3 hidden layers of
width 24, every seed is pruned twice, and every variant that meets the threshold is detected
(``sculpting``) and scored (``structure``) by ``bench/paper_loop.py``'s ``measure``:

- the authors' 70-variant grid with the reference's loop (``hparams=authors``, which takes
  ``loop=reference``), trained with the reference's published recipe for the cell (lr, batch
  size and epochs of its first published seed, ``sculptbench.paper``);
- the default rule (``hparams=auto``: 9 initialisations at P_u 50 / P_e 1.5, the reference's
  loop, ``--default-loop ours`` for ours) with the task's own recipe, which is what
  ``sculptbench run`` does by default.

Columns per rule: ``sparsest`` (what the rule keeps), ``consensus`` (label-free: the most
frequent detected structure, its sparsest variant), ``modularity`` (label-free: the variant whose
detected modules have the highest Newman modularity on its graph of surviving edges,
``select=modularity``), ``sparsest, then modularity`` (label-free: among the sparsest variants,
the most modular) and ``oracle`` (a variant the scorer calls a success, if any: it uses the
ground truth, an upper bound, never a default).

``--json`` also keeps every variant's sparsity, modularity, success and structure (hashed), so
other rules can be tried on the same networks without pruning again.
``--tasks`` takes exemplar names (``both`` or ``bool/both``) or any Boolean task
(``bool/reuse-m8``); the paper column is filled for the exemplars.

    python bench/exemplar_rules.py --seeds 24 [--tasks both,reused] [--depths 1,2,3] [--json out.json]
    python bench/exemplar_rules.py --seeds 12 --tasks bool/reuse-m2,bool/reuse-m16 --depths 2,3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_loop import measure  # noqa: E402

#: The paper's exemplar figure (read from the published figure), by (task, hidden layers).
PAPER = {
    ("input-separable", 1): 1.00, ("input-separable", 2): 1.00, ("input-separable", 3): 1.00,
    ("reused", 1): 0.00, ("reused", 2): 1.00, ("reused", 3): 0.92,
    ("both", 1): 1.00, ("both", 2): 1.00, ("both", 3): 1.00,
    ("none", 1): 1.00, ("none", 2): 1.00, ("none", 3): 1.00,
}


def published_recipe(task: object, hidden: tuple[int, ...]) -> dict:
    """lr, batch size and epochs of the reference's first published seed for this cell."""
    from sculptbench import paper

    return dict(paper.lookup(task, hidden, 0).training())


def main() -> None:
    """Measure every requested bar under both rules and print one table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("--tasks", default="input-separable,reused,both,none")
    ap.add_argument("--depths", default="1,2,3")
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--json", help="also write every measurement to this file")
    ap.add_argument("--default-loop", default="reference", choices=["ours", "reference"],
                    help="the loop of the default rule's 9 initialisations (default: the pruner's, reference; "
                         "the authors' grid always takes the reference's)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, one thread; "
          f"{args.seeds} seeds per bar; default rule with loop={args.default_loop}", flush=True)
    print("| task | hidden layers | paper | authors' rule: sparsest | consensus | modularity | sparsest, then modularity | oracle "
          "| default rule: sparsest | consensus | modularity | sparsest, then modularity | oracle | untrainable (authors, default) "
          "| time (authors, default) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    from sculptbench.plugin.registry import load_registry

    tasks = load_registry(entry_points=False).tasks  # once, not once per bar
    rows = []
    for name in args.tasks.split(","):
        for depth in (int(d) for d in args.depths.split(",")):
            task, hidden = (name if "/" in name else f"bool/{name}"), (args.width,) * depth
            authors = measure(task, hidden, args.seeds, "reference", published_recipe(tasks[task], hidden), hparams="authors")
            default = measure(task, hidden, args.seeds, args.default_loop, {}, hparams="auto")
            n = args.seeds
            rate = {f"{rule}.{k}": r.get(k, 0) / n for rule, r in (("authors", authors), ("default", default))
                    for k in ("authors", "consensus", "modularity", "sparsest_modularity", "oracle")}
            paper = PAPER.get((task.removeprefix("bool/"), depth))  # "both" and "bool/both" alike
            rows.append({"task": name, "depth": depth, "paper": paper, "seeds": n, **rate,
                         "untrainable": [authors["untrainable"], default["untrainable"]],
                         "seconds": [authors["seconds"], default["seconds"]],
                         "variants": {"authors": authors["detail"], "default": default["detail"]}})
            paper_text = "-" if paper is None else f"{paper:.2f}"
            cols = " | ".join(f"{rate[f'{rule}.{k}']:.2f}" for rule in ("authors", "default")
                              for k in ("authors", "consensus", "modularity", "sparsest_modularity", "oracle"))
            print(f"| {name} | {depth} | {paper_text} | {cols} | {authors['untrainable']}, {default['untrainable']} | "
                  f"{authors['seconds'] / 60:.1f}, {default['seconds'] / 60:.1f} min |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    keys = [f"{rule}.{k}" for rule in ("authors", "default") for k in ("authors", "consensus", "modularity", "sparsest_modularity", "oracle")]
    regrown = " | ".join(str(round(sum(r[key] * r["seeds"] for r in rows))) for key in keys)
    paper_total = sum(r["paper"] * r["seeds"] for r in rows if r["paper"] is not None)
    print(f"| **networks regrown, of {sum(r['seeds'] for r in rows)}** | | ({paper_total:.0f}: rate x seeds) | {regrown} | | |",
          flush=True)
    with_paper = [r for r in rows if r["paper"] is not None]
    within = [r for r in with_paper if abs(r["authors.oracle"] - r["paper"]) <= 0.1 + 1e-9]
    print(f"\noracle (authors' rule) within 0.1 of the paper: {len(within)}/{len(with_paper)} bars with a paper value; "
          f"total {sum(sum(r['seconds']) for r in rows) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
