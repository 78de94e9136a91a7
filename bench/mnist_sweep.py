"""The MNIST sweeps behind docs/mnist.md: what the composites learn, and what recovers the structure.

Two parts, each printing a markdown table (one thread, so numbers do not depend on the machine's
core count; times do):

* ``dense``: the dense network's validation accuracy (two-digits: mean of the per-half argmax
  accuracies; xor: all 3 bits right) against the placement jitter, the epochs and the number of
  training composites, one seed. This is how the quick profile's data and recipe were chosen.
* ``cross``: why the upper layers mix the halves: one sculpted two-digits cell's cross-half
  edges against as many random same-half edges (magnitude; accuracy when removed).
* ``sculpt``: train, prune (``iterative``), detect (``sculpting``) and score (``structure``)
  cells for every combination of the settings given, and per setting the share of seeds with
  input separability and output grouping. This is how the quick profile's pruning tolerance,
  unit-phase steps and weight decay were chosen.

Every setting not given is the quick profile's (``sculptbench.plugins.tasks.mnist.PROFILES["quick"]``).

    python bench/mnist_sweep.py dense --task two-digits --jitter 2,0 --epochs 10,20 --train 8000,16000
    python bench/mnist_sweep.py sculpt --task two-digits --arch 64x64 --seeds 0,1 --tolerance 0.01,0.03
    python bench/mnist_sweep.py sculpt --task two-digits --arch 64x64 --seeds 0,1,2,3 --edge-score magnitude,lamp --restarts 1
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import platform
import sys
import time

import torch
from tabulate import tabulate

from sculptbench.engine import training as engine
from sculptbench.engine.kernels import init_params
from sculptbench.plugins.tasks import mnist
from sculptbench.plugins.tasks.mnist.data import H, W
from sculptbench.plugin.registry import load_registry
from sculptbench.run import planning
from sculptbench.run.selection import partition_modularity, prune_cells


def _floats(text: str) -> list[float | None]:
    """Comma-separated numbers; ``none`` stands for the rule's default (e.g. one unit)."""
    return [None if v.strip().lower() == "none" else float(v) for v in text.split(",")] if text else []


