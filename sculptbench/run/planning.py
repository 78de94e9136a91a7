"""Planning a run: resolve the selection, validate every component and parameter, and build the
groups (cells sharing task, architecture and pruner, pruned together) and their cell keys.

Cells that share (task, architecture, pruner) and their training and detector settings form a
*group*; with batching on (the default) a group's seeds are pruned together by the pruner's
``prune_many``. Seeds whose settings differ (e.g. the paper's published recipe of each network)
are in separate groups of the same cell columns. A :class:`WorkUnit` is some
cells of one group: what an executor schedules.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from sculptbench.contracts.components import Pruner, Task
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.hashing import digest
from sculptbench.contracts.types import TrainingConfig, with_task_defaults
from sculptbench.contracts.work import CacheLocation, Group, WorkUnit
from sculptbench.plugin.registry import Registry
from sculptbench.run.cache import STAGES
from sculptbench.run.parsing import PAPER_ARCHS


@dataclass
class RunSpec:
    """A fully resolved run request."""

    tasks: list[Task]
    pruners: list[str]
    detectors: list[str]
    scorers: list[str]
    seeds: list[int]
    #: Hidden shapes; ``None``: each task's defaults; ``"paper"``: the paper's per task.
    archs: list[tuple[int, ...]] | str | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    training_overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    batch: bool = True
    jobs: int = 1
    #: An executor name (``local``, ``dask`` or a plugin's); see docs/execution.md.
    executor: str = "local"
    #: Seconds per cell (the prune stage: per cell it serves); see UnitTracker. ``None``: no limit.
    timeout: float | None = None
    #: The dask scheduler address (``--executor dask``); ``None`` starts a LocalCluster.
    scheduler: str | None = None
    #: The stage cache directory; ``None`` disables the cache.
    cache_dir: str | None = None
    #: Recompute this stage (``prune``, ``detect`` or ``score``) and the later ones.
    force: str | None = None


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
    if "executor" in registry.components:
        registry.get("executor", spec.executor)
    if spec.timeout is not None and not spec.timeout > 0:
        raise SculptbenchError(f"invalid --timeout {spec.timeout}; it must be > 0 seconds")
    if spec.force is not None and spec.force not in STAGES:
        raise SculptbenchError(f"invalid --force {spec.force!r}; valid: {', '.join(STAGES)}")
    user_params = {name: registry.pruners[name].validate_params(dict(spec.params.get(name, {}))) for name in spec.pruners}
    detectors = []
    for name in spec.detectors:
        detectors.append((name, registry.detectors[name].validate_params(dict(spec.params.get(name, {})))))
    groups = []
    for task in spec.tasks:
        task_hash = task.definition_hash()  # once per task: hashing its definition per cell dominated big grids
        if spec.archs == PAPER_ARCHS:
            from sculptbench.paper import paper_archs

            archs = paper_archs(task)
        else:
            archs = spec.archs or list(task.default_archs)
        for hidden in archs:
            base = task.training_for(tuple(hidden))
            task_training = TrainingConfig(**{**base.__dict__, **spec.training_overrides}).validate()
            for pname in spec.pruners:
                pruner = registry.pruners[pname]
                per_seed = pruner_params(pruner, task, tuple(hidden), spec.seeds, user_params[pname])
                versions = {
                    "pruner": registry.version_of("pruner", pname),
                    "detectors": {n: registry.version_of("detector", n) for n, _ in detectors},
                    "scorers": {n: registry.version_of("scorer", n) for n in spec.scorers},
                    "task": registry.version_of("task", task.name) if task.name in registry.tasks else {"package": "file", "version": ""},
                }
                # Each seed's own settings (e.g. its published recipe): seeds whose training and
                # detector settings agree are pruned together, the others in groups of their own.
                batches: dict[Any, tuple[TrainingConfig, list, list[int]]] = {}
                for seed in spec.seeds:
                    settings = pruner.cell_settings(task, tuple(hidden), [seed], per_seed[seed])
                    training, hints = task_training, {}
                    if settings is not None:
                        training = TrainingConfig(**{**base.__dict__, **settings.training, **spec.training_overrides}).validate()
                        hints = settings.detector_hints
                    task_dets = [(n, detector_params(registry.detectors[n], task, spec.params.get(n, {}), hints)) for n, _ in detectors]
                    batches.setdefault((training, repr(task_dets)), (training, task_dets, []))[2].append(seed)
                for training, task_dets, seeds in batches.values():
                    pparams = per_seed[seeds[0]]
                    group = Group(task, tuple(hidden), pname, pparams, training, seeds, task_dets, list(spec.scorers), spec.device, versions)
                    group.seed_params = {seed: per_seed[seed] for seed in seeds if per_seed[seed] != pparams}
                    label = pruner.label(pparams)
                    group.pruner_label = label if label != pname else ""
                    for seed in seeds:
                        for dname, dparams in task_dets:
                            group.keys[(seed, dname)] = digest({
                                "task": task.name, "task_hash": task_hash, "hidden": list(hidden),
                                "pruner": pname, "pruner_version": versions["pruner"], "pruner_params": group.params_for(seed),
                                "training": training.__dict__, "detector": dname, "detector_version": versions["detectors"][dname],
                                "detector_params": dparams, "scorers": {n: versions["scorers"][n] for n in spec.scorers},
                                "seed": seed, "device": spec.device,
                            }, 20)
                    groups.append(group)
    return groups


def pruner_params(pruner: Pruner, task: Task, hidden: tuple[int, ...], seeds: Sequence[int], user: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Each seed's resolved pruner parameters: ``user`` (already merged with the pruner's defaults
    by ``validate_params``), then the task's pruning defaults for the options left ``None``
    (:func:`sculptbench.core.with_task_defaults`), validated again. Seeds whose task defaults agree
    share one dict."""
    out: dict[int, dict[str, Any]] = {}
    seen: dict[Any, dict[str, Any]] = {}
    for seed in seeds:
        merged = with_task_defaults(task, hidden, seed, user, pruner.fallbacks)
        frozen = repr(sorted(merged.items()))
        if frozen not in seen:
            seen[frozen] = pruner.validate_params(merged) if merged != user else user
        out[seed] = seen[frozen]
    return out


