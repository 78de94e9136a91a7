"""The built-in ``activation`` detector: units clustered by the similarity of what they compute on
the task's inputs (Lange, Rolnick & Kording, ICLR 2022; Hod et al. 2022), by modularity
maximisation.

1. The units are those of the surviving-unit graph
   (:func:`~sculptbench.plugins.detectors.unit_graph.surviving_graph`): inputs, hidden units and
   outputs alike.
2. The network (its surviving weights and biases; ReLU hidden layers, linear outputs, as the
   engine trains it) runs on the task's training inputs, at most ``samples`` rows (a subset drawn
   from the cell's seed when there are more). A unit's value is the input itself, a hidden unit's
   ReLU output, or an output's logit.
3. The association of two units is, by ``measure``:
   ``covariance``: |Cov(h_u, h_v)| over the inputs (Lange et al.'s ``forward_cov``);
   ``jacobian``: |mean over inputs of J_u . J_v| with J_u = dh_u/dx the unit's gradient with
   respect to the inputs (their upstream sensitivity, ``forward_jac``: the sum of J^T J).
   With ``normalise`` each is divided by sqrt(a_uu a_vv) (correlation; the ``_norm`` variants).
   The diagonal is set to 0. A unit whose own association a_uu is 0 (a constant unit: a ReLU
   that never fires, an output that ignores its inputs) is *silent*: in no module.
4. The association matrix, a complete weighted graph, is partitioned by Leiden (Newman
   modularity at ``resolution``, scikit-network), its node order seeded from the cell's seed.
   If no two units associate, every unit is its own module.

Deviations from the reference (github.com/wrongu/modularity, ``associations.py`` and
``modularity.py``): it builds one matrix per hidden layer and clusters each layer alone; here one
matrix spans every unit of every layer, so that modules run across layers as the structure scorer
reads them, and inputs and outputs are clustered with the units that compute on them. It
maximises modularity by Newman's spectral bisection refined by Monte Carlo moves; here by Leiden.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import sparse

from sculptbench.api import Option, SculptbenchError, SculptedNetwork, hookimpl
from sculptbench.plugins.detectors.leiden import RESOLUTION, leiden_labels
from sculptbench.plugins.detectors.unit_graph import CONDENSE, GraphDetector, UnitGraph, seed32

#: Imported by worker processes before they take work (sculptbench.plugin.registry.WORKER_IMPORTS).
WORKER_IMPORTS = ("sknetwork.clustering",)
MEASURES = ("covariance", "jacobian")
#: About this many numbers per block of input gradients (the jacobian measure's memory).
JACOBIAN_BLOCK = 1 << 22


def _masked(network: SculptedNetwork) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The surviving weights and biases, float64 copies."""
    weights = [w.detach().cpu().double() * m.detach().cpu() for w, m in zip(network.weights, network.weight_masks)]
    biases = [b.detach().cpu().double() * m.detach().cpu() for b, m in zip(network.biases, network.bias_masks)]
    return weights, biases


