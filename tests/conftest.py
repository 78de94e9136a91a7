"""Shared fixtures: the built-in registry (no entry points) and a small task."""

from __future__ import annotations

import pytest
import torch

from sculptbench.plugin_manager import load_registry

# The networks are tiny: extra intra-op threads only add overhead (and stall on a busy machine).
# `sculptbench run` does the same for its single-process executor.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def registry():
    """The built-in plugins only, loaded once per session (do not mutate it)."""
    return load_registry(entry_points=False)


@pytest.fixture(scope="session")
def small_task(registry):
    """A 4-input, 4-output task that a 24-unit network learns in a few epochs."""
    return registry.tasks["bool/input-separable"]
