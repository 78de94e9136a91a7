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
import socket
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch

from sculptbench.contracts.components import Task
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.hashing import canonical_json
from sculptbench.contracts.options import Options
from sculptbench.contracts.protocol import DETECTING_RULES
from sculptbench.contracts.types import TrainingConfig
from sculptbench.contracts.work import CacheLocation, Group, WorkUnit
from sculptbench.plugin.registry import Registry
from sculptbench.run.cache import STAGES
from sculptbench.run.keys import cell_key
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
    """Validate every component and option, and build the groups of the run.

    Each component's options are resolved here, once per distinct set of task defaults
    (:meth:`~sculptbench.contracts.components.Configurable.resolve`); the groups carry the
    resolved :class:`~sculptbench.contracts.options.Options`, which the components receive as
    they are.
    """
    for kind, names in (("pruner", spec.pruners), ("detector", spec.detectors), ("scorer", spec.scorers)):
        if not names:
            raise SculptbenchError(f"no {kind}s selected; pass --{kind}s")
        for name in names:
            registry.get(kind, name)
    known = set(spec.pruners) | set(spec.detectors) | set(spec.scorers)
    for component in spec.params:
        if component not in known:
            raise SculptbenchError(f"--param names {component!r}, which is not a selected pruner, detector or scorer; selected: {', '.join(sorted(known))}")
    if not spec.seeds:
        raise SculptbenchError("no seeds selected; pass --seeds N with N >= 1")
    if "executor" in registry.components:
        registry.get("executor", spec.executor)
    if spec.timeout is not None and not spec.timeout > 0:
        raise SculptbenchError(f"invalid --timeout {spec.timeout}; it must be > 0 seconds")
    if spec.force is not None and spec.force not in STAGES:
        raise SculptbenchError(f"invalid --force {spec.force!r}; valid: {', '.join(STAGES)}")
    resolver = _Resolver(registry, spec.params)
    scorers = [(name, resolver.options("scorer", name, {})) for name in spec.scorers]
    groups = []
    for task in spec.tasks:
        if spec.archs == PAPER_ARCHS:
            from sculptbench.paper import paper_archs

            archs = paper_archs(task)
        else:
            archs = spec.archs or list(task.default_archs)
        for hidden in archs:
            hidden = tuple(hidden)
            base = task.training_for(hidden)
            for pname in spec.pruners:
                pruner = registry.pruners[pname]
                versions = {
                    "pruner": registry.version_of("pruner", pname),
                    "detectors": {n: registry.version_of("detector", n) for n in spec.detectors},
                    "scorers": {n: registry.version_of("scorer", n) for n in spec.scorers},
                    "task": registry.version_of("task", task.name) if task.name in registry.tasks else {"package": "file", "version": ""},
                }
                # Seeds whose options, training and detector settings agree are pruned together.
                batches: dict[Any, Group] = {}
                for seed in spec.seeds:
                    options = resolver.options("pruner", pname, task.pruning_defaults_for(hidden, seed))
                    settings = pruner.cell_settings(task, hidden, seed, options)
                    extra = settings.training if settings is not None else {}
                    training = TrainingConfig(**{**base.__dict__, **extra, **spec.training_overrides}).validate()
                    hints = {**task.detector_defaults, **(settings.detector_hints if settings is not None else {})}
                    detectors = [(n, resolver.options("detector", n, hints)) for n in spec.detectors]
                    protocol = resolver.protocol(pname, options, hints)
                    group = batches.get((options, training, tuple(detectors), protocol))
                    if group is None:
                        pruner.check_cell(task, hidden, training, options)
                        group = Group(task, hidden, pname, options, training, [], detectors, scorers, spec.device, versions,
                                      pruner_label=pruner.label(options), protocol=protocol,
                                      networks_per_seed=options.get("restarts", 1) * pruner.networks_per_start(options))
                        batches[(options, training, tuple(detectors), protocol)] = group
                        groups.append(group)
                    group.seeds.append(seed)
                    for dname, _ in detectors:
                        group.keys[(seed, dname)] = cell_key(group, seed, dname)
    return groups


