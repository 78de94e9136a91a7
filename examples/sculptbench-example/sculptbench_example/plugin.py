"""The plugin module named by the ``sculptbench`` entry point: one hook per component kind."""

from __future__ import annotations

from sculptbench.api import hookimpl

from sculptbench_example.spectral import SpectralDetector
from sculptbench_example.synflow import SynFlowPruner


@hookimpl
def register_pruners(register):
    """Register the ``synflow`` pruner."""
    register(SynFlowPruner())


@hookimpl
def register_detectors(register):
    """Register the ``spectral`` detector."""
    register(SpectralDetector())
