"""The staged, content-addressed cache: pruned networks, detections and scores.

A run's work is three stages per cell: **prune** (train the dense network and prune it; the
batched engine does both in one call, so the trained dense network is cached as part of the
pruned network's record, not separately), **detect** and **score**. Each stage's output is
stored under a key that hashes everything it depends on:

- prune: the task (name, definition hash, data source, parameters), the architecture, the
  pruner's name, package, package version and version, its resolved parameters, the training
  config, the seed, the device and the kernels it runs (torch's version and the CPU's
  model and instruction set or the GPU's model: :func:`sculptbench.engine.torch_import.kernel_fingerprint`,
  since another of them gives other bits for the same seed);
- detect: the prune key, the content hash of the pruned network it reads (so a detection always
  belongs to the network it was computed from), the detector's name and versions and its
  resolved parameters;
- score: the detect key, the content hash of the detection it scores, and the scorer's name
  and versions.

Layout under the cache root (``--cache DIR``, default :func:`default_cache_dir`: ``$SCULPTBENCH_CACHE``,
else ``$XDG_CACHE_HOME/sculptbench``, else ``~/.cache/sculptbench``)::

    prune/ab/<key>.pt     tensors only (torch.save of a state dict; loaded with weights_only=True)
    prune/ab/<key>.json   accuracy, test/dense accuracy, status, history, info, seconds
    detect/ab/<key>.json  modules (lists of [layer, index]) and info, seconds
    score/ab/<key>.json   metrics, seconds

Every file is written to a temporary name and moved into place with ``os.replace``, so readers
(other workers, other runs) see a complete file or none; the prune ``.json`` is written after
its ``.pt`` and marks the record complete. Nothing is ever unpickled: networks are loaded with
``torch.load(..., weights_only=True)``.

A read verifies before it trusts. Every record is bound to its key: its ``.json`` holds
``entry`` (the stage, the key it was written for and its *producer*, the component that computed
it: kind, name and versions) and ``digest``, a hash of that binding and of the content. An entry
that cannot be read (a damaged file, a wrong type, a missing field), that was written for another
key or by another producer (a copied or moved entry), whose hash does not match, or whose content
does not fit its key (the network's layer sizes, the output contract of
:mod:`sculptbench.contracts.checks`, the scorer's declared metrics) is a miss: it is logged
(logger ``sculptbench.run.cache``, a warning naming the entry and the reason), recomputed and
overwritten; never a hit.

A cache written for a run is written only while that run's coordinating process lives
(:attr:`CacheLocation.owner`): a worker whose coordinator was killed stores nothing more
(:class:`CoordinatorGone`).

``SCULPTBENCH_STAGE_LOG=/path`` appends one JSON line per *executed* stage (not per cache hit):
``{"stage": ..., "key": ..., "pid": ...}``; the tests count them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from sculptbench.contracts import checks
from sculptbench.contracts.components import Scorer
from sculptbench.contracts.hashing import digest, json_default
from sculptbench.contracts.processes import process_alive
from sculptbench.contracts.types import Detection, OverlappingDetection, SculptedNetwork
from sculptbench.contracts.work import CacheLocation

STAGES: tuple[str, ...] = ("prune", "detect", "score")
STAGE_LOG_ENV = "SCULPTBENCH_STAGE_LOG"
#: The environment variable naming the default stage cache directory.
CACHE_ENV = "SCULPTBENCH_CACHE"

logger = logging.getLogger("sculptbench.run.cache")


class _Rejected(Exception):
    """A cache entry that exists but cannot be trusted; the message says why."""


class CoordinatorGone(BaseException):
    """Raised instead of writing a cache entry when the run's coordinating process is gone.

    A ``BaseException``, so that no plugin's ``except Exception`` swallows it: the worker stops.
    """


def default_cache_dir() -> Path:
    """The stage cache when ``--cache`` is not given: ``$SCULPTBENCH_CACHE``, else
    ``$XDG_CACHE_HOME/sculptbench``, else ``~/.cache/sculptbench`` (never the working tree)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return (base / "sculptbench").resolve()


def cache_root(given: str | os.PathLike[str] | None) -> str:
    """The stage cache directory of ``run``, ``draw`` and ``plot``: ``--cache DIR`` when given,
    else :func:`default_cache_dir`; absolute, so that every worker finds it."""
    return str(Path(given).expanduser().resolve() if given else default_cache_dir())


