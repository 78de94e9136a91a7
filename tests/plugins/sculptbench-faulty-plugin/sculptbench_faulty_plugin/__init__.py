"""Detectors that misbehave on seed 0 (or the seeds in ``SCULPTBENCH_FAULTY_SEEDS``, e.g. ``0,1,2``)
and behave on every other seed.

- ``faulty-raise`` raises (unless ``SCULPTBENCH_FAULTY_FIXED=1``, for ``--retry-failed``);
- ``faulty-sleep`` sleeps for ``SCULPTBENCH_FAULTY_SLEEP`` seconds (default 600), past any ``--timeout``;
- ``faulty-exit`` calls ``os._exit(3)``, killing its worker process.

On other seeds each returns one module per layer of surviving units.
"""

from __future__ import annotations

import os
import time

from sculptbench.api import Detection, Detector, hookimpl


class _Faulty(Detector):
    version = "0.1.0"
    options = ()

    def misbehave(self) -> None:
        raise NotImplementedError

    def detect(self, network, task, options, seed):
        if str(seed) in os.environ.get("SCULPTBENCH_FAULTY_SEEDS", "0").split(","):
            self.misbehave()
        graph = network.unit_graph()
        layers: dict[int, set] = {}
        for unit in graph.nodes:
            if graph.degree(unit):
                layers.setdefault(unit[0], set()).add(unit)
        return Detection(modules=[frozenset(units) for _, units in sorted(layers.items())])


class RaisingDetector(_Faulty):
    """Raises RuntimeError on seed 0."""

    name = "faulty-raise"

    def misbehave(self) -> None:
        if os.environ.get("SCULPTBENCH_FAULTY_FIXED") != "1":
            raise RuntimeError("faulty-raise refuses seed 0")


class SleepingDetector(_Faulty):
    """Sleeps (hangs) on seed 0."""

    name = "faulty-sleep"

    def misbehave(self) -> None:
        time.sleep(float(os.environ.get("SCULPTBENCH_FAULTY_SLEEP", "600")))


class ExitingDetector(_Faulty):
    """Kills its own process with exit code 3 on seed 0."""

    name = "faulty-exit"

    def misbehave(self) -> None:
        os._exit(3)


@hookimpl
def register_detectors(register):
    register(RaisingDetector())
    register(SleepingDetector())
    register(ExitingDetector())
