"""Run the reference code's own 70-variant grid per seed, pick by the authors' rule, and score.

``bench/reference_rerun.py`` asks how often one run of the reference code, with a network's
published settings, regrows that network. This bench asks what the authors' *selection* gives
when the reference code itself produces the variants: for each seed it runs, from a user's
checkout (the reference has no licence and is never shipped), the reference's pruning

1. ``main.py --experiment prune --prune_units 1 --unit_pruning_gradient P_u`` for each of the 14
   unit steps P_u = 70, 65, ..., 5 (train, prune units), and
2. ``main.py --experiment prune --prune_units 0`` after each (retrain, then prune edges with the
   five edge steps P_e = 2.5, 2, 1.5, 1, 0.5 of ``main.py``'s default, one after another),

with the recipe (lr, batch size, epochs) and detector steps the reference published for the
cell's seed-0 network; then it reads every variant's pruned percentage (the last entry of its
``_Results`` file) in the loop order of ``visualizations/Notebooks/reused_structure.ipynb``
(P_e outer, P_u inner) and keeps the first maximum, as that notebook's ``np.argmax`` does. The
kept network is scored with our ``sculpting`` detector and ``structure`` scorer; every other
variant is scored too, for the oracle (is any of the 70 a success?).

``--workers reference`` keeps the reference's data loaders as they are (two worker processes
each; a variant then takes minutes, mostly starting workers). The default, ``--workers 0``,
loads the 16-256 rows in the main process: the same training, except that the input noise is
drawn from the main process's generator instead of the workers', so a run is another draw of
the same random procedure, not the same bits. It is about ten times faster.

    python bench/reference_authors_rule.py --reference-root DIR --out DIR --task bool/reused \\
        --arch 24x24 --seeds 24 [--first-seed 0] [--metric figure] [--jobs 2] [--workers 0|reference] \\
        [--python python3]

A seed counts as regrown when the kept network passes ``--metric``, the ``structure`` metric of
the paper's figure for the cell (``success``, or ``success_at_depth`` for the levels family) unless
named. ``--first-seed`` starts the seeds elsewhere, so that a second run adds seeds to a first. A
seed whose 70 variants are already in ``--out`` is scored without running again, so a stopped run
resumes where it stopped.

Each seed's row gives the kept variant's position in the notebook's order (0-69) and how many of
its variants are as sparse; a line after the table gives the same for the networks the reference
published for the cell, read from its ``_Results`` files. The last line is ``reference code,
authors' rule: N/M seeds regrown (oracle: K/M)``. Exit status
2, with one error line, for a missing checkout, an unknown task or an unpublished architecture.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import platform
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_networks import FIGURES, figure_cells, score_network, task_for  # noqa: E402
from reference_rerun import prune_argv, run_logged, selected_commands, with_flags  # noqa: E402

from sculptbench.contracts.errors import SculptbenchError  # noqa: E402
from sculptbench.api import load_registry  # noqa: E402
from sculptbench.plugins.pruners.iterative.pruner import AUTHORS_EDGE_STEPS, AUTHORS_UNIT_STEPS  # noqa: E402
from sculptbench.plugins.pruners.published import ReferenceCommand  # noqa: E402

#: Runs the reference's main.py with every DataLoader in the main process (``--workers 0``); the
#: patch is applied when ``torch.utils.data`` is first imported, so the launcher imports nothing.
LAUNCHER = '''import importlib.abc, importlib.util, os, runpy, sys
class InProcessLoaders(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "torch.utils.data":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            init = module.DataLoader.__init__
            def in_process(self, *args, **kwargs):
                kwargs["num_workers"] = 0
                init(self, *args, **kwargs)
            module.DataLoader.__init__ = in_process
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, InProcessLoaders())
sys.argv = sys.argv[1:]
sys.path.insert(0, os.getcwd())
runpy.run_path(sys.argv[0], run_name="__main__")
'''


def variant(cmd: ReferenceCommand, seed: int, unit_step: float, edge_step: float) -> ReferenceCommand:
    """``cmd`` for another seed and steps (its recipe and detector steps unchanged)."""
    setting = dataclasses.replace(cmd.setting, unit_step=unit_step, edge_step=edge_step)
    return dataclasses.replace(cmd, seed=seed, setting=setting)


def run_seed(root: str, cmd: ReferenceCommand, seed: int, out: Path, python: list[str], timeout: float) -> dict[str, Any]:
    """Run every unit step's two phases for one seed; its wall time and, on failure, why.

    A seed whose 70 variants are all in ``out`` already is not run again, so a stopped run resumes."""
    t0 = time.perf_counter()
    if len(authors_pick(cmd, seed, out)[1]) == len(AUTHORS_UNIT_STEPS) * len(AUTHORS_EDGE_STEPS):
        return {"seconds": 0.0, "error": None}
    for unit_step in AUTHORS_UNIT_STEPS:
        for phase in ("units", "edges"):
            argv = with_flags(prune_argv(root, cmd, out, phase), {"--seed": str(seed), "--unit_pruning_gradient": str(unit_step)},
                              drop=("--pruning_gradient",))
            failed = run_logged([*python, *argv], root, out / "logs" / f"seed{seed}-pu{unit_step:g}-{phase}.log", timeout)
            if failed:
                return {"seconds": time.perf_counter() - t0, "error": f"P_u {unit_step:g} {phase}: {failed}"}
    return {"seconds": time.perf_counter() - t0, "error": None}


def pruned_percentage(cmd: ReferenceCommand, root: Path) -> float | None:
    """The last entry of a variant's ``_Results`` file (what the notebook ranks), if it exists."""
    path = cmd.results_file(root)
    if not path.exists():
        return None
    with open(path, "rb") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the published pickles name numpy.core
        return float(pickle.load(handle)[-1])


