"""A base class for pruning at initialisation under the protocol's density search.

A method scores the weights of the network a seed starts from (:func:`initial_network`), keeps
the highest-scoring share of them, and the masked network is trained once, from that same
initialisation, with the job's recipe. Which share: the framework's :func:`density_search` asks
for the dense network, then for densities down a ladder while the network still meets the task's
accuracy threshold, then bisects between the last pass and the first fail; every network of a
round, of every job, trains in one :func:`train_masked` call. The network handed back is the
sparsest that met the threshold; every network tried is an operating point in its history.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from sculptbench.api import (
    DENSITY_BISECT_STEPS,
    DENSITY_LADDER,
    CellSettings,
    Option,
    Options,
    PruneJob,
    Pruner,
    SculptbenchError,
    SculptedNetwork,
    Task,
    density_search,
    initial_network,
    single_threaded,
    train_masked,
)
from sculptbench.plugins.pruners.at_init.scores import keep_highest, kept_count


def search_options() -> tuple[Option, ...]:
    """The density search's options, offered by every pruner at initialisation."""
    return (
        Option("ladder", float, DENSITY_LADDER, many=True, low=0, high=1, low_open=True, high_open=True,
               type_text="a density in (0, 1), strictly decreasing down the list",
               help="Densities the search tries after the dense network, one per round while the network passes. The default "
                    "halves the density, down to one weight per layer of the network; a ladder you give must stay at or above "
                    "that (a sparser target cannot connect the inputs to the outputs)."),
        Option("bisect_steps", int, DENSITY_BISECT_STEPS, low=0,
               help="Geometric bisection steps between the last density that passed and the first that failed."),
    )


def weight_count(sizes: Sequence[int]) -> int:
    """Number of weights of an MLP with layer ``sizes`` (biases excluded)."""
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def reachable_ladder(ladder: Sequence[float], sizes: Sequence[int], who: str) -> tuple[float, ...]:
    """The rungs of ``ladder`` the network of ``sizes`` can reach: each keeps at least one weight
    per layer. The default ladder stops where that ends; a :class:`SculptbenchError` names the
    first rung of any other ladder below it."""
    n, layers = weight_count(sizes), len(sizes) - 1
    reachable = tuple(d for d in ladder if kept_count(d, n) >= layers)
    if len(reachable) < len(ladder) and tuple(ladder) != DENSITY_LADDER:
        low = next(d for d in ladder if kept_count(d, n) < layers)
        shape = "x".join(str(s) for s in sizes)
        floor = (layers - 0.5) / n
        raise SculptbenchError(
            f"{who}.ladder asks for density {low:g}, which keeps {kept_count(low, n)} of the {n} weights of a {shape} network: "
            f"fewer than one per layer ({layers}) cannot connect its inputs to its outputs; give densities >= {floor:.3g}, "
            f"or leave {who}.ladder at its default, which stops there")
    return reachable


class AtInitPruner(Pruner):
    """Prunes at initialisation by :meth:`keep_scores`, then trains; the density search picks the density."""

    def keep_scores(self, job: PruneJob, init: SculptedNetwork) -> list[torch.Tensor]:
        """Per weight layer ``(out, in)``, the method's scores of ``init`` (higher: kept first)."""
        raise NotImplementedError

    def masks(self, job: PruneJob, init: SculptedNetwork, density: float, memo: dict) -> list[torch.Tensor]:
        """The weight masks ``(out, in)`` keeping ``density`` of ``init``'s weights: the highest
        :meth:`keep_scores`, scored once per job (``memo`` keeps them across the search's rounds)."""
        if "scores" not in memo:
            memo["scores"] = self.keep_scores(job, init)
        return keep_highest(memo["scores"], kept_count(density, weight_count(job.sizes)))

    def check_options(self, options: Options) -> None:
        """The ladder must be strictly decreasing."""
        ladder = options.get("ladder", ())
        if any(b >= a for a, b in zip(ladder, ladder[1:])):
            raise SculptbenchError(f"invalid {self.name}.ladder {list(ladder)}; give densities in (0, 1), strictly decreasing")

    def cell_settings(self, task: Task, hidden: tuple[int, ...], seed: int, options: Options) -> CellSettings | None:
        """No settings of its own; refuses a ladder the network cannot reach, before any work."""
        reachable_ladder(options["ladder"], [task.n_inputs, *hidden, task.n_outputs], self.name)
        return None

    def prune(self, job: PruneJob) -> SculptedNetwork:
        """One job: :meth:`prune_many` of it alone."""
        return self.prune_many([job])[0]

    def prune_many(self, jobs: Sequence[PruneJob]) -> list[SculptedNetwork]:
        """Each job's sparsest network that meets the threshold, by the density search; the
        networks of each round, of all jobs, train in one batch. Jobs share task, shape, recipe,
        device and options (one group's starts)."""
        if not jobs:
            return []
        if len({(job.task.name, job.hidden, job.training, job.device, job.params) for job in jobs}) > 1:
            raise ValueError("prune_many() needs jobs of one task, shape, recipe, device and options")
        first = jobs[0]
        ladder = reachable_ladder(first.params["ladder"], first.sizes, self.name)
        inits = [initial_network(job.sizes, job.seed) for job in jobs]
        memos: list[dict[Any, Any]] = [{} for _ in jobs]

        def build(requests: list[tuple[int, float]]) -> list[SculptedNetwork]:
            with single_threaded():  # a network's masks depend on nothing but its own numbers
                masks = [None if density >= 1 else self.masks(jobs[j], inits[j], density, memos[j]) for j, density in requests]
            return train_masked(first.task, first.sizes, masks, [jobs[j].seed for j, _ in requests], first.training, first.device)

        return density_search(jobs, build, ladder, first.params["bisect_steps"], phase=self.name)
