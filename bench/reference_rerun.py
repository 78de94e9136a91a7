"""Rerun the reference code's own published commands and score what it regrows with our scorer.

The Neural Sculpting reference repository publishes one command per network (``shell/*/*.sh``:
``python3 main.py --experiment module_detection ...``). Its networks were chosen among many runs;
this bench asks how often one run of the reference code, with the settings published for a
network, regrows that network's structure. It reads a user's checkout (never shipped with
sculptbench: the reference has no licence), and for each selected command:

1. runs the reference's own training and pruning with that command's settings and flags:
   ``python3 main.py --experiment prune --prune_units 1`` (train, prune units), then
   ``--prune_units 0`` (retrain, prune edges), from the checkout (so its ``datasets/`` are used), writing into
   ``--out`` instead of the checkout's ``results/``; ``CUDA_VISIBLE_DEVICES`` is emptied, so it
   runs on the CPU;
2. scores the regrown network like ``bench/paper_networks.py`` scores a published one (our
   ``sculpting`` detector with the command's detection settings, our ``structure`` scorer), and
   scores the published network beside it.

The reference needs its own requirements in the interpreter given by ``--python`` (torch, numpy,
scikit-learn, scipy, networkx, matplotlib, seaborn, pandas). A run that fails is listed with the
last line of its log and counts as not regrown.

    python bench/reference_rerun.py --reference-root DIR --out DIR \\
        [--tasks bool/both,bool/reused] [--arch 24x24x24,24x24] [--seeds 0,1,2,5] [--jobs 2] [--python python3]

The last line is ``regrown by one rerun: N/M networks (published networks: K/M)``. Exit status 2,
with one error line, for a missing or wrong checkout, an unknown task or no command selected.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_networks import score_network  # noqa: E402

from sculptbench.contracts.errors import SculptbenchError  # noqa: E402
from sculptbench.plugin.registry import load_registry  # noqa: E402
from sculptbench.plugins.pruners.published import ReferenceCommand, first_commands, read_commands  # noqa: E402

DEFAULT_TASKS = "bool/both,bool/reused"
DEFAULT_ARCHS = "24x24x24,24x24"


def selected_commands(root: str, task_names: Sequence[str], archs: Sequence[tuple[int, ...]],
                      seeds: Sequence[int] | None = None) -> list[tuple[str, ReferenceCommand]]:
    """(our task name, command) for the first published command of each selected (task, hidden shape, seed)."""
    tasks = load_registry(entry_points=False).tasks
    unknown = [name for name in task_names if name not in tasks]
    if unknown:
        raise SculptbenchError(f"unknown task {unknown[0]!r}; `sculptbench list tasks` lists them")
    wanted = {}
    for name in task_names:
        paper_name = getattr(tasks[name], "paper_name", None)
        if not paper_name:
            raise SculptbenchError(f"task {name!r} is not one of the paper's Boolean tasks; pick an exemplar, reuse, overlap "
                                   "or levels task (`sculptbench list tasks`)")
        wanted[paper_name.replace(" ", "")] = name
    chosen, published = [], set()
    for cmd in first_commands(read_commands(root)).values():
        name = wanted.get(cmd.paper_name.replace(" ", ""))
        if name:
            published.add((cmd.hidden, cmd.seed))
        if name and cmd.hidden in archs and (seeds is None or cmd.seed in seeds):
            chosen.append((name, cmd))
    if not chosen:
        shapes = ", ".join(sorted({"x".join(map(str, h)) for h, _ in published}, key=lambda t: (t.count("x"), t)))
        seeds_text = ",".join(str(s) for s in sorted({s for _, s in published}))
        raise SculptbenchError(f"no published command matches these tasks, architectures and seeds; published for these "
                               f"tasks: --arch {shapes or '(none)'}, --seeds {seeds_text or '(none)'}")
    return sorted(chosen, key=lambda item: (item[0], len(item[1].hidden), item[1].hidden, item[1].seed))


def prune_argv(root: str, cmd: ReferenceCommand, out: Path, phase: str) -> list[str]:
    """The command's own flags, as ``--experiment prune`` writing under ``out``: ``phase`` ``units``
    (train, then prune units: ``--prune_units 1``) or ``edges`` (retrain the unit-pruned network,
    then prune its edges: ``--prune_units 0``)."""
    line = (Path(root) / cmd.script).read_text(errors="replace").splitlines()[cmd.line - 1]
    argv = shlex.split(line)[1:]  # drop the interpreter; keep main.py and every flag
    rewritten = with_flags(argv, {}, drop=("--experiment", "--result_path", "--visualization_path"))
    if "--dataset_path" not in rewritten:
        rewritten += ["--dataset_path", dataset_path(cmd)]
    return [*rewritten, "--experiment", "prune", "--prune_units", "1" if phase == "units" else "0", "--result_path", str(out / cmd.result_path) + "/",
            "--visualization_path", str(out / "visualizations") + "/"]


#: The reference's dataset folder of a results folder, where the two names differ.
DATASET_FOLDERS = {"non_separable_increasing_use": "increasing_reuse_non_separable"}


def dataset_path(cmd: ReferenceCommand) -> str:
    """The dataset folder of a command's family (``./datasets/<family>/``). The published lines
    set none, and the reference's default is the exemplars' folder: the authors must have given
    it when they pruned the other families' networks."""
    family = Path(cmd.result_path).parent.name  # ./results/<family>/unit_edge/
    return f"./datasets/{DATASET_FOLDERS.get(family, family)}/"