def producer(kind: str, name: str, version: Any) -> dict[str, Any]:
    """What produced a cache entry: a component's kind, name and versions (as recorded in rows)."""
    return json.loads(json.dumps({"kind": kind, "name": name, "version": version}, sort_keys=True, default=json_default))


def pruner_producer(group: Any) -> dict[str, Any]:
    """The producer of a group's pruned networks: its pruner, with versions (:func:`producer`)."""
    return producer("pruner", group.pruner, group.versions["pruner"])


def stage_key(obj: Any) -> str:
    """A stable hash of a JSON-friendly object."""
    return digest(obj, 32)


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
class StageCache(CacheLocation):
    """Where stage results live and which stages may be read (picklable: paths and flags only).

    ``root=None`` disables the cache (``--no-cache``): nothing is read or written. ``force``
    names a stage (``prune``, ``detect`` or ``score``) that is recomputed, with every later
    stage; results are still written. Every read and write names the entry's *producer*
    (:func:`producer`); an entry is served only to a read of the key and producer it was
    written for.
    """

    @classmethod
    def at(cls, location: CacheLocation) -> "StageCache":
        """The cache at ``location`` (a unit's :class:`CacheLocation`)."""
        return location if isinstance(location, cls) else cls(location.root, location.force, location.owner)

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

    # ------------------------------------------------------------------ files
    def _path(self, stage: str, key: str, suffix: str) -> Path:
        assert self.root is not None
        return Path(self.root) / stage / key[:2] / f"{key}{suffix}"

    def _reject(self, stage: str, key: str, reason: str) -> None:
        logger.warning("stage cache: %s entry %s rejected (%s); recomputing it", stage, key, reason)

    def _load(self, stage: str, key: str, read: Any) -> Any:
        """``read()``'s result; ``None`` (a miss) when the entry is absent, unreadable or rejected."""
        if not self.reads(stage) or not self._path(stage, key, ".json").exists():
            return None
        try:
            return read()
        except _Rejected as exc:
            self._reject(stage, key, str(exc))
        except Exception as exc:  # noqa: BLE001 - any damaged entry is a miss and is overwritten
            message = " ".join(str(exc).split())[:200]
            self._reject(stage, key, f"unreadable: {type(exc).__name__}: {message}" if message else f"unreadable: {type(exc).__name__}")
        return None

    def _check_owner(self) -> None:
        """Raise :class:`CoordinatorGone` when the coordinating process of this cache's run is gone."""
        if self.owner is None:
            return
        host, pid = self.owner
        if host == socket.gethostname() and pid != os.getpid() and not process_alive(pid):
            raise CoordinatorGone(f"the run's coordinating process {pid} is gone; not writing to the stage cache")

    def load_network(self, key: str, sizes: Sequence[int] | None = None, made_by: dict[str, Any] | None = None,
                     ) -> tuple[SculptedNetwork, float] | None:
        """A cached pruned network and the seconds it took, or ``None``.

        The entry must have been written for ``key`` by ``made_by`` (:func:`producer`) and match
        its stored hash; ``sizes`` (the layer sizes the key stands for) is checked, with the
        network contract of :func:`sculptbench.contracts.checks.check_network`.
        """

        def read() -> tuple[SculptedNetwork, float]:
            meta = _read_json(self._path("prune", key, ".json"))
            _check_binding(meta, "prune", key, made_by)
            with warnings.catch_warnings():  # a damaged file is reported as one rejection, not as torch's warnings
                warnings.simplefilter("ignore")
                state = torch.load(self._path("prune", key, ".pt"), map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise _Rejected(f"the .pt holds a {type(state).__name__}, not a dict of tensors")
            for name, kind in (("info", dict), ("history", list)):
                if not isinstance(meta.get(name), kind):
                    raise _Rejected(f"{name!r} is a {type(meta.get(name)).__name__}, not a {kind.__name__}")
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
            if sizes is not None and list(net.sizes) != list(sizes):
                raise _Rejected(f"a network of sizes {net.sizes} under a key for sizes {list(sizes)}")
            _verify(checks.check_network, net, net.sizes, "the cached network")
            _check_digest(meta, network_digest(net))
            return net, _seconds(meta)

        return self._load("prune", key, read)

    def save_network(self, key: str, net: SculptedNetwork, seconds: float, made_by: dict[str, Any] | None = None) -> None:
        """Store a pruned network (tensors first, then the metadata that completes the record),
        bound to ``key`` and ``made_by``."""
        if not self.enabled:
            return
        self._check_owner()
        pt = self._path("prune", key, ".pt")
        pt.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").contiguous() for k, v in net.to_state_dict().items()}
        fd, tmp = tempfile.mkstemp(dir=pt.parent, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(state, fh)
            self._check_owner()
            os.replace(tmp, pt)
        except BaseException:
            _unlink(tmp)
            raise
        self._write_entry("prune", key, made_by, _network_meta(net) | {"seconds": seconds}, network_digest(net))

    def load_detection(self, key: str, network: SculptedNetwork | None = None, made_by: dict[str, Any] | None = None,
                       ) -> tuple[Detection, float] | None:
        """A cached detection and the seconds it took, or ``None``.

        The entry must have been written for ``key`` by ``made_by`` and match its stored hash;
        given the ``network`` it belongs to, the detection contract of
        :func:`sculptbench.contracts.checks.check_detection` is checked too.
        """

        def read() -> tuple[Detection, float]:
            data = _read_json(self._path("detect", key, ".json"))
            _check_binding(data, "detect", key, made_by)
            detection = detection_from_json(data)
            if network is not None:
                _verify(checks.check_detection, detection, network, "the cached detection")
            _check_digest(data, detection_digest(detection))
            return detection, _seconds(data)

        return self._load("detect", key, read)

    def save_detection(self, key: str, detection: Detection, seconds: float, made_by: dict[str, Any] | None = None) -> None:
        """Store a detection, bound to ``key`` and ``made_by``."""
        if self.enabled:
            self._write_entry("detect", key, made_by, {**detection_to_json(detection), "seconds": seconds}, detection_digest(detection))

    def load_score(self, key: str, scorer: Scorer | None = None, made_by: dict[str, Any] | None = None,
                   ) -> tuple[dict[str, Any], float] | None:
        """Cached metrics of one scorer and the seconds they took, or ``None``.

        The entry must have been written for ``key`` by ``made_by`` and match its stored hash;
        given the ``scorer``, every metric must be one it declares, of a valid type
        (:func:`sculptbench.contracts.checks.check_metrics`).
        """

        def read() -> tuple[dict[str, Any], float]:
            data = _read_json(self._path("score", key, ".json"))
            _check_binding(data, "score", key, made_by)
            metrics = data["metrics"]
            if not isinstance(metrics, dict):
                raise _Rejected("metrics is not a mapping")
            if scorer is not None:
                _verify(checks.check_metrics, metrics, scorer, "the cached score")
            _check_digest(data, stage_key(metrics))
            return metrics, _seconds(data)

        return self._load("score", key, read)

    def save_score(self, key: str, metrics: dict[str, Any], seconds: float, made_by: dict[str, Any] | None = None) -> None:
        """Store one scorer's metrics, bound to ``key`` and ``made_by``."""
        if self.enabled:
            metrics = normalise_metrics(metrics)
            self._write_entry("score", key, made_by, {"metrics": metrics, "seconds": seconds}, stage_key(metrics))

    def _write_entry(self, stage: str, key: str, made_by: dict[str, Any] | None, data: dict[str, Any], content: str) -> None:
        """Write a stage's ``.json``: ``data``, the entry's binding and the hash of both."""
        entry = _entry(stage, key, made_by)
        self._check_owner()
        _write_json(self._path(stage, key, ".json"), {**data, "entry": entry, "digest": _bound_digest(entry, content)},
                    before_commit=self._check_owner)


def _entry(stage: str, key: str, made_by: dict[str, Any] | None) -> dict[str, Any]:
    """What binds an entry: its stage, the key it is written for and its producer."""
    return {"stage": stage, "key": key, "producer": made_by}


def _bound_digest(entry: dict[str, Any], content: str) -> str:
    """The stored hash of an entry: its binding and its content's hash together."""
    return stage_key({"entry": entry, "content": content})


def _check_binding(data: dict[str, Any], stage: str, key: str, made_by: dict[str, Any] | None) -> None:
    """Reject an entry written for another stage or key, or by another producer."""
    entry = data.get("entry")
    if not isinstance(entry, dict):
        raise _Rejected("it records no key (written by an older sculptbench)")
    if entry.get("stage") != stage or entry.get("key") != key:
        raise _Rejected(f"it was written for {_text(entry.get('stage'))} key {_text(entry.get('key'))}, not this one: a copied or moved entry")
    if entry.get("producer") != made_by:
        raise _Rejected(f"it was written by {_who(entry.get('producer'))}, not by {_who(made_by)}")


def _who(made_by: Any) -> str:
    if not isinstance(made_by, dict):
        return "an unnamed producer" if made_by is None else f"producer {_text(made_by)}"
    version = made_by.get("version")
    if isinstance(version, dict):
        version = " ".join(str(version[k]) for k in ("package", "package_version", "version") if version.get(k) not in (None, ""))
    return f"{_text(made_by.get('kind'))} {_text(made_by.get('name'))!r} ({_text(version)})"


def _text(value: Any) -> str:
    """A value read from an entry, shortened and without control characters, for a log line."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return "".join(ch if ch.isprintable() else "?" for ch in text[:80])


def _check_digest(data: dict[str, Any], content: str) -> None:
    """Reject an entry whose stored hash is missing or differs from its binding's and ``content``'s."""
    if "digest" not in data:
        raise _Rejected("no content hash (written by an older sculptbench)")
    if data["digest"] != _bound_digest(data["entry"], content):
        raise _Rejected("its content does not match its stored hash")


def _verify(check: Any, *args: Any) -> None:
    """Run a :mod:`sculptbench.contracts.checks` check; a broken rule rejects the entry."""
    try:
        check(*args)
    except checks.InvalidOutput as exc:
        raise _Rejected(str(exc)) from None


def _seconds(data: dict[str, Any]) -> float:
    value = data.get("seconds", 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Rejected(f"'seconds' is {value!r}, not a number")
    return float(value)


def _network_meta(net: SculptedNetwork) -> dict[str, Any]:
    """A network's non-tensor fields as stored (and read back) in its ``.json``."""
    meta = {
        "accuracy": net.accuracy, "test_accuracy": net.test_accuracy, "dense_accuracy": net.dense_accuracy,
        "status": net.status, "history": net.history, "info": net.info,
    }
    return json.loads(json.dumps(meta, default=json_default))


def network_digest(net: SculptedNetwork) -> str:
    """A content hash of a network: its sizes, every tensor (dtype, shape, bytes) and its
    accuracies, status, history and info as stored. Equal for a network and its cached copy."""
    h = hashlib.sha256()
    h.update(json.dumps({"sizes": [int(s) for s in net.sizes], "meta": _network_meta(net)}, sort_keys=True).encode())
    for name in ("weights", "biases", "weight_masks", "bias_masks"):
        for t in getattr(net, name):
            t = t.detach().to("cpu").contiguous()
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:32]


def detection_digest(detection: Detection) -> str:
    """A content hash of a detection (its modules, info and whether modules may overlap)."""
    return stage_key(detection_to_json(detection))


def detection_to_json(detection: Detection) -> dict[str, Any]:
    """A detection as JSON-friendly data (units as ``[layer, index]``, modules sorted)."""
    modules = [sorted([int(u[0]), int(u[1])] for u in m) for m in detection.modules]
    data = {"modules": modules, "info": json.loads(json.dumps(detection.info, default=json_default))}
    if detection.overlapping:
        data["overlapping"] = True
    return data


def detection_from_json(data: dict[str, Any]) -> Detection:
    """The inverse of :func:`detection_to_json` (an :class:`OverlappingDetection` when marked so)."""
    cls = OverlappingDetection if data.get("overlapping") is True else Detection
    info = data.get("info") or {}
    if not isinstance(data["modules"], list) or not isinstance(info, dict):
        raise ValueError("modules must be a list and info a mapping")
    return cls(modules=[frozenset((_unit_index(u[0]), _unit_index(u[1])) for u in m) for m in data["modules"]], info=info)


def _unit_index(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"unit coordinate {value!r} is not an int")
    return value


def normalise_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics as they come back from JSON (so cached and fresh values are identical)."""
    return json.loads(json.dumps(metrics, default=json_default))


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise _Rejected(f"{path.name} holds a {type(data).__name__}, not a mapping")
    return data


def _write_json(path: Path, data: dict[str, Any], before_commit: Callable[[], None] = lambda: None) -> None:
    """Write ``data`` to a temporary file and move it into place; ``before_commit()`` runs just
    before the move (and may raise to leave nothing behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True, default=json_default)
        before_commit()
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass

