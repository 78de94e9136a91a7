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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from sculptbench import checks
from sculptbench.cache import (
    STAGES, StageCache, detection_digest, detection_from_json, detection_to_json, log_stage, network_digest, normalise_metrics,
)
from sculptbench.core import ARCH_LIMIT, Detection, PruneJob, SculptbenchError, SculptedNetwork, Task, TrainingConfig
from sculptbench.plugin_manager import Registry
from sculptbench.store import Cell, ResultsStore



# --------------------------------------------------------------------------- selection
#: ``--arch paper``: the architectures the paper ran for each task (``sculptbench.paper``).
PAPER_ARCHS = "paper"


def parse_archs(text: str | None) -> list[tuple[int, ...]] | str | None:
    """Parse ``"24,24x24,36x36x36"`` into hidden shapes; ``None`` means the tasks' defaults and
    ``"paper"`` (:data:`PAPER_ARCHS`) the architectures the paper ran for each task."""
    if text is None:
        return None
    if not text.strip():
        raise SculptbenchError("invalid --arch ''; give hidden shapes like 24,24x24, or leave --arch out for each task's own")
    if text.strip().lower() == PAPER_ARCHS:
        return PAPER_ARCHS
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
    files: dict[str, str] = {}  # task name -> the task file that defines it
    for sel in selectors:
        if sel.endswith((".yaml", ".yml")) or os.path.sep in sel and Path(sel).exists():
            if load_file is None:
                from sculptbench.circuits import load_circuit as load_file  # noqa: N811
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
    #: How the pruner is shown in results (e.g. ``iterative[oracle]``); empty: its name.
    pruner_label: str = ""

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
    if "executor" in registry.components:
        registry.get("executor", spec.executor)
    if spec.timeout is not None and not spec.timeout > 0:
        raise SculptbenchError(f"invalid --timeout {spec.timeout}; it must be > 0 seconds")
    if spec.force is not None and spec.force not in STAGES:
        raise SculptbenchError(f"invalid --force {spec.force!r}; valid: {', '.join(STAGES)}")
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
                pparams = pruner.validate_params(dict(spec.params.get(pname, {})))
                settings = pruner.cell_settings(task, tuple(hidden), list(spec.seeds), pparams)
                training, hints = task_training, {}
                if settings is not None:
                    training = TrainingConfig(**{**base.__dict__, **settings.training, **spec.training_overrides}).validate()
                    hints = settings.detector_hints
                task_dets = [(n, detector_params(registry.detectors[n], task, spec.params.get(n, {}), hints)) for n, _ in detectors]
                versions = {
                    "pruner": registry.version_of("pruner", pname),
                    "detectors": {n: registry.version_of("detector", n) for n, _ in task_dets},
                    "scorers": {n: registry.version_of("scorer", n) for n in spec.scorers},
                    "task": registry.version_of("task", task.name) if task.name in registry.tasks else {"package": "file", "version": ""},
                }
                group = Group(task, tuple(hidden), pname, pparams, training, list(spec.seeds), task_dets, list(spec.scorers), spec.device, versions)
                label = pruner.label(pparams)
                group.pruner_label = label if label != pname else ""
                for seed in spec.seeds:
                    for dname, dparams in task_dets:
                        group.keys[(seed, dname)] = _hash({
                            "task": task.name, "task_hash": task_hash, "hidden": list(hidden),
                            "pruner": pname, "pruner_version": versions["pruner"], "pruner_params": pparams,
                            "training": training.__dict__, "detector": dname, "detector_version": versions["detectors"][dname],
                            "detector_params": dparams, "scorers": {n: versions["scorers"][n] for n in spec.scorers},
                            "seed": seed, "device": spec.device,
                        })
                groups.append(group)
    return groups


def detector_params(detector: Any, task: Task, user: dict[str, Any], extra_hints: dict[str, Any] | None = None) -> dict[str, Any]:
    """A detector's parameters: its defaults, then the task's hints it understands (and the
    pruner's ``extra_hints``, e.g. the paper's detector steps), then the user's."""
    hints = {k: v for k, v in {**task.detector_defaults, **(extra_hints or {})}.items() if k in detector.defaults}
    return detector.validate_params({**hints, **user})