def unit_values(network: SculptedNetwork, x: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's unit values on inputs ``x`` (rows): the inputs, ReLU hidden outputs, logits."""
    weights, biases = _masked(network)
    values = [x.double()]
    for layer, (w, b) in enumerate(zip(weights, biases)):
        pre = values[-1] @ w.T + b
        values.append(pre if layer == len(weights) - 1 else torch.relu(pre))
    return values


def unit_jacobians(network: SculptedNetwork, x: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's d(unit)/d(inputs) on inputs ``x``: (rows, units, inputs) per layer. ReLU's
    derivative at 0 is 0, as autograd takes it."""
    weights, biases = _masked(network)
    rows, n_in = x.shape
    jacobians = [torch.eye(n_in, dtype=torch.float64).expand(rows, n_in, n_in)]
    value = x.double()
    for layer, (w, b) in enumerate(zip(weights, biases)):
        pre = value @ w.T + b
        step = torch.einsum("oi,rin->ron", w, jacobians[-1])
        if layer < len(weights) - 1:
            fires = (pre > 0).double()
            step, value = step * fires[:, :, None], torch.relu(pre)
        jacobians.append(step)
    return jacobians


def association(network: SculptedNetwork, graph: UnitGraph, x: torch.Tensor, measure: str, normalise: bool) -> np.ndarray:
    """The units-by-units association matrix of ``graph``'s units (see the module docstring),
    its diagonal the units' own association a_uu (before it is zeroed for clustering)."""
    layers = graph.layers()
    index = np.array([i for _, i in graph.units])
    if measure == "covariance":
        values = unit_values(network, x)
        columns = torch.stack([values[l][:, i] for l, i in zip(layers, index)], dim=1)
        centred = columns - columns.mean(dim=0, keepdim=True)
        matrix = centred.T @ centred / len(x)
    else:  # summed over blocks of inputs so that a (rows, units, inputs) block stays near JACOBIAN_BLOCK numbers
        step = max(1, JACOBIAN_BLOCK // (len(index) * x.shape[1]))
        matrix = torch.zeros(len(index), len(index), dtype=torch.float64)
        for start in range(0, len(x), step):
            jac = unit_jacobians(network, x[start:start + step])
            rows = torch.stack([jac[l][:, i, :] for l, i in zip(layers, index)], dim=1)  # (rows, units, inputs)
            matrix += torch.einsum("run,rvn->uv", rows, rows)
        matrix = matrix / len(x)
    matrix = matrix.abs().numpy()
    if normalise:
        own = np.sqrt(np.clip(np.diag(matrix), 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            matrix = np.where(np.outer(own, own) > 0, matrix / np.outer(own, own), 0.0)
    return matrix


class ActivationDetector(GraphDetector):
    """Units clustered by what they compute on the task's inputs (activation covariance or upstream Jacobian)."""

    name = "activation"
    version = "1.0"
    description = "Units clustered by what they compute on the task's inputs (|activation covariance| or upstream-Jacobian similarity), by Leiden modularity maximisation."
    citation = "Lange, Rolnick & Kording, Clustering units in neural networks, ICLR 2022; Hod et al., Detecting modularity in deep neural networks, 2022"
    options = (
        Option("measure", str, "covariance", choices=MEASURES, help="Association of two units: |covariance| of their values, or the similarity of their input gradients (upstream Jacobian)."),
        Option("normalise", bool, True, help="Divide each association by sqrt(a_uu a_vv) (correlation-normalised)."),
        Option("samples", int, 1024, low=2, help="At most this many training inputs (a subset drawn from the cell's seed when there are more)."),
        RESOLUTION,
        CONDENSE,
    )

    def levels(self, graph, network, task, options, seed) -> tuple[list[np.ndarray], dict[str, Any]]:
        """One level: Leiden communities of the association graph; silent units in no module."""
        if task is None:
            raise SculptbenchError("detector activation needs the task's inputs; it cannot run without a task")
        x = task.data("cpu").train_x.detach().cpu()
        if len(x) > options["samples"]:
            rows = np.random.default_rng(seed32(seed)).choice(len(x), options["samples"], replace=False)
            x = x[torch.as_tensor(np.sort(rows))]
        matrix = association(network, graph, x, options["measure"], options["normalise"])
        live = np.flatnonzero(np.diag(matrix) > 0)
        labels = np.full(graph.size, -1, dtype=int)
        info = {"samples": int(len(x)), "silent": [list(graph.units[i]) for i in np.flatnonzero(np.diag(matrix) <= 0)]}
        if len(live) == 0:
            info["notes"] = ["every unit is constant on the inputs: no module"]
            return [labels], info
        weights = matrix[np.ix_(live, live)].copy()
        np.fill_diagonal(weights, 0.0)
        if not weights.any():
            labels[live] = np.arange(len(live))
            info["notes"] = ["no two units associate: one module per unit"]
            return [labels], info
        labels[live] = leiden_labels(sparse.csr_matrix(weights), options["resolution"], seed)
        return [labels], info


@hookimpl
def register_detectors(register):
    """Register the activation-based detector."""
    register(ActivationDetector())
