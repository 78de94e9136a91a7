"""The output contract of plugins, checked in one place for the run and for the contract kit.

A run checks every pruned network, detection and score record a plugin returns (and every
entry read back from the stage cache) with these functions; an output that breaks a rule
becomes an ``error`` row naming the plugin and the rule. ``sculptbench.plugin.testing`` runs the same
checks in its contracts, turning :class:`InvalidOutput` into a test failure.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import torch

from sculptbench.contracts.components import Scorer
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.types import Detection, ScoreRecord, SculptedNetwork


class InvalidOutput(SculptbenchError):
    """A plugin returned something that breaks the output contract; the message names the rule."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidOutput(message)


def check_network(net: Any, sizes: Sequence[int], who: str = "the pruner") -> None:
    """Raise :class:`InvalidOutput` unless ``net`` is a well-formed :class:`SculptedNetwork` of
    layer sizes ``sizes``: one weight, bias and mask per layer, of the layer's shape; bool masks;
    finite floating-point weights that are zero where masked; a valid status and accuracy."""
    _require(isinstance(net, SculptedNetwork), f"{who} returned {type(net).__name__}, not a SculptedNetwork")
    _require(isinstance(net.sizes, (list, tuple)) and list(net.sizes) == list(sizes),
             f"{who} returned sizes {net.sizes!r}; expected {list(sizes)}")
    n = len(sizes) - 1
    for name in ("weights", "biases", "weight_masks", "bias_masks"):
        value = getattr(net, name)
        _require(isinstance(value, (list, tuple)) and len(value) == n,
                 f"{who} returned {len(value) if isinstance(value, (list, tuple)) else type(value).__name__} {name}; expected {n} (one per layer)")
    for layer in range(n):
        shape = (sizes[layer + 1], sizes[layer])
        w, b, wm, bm = net.weights[layer], net.biases[layer], net.weight_masks[layer], net.bias_masks[layer]
        for name, t, want in (("weights", w, shape), ("weight_masks", wm, shape), ("biases", b, shape[:1]), ("bias_masks", bm, shape[:1])):
            _require(isinstance(t, torch.Tensor), f"{who}: {name}[{layer}] is {type(t).__name__}, not a tensor")
            _require(tuple(t.shape) == want, f"{who}: {name}[{layer}] has shape {tuple(t.shape)}; expected {want}")
        _require(wm.dtype == torch.bool and bm.dtype == torch.bool, f"{who}: masks of layer {layer} must be bool tensors")
        _require(w.is_floating_point() and b.is_floating_point(), f"{who}: weights and biases of layer {layer} must be floating point")
        _require(bool(torch.isfinite(w).all()) and bool(torch.isfinite(b).all()), f"{who}: layer {layer} has non-finite weights or biases")
        _require(not bool(w[~wm].ne(0).any()), f"{who}: layer {layer} has non-zero weights where its weight mask is False")
        _require(not bool(b[~bm].ne(0).any()), f"{who}: layer {layer} has non-zero biases where its bias mask is False")
    _require(net.status in ("ok", "untrainable", "error"), f"{who} returned status {net.status!r}; expected 'ok', 'untrainable' or 'error'")
    if net.status == "error":
        _require(isinstance(net.info, dict) and isinstance(net.info.get("error"), str),
                 f"{who}: a network with status 'error' needs its reason in info['error'] (SculptedNetwork.failed)")
    if net.status == "ok":
        acc = net.accuracy
        _require(isinstance(acc, (int, float)) and not isinstance(acc, bool) and 0.0 <= acc <= 1.0,
                 f"{who} returned accuracy {acc!r}; fill it with the validation accuracy in [0, 1]")
    _require(isinstance(net.history, list), f"{who}: history must be a list")
    _require(isinstance(net.info, dict), f"{who}: info must be a dict")


def check_detection(detection: Any, network: SculptedNetwork, who: str = "the detector") -> None:
    """Raise :class:`InvalidOutput` unless ``detection`` is a :class:`Detection` whose modules are
    non-empty frozensets of valid ``(layer, index)`` units of ``network``, disjoint unless the
    detection's type declares overlapping modules (:class:`sculptbench.api.OverlappingDetection`)."""
    _require(isinstance(detection, Detection), f"{who} returned {type(detection).__name__}, not a Detection")
    _require(isinstance(detection.modules, list), f"{who}: Detection.modules must be a list, not {type(detection.modules).__name__}")
    _require(isinstance(detection.info, dict), f"{who}: Detection.info must be a dict")
    sizes = list(network.sizes)
    seen: dict[Any, int] = {}
    for i, module in enumerate(detection.modules):
        _require(isinstance(module, frozenset), f"{who}: module {i} is a {type(module).__name__}, not a frozenset of (layer, index) units")
        _require(bool(module), f"{who}: module {i} is empty")
        for unit in module:
            ok = isinstance(unit, tuple) and len(unit) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in unit)
            _require(ok, f"{who}: module {i} holds {unit!r}; units are (layer, index) tuples of ints")
            layer, index = unit
            _require(0 <= layer < len(sizes) and 0 <= index < sizes[layer],
                     f"{who}: module {i} holds {unit!r}, which is not a unit of a network of sizes {sizes}")
            if not detection.overlapping:
                _require(unit not in seen, f"{who}: unit {unit!r} is in modules {seen.get(unit)} and {i}; modules must be disjoint "
                         "(return an OverlappingDetection to declare overlapping modules)")
            seen[unit] = i
    try:
        json.dumps(detection.info, default=str)
    except (TypeError, ValueError) as exc:
        raise InvalidOutput(f"{who}: Detection.info is not JSON-serialisable ({exc})") from None


def is_score_value(value: Any) -> bool:
    """Whether ``value`` is a storable metric value: ``None``, ``bool``, ``int`` or a JSON-safe ``float``."""
    if value is None or isinstance(value, bool):
        return True
    if type(value) not in (int, float):  # numpy scalars are not stored faithfully
        return False
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def check_metrics(metrics: Any, scorer: Scorer, who: str = "the scorer") -> None:
    """Raise :class:`InvalidOutput` unless ``metrics`` is a dict of metrics that ``scorer`` declares
    in ``scorer.metrics``, each ``None``, ``bool``, ``int`` or ``float``."""
    _require(isinstance(metrics, dict), f"{who}: ScoreRecord.metrics must be a dict")
    for key, value in metrics.items():
        _require(key in scorer.metrics, f"{who} reported metric {key!r}, which is not declared in `metrics`: {sorted(scorer.metrics)}")
        _require(is_score_value(value),
                 f"{who}: metric {key!r} is {value!r} of type {type(value).__name__}; use None, bool, int or float (convert numpy scalars)")


def check_score_record(record: Any, scorer: Scorer, who: str = "the scorer") -> None:
    """Raise :class:`InvalidOutput` unless ``record`` is a :class:`ScoreRecord` of ``scorer`` whose
    metrics pass :func:`check_metrics`."""
    _require(isinstance(record, ScoreRecord), f"{who} returned {type(record).__name__}, not a ScoreRecord")
    _require(record.scorer == scorer.name, f"{who} returned a record of scorer {record.scorer!r}; expected {scorer.name!r}")
    check_metrics(record.metrics, scorer, who)
