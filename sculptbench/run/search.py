"""The density search: how a method that takes a target density (or a weight threshold) finds the
sparsest network that still meets the task's accuracy threshold, the protocol's criterion.

The pruner supplies ``build(requests)``: for each ``(job index, density)`` it returns that job's
network pruned to the density by its method and trained with the job's recipe (density 1: the
dense network). :func:`density_search` asks for the dense networks first (their accuracy sets
each job's threshold, :meth:`Task.acceptance_threshold`), then walks down a ladder of densities
one rung per round while a job passes, then bisects (geometrically) between each job's last
passing density and its first failing one. Every round asks for all jobs still searching in one
``build`` call, so a pruner can train them as one batch. Each network tried is an operating
point of the cell, kept in the history of the network handed back: the sparsest that passed
(the dense one if none did, ``untrainable`` if even that missed the threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.types import PruneJob, SculptedNetwork

#: The densities tried after the dense network, one per round while the job passes: halving.
LADDER = tuple(0.5 ** k for k in range(1, 15))
#: Bisection steps between the last passing and the first failing density.
BISECT_STEPS = 4
#: Accuracy a network may fall short of its threshold by and still pass (rounding of the mean).
TOLERANCE = 1e-9


@dataclass
class _Search:
    """One job's search: what it tried, its threshold and its bracket."""

    threshold: float = math.nan
    dense: SculptedNetwork | None = None
    best: SculptedNetwork | None = None
    passed: float = 1.0
    failed: float | None = None
    points: list[dict] = field(default_factory=list)


def check_ladder(ladder: Sequence[float]) -> tuple[float, ...]:
    """``ladder`` as a strictly decreasing tuple of densities in (0, 1); a :class:`SculptbenchError` otherwise."""
    values = tuple(float(d) for d in ladder)
    if not values or any(not 0 < d < 1 for d in values) or any(b >= a for a, b in zip(values, values[1:])):
        raise SculptbenchError(f"invalid density ladder {list(values)}: give densities in (0, 1), strictly decreasing")
    return values


def density_search(jobs: Sequence[PruneJob], build: Callable[[list[tuple[int, float]]], list[SculptedNetwork]],
                   ladder: Sequence[float] = LADDER, bisect_steps: int = BISECT_STEPS, phase: str = "search") -> list[SculptedNetwork]:
    """The sparsest network of each job that meets its task's threshold, found by ladder and bisection.

    ``build`` gets a list of ``(job index, density)`` and returns one trained network per request,
    in order. ``phase`` names the method in the history entries (``phase``, ``target`` (percent
    pruned), ``density``, ``accuracy``, ``accepted``). The network handed back carries the whole
    history and ``info["search"]``: the last passing and first failing densities asked for.
    """
    ladder = check_ladder(ladder)
    searches = [_Search() for _ in jobs]
    dense = _ask(build, [(j, 1.0) for j in range(len(jobs))])
    for j, net in enumerate(dense):
        s = searches[j]
        s.dense, s.best = net, net
        s.threshold = jobs[j].task.acceptance_threshold(net.accuracy)
        s.points.append(_point("dense", 1.0, net, net.accuracy >= s.threshold - TOLERANCE))
    active = [j for j, s in enumerate(searches) if s.points[0]["accepted"]]
    for target in ladder:  # down the ladder while a job passes
        if not active:
            break
        active = _round(build, searches, [(j, target) for j in active], phase)
    for _ in range(bisect_steps):  # between each job's last pass and first fail
        requests = [(j, math.sqrt(s.passed * s.failed)) for j, s in enumerate(searches) if s.failed is not None and s.points[0]["accepted"]]
        if not requests:
            break
        _round(build, searches, requests, phase)
    out = []
    for s in searches:
        net = s.best
        net.dense_accuracy = s.dense.accuracy
        net.status = "ok" if s.points[0]["accepted"] else "untrainable"
        net.history = list(s.points)
        net.info = {**net.info, "threshold": s.threshold, "search": {"passed": s.passed, "failed": s.failed},
                    "trainings": len(s.points)}
        out.append(net)
    return out


def _ask(build: Callable[[list[tuple[int, float]]], list[SculptedNetwork]], requests: list[tuple[int, float]]) -> list[SculptedNetwork]:
    nets = build(requests)
    if not isinstance(nets, (list, tuple)) or len(nets) != len(requests):
        raise ValueError(f"build() returned {len(nets) if isinstance(nets, (list, tuple)) else type(nets).__name__} networks "
                         f"for {len(requests)} requests")
    return list(nets)


def _round(build, searches: list[_Search], requests: list[tuple[int, float]], phase: str) -> list[int]:
    """Train ``requests``, update each job's bracket; return the jobs that passed."""
    passed = []
    for (j, density), net in zip(requests, _ask(build, requests)):
        s = searches[j]
        ok = net.accuracy >= s.threshold - TOLERANCE
        s.points.append(_point(phase, density, net, ok))
        if ok:
            passed.append(j)
            s.passed = density
            if net.density() <= s.best.density():
                s.best = net
        else:
            s.failed = density
    return passed


def _point(phase: str, density: float, net: SculptedNetwork, accepted: bool) -> dict:
    return {"phase": phase, "target": 100.0 * (1.0 - density), "density": net.density(), "accuracy": net.accuracy,
            "accepted": bool(accepted)}
