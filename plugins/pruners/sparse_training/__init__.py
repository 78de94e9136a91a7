"""Built-in pruners that train for sparsity: the lottery ticket with rewinding (``lth``),
L1-regularised training (``l1``) and brain-inspired modular training (``bimt``), the last two
followed by the protocol's threshold search."""

from __future__ import annotations

from sculptbench.api import hookimpl
from sculptbench.plugins.pruners.sparse_training.bimt import BimtPruner
from sculptbench.plugins.pruners.sparse_training.lth import LotteryTicketPruner
from sculptbench.plugins.pruners.sparse_training.regularised import L1Pruner


@hookimpl
def register_pruners(register):
    """Register ``lth``, ``l1`` and ``bimt``."""
    for pruner in (LotteryTicketPruner(), L1Pruner(), BimtPruner()):
        register(pruner)
