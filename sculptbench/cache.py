"""The staged, content-addressed cache: pruned networks, detections and scores.

A run's work is three stages per cell: **prune** (train the dense network and prune it; the
batched engine does both in one call, so the trained dense network is cached as part of the
pruned network's record, not separately), **detect** and **score**. Each stage's output is
stored under a key that hashes everything it depends on:

- prune: the task (name, definition hash, data source, parameters), the architecture, the
  pruner's name, package, package version and version, its resolved parameters, the training
  config, the seed and the device;
- detect: the prune key, the detector's name and versions and its resolved parameters;
- score: the detect key and the scorer's name and versions.

Layout under the cache root (``--cache DIR``, default ``.sculptbench-cache`` next to the
results database)::

    prune/ab/<key>.pt     tensors only (torch.save of a state dict; loaded with weights_only=True)
    prune/ab/<key>.json   accuracy, test/dense accuracy, status, history, info, seconds
    detect/ab/<key>.json  modules (lists of [layer, index]) and info, seconds
    score/ab/<key>.json   metrics, seconds

Every file is written to a temporary name and moved into place with ``os.replace``, so readers
(other workers, other runs) see a complete file or none; the prune ``.json`` is written after
its ``.pt`` and marks the record complete. Nothing is ever unpickled: networks are loaded with
``torch.load(..., weights_only=True)``.

``SCULPTBENCH_STAGE_LOG=/path`` appends one JSON line per *executed* stage (not per cache hit):
``{"stage": ..., "key": ..., "pid": ...}``; the tests count them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sculptbench.core import Detection, SculptedNetwork
from sculptbench.store import _json_default

STAGES: tuple[str, ...] = ("prune", "detect", "score")
STAGE_LOG_ENV = "SCULPTBENCH_STAGE_LOG"
DEFAULT_DIRNAME = ".sculptbench-cache"


def stage_key(obj: Any) -> str:
    """A stable hash of a JSON-friendly object."""
    blob = json.dumps(obj, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def log_stage(stage: str, key: str) -> None:
    """Append one line to ``$SCULPTBENCH_STAGE_LOG`` (if set) with a single ``O_APPEND`` write."""
    path = os.environ.get(STAGE_LOG_ENV)
    if not path:
        return
    line = (json.dumps({"stage": stage, "key": key, "pid": os.getpid()}, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@dataclass
class StageCache:
    """Where stage results live and which stages may be read (picklable: paths and flags only).

    ``root=None`` disables the cache (``--no-cache``): nothing is read or written. ``force``
    names a stage (``prune``, ``detect`` or ``score``) that is recomputed, with every later
    stage; results are still written.
    """

    root: str | None = None
    force: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether the cache is used at all."""
        return self.root is not None

    def reads(self, stage: str) -> bool:
        """Whether ``stage`` may be served from the cache."""
        if not self.enabled:
            return False
        if self.force is None:
            return True
        return STAGES.index(stage) < STAGES.index(self.force)

    # ------------------------------------------------------------------ keys
    @staticmethod
    def prune_key(group: Any, seed: int) -> str:
        """Key of one seed's pruned network in ``group`` (a :class:`sculptbench.harness.Group`)."""
        task = group.task
        return stage_key({
            "stage": "prune", "task": task.name, "task_hash": task.definition_hash(), "data_source": task.data_source,
            "task_parameters": dict(task.task_parameters), "hidden": list(group.hidden), "pruner": group.pruner,
            "pruner_version": group.versions["pruner"], "pruner_params": group.pruner_params,
            "training": group.training.__dict__, "seed": seed, "device": group.device,
        })

    @staticmethod
    def detect_key(prune_key: str, detector: str, version: Any, params: dict[str, Any]) -> str:
        """Key of one detection of a pruned network."""
        return stage_key({"stage": "detect", "prune": prune_key, "detector": detector, "version": version, "params": params})

    @staticmethod
    def score_key(detect_key: str, scorer: str, version: Any) -> str:
        """Key of one scorer's metrics for a detection."""
        return stage_key({"stage": "score", "detect": detect_key, "scorer": scorer, "version": version})

    # ------------------------------------------------------------------ files
    def _path(self, stage: str, key: str, suffix: str) -> Path:
        assert self.root is not None
        return Path(self.root) / stage / key[:2] / f"{key}{suffix}"

    def load_network(self, key: str) -> tuple[SculptedNetwork, float] | None:
        """A cached pruned network and the seconds it took, or ``None``."""
        if not self.reads("prune"):
            return None
        meta = _read_json(self._path("prune", key, ".json"))
        if meta is None:
            return None
        try:
            state = torch.load(self._path("prune", key, ".pt"), map_location="cpu", weights_only=True)
            n = len(state["sizes"]) - 1
            net = SculptedNetwork(
                sizes=[int(s) for s in state["sizes"].tolist()],
                weights=[state[f"weight_{i}"] for i in range(n)],
                biases=[state[f"bias_{i}"] for i in range(n)],
                weight_masks=[state[f"weight_mask_{i}"] for i in range(n)],
                bias_masks=[state[f"bias_mask_{i}"] for i in range(n)],
                accuracy=_float(meta["accuracy"]), test_accuracy=_float(meta["test_accuracy"]),
                dense_accuracy=_float(meta["dense_accuracy"]), status=meta["status"],
                history=meta["history"], info=meta["info"],
            )
        except (OSError, KeyError, RuntimeError, ValueError, TypeError, EOFError):
            return None  # a damaged entry is a miss; it is overwritten
        return net, float(meta.get("seconds", 0.0))

    def save_network(self, key: str, net: SculptedNetwork, seconds: float) -> None:
        """Store a pruned network (tensors first, then the metadata that completes the record)."""
        if not self.enabled:
            return
        pt = self._path("prune", key, ".pt")
        pt.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").contiguous() for k, v in net.to_state_dict().items()}
        fd, tmp = tempfile.mkstemp(dir=pt.parent, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(state, fh)
            os.replace(tmp, pt)
        except BaseException:
            _unlink(tmp)
            raise
        meta = {
            "accuracy": net.accuracy, "test_accuracy": net.test_accuracy, "dense_accuracy": net.dense_accuracy,
            "status": net.status, "history": net.history, "info": net.info, "seconds": seconds,
        }
        _write_json(self._path("prune", key, ".json"), meta)

    def load_detection(self, key: str) -> tuple[Detection, float] | None:
        """A cached detection and the seconds it took, or ``None``."""
        if not self.reads("detect"):
            return None
        data = _read_json(self._path("detect", key, ".json"))
        if data is None:
            return None
        try:
            return detection_from_json(data), float(data.get("seconds", 0.0))
        except (KeyError, TypeError, ValueError):
            return None

    def save_detection(self, key: str, detection: Detection, seconds: float) -> None:
        """Store a detection."""
        if self.enabled:
            _write_json(self._path("detect", key, ".json"), {**detection_to_json(detection), "seconds": seconds})

    def load_score(self, key: str) -> tuple[dict[str, Any], float] | None:
        """Cached metrics of one scorer and the seconds they took, or ``None``."""
        if not self.reads("score"):
            return None
        data = _read_json(self._path("score", key, ".json"))
        if data is None or not isinstance(data.get("metrics"), dict):
            return None
        return data["metrics"], float(data.get("seconds", 0.0))

    def save_score(self, key: str, metrics: dict[str, Any], seconds: float) -> None:
        """Store one scorer's metrics."""
        if self.enabled:
            _write_json(self._path("score", key, ".json"), {"metrics": metrics, "seconds": seconds})


def detection_to_json(detection: Detection) -> dict[str, Any]:
    """A detection as JSON-friendly data (units as ``[layer, index]``, modules sorted)."""
    modules = [sorted([int(u[0]), int(u[1])] for u in m) for m in detection.modules]
    return {"modules": modules, "info": json.loads(json.dumps(detection.info, default=_json_default))}


def detection_from_json(data: dict[str, Any]) -> Detection:
    """The inverse of :func:`detection_to_json`."""
    return Detection(modules=[frozenset((int(u[0]), int(u[1])) for u in m) for m in data["modules"]], info=data.get("info") or {})


def normalise_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics as they come back from JSON (so cached and fresh values are identical)."""
    return json.loads(json.dumps(metrics, default=_json_default))


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True, default=_json_default)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass

