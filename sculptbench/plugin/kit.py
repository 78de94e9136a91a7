"""The contract kit's helpers: hand-built networks and detections to run components on, and the
output checks as pytest assertions (:mod:`sculptbench.plugin.testing` uses them; a plugin's own
tests may too)."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import networkx as nx
import torch

from sculptbench.contracts import checks
from sculptbench.contracts.components import Scorer, Task
from sculptbench.contracts.types import Detection, SculptedNetwork


# --------------------------------------------------------------------------- hand-built networks
def _weight_pattern(layer: int, shape: tuple[int, int]) -> torch.Tensor:
    """Deterministic weights of varied magnitude and sign (no zeros)."""
    out, inp = shape
    o = torch.arange(out).view(-1, 1)
    i = torch.arange(inp).view(1, -1)
    magnitude = 0.25 + ((7 * i + 3 * o + layer) % 5).float() / 4
    sign = torch.where((i + o + layer) % 3 == 0, -1.0, 1.0)
    return magnitude * sign


def _network(masks: Sequence[torch.Tensor], varied: bool = True) -> SculptedNetwork:
    net = SculptedNetwork.from_masks(masks)
    if varied:
        net.weights = [_weight_pattern(l, tuple(m.shape)) * m for l, m in enumerate(net.weight_masks)]
        net.biases = [torch.full((m.shape[0],), 0.1) * m.any(dim=1) for m in net.weight_masks]
    net.accuracy = net.test_accuracy = net.dense_accuracy = 1.0
    return net


def _halves(n: int) -> list[list[int]]:
    if n < 2:
        return [list(range(n)), list(range(n))]
    return [list(range(n // 2)), list(range(n // 2, n))]


def _block_masks(n_in: int, n_out: int, hidden: Sequence[int]) -> list[torch.Tensor]:
    """Two independent blocks (first half of the inputs -> first half of the outputs, and so on)."""
    ins, outs = _halves(n_in), _halves(n_out)
    sizes = [n_in, *hidden, n_out]
    groups = [ins] + [_halves(h) for h in hidden] + [outs]
    masks = []
    for l in range(len(sizes) - 1):
        m = torch.zeros(sizes[l + 1], sizes[l], dtype=torch.bool)
        for b in range(2):
            for o in groups[l + 1][b]:
                m[o, groups[l][b]] = True
        masks.append(m)
    return masks


def example_networks(task: Task) -> dict[str, SculptedNetwork]:
    """Small hand-built networks shaped for ``task``'s inputs and outputs.

    ``blocks``: two independent blocks through 4 hidden units; ``deep-blocks``: the same through
    two hidden layers; ``dense``: fully connected through 6 units; ``dead-units``: blocks plus a
    hidden unit without outgoing edges and one without any edge; ``bottleneck``: everything
    through one hidden unit. Weights vary in magnitude and sign; every input and output keeps
    an edge, as after any pruner that keeps the task solvable.
    """
    n_in, n_out = task.n_inputs, task.n_outputs
    dead = _block_masks(n_in, n_out, (4,))
    dead = [torch.cat([dead[0], torch.zeros(2, n_in, dtype=torch.bool)]), torch.cat([dead[1], torch.zeros(n_out, 2, dtype=torch.bool)], dim=1)]
    dead[0][4, 0] = True  # hidden unit 4 reads input 0 but drives nothing; unit 5 has no edge
    return {
        "blocks": _network(_block_masks(n_in, n_out, (4,))),
        "deep-blocks": _network(_block_masks(n_in, n_out, (4, 4))),
        "dense": _network([torch.ones(6, n_in, dtype=torch.bool), torch.ones(n_out, 6, dtype=torch.bool)]),
        "dead-units": _network(dead),
        "bottleneck": _network([torch.ones(1, n_in, dtype=torch.bool), torch.ones(n_out, 1, dtype=torch.bool)]),
    }


def example_detections(network: SculptedNetwork) -> dict[str, Detection]:
    """Detections of ``network`` of several kinds: one module of every unit with an edge, each such
    unit alone, one module per layer, the weakly connected components, and no module at all."""
    g = network.unit_graph()
    live = sorted(u for u in g.nodes if g.degree(u))
    by_layer: dict[int, set] = {}
    for u in live:
        by_layer.setdefault(u[0], set()).add(u)
    components = [frozenset(c) for c in nx.weakly_connected_components(g.subgraph(live))]
    return {
        "one-module": Detection(modules=[frozenset(live)] if live else []),
        "singletons": Detection(modules=[frozenset([u]) for u in live]),
        "layers": Detection(modules=[frozenset(units) for _, units in sorted(by_layer.items())]),
        "components": Detection(modules=sorted(components, key=min)),
        "empty": Detection(modules=[]),
    }


# --------------------------------------------------------------------------- checks
def _as_assertion(check: Callable[..., None], *args: Any) -> None:
    """Run one of :mod:`sculptbench.contracts.checks`' checks; its :class:`InvalidOutput` fails the test."""
    try:
        check(*args)
    except checks.InvalidOutput as exc:
        raise AssertionError(str(exc)) from None


def check_network(net: Any, sizes: Sequence[int], who: str = "the pruner") -> None:
    """Assert that ``net`` is a well-formed :class:`SculptedNetwork` of layer sizes ``sizes``
    (the rules of :func:`sculptbench.contracts.checks.check_network`, which the run applies too)."""
    _as_assertion(checks.check_network, net, sizes, who)


def _same_float(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def assert_networks_equal(a: SculptedNetwork, b: SculptedNetwork, what: str = "two runs") -> None:
    """Assert that two networks are identical: sizes, every tensor, status and accuracies."""
    assert list(a.sizes) == list(b.sizes), f"{what} gave different sizes"
    for field in ("weights", "biases", "weight_masks", "bias_masks"):
        for l, (x, y) in enumerate(zip(getattr(a, field), getattr(b, field))):
            assert torch.equal(x, y), f"{what} gave different {field}[{l}]: the result is not deterministic"
    assert a.status == b.status, f"{what} gave statuses {a.status!r} and {b.status!r}"
    for field in ("accuracy", "test_accuracy", "dense_accuracy"):
        assert _same_float(getattr(a, field), getattr(b, field)), f"{what} gave different {field}"


def _network_snapshot(net: SculptedNetwork) -> dict[str, Any]:
    return {
        "sizes": list(net.sizes),
        **{f: [t.detach().clone() for t in getattr(net, f)] for f in ("weights", "biases", "weight_masks", "bias_masks")},
    }


def _assert_unchanged(net: SculptedNetwork, snapshot: dict[str, Any], who: str) -> None:
    assert list(net.sizes) == snapshot["sizes"], f"{who} changed the network's sizes"
    for field in ("weights", "biases", "weight_masks", "bias_masks"):
        now = getattr(net, field)
        assert len(now) == len(snapshot[field]), f"{who} changed the number of {field}"
        for l, (x, y) in enumerate(zip(now, snapshot[field])):
            assert x.dtype == y.dtype and torch.equal(x, y), f"{who} mutated the network's {field}[{l}]; work on copies"


def check_detection(detection: Any, network: SculptedNetwork, who: str = "the detector") -> None:
    """Assert that ``detection`` is a :class:`Detection` whose modules are non-empty frozensets of
    valid ``(layer, index)`` units of ``network``, disjoint unless its type declares overlaps (the
    rules of :func:`sculptbench.contracts.checks.check_detection`, which the run applies too)."""
    _as_assertion(checks.check_detection, detection, network, who)


def check_score_record(record: Any, scorer: Scorer, who: str = "the scorer") -> None:
    """Assert that ``record`` is a :class:`ScoreRecord` of ``scorer`` whose metrics are all declared in
    ``scorer.metrics`` and whose values are JSON-serialisable ``None``/``bool``/``int``/``float``
    (the rules of :func:`sculptbench.contracts.checks.check_score_record`, which the run applies too)."""
    _as_assertion(checks.check_score_record, record, scorer, who)
