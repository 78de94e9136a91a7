"""Built-in pruners: the paper's ``iterative`` unit+edge pruner, its ``edge`` ablation,
global ``magnitude`` pruning, the ``random`` baseline and the unpruned ``dense`` control."""

from __future__ import annotations

from typing import Any

from sculptbench.plugins.pruners.iterative.pruner import COMMON_DEFAULTS, SchedulePruner

from sculptbench import hookimpl

# Versions: 1.1 changed the automatic rule (hparams=auto) to nine initialisations with P_u 50 and
# P_e 1.5 (docs/paper-differences.md); 1.2 made the most modular of the sparsest of them its
# default choice (select=sparsest_modularity) and came with the engine's batch-independent sigmoid;
# iterative 1.3 prunes by the reference code's loop under hparams=auto (loop=reference unless
# given; docs/paper-differences.md). ``dense`` has no phases and is unchanged.


class IterativePruner(SchedulePruner):
    """The paper's method: iterative unit pruning (|activation x gradient|), then edge pruning (|w|)."""

    name = "iterative"
    version = "1.3"
    phase_kinds = ("unit", "edge")
    auto_loop = "reference"


class EdgePruner(SchedulePruner):
    """The paper's ablation: only the edge phase (global |w|, linear step P_e)."""

    name = "edge"
    version = "1.2"
    phase_kinds = ("edge",)


class MagnitudePruner(SchedulePruner):
    """Global iterative magnitude pruning with retraining: 20% of what remains per round (lth schedule)."""

    name = "magnitude"
    version = "1.2"
    phase_kinds = ("edge",)
    defaults: dict[str, Any] = {**COMMON_DEFAULTS, "edge_schedule": "lth", "edge_step": 20.0, "edge_score": "magnitude"}


class RandomPruner(SchedulePruner):
    """The same loop as ``magnitude`` but pruning weights chosen at random: the baseline."""

    name = "random"
    version = "1.2"
    phase_kinds = ("edge",)
    defaults: dict[str, Any] = {**COMMON_DEFAULTS, "edge_schedule": "lth", "edge_step": 20.0, "edge_score": "random"}


class DensePruner(SchedulePruner):
    """No pruning: the trained dense network, as a control."""

    name = "dense"
    version = "1.0"
    phase_kinds = ()


@hookimpl
def register_pruners(register):
    """Register the built-in pruners."""
    for pruner in (IterativePruner(), EdgePruner(), MagnitudePruner(), RandomPruner(), DensePruner()):
        register(pruner)
