"""The plugin module named by the ``sculptbench`` entry point: one hook per component kind."""

from __future__ import annotations

from sculptbench.api import hookimpl

from sculptbench_example.gradual import GradualMagnitudePruner
from sculptbench_example.greedy import GreedyModularityDetector


@hookimpl
def register_pruners(register):
    """Register the ``gradual`` pruner."""
    register(GradualMagnitudePruner())


@hookimpl
def register_detectors(register):
    """Register the ``greedy`` detector."""
    register(GreedyModularityDetector())