def notebook_position(cmd: ReferenceCommand) -> int:
    """Where ``cmd``'s steps come in the notebook's loop (0-69: P_e outer, P_u inner)."""
    return (AUTHORS_EDGE_STEPS.index(cmd.setting.edge_step) * len(AUTHORS_UNIT_STEPS)
            + AUTHORS_UNIT_STEPS.index(cmd.setting.unit_step))


def published_picks(root: str, task: str, hidden: tuple[int, ...]) -> list[str]:
    """The cell's published networks as ``seed S: P_u/P_e at position N, pruned X%`` (the reference's
    own ``_Results``): where the authors' published choice sits in the notebook's order."""
    picks = []
    for _, cmd in selected_commands(root, [task], [hidden]):
        percent = pruned_percentage(cmd, Path(root))
        try:
            position = str(notebook_position(cmd))
        except ValueError:  # steps outside the notebook's grid
            position = "-"
        picks.append(f"seed {cmd.seed}: {cmd.setting.unit_step:g}/{cmd.setting.edge_step:g} at position {position}, pruned "
                     + ("-" if percent is None else f"{percent:.3f}%"))
    return picks


def authors_pick(cmd: ReferenceCommand, seed: int, root: Path) -> tuple[ReferenceCommand | None, list[ReferenceCommand]]:
    """The notebook's pick among a seed's variants (first maximum, P_e outer, P_u inner), and all variants found."""
    found = []
    best, best_value = None, None
    for edge_step in AUTHORS_EDGE_STEPS:
        for unit_step in AUTHORS_UNIT_STEPS:
            v = variant(cmd, seed, unit_step, edge_step)
            value = pruned_percentage(v, root)
            if value is None:
                continue
            found.append(v)
            if best_value is None or value > best_value:
                best, best_value = v, value
    return best, found


def figure_metric(cmd: ReferenceCommand) -> str:
    """The structure metric the paper's figure reads for ``cmd``'s cell (``success`` outside the figures)."""
    task = task_for(cmd, load_registry(entry_points=False).tasks)
    cells = figure_cells(cmd.family, cmd.hidden, task)
    return FIGURES[cells[0][0]][3] if cells else "success"


