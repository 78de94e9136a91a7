"""Running one work unit in this process: prune its seeds (or load them from the stage cache),
then detect and score each cell, reporting events as it goes; the rows of failed cells; and
:func:`scored_network`, the one way to sculpt, detect and score a single network.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from sculptbench.contracts import checks
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.types import Detection, SculptedNetwork
from sculptbench.contracts.work import Cell, Group, WorkUnit
from sculptbench.engine.torch_import import kernel_fingerprint
from sculptbench.plugin.registry import Registry
from sculptbench.run import keys
from sculptbench.run.cache import (
    StageCache,
    detection_digest,
    detection_from_json,
    detection_to_json,
    log_stage,
    network_digest,
    normalise_metrics,
    producer,
    pruner_producer,
)
from sculptbench.run.selection import prune_cells


@dataclass
class ScoredNetwork:
    """One cell as a run computes it, with its pruned network and detection (for drawing)."""

    cell: Cell
    network: SculptedNetwork | None
    detection: Detection | None


def scored_network(registry: Registry, group: Group, seed: int, detector: str, cache_dir: str | None) -> ScoredNetwork:
    """The network, detection and row that a run of ``group`` computes for ``(seed, detector)``:
    :func:`scored_networks` for that one seed."""
    return scored_networks(registry, group, detector, cache_dir, [seed])[0]


def scored_networks(registry: Registry, group: Group, detector: str, cache_dir: str | None = None,
                    seeds: Sequence[int] | None = None, batch: bool = True) -> list[ScoredNetwork]:
    """Sculpt, detect and score ``seeds`` (default: the group's) of ``group`` the way a run does.

    This is the run's own path (:func:`run_unit` on a unit of those cells): each network from the
    stage cache in ``cache_dir`` when present, else pruned (together by ``prune_many``, unless not
    ``batch``) and stored there. Results do not depend on what else shares a batch, so these are
    the networks a run scored. Without a cache directory a temporary one carries the networks out
    of the unit. Used by ``draw``, ``plot --kind network`` and the benches.
    """
    import tempfile

    seeds = list(group.seeds if seeds is None else seeds)
    cells: dict[str, Cell] = {}
    out = []
    with tempfile.TemporaryDirectory(prefix="sculptbench-") as tmp:
        cache = StageCache(cache_dir or tmp)
        cell_keys = [group.keys[(seed, detector)] for seed in seeds]
        run_unit(WorkUnit(group, cell_keys, batch, cache), registry,
                 lambda event: cells.__setitem__(event[1].cell_key, event[1]) if event[0] == "cell" else None)
        sizes = [group.task.n_inputs, *group.hidden, group.task.n_outputs]
        for seed, key in zip(seeds, cell_keys):
            pkey = keys.prune_key(group, seed, kernel_fingerprint(group.device))
            hit = cache.load_network(pkey, sizes, made_by=pruner_producer(group))
            found = None
            if hit is not None:
                dparams = dict(group.detectors)[detector]
                version = group.versions["detectors"][detector]
                dkey = keys.detect_key(pkey, detector, version, dparams, network_digest(hit[0]))
                found = cache.load_detection(dkey, hit[0], made_by=producer("detector", detector, version))
            out.append(ScoredNetwork(cells[key], hit[0] if hit else None, found[0] if found else None))
    return out


def run_unit(unit: WorkUnit, registry: Registry, emit: Callable[[tuple], None]) -> None:
    """Run one unit's stages (prune, detect, score) in this process; never raises for plugin errors.

    ``emit`` receives ``("begin", cell_key or None, what)`` before each stage (``None`` for the
    group's prune stage) and ``("cell", Cell)`` for each finished cell, in order.
    """
    group, cache = unit.group, StageCache.at(unit.cache)
    todo = set(unit.keys)
    seeds = [s for s in group.seeds if any(group.keys[(s, d)] in todo for d, _ in group.detectors)]
    if not seeds:
        return
    kernels = kernel_fingerprint(group.device)
    pkeys = {seed: keys.prune_key(group, seed, kernels) for seed in seeds}
    sizes = [group.task.n_inputs, *group.hidden, group.task.n_outputs]
    nets: dict[int, SculptedNetwork] = {}
    seconds: dict[int, float] = {}
    status: dict[int, str] = {}
    made_by = pruner_producer(group)
    for seed in seeds:
        hit = cache.load_network(pkeys[seed], sizes, made_by=made_by)
        if hit is not None:
            nets[seed], seconds[seed] = hit
            status[seed] = "hit"
    missing = [seed for seed in seeds if seed not in nets]
    prune_errors: dict[int, str] = {}
    if missing:
        emit(("begin", None, f"pruner {group.pruner!r}"))
        t0 = time.perf_counter()
        who = _who(registry, "pruner", group.pruner)
        try:
            out = prune_cells(_component(registry, "pruner", group.pruner), group, missing, registry, unit.batch, who)
        except Exception as exc:  # noqa: BLE001 - a failing plugin yields error rows
            failure = _failure("pruner", group.pruner, exc)
            for seed in missing:
                seconds[seed] = (time.perf_counter() - t0) / len(missing)
                prune_errors[seed] = failure
        else:
            each = (time.perf_counter() - t0) / len(missing)
            for seed, net in zip(missing, out):
                seconds[seed] = each
                if isinstance(net, checks.InvalidOutput):
                    prune_errors[seed] = _failure("pruner", group.pruner, net)
                elif net.status == "error":  # one job the pruner could not serve: an error row, never cached
                    prune_errors[seed] = f"pruner {group.pruner!r}: {net.info['error']}"
                else:
                    nets[seed] = net
                    status[seed] = _save(cache.save_network, pkeys[seed], net, each, made_by)
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
                cell.error = untrainable_error(net, group)
            else:
                _detect_and_score(cell, unit, registry, net, pkeys[seed], dname, dparams, seed, emit)
            emit(("cell", cell))


def untrainable_error(net: SculptedNetwork, group: Group) -> str:
    """Why a cell is ``untrainable``: its dense networks' accuracies, and that the protocol's
    adaptation budget (``adapt``) is spent, or off."""
    adapted = net.info.get("adapted")
    if adapted:
        tried = "; ".join(f"{a['dense_accuracy']:.4f} at {a['epochs']} epochs, lr {a['lr']:g}{', fresh start' if a['fresh'] else ''}"
                          for a in adapted["attempts"] if a["dense_accuracy"] is not None)
        return (f"the dense network stayed below the threshold in all {len(adapted['attempts'])} attempts ({tried}): the adaptation "
                f"budget ({group.pruner}.adapt={adapted['budget']}) is spent; raise --epochs or try other seeds")
    text = f"the dense network reached accuracy {net.dense_accuracy:.4f}, below the threshold"
    if group.pruner_params.get("adapt") == 0:
        text += (f", and adaptation is off ({group.pruner}.adapt=0, as under hparams=paper and authors); raise --epochs, "
                 f"or set {group.pruner}.adapt")
    return text


def _detect_and_score(cell: Cell, unit: WorkUnit, registry: Registry, net: SculptedNetwork, pkey: str, dname: str, dparams: dict,
                      seed: int, emit: Callable[[tuple], None]) -> None:
    group, cache = unit.group, StageCache.at(unit.cache)
    # The detection's key covers the network's content, and each score's key the detection's:
    # a cached detection and score always belong to this very network.
    dversion = group.versions["detectors"][dname]
    dkey = keys.detect_key(pkey, dname, dversion, dparams, network_digest(net))
    dmade = producer("detector", dname, dversion)

    def detect() -> Detection:
        raw = _component(registry, "detector", dname).detect(net, group.task, dparams, seed)
        checks.check_detection(raw, net, _who(registry, "detector", dname))
        # What the scorers see is exactly what the cache stores and returns.
        return detection_from_json(detection_to_json(raw))

    stage = _cached_stage(cell, ("detector", dname), dkey, lambda k: cache.load_detection(k, net, dmade),
                          partial(_save_as, cache.save_detection, dmade), detect)
    if stage is None:
        return
    detection, cell.timings["detect"], state = stage
    if cache.enabled:
        cell.config["cache"]["detect"] = state
    cell.config["modules"] = [sorted(m) for m in detection.modules]
    ddigest = detection_digest(detection)
    total = 0.0
    for sname, soptions in group.scorers:
        sversion = group.versions["scorers"][sname]
        skey = keys.score_key(dkey, sname, sversion, soptions, ddigest)
        scorer = registry.components["scorer"].get(sname)
        smade = producer("scorer", sname, sversion)

        def score() -> dict[str, Any]:
            record = _component(registry, "scorer", sname).score(detection, net, group.task, soptions, seed)
            checks.check_score_record(record, _component(registry, "scorer", sname), _who(registry, "scorer", sname))
            return normalise_metrics(dict(record.metrics))

        begin = partial(emit, ("begin", cell.cell_key, f"scorer {sname!r}"))
        stage = _cached_stage(cell, ("scorer", sname), skey, lambda k, scorer=scorer, smade=smade: cache.load_score(k, scorer, smade),
                              partial(_save_as, cache.save_score, smade), score, begin)
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


def _cached_stage(cell: Cell, component: tuple[str, str], key: str, load: Callable[[str], tuple[Any, float] | None],
                  save: Callable[[str, Any, float], None], compute: Callable[[], Any],
                  begin: Callable[[], None] = lambda: None) -> tuple[Any, float, str] | None:
    """``(result, seconds, cache state)`` of the stage of ``component`` (kind, name): from the
    cache, else computed (after ``begin()``) and stored.

    When ``compute`` raises, the failure is recorded on ``cell`` as an ``error`` and this returns ``None``.
    """
    hit = load(key)
    if hit is not None:
        return hit[0], hit[1], "hit"
    begin()
    t0 = time.perf_counter()
    try:
        result = compute()
    except Exception as exc:  # noqa: BLE001 - a failing plugin yields an error row
        cell.status, cell.error = "error", _failure(*component, exc)
        return None
    seconds = time.perf_counter() - t0
    state = _save(save, key, result, seconds)
    log_stage("detect" if component[0] == "detector" else "score", key)
    return result, seconds, state


def _save_as(save: Callable[..., None], made_by: dict[str, Any], key: str, result: Any, seconds: float) -> None:
    save(key, result, seconds, made_by)


#: How a cell's ``config["cache"]`` marks a stage result that could not be stored.
NOT_STORED = "miss (not stored: "


def unstored_reason(cell: Cell) -> str | None:
    """Why a stage result of ``cell`` could not be stored in the cache (e.g. ``[Errno 28] No space
    left on device``), or ``None`` when every stage was stored or read."""
    states = cell.config.get("cache") or {}
    for state in [states.get("prune"), states.get("detect"), *(states.get("score") or {}).values()]:
        if isinstance(state, str) and state.startswith(NOT_STORED):
            return state[len(NOT_STORED):-1]
    return None


def _save(save: Callable[..., None], *args: Any) -> str:
    """Write a stage result to the cache; a cache that cannot be written (a full disk) is not
    fatal: the stage's state says why (the coordinator warns once per run)."""
    try:
        save(*args)
    except OSError as exc:
        return f"{NOT_STORED}{' '.join(str(exc).split())})"
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
            "pruner_params": group.params_for(seed).as_dict(), "detector_params": dparams.as_dict(),
            "scorer_params": {name: options.as_dict() for name, options in group.scorers}, "training": group.training.__dict__,
            "device": group.device, "data_source": group.task.data_source, "task_hash": group.task.definition_hash(),
            "task_parameters": dict(group.task.task_parameters),
        },
        versions=group.versions | {"sculptbench": _own_version(), "torch": torch.__version__, "kernels": kernel_fingerprint(group.device)},
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
