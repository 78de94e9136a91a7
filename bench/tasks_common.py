"""What the task benches share (``generated_trainability.py``, ``builtin_trainability.py``,
``difficulty_sweep.py``): the machine line (``reproduction.machine``), the peak memory, the generator's parameter sample, and
the trainability of a task's cells measured through the protocol itself (``prune_cells`` with the
``dense`` pruner: one start per seed, the default adaptation)."""

from __future__ import annotations

import collections
import random
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproduction import machine  # noqa: E402,F401 - the machine line every bench prints

#: The generator's parameter ranges the trainability bench draws from (docs/results/tasks.md).
RANGES = {"levels": (1, 2, 3, 4), "modules": (2, 3, 4), "fanin": (2, 3, 4), "reuse": (0, 1, 2, 3),
          "gates": ("aoxt", "t", "ax", "aoxnre")}


def peak_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sample_params(count: int, seed: int, max_inputs: int) -> list[Any]:
    """``count`` generator parameter sets drawn uniformly from :data:`RANGES` (overlap in
    ``0..fanin-1``, a seed in ``0..9999``), keeping those with at most ``max_inputs`` inputs."""
    from sculptbench.plugins.tasks.boolean.generator import GeneratorParams

    rng = random.Random(seed)
    out: list[Any] = []
    while len(out) < count:
        fanin = rng.choice(RANGES["fanin"])
        params = GeneratorParams(levels=rng.choice(RANGES["levels"]), modules=rng.choice(RANGES["modules"]), fanin=fanin,
                                 reuse=rng.choice(RANGES["reuse"]), overlap=rng.randrange(fanin), gates=rng.choice(RANGES["gates"]),
                                 seed=rng.randrange(10000))
        if params.n_inputs <= max_inputs:
            out.append(params)
    return out


@dataclass
class CellTrainability:
    """One (task, architecture, seed) cell: did its first attempt train, did it train in the end,
    and which attempt did (0: the first)."""

    task: str
    arch: str
    seed: int
    first: bool
    final: bool
    attempt: int


def trainability(registry: Any, task: Any, seeds: Sequence[int], adapt: int | None = None,
                 training: dict[str, Any] | None = None) -> list[CellTrainability]:
    """Every cell of ``task`` at its default architectures and ``seeds``, pruned by ``dense`` with
    one start each under the protocol (``adapt``: its budget; ``None``: the default; ``training``:
    recipe fields over the task's, as ``--lr``, ``--epochs`` and ``--batch-size`` do)."""
    from sculptbench.run.planning import RunSpec, plan
    from sculptbench.run.selection import prune_cells

    params: dict[str, Any] = {"restarts": 1}
    if adapt is not None:
        params["adapt"] = adapt
    spec = RunSpec(tasks=[task], pruners=["dense"], detectors=["louvain"], scorers=["structure"], seeds=list(seeds),
                   params={"dense": params}, training_overrides=dict(training or {}))
    out = []
    for group in plan(registry, spec):
        nets = prune_cells(registry.pruners["dense"], group, group.seeds, registry)
        for seed, net in zip(group.seeds, nets):
            if not hasattr(net, "status"):
                raise RuntimeError(f"{task.name} seed {seed}: {net}")
            adapted = net.info.get("adapted")
            attempts = adapted["attempts"] if adapted else []
            final = net.status == "ok"
            out.append(CellTrainability(task.name, "x".join(map(str, group.hidden)), seed, final and not adapted, final,
                                        attempts[-1]["attempt"] if adapted and final else 0))
    return out


def rescued(cells: Sequence[CellTrainability]) -> str:
    """The cells that trained, counted by the attempt that trained them (0: the first), e.g.
    ``"0: 10, 1: 2"``; the attempts above 0 are the adaptation's rescues."""
    attempts = collections.Counter(c.attempt for c in cells if c.final)
    return ", ".join(f"{k}: {attempts[k]}" for k in sorted(attempts))


def rate(cells: Sequence[CellTrainability], field: str = "final") -> float:
    """The share of ``cells`` whose ``field`` holds."""
    return sum(getattr(c, field) for c in cells) / len(cells) if cells else float("nan")
