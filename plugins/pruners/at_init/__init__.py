"""Built-in pruners at initialisation: ``snip``, ``grasp`` and ``synflow``.

Each scores the weights of the network its seed starts from, keeps the highest-scoring share and
trains that masked network once; the protocol's density search chooses the share (the sparsest
that meets the task's accuracy threshold). docs/pruning-methods.md gives the formulas, defaults
and every deviation from the reference implementations.
"""

from __future__ import annotations

import torch

from sculptbench.api import Option, PruneJob, SculptedNetwork, hookimpl
from sculptbench.plugins.pruners.at_init.pruner import AtInitPruner, search_options
from sculptbench.plugins.pruners.at_init.scores import grasp_scores, snip_scores, synflow_masks, xavier_weights


class SnipPruner(AtInitPruner):
    """SNIP: prune at initialisation by connection sensitivity |g * w| (one shot, global), then train."""

    name = "snip"
    version = "1.0"
    citation = "Lee, Ajanthan & Torr, SNIP: Single-shot Network Pruning based on Connection Sensitivity, ICLR 2019"
    options = search_options()

    def keep_scores(self, job: PruneJob, init: SculptedNetwork) -> list[torch.Tensor]:
        """``|dL/dm|`` at ``m = 1`` on the task's noise-free training rows."""
        data = job.task.data("cpu")
        return snip_scores(init.weights, init.biases, data.train_x, data.train_y)


class GraspPruner(AtInitPruner):
    """GraSP: prune at initialisation the weights whose removal least reduces gradient flow (largest -w * Hg), then train."""

    name = "grasp"
    version = "1.0"
    citation = "Wang, Zhang & Grosse, Picking Winning Tickets Before Training by Preserving Gradient Flow, ICLR 2020"
    options = (
        Option("temperature", float, 200.0, low=0, low_open=True,
               help="T: the logits are divided by T for the gradient and the Hessian-gradient product (the reference's 200)."),
        Option("reinit", bool, False,
               help="Score Xavier-normal re-initialised weights, as the reference code does for linear layers (here every "
                    "layer); the masked network still trains from its own initialisation. false: score the initial weights."),
        *search_options(),
    )

    def keep_scores(self, job: PruneJob, init: SculptedNetwork) -> list[torch.Tensor]:
        """``-S = w * (H g)`` on the task's noise-free training rows: the largest ``S`` are removed first."""
        data = job.task.data("cpu")
        weights = xavier_weights(job.sizes, job.seed) if job.params["reinit"] else init.weights
        return [-s for s in grasp_scores(weights, init.biases, data.train_x, data.train_y, job.params["temperature"])]


class SynflowPruner(AtInitPruner):
    """SynFlow: data-free pruning at initialisation by iterative synaptic flow |w * dR/dw|, then train."""

    name = "synflow"
    version = "1.0"
    citation = "Tanaka, Kunin, Yamins & Ganguli, Pruning neural networks without any data by iteratively conserving synaptic flow, NeurIPS 2020"
    options = (
        Option("rounds", int, 100, low=1,
               help="Scoring rounds E: round e keeps density d^((e+1)/E) of the weights, re-scored (the released configurations' 100)."),
        *search_options(),
    )

    def masks(self, job: PruneJob, init: SculptedNetwork, density: float, memo: dict) -> list[torch.Tensor]:
        """SynFlow's iterative masks at ``density`` (each target density has its own rounds)."""
        return synflow_masks(init.weights, init.biases, density, job.params["rounds"])


@hookimpl
def register_pruners(register):
    """Register the pruners at initialisation."""
    for pruner in (SnipPruner(), GraspPruner(), SynflowPruner()):
        register(pruner)