def _strings(text: str) -> list[str]:
    """Comma-separated names (empty: none)."""
    return [v.strip() for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")] if text else []


def make_task(kind: str, jitter: int | None = None, epochs: int | None = None, train: int | None = None,
              tolerance: float | None = None, weight_decay: float | None = None,
              unit_step: float | None = None, unit_min_step: float | None | str = "profile",
              edge_step: float | None = None, edge_min_step: float | None = None, edge_score: str | None = None,
              restarts: int | None = None, select: str | None = None) -> mnist.MnistTask:
    """A task of the quick profile with the given settings replaced (``None`` keeps the profile's;
    for ``unit_min_step`` ``None`` means one unit, the reference's rule)."""
    base = mnist.PROFILES["quick"]
    sizes = dict(base.sizes)
    if train is not None:
        sizes[kind] = (train, *sizes[kind][1:])
    training = dataclasses.replace(base.training, **{k: v for k, v in (("weight_decay", weight_decay),) if v is not None})
    kind_epochs = dict(base.epochs)
    if epochs is not None:
        kind_epochs[kind] = epochs
    pruning = base.pruning_for(kind)
    pruning.update({k: v for k, v in (("unit_step", unit_step), ("edge_step", edge_step), ("edge_min_step", edge_min_step), ("edge_score", edge_score)) if v is not None})
    if unit_min_step != "profile":
        pruning["unit_min_step"] = unit_min_step
    if restarts is not None:  # the auto rule over the one (P_u, P_e) point: restarts initialisations
        pruning.update(hparams="auto", auto_unit_steps=(pruning["unit_step"],), auto_edge_steps=(pruning["edge_step"],), restarts=restarts)
    if select is not None:
        pruning["select"] = select
    profile = dataclasses.replace(
        base, name="sweep", sizes=tuple(sizes.items()), training=training, pruning=tuple(pruning.items()), kind_pruning=(), epochs=tuple(kind_epochs.items()),
        **{k: v for k, v in (("jitter", jitter), ("tolerance", tolerance)) if v is not None},
    )
    return mnist.MnistTask(kind, profile=profile)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def one_sided_units(net) -> str:
    """Surviving first-hidden-layer units reading pixels of one half only, of all surviving ones."""
    mask = net.weight_masks[0].reshape(-1, H, 2 * W)
    left, right = mask[:, :, :W].flatten(1).any(1), mask[:, :, W:].flatten(1).any(1)
    alive = left | right
    return f"{int((alive & (left ^ right)).sum())}/{int(alive.sum())}"


def unit_sides(net) -> list:
    """Per hidden layer, each unit's half (0 left, 1 right, -1 dead): the half sending it most of
    its absolute incoming weight (pixels by column; hidden units by this rule, layer by layer)."""
    import numpy as np

    source = np.array([0 if c < W else 1 for r in range(H) for c in range(2 * W)])
    sides = []
    for layer in range(net.n_layers - 1):
        w = (net.weights[layer].abs() * net.weight_masks[layer]).numpy()
        left, right = w[:, source == 0].sum(1), w[:, source == 1].sum(1)
        side = np.where(left + right > 0, (right > left).astype(int), -1)
        sides.append(side)
        source = side
    return sides


def cross_edges(net, kind: str) -> str:
    """Surviving edges from layer 2 on that join units (or a two-digits output) of different
    halves (by :func:`unit_sides`), of all surviving edges from layer 2 on."""
    import numpy as np

    sides = unit_sides(net)
    outs = np.array([0] * 10 + [1] * 10) if kind == "two-digits" else np.full(net.sizes[-1], -1)
    cross = total = 0
    for layer in range(1, net.n_layers):
        mask = net.weight_masks[layer].numpy().astype(bool)
        dst = sides[layer] if layer < net.n_layers - 1 else outs
        src = sides[layer - 1]
        total += int(mask.sum())
        cross += int((mask & (dst[:, None] >= 0) & (src[None, :] >= 0) & (dst[:, None] != src[None, :])).sum())
    return f"{cross}/{total}"


def dense_part(args) -> None:
    """Dense validation and test accuracy per (jitter, epochs, training composites)."""
    rows = []
    arch = tuple(_ints(args.arch.replace("x", ",")))
    for jitter, epochs, train, wd in itertools.product(_ints(args.jitter), _ints(args.epochs), _ints(args.train), _floats(args.weight_decay) or [None]):
        task = make_task(args.task, jitter=jitter, epochs=epochs, train=train, weight_decay=wd)
        data = task.data()
        layout = engine.Layout((task.n_inputs, *arch, task.n_outputs))
        gens = [torch.Generator().manual_seed(args.seed)]
        t0 = time.perf_counter()
        res = engine.train(layout, init_params(layout, gens), torch.ones(1, layout.n_params), data, task.training, gens, accuracy=task.accuracy)
        seconds = time.perf_counter() - t0
        test, _ = engine.evaluate(layout, res.params, data.test_x, data.test_y, task.accuracy)
        rows.append([args.task, "x".join(map(str, arch)), jitter, epochs, train, task.training.weight_decay,
                     f"{float(res.accuracy[0]):.3f}", f"{float(test[0]):.3f}", f"{seconds:.1f}"])
        mnist.clear_caches()
    print(tabulate(rows, headers=["task", "arch", "jitter", "epochs", "train composites", "weight decay", "val acc", "test acc", "train s"], tablefmt="github"))


def sculpt_cells(registry, task: mnist.MnistTask, arch: tuple[int, ...], seeds: list[int]) -> list:
    """The network ``iterative`` gives each seed's cell of ``task`` at ``arch``, as ``sculptbench run``
    prunes it: its options resolved with the task's defaults, then the protocol (the task's
    restarts and select rule) around the pruner."""
    pruner = registry.pruners["iterative"]
    spec = planning.RunSpec(tasks=[task], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"], seeds=list(seeds),
                            archs=[arch])
    kept = {}
    for group in planning.plan(registry, spec):
        for seed, net in zip(group.seeds, prune_cells(pruner, group, group.seeds, registry)):
            if isinstance(net, Exception):
                raise net
            kept[seed] = net
    return [kept[seed] for seed in seeds]


def sculpt_part(args) -> None:
    """Prune, detect and score every cell of the grid; one row per cell, then a summary per setting."""
    registry = load_registry(entry_points=False)
    detector, scorer = registry.detectors["sculpting"], registry.scorers["structure"]
    grid = list(itertools.product(
        _floats(args.tolerance) or [None], _floats(args.weight_decay) or [None],
        _floats(args.unit_step) or [None], _floats(args.unit_min_step) or ["profile"], _ints(args.epochs) or [None],
        _ints(args.train) or [None], _floats(args.edge_step) or [None], _floats(args.edge_min_step) or [None],
        _strings(args.edge_score) or [None], _ints(args.restarts) or [None], _strings(args.select) or [None],
    ))
    cells, summary = [], []
    for tol, wd, unit, unit_min, epochs, train, edge, edge_min, edge_score, restarts, select in grid:
        task = make_task(args.task, tolerance=tol, weight_decay=wd, unit_step=unit, unit_min_step=unit_min, epochs=epochs, train=train,
                         edge_step=edge, edge_min_step=edge_min, edge_score=edge_score, restarts=restarts, select=select)
        pd = task.pruning_defaults
        setting = (f"{task.composites().train.x.shape[0]} x {task.training.epochs} ep, tol {task.accuracy_tolerance} wd {task.training.weight_decay} "
                   f"P_u {pd['unit_step']} min {pd.get('unit_min_step')} P_e {pd['edge_step']} min {pd.get('edge_min_step')}"
                   + (f" {pd['edge_score']}" if pd.get("edge_score", "magnitude") != "magnitude" else "")
                   + (f", {pd.get('select', 'sparsest')} of {pd['restarts']} starts" if pd.get("hparams") == "auto" and "restarts" in pd else ""))
        for arch in [tuple(_ints(a.replace("x", ","))) for a in args.arch.split(",")]:
            seeds = _ints(args.seeds)
            t0 = time.perf_counter()
            nets = sculpt_cells(registry, task, arch, seeds)
            seconds = (time.perf_counter() - t0) / len(seeds)
            hits = {"input_separability": 0, "output_grouping": 0}
            for seed, net in zip(seeds, nets):
                if args.save:
                    import pickle
                    from pathlib import Path

                    Path(args.save).mkdir(parents=True, exist_ok=True)
                    name = f"{args.task}-{'x'.join(map(str, arch))}-{hashlib.sha1(setting.encode()).hexdigest()[:8]}-s{seed}.pkl"
                    (Path(args.save) / name).write_bytes(pickle.dumps((setting, net)))
                metrics, modularity = {}, None
                if net.status == "ok":
                    detection = detector.detect(net, task, detector.resolve({}, task.detector_defaults), seed)
                    metrics = scorer.score(detection, net, task).metrics
                    modularity = partition_modularity(net, detection)
                for key in hits:
                    hits[key] += bool(metrics.get(key))
                cells.append([args.task, "x".join(map(str, arch)), setting, seed, f"{net.dense_accuracy:.3f}", f"{net.accuracy:.3f}",
                              f"{net.density():.4f}", one_sided_units(net), cross_edges(net, args.task), metrics.get("modules_found", "-"), metrics.get("input_separability", "-"),
                              _fmt(metrics.get("input_ari")), metrics.get("output_grouping", "-"), _fmt(metrics.get("output_ari")),
                              "-" if modularity is None else f"{modularity:.3f}", (net.info.get("variant") or {}).get("restart", 0), f"{seconds:.0f}"])
                print(" | ".join(map(str, cells[-1])), file=sys.stderr, flush=True)
            n = len(seeds)
            summary.append([args.task, "x".join(map(str, arch)), setting, n, f"{hits['input_separability'] / n:.2f}", f"{hits['output_grouping'] / n:.2f}"])
    print(tabulate(cells, headers=["task", "arch", "setting", "seed", "dense acc", "pruned acc", "density", "one-sided L1 units", "cross edges", "modules", "input sep", "input ARI", "output grp", "output ARI", "modularity", "start kept", "prune s"], tablefmt="github"))
    print()
    print(tabulate(summary, headers=["task", "arch", "setting", "seeds", "input separability", "output grouping"], tablefmt="github"))


def _flat(layout: engine.Layout, weights, biases) -> torch.Tensor:
    """One flat parameter row from per-layer ``(out, in)`` weights and biases."""
    row = torch.zeros(1, layout.n_params)
    for layer in range(layout.n_layers):
        row[0, layout.weight_slice(layer)] = weights[layer].t().reshape(-1).float()
        row[0, layout.bias_slice(layer)] = biases[layer].float()
    return row


def cross_part(args) -> None:
    """Why the upper layers mix the halves: sculpt one two-digits cell, then compare its cross-half
    edges (layer 2 on, by :func:`unit_sides`) with as many random same-half edges: mean |weight|,
    and the validation accuracy with either set removed, before and after one retraining."""
    import numpy as np

    registry = load_registry(entry_points=False)
    arch = tuple(_ints(args.arch.replace("x", ",")))
    floats = {k: (_floats(getattr(args, k)) or [None])[0] for k in ("tolerance", "weight_decay", "edge_min_step")}
    task = make_task("two-digits", **floats, edge_score=(_strings(args.edge_score) or [None])[0], restarts=(_ints(args.restarts) or [None])[0],
                     select=(_strings(args.select) or [None])[0])
    (net,) = sculpt_cells(registry, task, arch, [args.seed])
    sides = unit_sides(net)
    outs = np.array([0] * 10 + [1] * 10)
    masks = [m.numpy().astype(bool) for m in net.weight_masks]
    cross_masks, random_masks = [m.copy() for m in masks], [m.copy() for m in masks]
    rng = np.random.default_rng(args.seed)
    rows = []
    for layer in range(1, net.n_layers):
        dst = sides[layer] if layer < net.n_layers - 1 else outs
        cross = masks[layer] & (dst[:, None] != sides[layer - 1][None, :])
        same = masks[layer] & ~cross
        weights = net.weights[layer].abs().numpy()
        rows.append([f"{layer + 1}", int(cross.sum()), int(same.sum()), f"{weights[cross].mean():.2f}", f"{weights[same].mean():.2f}"])
        cross_masks[layer] &= ~cross
        drop = rng.choice(np.flatnonzero(same), size=min(int(cross.sum()), int(same.sum())), replace=False)
        random_masks[layer].reshape(-1)[drop] = False
    print(f"two-digits {args.arch}, seed {args.seed}: pruned to density {net.density():.4f}, validation accuracy {net.accuracy:.3f} "
          f"(dense {net.dense_accuracy:.3f})\n")
    print(tabulate(rows, headers=["weight layer", "cross-half edges", "same-half edges", "mean |w| cross", "mean |w| same"], tablefmt="github"))
    layout = engine.Layout(tuple(net.sizes))
    params = _flat(layout, net.weights, net.biases)
    data = task.data()
    results = []
    for name, chosen in (("none (the pruned network)", masks), ("every cross-half edge", cross_masks), ("as many random same-half edges", random_masks)):
        mask = _flat(layout, [torch.from_numpy(m) for m in chosen], net.bias_masks)
        before, _ = engine.evaluate(layout, params * mask, data.val_x, data.val_y, task.accuracy)
        after = engine.train(layout, params, mask, data, task.training, [torch.Generator().manual_seed(args.seed)], accuracy=task.accuracy)
        results.append([name, sum(int(m.sum()) for m in chosen), f"{float(before[0]):.3f}", f"{float(after.accuracy[0]):.3f}"])
    print()
    print(tabulate(results, headers=["edges removed", "edges left", "val acc, no retraining", "val acc, retrained once"], tablefmt="github"))


def main() -> None:
    """Parse the part and its grid, run it on one thread, print the tables and the machine."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("dense", "sculpt", "cross"))
    parser.add_argument("--task", default="two-digits", choices=mnist.KINDS)
    parser.add_argument("--arch", default="64x64", help="dense: one shape; sculpt: comma-separated shapes")
    parser.add_argument("--seed", type=int, default=0, help="dense, cross: the seed")
    parser.add_argument("--seeds", default="0", help="sculpt: comma-separated seeds")
    parser.add_argument("--jitter", default="0")
    parser.add_argument("--epochs", default="")
    parser.add_argument("--train", default="")
    parser.add_argument("--tolerance", default="")
    parser.add_argument("--weight-decay", default="")
    parser.add_argument("--unit-step", default="")
    parser.add_argument("--unit-min-step", default="")
    parser.add_argument("--edge-step", default="")
    parser.add_argument("--edge-min-step", default="")
    parser.add_argument("--restarts", default="", help="sculpt: initialisations pruned per seed, comma-separated (hparams=auto at the one P_u, P_e; 1: a single run)")
    parser.add_argument("--select", default="", help="sculpt: which start to keep, comma-separated (sparsest, modularity, consensus)")
    parser.add_argument("--edge-score", default="", help="sculpt: comma-separated edge scores (magnitude, lamp, random)")
    parser.add_argument("--save", default="", help="sculpt: a directory to pickle each (setting, network) into")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.part == "dense":
        quick = mnist.PROFILES["quick"]
        args.epochs = args.epochs or str(dict(quick.epochs).get(args.task, quick.training.epochs))
        args.train = args.train or str(dict(quick.sizes)[args.task][0])
        dense_part(args)
    elif args.part == "cross":
        cross_part(args)
    else:
        sculpt_part(args)
    print(f"\nmachine: {platform.machine()}, {platform.processor() or 'cpu'}, torch {torch.__version__}, 1 thread")


if __name__ == "__main__":
    main()
