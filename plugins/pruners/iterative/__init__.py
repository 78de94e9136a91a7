"""Built-in pruners on the accept/halve-step loop: the paper's ``iterative`` unit+edge pruner, its
``edge`` ablation, global ``magnitude`` pruning with retraining, the ``random`` baseline and the
unpruned ``dense`` control."""

from __future__ import annotations

from sculptbench.api import hookimpl
from sculptbench.plugins.pruners.iterative.pruner import SchedulePruner, schedule_options


class IterativePruner(SchedulePruner):
    """The paper's method: iterative unit pruning (|activation x gradient|), then edge pruning (|w|)."""

    name = "iterative"
    version = "2.0"
    citation = "Patil, Michael & Dovrolis, Neural Sculpting, NeurIPS 2023"
    phase_kinds = ("unit", "edge")
    options = schedule_options(phase_kinds, auto_loop="reference")


class EdgePruner(SchedulePruner):
    """The paper's ablation: only the edge phase (global |w|, linear step P_e)."""

    name = "edge"
    version = "2.0"
    citation = "Patil, Michael & Dovrolis, Neural Sculpting, NeurIPS 2023 (ablation)"
    phase_kinds = ("edge",)
    options = schedule_options(phase_kinds)


class MagnitudePruner(SchedulePruner):
    """Global iterative magnitude pruning with retraining: 20% of what remains per round, until a round fails."""

    name = "magnitude"
    version = "2.0"
    citation = "Han et al., NeurIPS 2015 (global, with the lottery ticket's 20% schedule)"
    phase_kinds = ("edge",)
    options = schedule_options(phase_kinds, rules=False, edge_schedule="lth", edge_step=20.0)


class RandomPruner(SchedulePruner):
    """The same loop as ``magnitude`` but pruning weights chosen at random: the baseline."""

    name = "random"
    version = "2.0"
    phase_kinds = ("edge",)
    edge_score = "random"
    options = schedule_options(phase_kinds, rules=False, edge_schedule="lth", edge_step=20.0, edge_score=False)


class DensePruner(SchedulePruner):
    """No pruning: the trained dense network, as a control."""

    name = "dense"
    version = "2.0"
    phase_kinds = ()
    options = ()


@hookimpl
def register_pruners(register):
    """Register the built-in pruners."""
    for pruner in (IterativePruner(), EdgePruner(), MagnitudePruner(), RandomPruner(), DensePruner()):
        register(pruner)