# --------------------------------------------------------------------------- execution
@dataclass
class WorkUnit:
    """Some cells of one group, run together: what an executor schedules.

    The group's seeds that have a cell in ``keys`` are pruned together (batched, unless
    ``batch`` is off; seeds whose pruned network is in ``cache`` are loaded instead), then each
    cell is detected and scored. Picklable: it travels to worker processes.
    """

    group: Group
    keys: list[str]
    batch: bool = True
    cache: StageCache = field(default_factory=StageCache)

    def cell_count(self) -> int:
        """Number of cells in the unit."""
        return len(self.keys)


def make_units(spec: RunSpec, groups: Sequence[Group], skip: set[str] | None = None, only: set[str] | None = None) -> list[WorkUnit]:
    """One unit per group with the cells not in ``skip`` (and, if given, in ``only``)."""
    skip = skip or set()
    cache = StageCache(str(spec.cache_dir) if spec.cache_dir is not None else None, spec.force)
    units = []
    for group in groups:
        keys = [group.keys[(seed, d)] for seed in group.seeds for d, _ in group.detectors]
        keys = [k for k in keys if k not in skip and (only is None or k in only)]
        if keys:
            units.append(WorkUnit(group, keys, spec.batch, cache))
    return units


def run_group(group: Group, registry: Registry, batch: bool, skip: set[str] | None = None, cache: StageCache | None = None) -> list[Cell]:
    """Prune the group's networks, then detect and score each; never raises for plugin errors."""
    skip = skip or set()
    keys = [group.keys[(seed, d)] for seed in group.seeds for d, _ in group.detectors]
    unit = WorkUnit(group, [k for k in keys if k not in skip], batch, cache or StageCache())
    cells: list[Cell] = []
    run_unit(unit, registry, lambda event: cells.append(event[1]) if event[0] == "cell" else None)
    return cells


@dataclass
class ScoredNetwork:
    """One cell as a run computes it, with its pruned network and detection (for drawing)."""

    cell: Cell
    network: SculptedNetwork | None
    detection: Detection | None


def scored_network(registry: Registry, group: Group, seed: int, detector: str, cache_dir: str | None) -> ScoredNetwork:
    """The network, detection and row that a run of ``group`` computes for ``(seed, detector)``.

    This is the run's own path (:func:`run_unit` on a unit of that one cell): from the stage cache
    in ``cache_dir`` when present, else pruned by the pruner's batched ``prune_many`` and stored
    there. Results do not depend on what else shares a batch, so this is the network the run
    scored. Without a cache directory a temporary one carries the network out of the unit.
    """
    import tempfile

    key = group.keys[(seed, detector)]
    with tempfile.TemporaryDirectory(prefix="sculptbench-") as tmp:
        cache = StageCache(cache_dir or tmp)
        cells: list[Cell] = []
        run_unit(WorkUnit(group, [key], True, cache), registry, lambda event: cells.append(event[1]) if event[0] == "cell" else None)
        pkey = cache.prune_key(group, seed)
        sizes = [group.task.n_inputs, *group.hidden, group.task.n_outputs]
        hit = cache.load_network(pkey, sizes)
        found = None
        if hit is not None:
            dparams = dict(group.detectors)[detector]
            dkey = cache.detect_key(pkey, detector, group.versions["detectors"][detector], dparams, network_digest(hit[0]))
            found = cache.load_detection(dkey, hit[0])
    return ScoredNetwork(cells[0], hit[0] if hit else None, found[0] if found else None)


