"""A base class for pruners built on the batched engine and the accept/halve-step loop.

Subclass :class:`SchedulePruner` and define :meth:`SchedulePruner.phases` to get batching,
hyperparameter variants (the automatic grid) and parameter validation for free. A pruner that
does not fit this mould subclasses :class:`sculptbench.core.Pruner` directly.
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping, Sequence

from sculptbench.core import PruneJob, Pruner, SculptbenchError, SculptedNetwork
from sculptbench.pruning import EDGE_SCORES, SCHEDULES, UNIT_SCORES, Phase, SculptStats, sculpt

COMMON_DEFAULTS: dict[str, Any] = {
    "unit_step": None,
    "edge_step": None,
    "unit_schedule": "linear",
    "edge_schedule": "linear",
    "unit_score": "act_grad",
    "edge_score": "magnitude",
    "schedule_iterations": 10,
    # Smallest step of each phase in percent (None: one unit / one weight, as the reference).
    # Large networks (MNIST) need a coarser floor or the edge phase retrains hundreds of times.
    "unit_min_step": None,
    "edge_min_step": None,
    # "task": the task family's steps; "auto": the grid below, sparsest network kept;
    # None: whatever the task's ``pruning_defaults["hparams"]`` says, else "task".
    "hparams": None,
    "auto_unit_steps": (50,),
    "auto_edge_steps": (1.5,),
    # Initialisations per grid point: restart 0 is the cell's seed, restart r > 0 a seed
    # derived from it (docs/reproduction.md, "The automatic rule").
    "auto_restarts": 9,
}
#: Step sizes used when neither the user nor the task gives one (percent).
FALLBACK_STEPS = {"unit_step": 50.0, "edge_step": 1.5}


def task_defaults(job: PruneJob) -> Mapping[str, Any]:
    """The task's pruner defaults for this job's hidden shape and seed."""
    per_job = getattr(job.task, "pruning_defaults_for", None)
    return per_job(tuple(job.hidden), job.seed) if per_job is not None else job.task.pruning_defaults


def _check_step(name: str, value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SculptbenchError(f"invalid {name} {value!r}; it must be a number in (0, 100)") from None
    if not 0 < value < 100:
        raise SculptbenchError(f"invalid {name} {value}; it must be in (0, 100)")
    return value


def _check_count(name: str, value: Any) -> int:
    """``value`` as an integer >= 1 (booleans and non-integral numbers are refused)."""
    try:
        count = int(value) if not isinstance(value, bool) else 0
    except (TypeError, ValueError):
        count = 0
    if count < 1 or count != value:
        raise SculptbenchError(f"invalid {name} {value!r}; it must be an integer >= 1")
    return count


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise SculptbenchError(f"invalid {name} {value!r}; valid: {', '.join(choices)}")
    return value


class SchedulePruner(Pruner):
    """A pruner made of unit and/or edge phases run by :func:`sculptbench.pruning.sculpt`."""

    #: Which phases this pruner runs, in order: a subset of ``("unit", "edge")``.
    phase_kinds: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = COMMON_DEFAULTS
    #: Time split of the last :meth:`prune_many` call, for benchmarks.
    last_stats: SculptStats | None = None

    def validate_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Merge with the defaults and check every value's range."""
        resolved = super().validate_params(params)
        for key in ("unit_step", "edge_step", "unit_min_step", "edge_min_step"):
            if resolved[key] is not None:
                resolved[key] = _check_step(key, resolved[key])
        _check_choice("unit_schedule", resolved["unit_schedule"], SCHEDULES)
        _check_choice("edge_schedule", resolved["edge_schedule"], SCHEDULES)
        _check_choice("unit_score", resolved["unit_score"], UNIT_SCORES)
        _check_choice("edge_score", resolved["edge_score"], EDGE_SCORES)
        if resolved["hparams"] is not None:
            _check_choice("hparams", resolved["hparams"], ("task", "auto"))
        for key in ("schedule_iterations", "auto_restarts"):
            resolved[key] = _check_count(key, resolved[key])
        for key in ("auto_unit_steps", "auto_edge_steps"):
            values = resolved[key]
            if isinstance(values, (int, float)):
                values = (values,)
            if not values:
                raise SculptbenchError(f"invalid {key}: it must list at least one step in (0, 100)")
            resolved[key] = tuple(_check_step(key, v) for v in values)
        return resolved

    def resolve_steps(self, job: PruneJob) -> dict[str, float]:
        """The unit and edge steps for ``job``: the user's, else the task's, else the fallback."""
        steps = {}
        for key in ("unit_step", "edge_step"):
            value = job.params.get(key)
            if value is None:
                value = task_defaults(job).get(key, FALLBACK_STEPS[key])
            steps[key] = float(value)
        return steps

    @staticmethod
    def hparam_rule(job: PruneJob) -> str:
        """``"auto"`` or ``"task"``: the user's choice, else the task's, else ``"task"``."""
        return job.params.get("hparams") or task_defaults(job).get("hparams") or "task"

    def variants(self, job: PruneJob) -> list[dict[str, Any]]:
        """Hyperparameter variants to run for ``job`` (one unless the rule is ``auto``)."""
        # Without phases every restart ends dense, and the first would always be kept.
        if self.hparam_rule(job) == "auto" and self.phase_kinds:
            unit_steps = job.params["auto_unit_steps"] if "unit" in self.phase_kinds else (None,)
            edge_steps = job.params["auto_edge_steps"] if "edge" in self.phase_kinds else (None,)
            restarts = range(job.params["auto_restarts"])
            return [
                {"unit_step": u, "edge_step": e, "restart": r}
                for r, u, e in itertools.product(restarts, unit_steps, edge_steps)
            ]
        return [self.resolve_steps(job)]

    @staticmethod
    def _task_option(job: PruneJob, key: str) -> Any:
        """The user's value of ``key``, else the task's ``pruning_defaults``, else ``None``."""
        value = job.params.get(key)
        return value if value is not None else task_defaults(job).get(key)

    def phases(self, job: PruneJob, variant: Mapping[str, Any]) -> list[Phase]:
        """The phases of one variant."""
        p = job.params
        out = []
        for kind in self.phase_kinds:
            out.append(Phase(
                kind=kind,
                score=p["unit_score"] if kind == "unit" else p["edge_score"],
                schedule=p["unit_schedule"] if kind == "unit" else p["edge_schedule"],
                step=variant["unit_step"] if kind == "unit" else variant["edge_step"],
                iterations=p["schedule_iterations"],
                min_step=self._task_option(job, f"{kind}_min_step"),
            ))
        return out

    def prune(self, job: PruneJob) -> SculptedNetwork:
        """Sculpt one network, one variant at a time (the unbatched path, ``--no-batch``)."""
        stats = SculptStats()
        nets = []
        for variant in self.variants(job):
            results, part = sculpt([job], [(variant, self.phases(job, variant))])
            nets.append(results[0][0])
            stats.train, stats.decide, stats.trainings = stats.train + part.train, stats.decide + part.decide, stats.trainings + part.trainings
        self.last_stats = stats
        return self._choose(nets, job)

    def prune_many(self, jobs: Sequence[PruneJob]) -> list[SculptedNetwork]:
        """Sculpt jobs of one task, shape and config together; keep the sparsest variant of each."""
        if not jobs:
            return []
        key = (jobs[0].task.name, jobs[0].hidden, jobs[0].training, jobs[0].device, _freeze(jobs[0].params))
        for job in jobs:
            if (job.task.name, job.hidden, job.training, job.device, _freeze(job.params)) != key:
                raise ValueError("prune_many needs jobs that differ only in their seed")
        # Jobs whose task gives them different defaults (per-seed steps) are sculpted apart.
        batches: dict[Any, list[int]] = {}
        plans = []
        for i, job in enumerate(jobs):
            variants = [(v, self.phases(job, v)) for v in self.variants(job)]
            plans.append(variants)
            batches.setdefault(repr(variants), []).append(i)
        out: list[SculptedNetwork | None] = [None] * len(jobs)
        stats = SculptStats()
        for rows in batches.values():
            results, part = sculpt([jobs[i] for i in rows], plans[rows[0]])
            stats.train, stats.decide, stats.trainings = stats.train + part.train, stats.decide + part.decide, stats.trainings + part.trainings
            for i, nets in zip(rows, results):
                out[i] = self._choose(nets, jobs[i])
        self.last_stats = stats
        return out

    @staticmethod
    def _choose(nets: list[SculptedNetwork], job: PruneJob) -> SculptedNetwork:
        """The sparsest variant that met the threshold (the first on ties), labelled with its rule.

        The variant kept is recorded in ``info["variant"]`` (steps and restart).
        """
        ok = [n for n in nets if n.status == "ok"]
        best = min(ok, key=lambda n: n.density()) if ok else nets[0]
        best.info["hparam_rule"] = "auto-grid" if SchedulePruner.hparam_rule(job) == "auto" else "task-defaults"
        best.info["variants_tried"] = len(nets)
        return best


def _freeze(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
