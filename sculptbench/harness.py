"""The harness: resolve a selection, prune once per (task, architecture, pruner, seed), run every
detector and scorer on each pruned network, and write each cell to the results store.

Cells that share (task, architecture, pruner) form a *group*; with batching on (the default) a
group's seeds are pruned together by the pruner's ``prune_many``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import platform
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from sculptbench.core import PruneJob, SculptbenchError, SculptedNetwork, Task, TrainingConfig
from sculptbench.plugin_manager import Registry
from sculptbench.store import Cell, ResultsStore

ARCH_LIMIT = 4096


# --------------------------------------------------------------------------- selection
def parse_archs(text: str | None) -> list[tuple[int, ...]] | None:
    """Parse ``"24,24x24,36x36x36"`` into hidden shapes; ``None`` means the tasks' defaults."""
    if text is None or not text.strip():
        return None
    archs = []
    for part in text.split(","):
        part = part.strip()
        try:
            shape = tuple(int(w) for w in part.lower().split("x"))
        except ValueError:
            raise SculptbenchError(f"invalid --arch {part!r}; use widths joined by 'x', e.g. 24x24, and commas between nets") from None
        if not shape or any(w < 1 or w > ARCH_LIMIT for w in shape):
            raise SculptbenchError(f"invalid --arch {part!r}; every width must be between 1 and {ARCH_LIMIT}")
        archs.append(shape)
    return archs


def split_names(text: str | Sequence[str] | None) -> list[str]:
    """Split a comma-separated option into names, dropping blanks and duplicates (order kept)."""
    if text is None:
        return []
    parts = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    out: list[str] = []
    for p in (p.strip() for p in parts):
        if p and p not in out:
            out.append(p)
    return out


def select_tasks(registry: Registry, selectors: Sequence[str], load_file: Callable[[str], Task] | None = None) -> list[Task]:
    """Resolve task selectors: ``all``, a family (``exemplars``), a task name (``bool/none``),
    a prefix (``bool``), a glob (``bool/overlap-o3-*``) or a path to a circuit YAML file."""
    if not selectors:
        raise SculptbenchError("no tasks selected; pass --tasks (e.g. --tasks exemplars, or --tasks all)")
    tasks = registry.tasks
    chosen: dict[str, Task] = {}
    for sel in selectors:
        if sel.endswith((".yaml", ".yml")) or os.path.sep in sel and Path(sel).exists():
            if load_file is None:
                from sculptbench.circuits import load_circuit as load_file  # noqa: N811
            if not Path(sel).is_file():
                raise SculptbenchError(f"task file {sel} does not exist; pass a path to a circuit YAML file")
            task = load_file(sel)
            chosen.setdefault(task.name, task)
            continue
        if sel == "all":
            matched = [t for t in tasks.values() if getattr(t, "include_in_all", True)]
        elif sel in tasks:
            matched = [tasks[sel]]
        else:
            matched = [
                t for t in tasks.values()
                if t.family == sel or t.family.split("/")[-1] == sel or t.name.startswith(sel + "/")
                or f"{t.name.split('/')[0]}/{t.family}" == sel or fnmatch.fnmatchcase(t.name, sel)
            ]
        if not matched:
            families = sorted({t.family for t in tasks.values()})
            raise SculptbenchError(
                f"unknown task {sel!r}; available: all, families {', '.join(families)}, a task name (see `sculptbench list tasks`) or a path to a .yaml circuit"
            )
        for t in sorted(matched, key=lambda t: t.name):
            chosen.setdefault(t.name, t)
    return list(chosen.values())