def with_flags(argv: Sequence[str], replace: dict[str, str], drop: Sequence[str] = ()) -> list[str]:
    """``argv`` with each flag of ``replace`` set to its value (moved to the end) and the flags of
    ``drop`` removed, each with all the values that follow it."""
    out: list[str] = []
    skipping = False
    for arg in argv:
        if arg.startswith("--"):
            skipping = arg in drop or arg in replace
        if not skipping:
            out.append(arg)
    for flag, value in replace.items():
        out += [flag, value]
    return out


#: The reference's processes run on the CPU, one thread each.
REFERENCE_ENV = {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_logged(command: Sequence[str], cwd: str, log: Path, timeout: float) -> str | None:
    """Run one reference process with its output in ``log``: ``None``, or why it failed (the log's
    last line, its exit status, a timeout, or that it could not start)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "w") as handle:
            proc = subprocess.run(list(command), cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                  env={**os.environ, **REFERENCE_ENV}, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"no result within {timeout:.0f} s"
    except OSError as exc:
        return f"could not start {command[0]!r}: {exc.strerror}"
    return None if proc.returncode == 0 else (_last_line(log) or f"exit status {proc.returncode}")


def rerun(root: str, cmd: ReferenceCommand, out: Path, python: str, timeout: float) -> dict[str, Any]:
    """Run the reference's pruning for one command; its wall time and, on failure, why."""
    t0 = time.perf_counter()
    error = None
    for phase in ("units", "edges"):
        log = out / "logs" / f"{Path(cmd.script).stem}-line{cmd.line}-{phase}.log"
        failed = run_logged([python, *prune_argv(root, cmd, out, phase)], root, log, timeout)
        if failed:
            error = f"{phase}: {failed}"
            break
    return {"seconds": time.perf_counter() - t0, "error": error}


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Rerun, score and print one row per network and the totals."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference-root", required=True, help="a checkout of GitHub ShreyasMalakarjunPatil/Neural-Sculpting")
    ap.add_argument("--out", required=True, help="where the reruns write their networks and logs")
    ap.add_argument("--tasks", default=DEFAULT_TASKS)
    ap.add_argument("--arch", default=DEFAULT_ARCHS, help="hidden shapes, comma-separated (24x24x24)")
    ap.add_argument("--seeds", help="the reference's seeds to rerun, comma-separated (default: all published: 0,1,2,5)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--python", default="python3", help="an interpreter with the reference's requirements")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per rerun")
    args = ap.parse_args(argv)
    try:
        archs = [tuple(int(w) for w in a.split("x")) for a in args.arch.split(",")]
        seeds = None if args.seeds is None else [int(s) for s in args.seeds.split(",")]
    except ValueError:
        print(f"error: --arch {args.arch!r} or --seeds {args.seeds!r} is not a comma-separated list "
              "(hidden shapes like 24x24x24; seeds like 0,1,2,5)", file=sys.stderr)
        return 2
    try:
        chosen = selected_commands(args.reference_root, args.tasks.split(","), archs, seeds)
    except SculptbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{len(chosen)} published commands, {args.jobs} at a time, one thread each", flush=True)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = list(pool.map(lambda item: rerun(args.reference_root, item[1], out, args.python, args.timeout), chosen))
    rows, regrown, published_ok = [], 0, 0
    for (name, cmd), run in zip(chosen, runs):
        ours = score_network(cmd, str(out)) if run["error"] is None else {"error": run["error"]}
        paper = score_network(cmd, args.reference_root)
        ok = bool(ours.get("metrics", {}).get("success"))
        pub = bool(paper.get("metrics", {}).get("success"))
        regrown += ok
        published_ok += pub
        rows.append([name, "x".join(map(str, cmd.hidden)), cmd.seed, f"{cmd.setting.unit_step:g}/{cmd.setting.edge_step:g}",
                     "yes" if pub else "no", "yes" if ok else ("no" if "error" not in ours else f"failed: {ours['error']}"),
                     f"{ours.get('accuracy', float('nan')):.3f}", f"{run['seconds']:.0f}"])
    print(tabulate(rows, headers=["task", "hidden", "seed", "P_u/P_e", "published: success", "rerun: success",
                                  "rerun accuracy", "rerun s"], tablefmt="github"))
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    print(f"regrown by one rerun: {regrown}/{len(chosen)} networks (published networks: {published_ok}/{len(chosen)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