def run_unit(unit: WorkUnit, registry: Registry, emit: Callable[[tuple], None]) -> None:
    """Run one unit's stages (prune, detect, score) in this process; never raises for plugin errors.

    ``emit`` receives ``("begin", cell_key or None, what)`` before each stage (``None`` for the
    group's prune stage) and ``("cell", Cell)`` for each finished cell, in order.
    """
    group, cache = unit.group, unit.cache
    todo = set(unit.keys)
    seeds = [s for s in group.seeds if any(group.keys[(s, d)] in todo for d, _ in group.detectors)]
    if not seeds:
        return
    pkeys = {seed: cache.prune_key(group, seed) for seed in seeds}
    sizes = [group.task.n_inputs, *group.hidden, group.task.n_outputs]
    nets: dict[int, SculptedNetwork] = {}
    seconds: dict[int, float] = {}
    status: dict[int, str] = {}
    for seed in seeds:
        hit = cache.load_network(pkeys[seed], sizes)
        if hit is not None:
            nets[seed], seconds[seed] = hit
            status[seed] = "hit"
    missing = [seed for seed in seeds if seed not in nets]
    prune_errors: dict[int, str] = {}
    if missing:
        emit(("begin", None, f"pruner {group.pruner!r}"))
        jobs = [PruneJob(group.task, group.hidden, seed, dict(group.pruner_params), group.training, group.device) for seed in missing]
        t0 = time.perf_counter()
        try:
            pruner = _component(registry, "pruner", group.pruner)
            out = pruner.prune_many(jobs) if unit.batch else [pruner.prune(job) for job in jobs]
            if not isinstance(out, (list, tuple)) or len(out) != len(jobs):
                raise checks.InvalidOutput(f"{_who(registry, 'pruner', group.pruner)} returned {len(out) if isinstance(out, (list, tuple)) else type(out).__name__} results for {len(jobs)} jobs")
        except Exception as exc:  # noqa: BLE001 - a failing plugin yields error rows
            failure = _failure("pruner", group.pruner, exc)
            for seed in missing:
                seconds[seed] = (time.perf_counter() - t0) / len(jobs)
                prune_errors[seed] = failure
        else:
            each = (time.perf_counter() - t0) / len(jobs)
            for seed, net in zip(missing, out):
                seconds[seed] = each
                try:
                    checks.check_network(net, sizes, _who(registry, "pruner", group.pruner))
                except checks.InvalidOutput as exc:
                    prune_errors[seed] = _failure("pruner", group.pruner, exc)
                    continue
                if net.status == "error":  # one job the pruner could not serve: an error row, never cached
                    prune_errors[seed] = f"pruner {group.pruner!r}: {net.info['error']}"
                    continue
                nets[seed] = net
                status[seed] = _save(cache.save_network, pkeys[seed], net, each)
                log_stage("prune", pkeys[seed])
    for seed in seeds:
        net = nets.get(seed)
        for dname, dparams in group.detectors:
            key = group.keys[(seed, dname)]
            if key not in todo:
                continue
            emit(("begin", key, f"detector {dname!r}"))
            cell = _base_cell(group, seed, dname, dparams, key)
            cell.timings["prune"] = seconds[seed]
            if net is None:
                cell.status, cell.error = "error", prune_errors[seed]
                emit(("cell", cell))
                continue
            cell.density, cell.accuracy = net.density(), net.accuracy
            cell.test_accuracy, cell.dense_accuracy = net.test_accuracy, net.dense_accuracy
            cell.config["pruner_info"] = {k: v for k, v in net.info.items() if k != "variant"} | {"variant": net.info.get("variant")}
            cell.config["history"] = net.history
            if cache.enabled:
                cell.config["cache"] = {"prune": status[seed]}
            if net.status == "untrainable":
                cell.status = "untrainable"
                cell.error = f"the dense network reached accuracy {net.dense_accuracy:.4f}, below the threshold"
            else:
                _detect_and_score(cell, unit, registry, net, pkeys[seed], dname, dparams, seed, emit)
            emit(("cell", cell))