def parse_params(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Parse ``--param COMPONENT.KEY=VALUE`` items into ``{component: {key: value}}`` (values as YAML)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise SculptbenchError(f"invalid --param {item!r}; use COMPONENT.KEY=VALUE, e.g. iterative.unit_step=30")
        lhs, value = item.split("=", 1)
        component, key = lhs.split(".", 1)
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            parsed = value
        out.setdefault(component.strip(), {})[key.strip()] = parsed
    return out


# --------------------------------------------------------------------------- planning
@dataclass
class RunSpec:
    """A fully resolved run request."""

    tasks: list[Task]
    pruners: list[str]
    detectors: list[str]
    scorers: list[str]
    seeds: list[int]
    archs: list[tuple[int, ...]] | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    training_overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    batch: bool = True
    jobs: int = 1


@dataclass
class Group:
    """Cells sharing a task, architecture, pruner and pruner config: pruned together."""

    task: Task
    hidden: tuple[int, ...]
    pruner: str
    pruner_params: dict[str, Any]
    training: TrainingConfig
    seeds: list[int]
    detectors: list[tuple[str, dict[str, Any]]]
    scorers: list[str]
    device: str
    versions: dict[str, Any]
    #: (seed, detector) -> cell key
    keys: dict[tuple[int, str], str] = field(default_factory=dict)

    def cell_count(self) -> int:
        """Number of cells in the group."""
        return len(self.seeds) * len(self.detectors)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def resolve_device(device: str) -> str:
    """``auto`` picks CUDA when available; an unavailable CUDA request is a user error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SculptbenchError(f"--device {device} requested but no CUDA device is available; use --device cpu or auto")
    if device != "cpu" and not device.startswith("cuda"):
        raise SculptbenchError(f"invalid --device {device!r}; use cpu, cuda, cuda:N or auto")
    return device


def plan(registry: Registry, spec: RunSpec) -> list[Group]:
    """Validate every component and parameter, and build the groups of the run."""
    for kind, names in (("pruner", spec.pruners), ("detector", spec.detectors), ("scorer", spec.scorers)):
        if not names:
            raise SculptbenchError(f"no {kind}s selected; pass --{kind}s")
        for name in names:
            registry.get(kind, name)
    known = set(spec.pruners) | set(spec.detectors)
    for component in spec.params:
        if component not in known:
            raise SculptbenchError(f"--param names {component!r}, which is not a selected pruner or detector; selected: {', '.join(sorted(known))}")
    if not spec.seeds:
        raise SculptbenchError("no seeds selected; pass --seeds N with N >= 1")
    detectors = []
    for name in spec.detectors:
        detectors.append((name, registry.detectors[name].validate_params(dict(spec.params.get(name, {})))))
    groups = []
    for task in spec.tasks:
        training = TrainingConfig(**{**task.training.__dict__, **spec.training_overrides}).validate()
        for hidden in spec.archs or list(task.default_archs):
            for pname in spec.pruners:
                pruner = registry.pruners[pname]
                pparams = pruner.validate_params(dict(spec.params.get(pname, {})))
                task_dets = [(n, detector_params(registry.detectors[n], task, spec.params.get(n, {}))) for n, _ in detectors]
                versions = {
                    "pruner": registry.version_of("pruner", pname),
                    "detectors": {n: registry.version_of("detector", n) for n, _ in task_dets},
                    "scorers": {n: registry.version_of("scorer", n) for n in spec.scorers},
                    "task": registry.version_of("task", task.name) if task.name in registry.tasks else {"package": "file", "version": ""},
                }
                group = Group(task, tuple(hidden), pname, pparams, training, list(spec.seeds), task_dets, list(spec.scorers), spec.device, versions)
                for seed in spec.seeds:
                    for dname, dparams in task_dets:
                        group.keys[(seed, dname)] = _hash({
                            "task": task.name, "task_hash": task.definition_hash(), "hidden": list(hidden),
                            "pruner": pname, "pruner_version": versions["pruner"], "pruner_params": pparams,
                            "training": training.__dict__, "detector": dname, "detector_version": versions["detectors"][dname],
                            "detector_params": dparams, "scorers": {n: versions["scorers"][n] for n in spec.scorers},
                            "seed": seed, "device": spec.device,
                        })
                groups.append(group)
    return groups


def detector_params(detector: Any, task: Task, user: dict[str, Any]) -> dict[str, Any]:
    """A detector's parameters: its defaults, then the task's hints it understands, then the user's."""
    hints = {k: v for k, v in task.detector_defaults.items() if k in detector.defaults}
    return detector.validate_params({**hints, **user})


# --------------------------------------------------------------------------- execution
def run_group(group: Group, registry: Registry, batch: bool, skip: set[str] | None = None) -> list[Cell]:
    """Prune the group's networks, then detect and score each; never raises for plugin errors."""
    skip = skip or set()
    seeds = [s for s in group.seeds if any(group.keys[(s, d)] not in skip for d, _ in group.detectors)]
    cells: list[Cell] = []
    if not seeds:
        return cells
    pruner = registry.pruners[group.pruner]
    jobs = [PruneJob(group.task, group.hidden, seed, dict(group.pruner_params), group.training, group.device) for seed in seeds]
    t0 = time.perf_counter()
    try:
        nets = pruner.prune_many(jobs) if batch else [pruner.prune(job) for job in jobs]
        if len(nets) != len(jobs) or not all(isinstance(n, SculptedNetwork) for n in nets):
            raise SculptbenchError(f"pruner {group.pruner!r} returned {len(nets)} results for {len(jobs)} jobs, or a non-SculptedNetwork")
        prune_error = None
    except Exception as exc:  # noqa: BLE001 - a failing plugin yields error rows
        nets, prune_error = [], _describe(exc)
    prune_time = (time.perf_counter() - t0) / max(len(jobs), 1)
    for i, seed in enumerate(seeds):
        net = nets[i] if nets else None
        for dname, dparams in group.detectors:
            key = group.keys[(seed, dname)]
            if key in skip:
                continue
            cell = _base_cell(group, seed, dname, dparams, key)
            cell.timings["prune"] = prune_time
            if net is None:
                cell.status, cell.error = "error", f"pruner {group.pruner!r} failed: {prune_error}"
                cells.append(cell)
                continue
            cell.density, cell.accuracy = net.density(), net.accuracy
            cell.test_accuracy, cell.dense_accuracy = net.test_accuracy, net.dense_accuracy
            cell.config["pruner_info"] = {k: v for k, v in net.info.items() if k != "variant"} | {"variant": net.info.get("variant")}
            cell.config["history"] = net.history
            if net.status == "untrainable":
                cell.status = "untrainable"
                cell.error = f"the dense network reached accuracy {net.dense_accuracy:.4f}, below the threshold"
                cells.append(cell)
                continue
            _detect_and_score(cell, group, registry, net, dname, dparams, seed)
            cells.append(cell)
    return cells


def _detect_and_score(cell: Cell, group: Group, registry: Registry, net: SculptedNetwork, dname: str, dparams: dict, seed: int) -> None:
    t0 = time.perf_counter()
    try:
        detection = registry.detectors[dname].detect(net, group.task, dict(dparams), seed)
    except Exception as exc:  # noqa: BLE001
        cell.status, cell.error = "error", f"detector {dname!r} failed: {_describe(exc)}"
        return
    cell.timings["detect"] = time.perf_counter() - t0
    cell.config["modules"] = [sorted(m) for m in detection.modules]
    t0 = time.perf_counter()
    for sname in group.scorers:
        try:
            record = registry.scorers[sname].score(detection, net, group.task)
        except Exception as exc:  # noqa: BLE001
            cell.status, cell.error = "error", f"scorer {sname!r} failed: {_describe(exc)}"
            return
        for metric, value in record.metrics.items():
            cell.metrics[f"{sname}.{metric}"] = value
    cell.timings["score"] = time.perf_counter() - t0
    cell.status = "ok"


def _base_cell(group: Group, seed: int, dname: str, dparams: dict, key: str) -> Cell:
    return Cell(
        cell_key=key, task=group.task.name, family=group.task.family, arch="x".join(map(str, group.hidden)) or "-",
        depth=len(group.hidden), pruner=group.pruner, detector=dname, seed=seed, status="error",
        config={
            "pruner_params": group.pruner_params, "detector_params": dparams, "training": group.training.__dict__,
            "device": group.device, "data_source": group.task.data_source, "task_hash": group.task.definition_hash(),
            "task_parameters": dict(group.task.task_parameters),
        },
        versions=group.versions | {"sculptbench": _own_version(), "torch": torch.__version__},
    )


def _describe(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {Path(frame.filename).name}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _own_version() -> str:
    from sculptbench import __version__

    return __version__


def manifest(spec: RunSpec, registry: Registry) -> dict[str, Any]:
    """What exactly was run: versions of everything, the device, seeds and resolved config."""
    import numpy

    from sculptbench import __version__

    return {
        "sculptbench": __version__,
        "git": _git_state(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "device": spec.device,
        "seeds": spec.seeds,
        "plugins": [p.to_dict() for p in registry.plugins],
    }


def _git_state() -> dict[str, Any]:
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return {"sha": None, "dirty": None}
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
        return {"sha": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)


def _worker_run(group: Group, batch: bool, skip: set[str]) -> list[Cell]:
    from sculptbench.plugin_manager import load_registry

    return run_group(group, load_registry(), batch, skip)


def execute(
    registry: Registry,
    spec: RunSpec,
    groups: list[Group],
    store: ResultsStore,
    run_id: str,
    on_cell: Callable[[Cell], None] = lambda cell: None,
    skip: set[str] | None = None,
) -> list[Cell]:
    """Run every group, write each cell as soon as its group finishes, and return all cells."""
    skip = skip or set()
    done: list[Cell] = []
    if spec.jobs <= 1:
        for group in groups:
            for cell in run_group(group, registry, spec.batch, skip):
                store.write_cell(run_id, cell)
                done.append(cell)
                on_cell(cell)
        return done
    threads = torch.get_num_threads()
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=spec.jobs, mp_context=ctx, initializer=_worker_init, initargs=(threads,)) as pool:
        futures = {pool.submit(_worker_run, g, spec.batch, skip): g for g in groups}
        for future in as_completed(futures):
            group = futures[future]
            try:
                cells = future.result()
            except Exception as exc:  # noqa: BLE001 - a crashed worker yields error rows
                cells = []
                for seed in group.seeds:
                    for dname, dparams in group.detectors:
                        key = group.keys[(seed, dname)]
                        if key in skip:
                            continue
                        cell = _base_cell(group, seed, dname, dparams, key)
                        cell.error = f"worker failed: {_describe(exc)}"
                        cells.append(cell)
            for cell in cells:
                store.write_cell(run_id, cell)
                done.append(cell)
                on_cell(cell)
    return done
