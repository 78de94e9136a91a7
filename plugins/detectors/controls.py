"""The built-in controls ``single`` and ``layers``: what a detector that knows nothing scores.

* ``single``: one module holding every unit of the surviving-unit graph
  (:func:`~sculptbench.plugins.detectors.unit_graph.surviving_graph`).
* ``layers``: one module per layer of those units (the inputs, each hidden layer, the outputs).

Any results table should carry them: a task whose ground truth is one module (``bool/none``) is
solved by ``single``, so a detector's success there says nothing about finding modules; and a
score that ``layers`` reaches is a score that the layered architecture alone gives.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from sculptbench.api import hookimpl
from sculptbench.plugins.detectors.unit_graph import CONDENSE, GraphDetector, UnitGraph, relabel


class Control(GraphDetector):
    """A control: a fixed rule that reads nothing of the weights but which units survive."""

    version = "1.0"
    options = (CONDENSE,)

    def __init__(self, name: str, description: str, rule: Callable[[UnitGraph], np.ndarray]) -> None:
        self.name, self.description, self.rule = name, description, rule

    def levels(self, graph, network, task, options, seed) -> tuple[list[np.ndarray], dict[str, Any]]:
        """One level: the rule's labels."""
        return [self.rule(graph)], {}


def single_module() -> Control:
    """The control ``single``: every surviving unit in one module."""
    return Control("single", "Control: one module holding every surviving unit (what a detector that finds no structure scores).",
                   lambda graph: np.zeros(graph.size, dtype=int))


def layer_modules() -> Control:
    """The control ``layers``: one module per layer of the surviving units."""
    return Control("layers", "Control: one module per layer of the surviving units (what the layered architecture alone gives).",
                   lambda graph: relabel(graph.layers()))


@hookimpl
def register_detectors(register):
    """Register the two controls."""
    register(single_module())
    register(layer_modules())