def _detect_and_score(cell: Cell, unit: WorkUnit, registry: Registry, net: SculptedNetwork, pkey: str, dname: str, dparams: dict,
                      seed: int, emit: Callable[[tuple], None]) -> None:
    group, cache = unit.group, unit.cache
    # The detection's key covers the network's content, and each score's key the detection's:
    # a cached detection and score always belong to this very network.
    dkey = cache.detect_key(pkey, dname, group.versions["detectors"][dname], dparams, network_digest(net))

    def detect() -> Detection | None:
        try:
            raw = _component(registry, "detector", dname).detect(net, group.task, dict(dparams), seed)
            checks.check_detection(raw, net, _who(registry, "detector", dname))
            # What the scorers see is exactly what the cache stores and returns.
            return detection_from_json(detection_to_json(raw))
        except Exception as exc:  # noqa: BLE001
            cell.status, cell.error = "error", _failure("detector", dname, exc)
            return None

    stage = _cached_stage("detect", dkey, lambda k: cache.load_detection(k, net), cache.save_detection, detect)
    if stage is None:
        return
    detection, seconds, state = stage
    if cache.enabled:
        cell.config["cache"]["detect"] = state
    cell.timings["detect"] = seconds
    cell.config["modules"] = [sorted(m) for m in detection.modules]
    ddigest = detection_digest(detection)
    total = 0.0
    for sname in group.scorers:
        skey = cache.score_key(dkey, sname, group.versions["scorers"][sname], ddigest)
        scorer = registry.components["scorer"].get(sname)

        def score() -> dict[str, Any] | None:
            emit(("begin", cell.cell_key, f"scorer {sname!r}"))
            try:
                record = _component(registry, "scorer", sname).score(detection, net, group.task)
                checks.check_score_record(record, _component(registry, "scorer", sname), _who(registry, "scorer", sname))
                return normalise_metrics(dict(record.metrics))
            except Exception as exc:  # noqa: BLE001
                cell.status, cell.error = "error", _failure("scorer", sname, exc)
                return None

        stage = _cached_stage("score", skey, lambda k: cache.load_score(k, scorer), cache.save_score, score)
        if stage is None:
            return
        metrics, seconds, state = stage
        if cache.enabled:
            cell.config["cache"].setdefault("score", {})[sname] = state
        total += seconds
        for metric, value in metrics.items():
            cell.metrics[f"{sname}.{metric}"] = value
    cell.timings["score"] = total
    cell.status = "ok"


def _who(registry: Registry, kind: str, name: str) -> str:
    """``detector 'x' (package p)``: how output-contract messages name a plugin's component."""
    record = registry.owner.get((kind, name))
    return f"{kind} {name!r}" + (f" (package {record.package})" if record is not None else "")


def _failure(kind: str, name: str, exc: BaseException) -> str:
    """The error of a cell whose ``kind`` component failed: a broken output rule, or an exception."""
    if isinstance(exc, checks.InvalidOutput):
        return f"invalid output: {exc}"
    return f"{kind} {name!r} failed: {_describe(exc)}"


def _cached_stage(stage: str, key: str, load: Callable[[str], tuple[Any, float] | None],
                  save: Callable[[str, Any, float], None], compute: Callable[[], Any]) -> tuple[Any, float, str] | None:
    """``(result, seconds, cache state)`` of one stage: from the cache, else computed and stored.

    ``compute`` records its own failure on the cell and returns ``None``; then so does this.
    """
    hit = load(key)
    if hit is not None:
        return hit[0], hit[1], "hit"
    t0 = time.perf_counter()
    result = compute()
    if result is None:
        return None
    seconds = time.perf_counter() - t0
    state = _save(save, key, result, seconds)
    log_stage(stage, key)
    return result, seconds, state


def _save(save: Callable[..., None], *args: Any) -> str:
    """Write a stage result to the cache; a cache that cannot be written is not fatal."""
    try:
        save(*args)
    except OSError as exc:
        return f"miss (not stored: {exc})"
    return "miss"


def _component(registry: Registry, kind: str, name: str) -> Any:
    try:
        return registry.components[kind][name]
    except KeyError:
        raise SculptbenchError(
            f"{kind} {name!r} is not registered in this process (pid {os.getpid()}); worker processes load installed "
            "plugins only: install the plugin as a package (a plugin passed to load_registry(extra=...) exists only where it was added)"
        ) from None


def failure_cell(unit: WorkUnit, key: str, status: str, error: str) -> Cell:
    """The row of a cell of ``unit`` that could not finish (``error`` or ``timeout``)."""
    group = unit.group
    for (seed, dname), k in group.keys.items():
        if k == key:
            cell = _base_cell(group, seed, dname, dict(group.detectors)[dname], key)
            cell.status, cell.error = status, error
            return cell
    raise KeyError(key)


def _base_cell(group: Group, seed: int, dname: str, dparams: dict, key: str) -> Cell:
    return Cell(
        cell_key=key, task=group.task.name, family=group.task.family, arch="x".join(map(str, group.hidden)) or "-",
        depth=len(group.hidden), pruner=group.pruner_label or group.pruner, detector=dname, seed=seed, status="error",
        config={
            "pruner_params": group.pruner_params, "detector_params": dparams, "training": group.training.__dict__,
            "device": group.device, "data_source": group.task.data_source, "task_hash": group.task.definition_hash(),
            "task_parameters": dict(group.task.task_parameters),
        },
        versions=group.versions | {"sculptbench": _own_version(), "torch": torch.__version__},
    )


