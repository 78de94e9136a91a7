"""The density search of the protocol (sculptbench.run.search), on stand-in methods whose accuracy
at each density is known, so every network it asks for can be named in advance."""

from __future__ import annotations

import math

import pytest
import torch

from sculptbench.api import PruneJob, SculptbenchError, SculptedNetwork, TrainingConfig, density_search
from sculptbench.plugin.registry import load_registry

SIZES = [4, 8, 4]


@pytest.fixture(scope="module")
def task():
    return load_registry(entry_points=False).tasks["bool/input-separable"]


def network(density: float, accuracy: float) -> SculptedNetwork:
    """A network of SIZES keeping round(density x 64) weights, with the given accuracy."""
    keep = round(density * 64)
    flat = torch.zeros(64, dtype=torch.bool)
    flat[:keep] = True
    masks = [flat[:32].view(8, 4), flat[32:].view(4, 8)]
    net = SculptedNetwork.from_masks(masks)
    net.accuracy = accuracy
    return net


def stand_in(breaks: list[float], calls: list):
    """A method whose network passes (accuracy 1) at densities >= its job's break, else 0.5."""
    def build(requests):
        calls.append(list(requests))
        return [network(d, 1.0 if d >= breaks[j] - 1e-12 else 0.5) for j, d in requests]
    return build


def jobs(task, n):
    return [PruneJob(task, (8,), seed, {}, TrainingConfig()) for seed in range(n)]


def test_ladder_then_bisection_finds_the_sparsest_passing_density(task):
    calls: list = []
    [net] = density_search(jobs(task, 1), stand_in([0.2], calls), ladder=(0.5, 0.25, 0.125), bisect_steps=2)
    # dense, 0.5, 0.25 pass; 0.125 fails; then sqrt(0.25 * 0.125) = 0.177 fails, sqrt(0.25 * 0.177) = 0.210 passes
    asked = [d for call in calls for _, d in call]
    assert asked[:4] == [1.0, 0.5, 0.25, 0.125]
    assert asked[4] == pytest.approx(math.sqrt(0.25 * 0.125)) and asked[5] == pytest.approx(math.sqrt(0.25 * asked[4]))
    assert net.density() == pytest.approx(round(asked[5] * 64) / 64) and net.status == "ok"
    assert [p["accepted"] for p in net.history] == [True, True, True, False, False, True]
    assert net.info["search"] == {"passed": pytest.approx(asked[5]), "failed": pytest.approx(asked[4])}
    assert len(net.history) >= 5, "a curve needs at least five operating points"


def test_jobs_search_side_by_side_one_build_call_per_round(task):
    calls: list = []
    nets = density_search(jobs(task, 3), stand_in([0.6, 0.2, 1.0], calls), ladder=(0.5, 0.25, 0.125), bisect_steps=1)
    # dense (3 jobs); 0.5: job 1 passes, jobs 0 and 2 fail; 0.25 and 0.125: job 1 alone; bisection: all three brackets
    assert [len(call) for call in calls] == [3, 3, 1, 1, 3]
    assert calls[1] == [(0, 0.5), (1, 0.5), (2, 0.5)] and calls[2] == [(1, 0.25)]
    assert [j for j, _ in calls[4]] == [0, 1, 2] and calls[4][0][1] == pytest.approx(math.sqrt(0.5))
    assert nets[2].density() == 1.0, "a job that fails every rung keeps its dense network"
    assert nets[0].density() == pytest.approx(round(math.sqrt(0.5) * 64) / 64), "job 0 passes at sqrt(1 x 0.5) = 0.707"


def test_a_dense_network_below_the_threshold_is_untrainable(task):
    calls: list = []
    [net] = density_search(jobs(task, 1), lambda requests: (calls.append(requests), [network(d, 0.5) for _, d in requests])[1])
    assert net.status == "untrainable" and len(calls) == 1 and net.density() == 1.0


def test_bad_ladders_and_builds_are_named(task):
    with pytest.raises(SculptbenchError, match="strictly decreasing"):
        density_search(jobs(task, 1), stand_in([0.5], []), ladder=(0.25, 0.5))
    with pytest.raises(ValueError, match="returned 0 networks for 1 requests"):
        density_search(jobs(task, 1), lambda requests: [])
