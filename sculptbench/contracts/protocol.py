"""The pruning protocol every pruner runs under: initialisations per cell, and the rule that keeps
one of a cell's candidate networks.

A cell (task, architecture, pruner, seed) is pruned from ``restarts`` initialisations: restart 0
is the cell's seed, restart ``r > 0`` the seed :func:`restart_seed` derives from it. Each start
gives the pruner's candidates (one network, or several for a pruner with variants, e.g.
``iterative``'s hyperparameter grids); the ``select`` rule keeps one of all of them. The
framework runs both for every pruner alike, so two rows of a table differ by their method alone,
and a row is labelled with its rule (``magnitude[sparsest_modularity]``) unless it is
``sparsest``. A cell whose kept network is untrainable (its dense network missed the threshold)
is tried again, up to ``adapt`` times, with the recipes of :data:`ADAPT_LADDER`. These options are
declared here once and offered by every pruner whose
:attr:`~sculptbench.contracts.components.Pruner.protocol` is true.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping

from sculptbench.contracts.options import Check, Option, When
from sculptbench.contracts.types import TrainingConfig

if TYPE_CHECKING:
    from sculptbench.contracts.components import Pruner

#: The rules that keep one candidate. ``sparsest``: the sparsest that met the threshold (the
#: first of equals); ``consensus``: the sparsest of those whose detected module structure is the
#: most frequent; ``modularity``: the one whose detected modules are the most modular, the
#: sparsest on ties; ``sparsest_modularity``: among the sparsest, the most modular; ``oracle``:
#: the sparsest the oracle's scorer calls a success (it uses the ground truth: an upper bound).
SELECT_RULES = ("sparsest", "consensus", "modularity", "sparsest_modularity", "oracle")
#: The rules that run a detector on every candidate.
DETECTING_RULES = ("consensus", "modularity", "sparsest_modularity", "oracle")
#: The protocol's option names.
PROTOCOL_OPTIONS = ("restarts", "select", "select_detector", "oracle_scorer", "oracle_metric", "adapt")


@dataclass(frozen=True)
class AdaptStep:
    """One further attempt of a cell whose kept network is untrainable: its recipe relative to the
    cell's (epochs times ``epochs``, learning rate times ``lr``) and whether its starts are fresh
    initialisations (else the cell's own, trained longer)."""

    epochs: int
    lr: float
    fresh: bool

    def training(self, base: TrainingConfig) -> TrainingConfig:
        """The recipe of this attempt for a cell trained with ``base``."""
        return replace(base, epochs=base.epochs * self.epochs, lr=base.lr * self.lr)

    def describe(self) -> str:
        """``"epochs x8, lr x0.2, fresh starts"``."""
        return f"epochs x{self.epochs}, lr x{self.lr:g}{', fresh starts' if self.fresh else ''}"


#: The adaptation ladder (docs/protocol.md, "Every cell trains"): attempt ``k`` of a cell whose
#: dense network missed the threshold trains with step ``k``; measured on generated circuits by
#: bench/generated_trainability.py (docs/results/tasks.md).
ADAPT_LADDER = (AdaptStep(2, 1.0, False), AdaptStep(4, 0.5, True), AdaptStep(8, 0.5, True))


def adapt_budget(attempts: int) -> int:
    """Trainings of a cell's recipe that ``attempts`` further attempts cost at most, per start (its epochs factors)."""
    return sum(step.epochs for step in ADAPT_LADDER[:attempts])


def adapt_restart(restarts: int, attempt: int, restart: int) -> int:
    """The restart index whose seed (:func:`restart_seed`) initialises start ``restart`` of a
    fresh attempt ``attempt``: past every index the cell's own starts use."""
    return restarts * attempt + restart


def restart_seed(seed: int, restart: int) -> int:
    """The initialisation seed of restart ``restart`` of a cell with seed ``seed``.

    Restart 0 is the seed itself, so a single-restart run matches a run without restarts; later
    restarts mix in a large odd constant so they do not collide with other cells' seeds.
    """
    if restart == 0:
        return seed
    return (seed + 0x9E3779B97F4A7C15 * restart) % (2**63)


def protocol_options(pruner: Pruner, own: Mapping[str, Any]) -> tuple[Option, ...]:
    """The protocol's options for ``pruner`` with its own options resolved to ``own``: ``select``
    applies only where a cell has more than one candidate (restarts times the pruner's
    :meth:`~sculptbench.contracts.components.Pruner.candidates_per_start`)."""
    per_start = pruner.candidates_per_start(own)
    several = Check(lambda values: values["restarts"] * per_start > 1,
                    "a cell has more than one candidate network (restarts > 1, or a rule with several variants per start)",
                    reads=("restarts",))
    return (
        Option("restarts", int, 1, low=1, task=True,
               help="Initialisations per cell: restart 0 is the cell's seed, each later one a seed derived from it; "
                    "every start's candidates go to the select rule."),
        Option("select", str, "sparsest", choices=SELECT_RULES, task=True, applies=several,
               instead="add {component}.restarts=N with N > 1 to give it candidates to choose from",
               help="The rule that keeps one of a cell's candidates (docs/protocol.md); rows of every rule but "
                    "sparsest are labelled with it, e.g. iterative[oracle]."),
        Option("select_detector", str, "sculpting", applies=When("select", *DETECTING_RULES),
               help="The detector whose modules the consensus, modularity and oracle rules read."),
        Option("oracle_scorer", str, "structure", applies=When("select", "oracle"),
               help="The scorer that judges each candidate for select=oracle."),
        Option("oracle_metric", str, "success", applies=When("select", "oracle"),
               help="The oracle scorer's metric that calls a candidate a success."),
        Option("adapt", int, len(ADAPT_LADDER), low=0, high=len(ADAPT_LADDER), task=True,
               help="Further attempts of a cell whose dense network misses the accuracy threshold, each with the next recipe of "
                    "the ladder in docs/protocol.md (" + "; ".join(step.describe() for step in ADAPT_LADDER)
                    + "); 0: none, as under hparams=paper and authors."),
    )