def describe_exception(exc: BaseException) -> str:
    """``Type: message (at file:line)`` for an error row."""
    return _describe(exc)


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
    from sculptbench.torch_import import torch_version

    return {
        "sculptbench": __version__,
        "git": _git_state(),
        "python": platform.python_version(),
        "torch": torch_version(),
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


def execution_options(registry: Registry, spec: RunSpec) -> Any:
    """The :class:`sculptbench.executors.ExecutionOptions` of a run (threads: workers x threads <= cores)."""
    from sculptbench.executors import ExecutionOptions, threads_per_worker
    from sculptbench.torch_import import torch_threads

    return ExecutionOptions(
        jobs=spec.jobs, timeout=spec.timeout, scheduler=spec.scheduler,
        threads=threads_per_worker(torch_threads(), spec.jobs), registry=registry,
    )


def prepare_execution(registry: Registry, spec: RunSpec) -> None:
    """Let the executor check its options (e.g. reach the dask scheduler) before a run starts."""
    registry.get("executor", spec.executor).prepare(execution_options(registry, spec))


def execute(
    registry: Registry,
    spec: RunSpec,
    groups: list[Group],
    store: ResultsStore,
    run_id: str,
    on_cell: Callable[[Cell], None] = lambda cell: None,
    skip: set[str] | None = None,
    only: set[str] | None = None,
    on_wait: Callable[[str], None] = lambda message: None,
) -> list[Cell]:
    """Run the cells of ``groups`` not in ``skip`` (and in ``only``, if given) with the spec's
    executor; write each cell in this process as soon as it arrives, and return them all.

    Cells are claimed in the store first. Those that another live run is computing are left to
    it: this run waits for them, takes over the ones whose run ended without writing them, and
    lists the others' rows as theirs (``on_wait`` hears why it waits).
    """
    skip = set(skip or ())
    todo = {k for unit in make_units(spec, groups, skip, only) for k in unit.keys}
    since = store.get_run(run_id)["started"]
    held = store.claim(run_id, sorted(todo))
    # Cells another run finished between this run's start and its claim are theirs too.
    late = store.written_since(todo - set(held), since, other_than=run_id)
    store.release(run_id, late)
    skip |= late
    if held:
        others = sorted(set(held.values()))
        on_wait(f"{len(held)} of these cells are being computed by run {', '.join(others)}; waiting for them instead of computing them twice")
    done: list[Cell] = []
    _execute_units(registry, spec, groups, store, run_id, skip | set(held), only, on_cell, done)
    while held:
        time.sleep(CLAIM_POLL_S)
        still = store.claim(run_id, sorted(held))
        freed = set(held) - set(still)
        theirs = store.written_since(freed, since, other_than=run_id)
        store.release(run_id, theirs)
        if freed - theirs:  # their run ended without them: computed here
            _execute_units(registry, spec, groups, store, run_id, skip, freed - theirs, on_cell, done)
        held = still
    return done


#: Seconds between looks at the cells another run is computing.
CLAIM_POLL_S = 0.5


def _execute_units(registry: Registry, spec: RunSpec, groups: list[Group], store: ResultsStore, run_id: str,
                   skip: set[str], only: set[str] | None, on_cell: Callable[[Cell], None], done: list[Cell]) -> None:
    units = make_units(spec, groups, skip, only)
    executor = registry.get("executor", spec.executor)
    options = execution_options(registry, spec)
    wanted = {k for unit in units for k in unit.keys}

    def deliver(cell: Cell) -> None:
        if cell.cell_key not in wanted:
            return  # unknown or already written: never a duplicate row
        wanted.discard(cell.cell_key)
        store.write_cell(run_id, cell)
        done.append(cell)
        on_cell(cell)

    executor.run(units, options, deliver)
    for unit in units:
        for key in [k for k in unit.keys if k in wanted]:
            deliver(failure_cell(unit, key, "error", f"executor {spec.executor!r} delivered no result for this cell"))
