"""The built-in controls ``single`` and ``layers``: what a detector that knows nothing scores.

* ``single``: one module holding every unit of the surviving-unit graph
  (:func:`~sculptbench.plugins.detectors.unit_graph.surviving_graph`).
* ``layers``: one module per layer of those units (the inputs, each hidden layer, the outputs).

Any results table should carry them: a task whose ground truth is one module (``bool/none``) is
solved by ``single``, so a detector's success there says nothing about finding modules; and a
score that ``layers`` reaches is a score that the layered architecture alone gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sculptbench.api import hookimpl
from sculptbench.plugins.detectors.unit_graph import CONDENSE, GraphDetector, relabel


class SingleModule(GraphDetector):
    """Control: every surviving unit in one module."""

    name = "single"
    version = "1.0"
    description = "Control: one module holding every surviving unit (what a detector that finds no structure scores)."
    options = (CONDENSE,)

    def levels(self, graph, network, task, options, seed) -> tuple[list[np.ndarray], dict[str, Any]]:
        """One level: one module."""
        return [np.zeros(graph.size, dtype=int)], {}


class LayerModules(GraphDetector):
    """Control: one module per layer of the surviving units."""

    name = "layers"
    version = "1.0"
    description = "Control: one module per layer of the surviving units (what the layered architecture alone gives)."
    options = (CONDENSE,)

    def levels(self, graph, network, task, options, seed) -> tuple[list[np.ndarray], dict[str, Any]]:
        """One level: the layers."""
        return [relabel(graph.layers())], {}


@hookimpl
def register_detectors(register):
    """Register the two controls."""
    register(SingleModule())
    register(LayerModules())