def detector_params(detector: Any, task: Task, user: dict[str, Any], extra_hints: dict[str, Any] | None = None) -> dict[str, Any]:
    """A detector's parameters: its defaults, then the task's hints it understands (and the
    pruner's ``extra_hints``, e.g. the paper's detector steps), then the user's."""
    hints = {k: v for k, v in {**task.detector_defaults, **(extra_hints or {})}.items() if k in detector.defaults}
    return detector.validate_params({**hints, **user})


#: Per batched network (a seed, or one of its hyperparameter variants): bytes of bookkeeping
#: (history, masks' Python objects, results) measured on the exemplars, beyond its tensors.
NETWORK_OVERHEAD_BYTES = 100_000
#: Networks the built-in pruners train side by side per seed at most (the ``auto`` grid's 9 variants).
VARIANTS_PER_SEED = 9


def estimate_group_bytes(group: "Group", batch: bool = True) -> int:
    """A rough upper estimate of the memory one group needs while it runs.

    Each network holds its weights, gradients, optimiser moments, masks and saved copies (about
    10 x its parameters in float32) and its activations on a batch (4 x, for the backward pass);
    batched, every seed's networks (up to :data:`VARIANTS_PER_SEED` each) are alive together;
    unbatched, one seed's. A Boolean task adds its truth table (six float32 copies).
    """
    widths = [group.task.n_inputs, *group.hidden, group.task.n_outputs]
    params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    units = sum(widths[1:])
    per_network = 4 * (10 * params + 4 * group.training.batch_size * units) + NETWORK_OVERHEAD_BYTES
    seeds = len(group.seeds) if batch else 1
    table = 0
    if getattr(group.task, "data_source", "") == "truth table":
        table = 6 * 4 * (2 ** group.task.n_inputs) * (group.task.n_inputs + group.task.n_outputs)
    return seeds * VARIANTS_PER_SEED * per_network + table


def select_tasks(registry: Registry, selectors: Sequence[str], load_file: Callable[[str], Task] | None = None) -> list[Task]:
    """Resolve task selectors: ``all``, a family (``exemplars``), a task name (``bool/none``),
    a prefix (``bool``), a glob (``bool/overlap-o3-*``) or a path to a circuit YAML file."""
    if not selectors:
        raise SculptbenchError("no tasks selected; pass --tasks (e.g. --tasks exemplars, or --tasks all)")
    tasks = registry.tasks
    chosen: dict[str, Task] = {}
    files: dict[str, str] = {}  # task name -> the task file that defines it
    for sel in selectors:
        if sel.endswith((".yaml", ".yml")) or os.path.sep in sel and Path(sel).exists():
            if load_file is None:
                from sculptbench.plugins.tasks.boolean.circuits import (
                    load_circuit as load_file,  # noqa: N811
                )
            if not Path(sel).is_file():
                raise SculptbenchError(f"task file {sel} does not exist; pass a path to a circuit YAML file")
            task = load_file(sel)
            if task.name in tasks or ("task", task.name) in registry.contested:
                owner = registry.owner.get(("task", task.name))
                raise SculptbenchError(
                    f"task file {sel} names its task {task.name!r}, which is a registered task"
                    f"{f' (package {owner.package})' if owner else ''}; registered task names are taken: give the file another `name:`"
                )
            if task.name in files:
                raise SculptbenchError(f"task files {files[task.name]} and {sel} both name their task {task.name!r}; give one another `name:`")
            files[task.name] = sel
            chosen[task.name] = task
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
        if not matched and ("task", sel) in registry.contested:
            registry.get("task", sel)  # names the packages whose clash left the task without an owner
        if not matched:
            families = sorted({t.family for t in tasks.values()})
            raise SculptbenchError(
                f"unknown task {sel!r}; available: all, families {', '.join(families)}, a task name (see `sculptbench list tasks`) or a path to a .yaml circuit"
            )
        for t in sorted(matched, key=lambda t: t.name):
            chosen.setdefault(t.name, t)
    return list(chosen.values())


def make_units(spec: RunSpec, groups: Sequence[Group], skip: set[str] | None = None, only: set[str] | None = None) -> list[WorkUnit]:
    """One unit per group with the cells not in ``skip`` (and, if given, in ``only``)."""
    skip = skip or set()
    cache = CacheLocation(str(spec.cache_dir) if spec.cache_dir is not None else None, spec.force)
    units = []
    for group in groups:
        keys = [group.keys[(seed, d)] for seed in group.seeds for d, _ in group.detectors]
        keys = [k for k in keys if k not in skip and (only is None or k in only)]
        if keys:
            units.append(WorkUnit(group, keys, spec.batch, cache))
    return units