class _Resolver:
    """Resolves each component's options for a set of task defaults, once per distinct set."""

    def __init__(self, registry: Registry, params: dict[str, dict[str, Any]]):
        self.registry = registry
        self.params = params
        self.seen: dict[Any, Options] = {}

    def options(self, kind: str, name: str, task_values: Mapping[str, Any]) -> Options:
        """``name``'s options for the user's ``--param`` values and ``task_values``."""
        key = (kind, name, canonical_json(dict(task_values)))
        if key not in self.seen:
            component = self.registry.get(kind, name)
            self.seen[key] = component.resolve(self.params.get(name, {}), task_values)
        return self.seen[key]

    def protocol(self, pruner: str, options: Options, hints: Mapping[str, Any]) -> tuple[tuple[str, str, Options], ...]:
        """The detector (and the oracle's scorer) that a pruner's ``select`` rule runs, resolved for
        this cell's detector settings: ``(kind, name, options)`` each; checked to exist."""
        out = []
        if options.get("select") in DETECTING_RULES:
            name = options["select_detector"]
            out.append(("detector", name, self.resolve_unselected("detector", name, hints)))
        if options.get("select") == "oracle":
            name = options["oracle_scorer"]
            scorer = self.registry.get("scorer", name)
            if options["oracle_metric"] not in scorer.metrics:
                raise SculptbenchError(f"invalid {pruner}.oracle_metric {options['oracle_metric']}; scorer {name!r} reports: {', '.join(scorer.metrics)}")
            out.append(("scorer", name, self.resolve_unselected("scorer", name, {})))
        return tuple(out)

    def resolve_unselected(self, kind: str, name: str, task_values: Mapping[str, Any]) -> Options:
        """Options of a component the protocol uses: its defaults and the task's (``--param`` names
        only selected components)."""
        key = (kind, name, "protocol", canonical_json(dict(task_values)))
        if key not in self.seen:
            self.seen[key] = self.registry.get(kind, name).resolve({}, task_values)
        return self.seen[key]


def select_tasks(registry: Registry, selectors: Sequence[str]) -> list[Task]:
    """Resolve task selectors: ``all``, a family (``exemplars``), a task name (``bool/none``), a
    prefix (``bool``), a glob (``bool/overlap-o3-*``), or whatever a registered task source makes
    tasks of (a circuit ``.yaml`` file, a generated circuit's name)."""
    if not selectors:
        raise SculptbenchError("no tasks selected; pass --tasks (e.g. --tasks exemplars, or --tasks all)")
    tasks = registry.tasks
    chosen: dict[str, Task] = {}
    made: dict[str, str] = {}  # task name -> the selector a source made it from
    for sel in selectors:
        source = registry.task_source_for(sel)
        if source is not None:
            task = source.load(sel)
            if task.name in tasks or ("task", task.name) in registry.contested:
                owner = registry.owner.get(("task", task.name))
                raise SculptbenchError(
                    f"{sel} names its task {task.name!r}, which is a registered task"
                    f"{f' (package {owner.package})' if owner else ''}; registered task names are taken: give it another name"
                )
            if task.name in made and made[task.name] != sel:
                raise SculptbenchError(f"{made[task.name]} and {sel} both name their task {task.name!r}; give one another name")
            made[task.name] = sel
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
            sources = "".join(f", {s.description}" for s in registry.task_sources.values())
            raise SculptbenchError(
                f"unknown task {sel!r}; available: all, families {', '.join(families)}, a task name (see `sculptbench list tasks`){sources}"
            )
        for t in sorted(matched, key=lambda t: t.name):
            chosen.setdefault(t.name, t)
    return list(chosen.values())


def make_units(spec: RunSpec, groups: Sequence[Group], skip: set[str] | None = None, only: set[str] | None = None) -> list[WorkUnit]:
    """One unit per group with the cells not in ``skip`` (and, if given, in ``only``); their cache
    serves this process's run (it is written only while this process lives)."""
    skip = skip or set()
    owner = (socket.gethostname(), os.getpid())
    cache = CacheLocation(str(spec.cache_dir) if spec.cache_dir is not None else None, spec.force, owner)
    units = []
    for group in groups:
        keys = [group.keys[(seed, d)] for seed in group.seeds for d, _ in group.detectors]
        keys = [k for k in keys if k not in skip and (only is None or k in only)]
        if keys:
            units.append(WorkUnit(group, keys, spec.batch, cache))
    return units