def main(argv: Sequence[str] | None = None) -> int:
    """Run, pick, score, and print one row per seed and the totals."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference-root", required=True, help="a checkout of GitHub ShreyasMalakarjunPatil/Neural-Sculpting")
    ap.add_argument("--out", required=True, help="where the runs write their networks and logs")
    ap.add_argument("--task", default="bool/reused")
    ap.add_argument("--arch", default="24x24", help="one hidden shape (24x24)")
    ap.add_argument("--seeds", type=int, default=24, help="how many seeds (the reference's own seeds)")
    ap.add_argument("--first-seed", type=int, default=0, help="the first seed; seeds run first .. first+N-1")
    ap.add_argument("--metric", default="figure",
                    help="the structure metric a kept network must pass (default: the paper figure's, e.g. success_at_depth for levels)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds run at once")
    ap.add_argument("--workers", choices=("0", "reference"), default="0",
                    help="the data loaders' worker processes: 0 (in process, default) or the reference's own")
    ap.add_argument("--python", default="python3", help="an interpreter with the reference's requirements")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per phase")
    args = ap.parse_args(argv)
    try:
        hidden = tuple(int(w) for w in args.arch.split("x"))
        if args.seeds < 1 or args.first_seed < 0:
            raise ValueError
    except ValueError:
        print(f"error: --arch {args.arch!r} must be one hidden shape like 24x24, --seeds a count >= 1 and --first-seed >= 0",
              file=sys.stderr)
        return 2
    try:
        template = selected_commands(args.reference_root, [args.task], [hidden], [0])[0][1]
    except SculptbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    metric = figure_metric(template) if args.metric == "figure" else args.metric
    known = {spec[3] for spec in FIGURES.values()} | {"success", "input_separability"}
    if metric not in known:
        print(f"error: unknown --metric {metric!r}; use figure or one of {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    python = [args.python]
    if args.workers == "0":
        (out / "launch.py").write_text(LAUNCHER)
        python.append(str(out / "launch.py"))
    st = template.setting
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; {args.task} {args.arch}, "
          f"seeds {args.first_seed}-{args.first_seed + args.seeds - 1}, {args.jobs} at a time, one thread each; recipe lr {st.lr:g}, batch {st.batch_size}, "
          f"epochs {st.epochs}; data loader workers: {args.workers}; regrown = structure.{metric}", flush=True)
    t0 = time.perf_counter()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = list(pool.map(lambda s: run_seed(args.reference_root, template, s, out, python, args.timeout), seeds))
    rows, regrown, oracle = [], 0, 0
    for seed, run in zip(seeds, runs):
        pick, found = authors_pick(template, seed, out)
        if run["error"] is not None or pick is None:
            rows.append([seed, "-", "-", "-", "-", f"failed: {run['error'] or 'no variant written'}", "-", f"{run['seconds']:.0f}"])
            continue
        scores = {(v.setting.unit_step, v.setting.edge_step): score_network(v, str(out)) for v in found}
        wins = [k for k, rec in scores.items() if rec.get("metrics", {}).get(metric)]
        ok = (pick.setting.unit_step, pick.setting.edge_step) in wins
        regrown += ok
        oracle += bool(wins)
        best = pruned_percentage(pick, out)
        ties = sum(pruned_percentage(v, out) == best for v in found)
        rows.append([seed, f"{pick.setting.unit_step:g}/{pick.setting.edge_step:g}", notebook_position(pick), f"{best:.3f}", ties,
                     "yes" if ok else "no", f"{len(wins)}/{len(found)}", f"{run['seconds']:.0f}"])
    print(tabulate(rows, headers=["seed", "kept P_u/P_e", "position", "pruned %", "variants this sparse", f"kept: {metric}",
                                  f"variants: {metric}", "s"], tablefmt="github", disable_numparse=True))
    print("published networks of this cell (steps, position in the notebook's order, pruned %): "
          + "; ".join(published_picks(args.reference_root, args.task, hidden)))
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    print(f"reference code, authors' rule: {regrown}/{len(seeds)} seeds regrown (oracle: {oracle}/{len(seeds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
