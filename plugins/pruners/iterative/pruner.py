# Over 500 lines because its option checks are rewritten as declared options next (issue 27).
"""A base class for pruners built on the batched engine and the accept/halve-step loop.

Subclass :class:`SchedulePruner` and define :meth:`SchedulePruner.phases` to get batching,
hyperparameter variants (the automatic grid) and parameter validation for free. A pruner that
does not fit this mould subclasses :class:`sculptbench.core.Pruner` directly.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from typing import Any, Mapping, Sequence

from sculptbench.plugins.pruners.iterative.loop import (
    LOOP_POINTS,
    SCHEDULES,
    Phase,
    SculptStats,
    check_loop,
    sculpt,
)
from sculptbench.plugins.pruners.iterative.scores import EDGE_SCORES, UNIT_SCORES
from sculptbench.plugins.pruners.iterative.selection import (
    MODULARITY_TIE,
    module_signature,
    partition_modularity,
    sparsity_key,
)

from sculptbench.contracts.components import Pruner, Task
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.types import (
    CellSettings,
    PruneJob,
    SculptedNetwork,
    with_task_defaults,
)

COMMON_DEFAULTS: dict[str, Any] = {
    "unit_step": None,
    "edge_step": None,
    "unit_schedule": "linear",
    "edge_schedule": "linear",
    "unit_score": "act_grad",
    # None: the task's ``pruning_defaults["edge_score"]`` (the MNIST profiles: "lamp"), else
    # FALLBACKS.
    "edge_score": None,
    "schedule_iterations": 10,
    # Smallest step of each phase in percent (None: one unit / one weight, as the reference).
    # Large networks (MNIST) need a coarser floor or the edge phase retrains hundreds of times.
    "unit_min_step": None,
    "edge_min_step": None,
    # "task": the task family's steps; "auto": the grid below, AUTO_SELECT's network kept;
    # "paper": the paper's published settings per network (sculptbench.paper); "authors": the
    # authors' 70-variant grid (AUTHORS_UNIT_STEPS x AUTHORS_EDGE_STEPS), sparsest kept, each
    # network trained and detected with its published lr, batch, epochs and detector steps where
    # the paper ran it, else with the task's (no error);
    # None: whatever the task's ``pruning_defaults["hparams"]`` says, else "task".
    "hparams": None,
    # The ``auto`` grid; None: the task's pruning default, else FALLBACKS.
    "auto_unit_steps": None,
    "auto_edge_steps": None,
    # Initialisations per grid point: restart 0 is the cell's seed, restart r > 0 a seed
    # derived from it (docs/reproduction.md, "The automatic rule").
    "auto_restarts": None,
}
#: Options added after results were recorded. They are accepted like the defaults above but
#: appear in the resolved parameters only when set to something else, so the cell and cache keys
#: of runs that do not use them are unchanged.
OPTIONAL_DEFAULTS: dict[str, Any] = {
    # Which variant to keep: "sparsest" (label-free); "consensus" (label-free: the module
    # structure select_detector finds most often among the variants, its sparsest variant);
    # "modularity" (label-free: the variant whose select_detector partition has the highest
    # Newman modularity on the graph of its surviving edges, the sparsest on ties);
    # "sparsest_modularity" (label-free: among the sparsest variants, the most modular);
    # "oracle" (one the scorer calls a success, if any: uses the ground truth, an upper bound).
    # Rows of every rule but "sparsest" are labelled, e.g. iterative[oracle]. None: the task's,
    # else AUTO_SELECT under hparams=auto, else "sparsest" (the authors' rule).
    "select": None,
    "select_detector": "sculpting",
    "oracle_scorer": "structure",
    "oracle_metric": "success",
    # "ours", "reference" (every point of pruning.LOOP_POINTS) or a list of those points.
    # Not given (by user or task): "reference" under hparams=authors, and under hparams=auto for a
    # pruner whose auto_loop says so (iterative: measured better, docs/paper-differences.md).
    "loop": "ours",
}
HPARAM_RULES = {"task": "task-defaults", "auto": "auto-grid", "paper": "paper-published", "authors": "authors-grid"}
SELECT_RULES = ("sparsest", "consensus", "modularity", "sparsest_modularity", "oracle")
#: The rule that keeps a variant of the ``auto`` grid when neither the user nor the task names one:
#: the best label-free rule measured (docs/paper-differences.md, "Which rule is the default").
#: It is written into the resolved parameters, so the cells it chose have keys of their own.
AUTO_SELECT = "sparsest_modularity"
#: The authors' selection grid, in their notebook's loop order (P_e outer, P_u inner):
#: visualizations/Notebooks/reused_structure.ipynb of the reference code.
AUTHORS_EDGE_STEPS = (2.5, 2.0, 1.5, 1.0, 0.5)
AUTHORS_UNIT_STEPS = tuple(float(u) for u in range(70, 0, -5))
#: Step sizes used when neither the user nor the task gives one (percent).
FALLBACK_STEPS = {"unit_step": 50.0, "edge_step": 1.5}
#: Options a task may set (``pruning_defaults``), with the values used when neither the user nor
#: the task gives one: the global magnitude score, the ``auto`` grid, the sparsest variant, our loop.
FALLBACKS: dict[str, Any] = {"edge_score": "magnitude", "auto_unit_steps": (50.0,), "auto_edge_steps": (1.5,),
                             "auto_restarts": 9, "select": "sparsest", "loop": "ours"}


def resolved(job: PruneJob, auto_select: bool = False, auto_loop: str = "ours") -> PruneJob:
    """``job`` with the task's defaults in its parameters (:func:`sculptbench.core.with_task_defaults`),
    and with ``auto_select`` the default rule and loop of a pruner that has phases (:data:`AUTO_SELECT`,
    ``auto_loop``): already so for a planned job; a job built by hand gets them here."""
    params = with_task_defaults(job.task, job.hidden, job.seed, job.params, FALLBACKS)
    if auto_select:
        params = _with_auto_select(params, auto_loop)
    return job if params == job.params else dataclasses.replace(job, params=params)


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
    """A pruner made of unit and/or edge phases run by :func:`sculptbench.plugins.pruners.iterative.loop.sculpt`."""

    #: Which phases this pruner runs, in order: a subset of ``("unit", "edge")``.
    phase_kinds: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = COMMON_DEFAULTS
    #: Options accepted besides :attr:`defaults`, left out of the resolved parameters at their default.
    optional_defaults: Mapping[str, Any] = OPTIONAL_DEFAULTS
    fallbacks: Mapping[str, Any] = FALLBACKS
    #: The loop under ``hparams=auto`` when ``loop`` is not given (``"ours"`` or ``"reference"``).
    auto_loop: str = "ours"
    #: Time split of the last :meth:`prune_many` call, for benchmarks.
    last_stats: SculptStats | None = None
    #: ``validate_params({})``, resolved on first use by :meth:`refuse_unused`.
    _defaults: dict[str, Any] | None = None

    def validate_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Merge with the defaults and check every value's range (optional options: see :data:`OPTIONAL_DEFAULTS`)."""
        unknown = set(params) - set(self.defaults) - set(OPTIONAL_DEFAULTS)
        if unknown:
            raise SculptbenchError(
                f"unknown option {sorted(unknown)[0]!r} for pruner {self.name!r}; valid: {', '.join(sorted({*self.defaults, *OPTIONAL_DEFAULTS}))}"
            )
        optional = {**OPTIONAL_DEFAULTS, **{k: v for k, v in params.items() if k in OPTIONAL_DEFAULTS}}
        resolved = {**super().validate_params({k: v for k, v in params.items() if k not in OPTIONAL_DEFAULTS}), **optional}
        for key in ("unit_step", "edge_step", "unit_min_step", "edge_min_step"):
            if resolved[key] is not None:
                resolved[key] = _check_step(key, resolved[key])
        _check_choice("unit_schedule", resolved["unit_schedule"], SCHEDULES)
        _check_choice("edge_schedule", resolved["edge_schedule"], SCHEDULES)
        _check_choice("unit_score", resolved["unit_score"], UNIT_SCORES)
        if resolved["edge_score"] is not None:
            _check_choice("edge_score", resolved["edge_score"], EDGE_SCORES)
        if resolved["hparams"] is not None:
            _check_choice("hparams", resolved["hparams"], tuple(HPARAM_RULES))
        if resolved["select"] is not None:
            _check_choice("select", resolved["select"], SELECT_RULES)
        if self.phase_kinds:
            resolved = _with_auto_select(resolved, self.auto_loop, loop_given="loop" in params)
        if "loop" not in params and resolved["hparams"] == "authors":
            resolved["loop"] = "reference"
        resolved["loop"] = _check_loop(resolved["loop"])
        if resolved["select"] == "oracle":
            _check_oracle(resolved)
        for key in ("schedule_iterations", "auto_restarts"):
            if resolved[key] is not None or key == "schedule_iterations":
                resolved[key] = _check_count(key, resolved[key])
        for key in ("auto_unit_steps", "auto_edge_steps"):
            values = resolved[key]
            if values is None:
                continue
            if isinstance(values, (int, float)):
                values = (values,)
            if not values:
                raise SculptbenchError(f"invalid {key}: it must list at least one step in (0, 100)")
            resolved[key] = tuple(_check_step(key, v) for v in values)
        if resolved["select"] == "consensus":
            _registry().get("detector", resolved["select_detector"] or "")
        used = {"select_detector": resolved["select"] not in (None, "sparsest"), "oracle_scorer": resolved["select"] == "oracle",
                "oracle_metric": resolved["select"] == "oracle"}
        for key in OPTIONAL_DEFAULTS:
            # The selection's options count only where the rule uses them (and then always).
            if key in used and used[key]:
                continue
            if key in used or (key != "loop" and resolved[key] == OPTIONAL_DEFAULTS[key]):
                del resolved[key]
        # The loop is recorded unless it is "ours" and not asked for (validating the recorded
        # parameters again gives them back; an explicit loop=ours outlives hparams=auto's).
        if resolved["loop"] == "ours" and resolved["hparams"] != "authors" and "loop" not in params:
            del resolved["loop"]
        return resolved

    def label(self, params: dict[str, Any]) -> str:
        """The pruner's name, with the rule that picks the variant unless it is ``sparsest`` (e.g.
        ``iterative[oracle]``: it uses the ground truth)."""
        select = _select(params)
        return self.name if select == "sparsest" else f"{self.name}[{select}]"

    def cell_settings(self, task: Task, hidden: tuple[int, ...], seeds: Sequence[int], params: dict[str, Any]) -> CellSettings | None:
        """The published lr, batch size, epochs and detector steps of ``task`` at ``hidden`` for
        ``seeds`` (the planner asks once per seed): under ``hparams=paper`` (a clear error outside
        the published grid), and under ``hparams=authors`` where the network is in the grid
        (outside it, ``None``: the task's recipe). Other rules: ``None``.

        An option that would have no effect on ``task`` is refused here (:meth:`refuse_unused`).
        Seeds whose published settings differ are refused: ask per seed.
        """
        params = with_task_defaults(task, hidden, seeds[0], params, self.fallbacks)
        self.refuse_unused(task, hidden, seeds[0], params)
        rows = [_published(task, hidden, seed, params) for seed in seeds]
        settings = [CellSettings(training=row.training(), detector_hints=row.detector_hints()) if row else None for row in rows]
        if any(s != settings[0] for s in settings):
            raise ValueError("the seeds' published settings differ: call cell_settings once per seed")
        return settings[0]

    def refuse_unused(self, task: Task, hidden: tuple[int, ...], seed: int, params: Mapping[str, Any]) -> None:
        """Refuse an option set away from its default (the pruner's, then the task's for ``hidden``
        and ``seed``) that would have no effect on ``task``.

        Under ``hparams`` ``auto``, ``authors`` or ``paper`` the rule sets the steps, so
        ``unit_step``/``edge_step`` are unused; the ``auto_*`` options act only under ``auto``; a
        phase this pruner does not run takes none of its options.
        """
        rule = _rule(params)
        source = f"hparams={rule}" + (f" (task {task.name}'s default rule)" if task.pruning_defaults.get("hparams") == rule else "")
        if self._defaults is None:  # asked once per seed of a run: resolve the defaults once
            self._defaults = self.validate_params({})
        baseline = with_task_defaults(task, hidden, seed, self._defaults, self.fallbacks)
        unused: dict[str, str] = {}
        if self.phase_kinds and rule in ("auto", "authors", "paper"):
            steps = {"auto": "auto_unit_steps and auto_edge_steps", "authors": "the authors' 70-variant grid",
                     "paper": "the paper's published table"}[rule]
            instead = f"set {self.name}.auto_{{kind}}_steps=[{{value}}] instead, or " if rule == "auto" else ""
            for kind in ("unit", "edge"):
                unused[f"{kind}_step"] = (f"under {source} the steps come from {steps}: {instead.format(kind=kind, value='{value}')}"
                                          f"add {self.name}.hparams=task to prune with {kind}_step={{value}}")
        if rule != "auto":
            for key in ("auto_unit_steps", "auto_edge_steps", "auto_restarts"):
                unused[key] = f"it acts only under hparams=auto, and task {task.name} is pruned under hparams={rule}: add {self.name}.hparams=auto"
        for kind in ("unit", "edge"):
            if kind not in self.phase_kinds:
                for key in (f"{kind}_step", f"{kind}_schedule", f"{kind}_score", f"{kind}_min_step", f"auto_{kind}_steps"):
                    unused[key] = f"pruner {self.name!r} has no {kind} phase"
        if not self.phase_kinds:
            unused["schedule_iterations"] = f"pruner {self.name!r} has no phases"
        for key, why in unused.items():
            if key in params and key in baseline and params[key] != baseline[key]:
                value = _shown(params[key])
                raise SculptbenchError(f"option {self.name}.{key}={value} would have no effect: {why.replace('{value}', value)}")

    def resolve_steps(self, job: PruneJob) -> dict[str, float]:
        """The unit and edge steps for ``job``: the user's, else the task's, else the fallback."""
        params = resolved(job).params
        return {key: float(FALLBACK_STEPS[key] if params.get(key) is None else params[key]) for key in ("unit_step", "edge_step")}

    @staticmethod
    def hparam_rule(job: PruneJob) -> str:
        """A key of :data:`HPARAM_RULES`: the user's choice, else the task's, else ``"task"``."""
        return _rule(resolved(job).params)

    def variants(self, job: PruneJob) -> list[dict[str, Any]]:
        """Hyperparameter variants to run for ``job`` (one unless the rule is ``auto`` or ``authors``)."""
        job = resolved(job)
        rule = self.hparam_rule(job)
        if rule == "paper":
            from sculptbench import paper

            row = paper.lookup(job.task, job.hidden, job.seed)
            return [{"unit_step": row.unit_step, "edge_step": row.edge_step}]
        if rule == "authors" and self.phase_kinds:
            unit_steps = AUTHORS_UNIT_STEPS if "unit" in self.phase_kinds else (None,)
            edge_steps = AUTHORS_EDGE_STEPS if "edge" in self.phase_kinds else (None,)
            return [{"unit_step": u, "edge_step": e} for e in edge_steps for u in unit_steps]
        # Without phases every restart ends dense, and the first would always be kept.
        if rule == "auto" and self.phase_kinds:
            unit_steps = job.params["auto_unit_steps"] if "unit" in self.phase_kinds else (None,)
            edge_steps = job.params["auto_edge_steps"] if "edge" in self.phase_kinds else (None,)
            restarts = range(job.params["auto_restarts"])
            return [
                {"unit_step": u, "edge_step": e, "restart": r}
                for r, u, e in itertools.product(restarts, unit_steps, edge_steps)
            ]
        return [self.resolve_steps(job)]

    def phases(self, job: PruneJob, variant: Mapping[str, Any]) -> list[Phase]:
        """The phases of one variant."""
        p = resolved(job).params
        out = []
        for kind in self.phase_kinds:
            out.append(Phase(
                kind=kind,
                score=p["unit_score"] if kind == "unit" else p["edge_score"],
                schedule=p["unit_schedule"] if kind == "unit" else p["edge_schedule"],
                step=variant["unit_step"] if kind == "unit" else variant["edge_step"],
                iterations=p["schedule_iterations"],
                min_step=p.get(f"{kind}_min_step"),
            ))
        return out

    def prune(self, job: PruneJob) -> SculptedNetwork:
        """Sculpt one network, one variant at a time (the unbatched path, ``--no-batch``)."""
        job = resolved(job, auto_select=bool(self.phase_kinds), auto_loop=self.auto_loop)
        stats = SculptStats()
        nets = []
        for variant in self.variants(job):
            results, part = sculpt([job], [(variant, self.phases(job, variant))], loop=_loop_points(job.params))
            nets.append(results[0][0])
            stats.train, stats.decide, stats.trainings = stats.train + part.train, stats.decide + part.decide, stats.trainings + part.trainings
        self.last_stats = stats
        return self._choose(nets, job)

    def prune_many(self, jobs: Sequence[PruneJob]) -> list[SculptedNetwork]:
        """Sculpt jobs of one task, shape and config together; keep the sparsest variant of each."""
        if not jobs:
            return []
        jobs = [resolved(job, auto_select=bool(self.phase_kinds), auto_loop=self.auto_loop) for job in jobs]
        # A task's per-network defaults (e.g. the MNIST reference table) may give each seed its steps.
        key = (jobs[0].task.name, jobs[0].hidden, jobs[0].training, jobs[0].device, _freeze(_without_steps(jobs[0].params)))
        for job in jobs:
            if (job.task.name, job.hidden, job.training, job.device, _freeze(_without_steps(job.params))) != key:
                raise ValueError("prune_many needs jobs that differ only in their seed (and their steps)")
        per_job = [[(v, self.phases(job, v)) for v in self.variants(job)] for job in jobs]
        loop = _loop_points(jobs[0].params)
        if all(p == per_job[0] for p in per_job):
            results, stats = sculpt(jobs, per_job[0], loop=loop)
        else:
            results, stats = sculpt(jobs, None, loop=loop, job_variants=per_job)
        self.last_stats = stats
        return [self._choose(nets, job) for nets, job in zip(results, jobs)]

    def _choose(self, nets: list[SculptedNetwork], job: PruneJob) -> SculptedNetwork:
        """The variant to keep, labelled with its rule.

        ``select=sparsest``: the sparsest variant that met the threshold (the first on ties; under
        ``hparams=authors`` sparsity is compared as the reference's percentage rounded to three
        decimals). ``select=consensus``: among the variants whose detected module structure
        (:func:`module_signature`) is the most frequent, the sparsest (label-free).
        ``select=modularity``: the variant whose detected modules have the highest modularity
        (:func:`partition_modularity`), the sparsest on ties; ``select=sparsest_modularity``:
        among the sparsest variants, the most modular (both label-free).
        ``select=oracle``: among the variants the oracle's scorer calls a success, the sparsest;
        if none, the sparsest. The variant kept is recorded in ``info["variant"]``.
        """
        rule = self.hparam_rule(job)
        select = _select(job.params)
        ok = [n for n in nets if n.status == "ok"]
        candidates = ok
        oracle_hits = None
        if select == "oracle" and ok:
            oracle_hits = [n for n in ok if _oracle_success(n, job)]
            candidates = oracle_hits or ok
        if select == "consensus" and ok:
            signatures = [module_signature(_select_detection(n, job), len(job.hidden) + 1) for n in ok]
            common, count = collections.Counter(signatures).most_common(1)[0]
            candidates = [n for n, sig in zip(ok, signatures) if sig == common]
        if select == "sparsest_modularity" and ok:
            # The sparsest variants first (as the rule compares sparsity), then the most modular.
            least = min(sparsity_key(n, rule) for n in ok)
            candidates = [n for n in ok if sparsity_key(n, rule) == least]
        if select in ("modularity", "sparsest_modularity") and ok:
            scores = [partition_modularity(n, _select_detection(n, job)) for n in candidates]
            top = max(scores)
            candidates = [n for n, q in zip(candidates, scores) if q >= top - MODULARITY_TIE]
        best = min(candidates, key=lambda n: sparsity_key(n, rule)) if candidates else nets[0]
        best.info["hparam_rule"] = HPARAM_RULES[rule]
        best.info["variants_tried"] = len(nets)
        if select == "consensus" and ok:
            best.info["selection"] = "consensus"
            best.info["consensus_share"] = count / len(ok)
        if select in ("modularity", "sparsest_modularity") and ok:
            best.info["selection"] = select
            best.info["modularity"] = round(top, 6)
        if select == "oracle":
            best.info["selection"] = "oracle"
            best.info["oracle_successes"] = len(oracle_hits or [])
        return best


def _shown(value: Any) -> str:
    """An option's value as the user writes it (``30``, ``[30, 50]``)."""
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _rule(params: Mapping[str, Any]) -> str:
    """The hparams rule of resolved ``params`` (``"task"`` when neither the user nor the task chose one)."""
    return params.get("hparams") or "task"


def _published(task: Task, hidden: tuple[int, ...], seed: int, params: Mapping[str, Any]) -> Any:
    """The paper's published setting (:class:`sculptbench.paper.PaperSetting`) that trains and
    detects this network: under ``hparams=paper`` (an error outside the grid), under
    ``hparams=authors`` if the network is in the grid; otherwise ``None`` (the task's settings)."""
    rule = _rule(params)
    if rule not in ("paper", "authors"):
        return None
    from sculptbench import paper

    return paper.lookup(task, hidden, seed) if rule == "paper" else paper.find(task, hidden, seed)


def _check_loop(value: Any) -> Any:
    """``"ours"``, ``"reference"`` or a list of :data:`LOOP_POINTS` (kept as a sorted tuple)."""
    if value in ("ours", "reference"):
        return value
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise SculptbenchError(f"invalid loop {value!r}; valid: ours, reference, or a list of {', '.join(LOOP_POINTS)}")
    try:
        points = check_loop(value)
    except SculptbenchError as exc:
        raise SculptbenchError(f"invalid loop: {exc}; or use loop=ours or loop=reference") from None
    return "reference" if points == frozenset(LOOP_POINTS) else tuple(sorted(points))


def _loop_points(params: Mapping[str, Any]) -> tuple[str, ...]:
    loop = params.get("loop", "ours")
    if loop == "ours":
        return ()
    if loop == "reference":
        return LOOP_POINTS
    return tuple(loop)


_REGISTRY: Any = None


def _registry() -> Any:
    """The process's registry of installed components, loaded once (the oracle's detector and scorer)."""
    global _REGISTRY
    if _REGISTRY is None:
        from sculptbench.plugin.registry import load_registry

        _REGISTRY = load_registry()
    return _REGISTRY


def _check_oracle(params: Mapping[str, Any]) -> None:
    """The oracle needs a registered detector and scorer, and a metric that scorer reports."""
    scorer_name, detector_name = params.get("oracle_scorer"), params.get("select_detector")
    if not scorer_name:
        raise SculptbenchError("select=oracle needs a scorer to judge the variants: set oracle_scorer (e.g. oracle_scorer=structure)")
    if not detector_name:
        raise SculptbenchError("select=oracle needs a detector: set select_detector (e.g. select_detector=sculpting)")
    registry = _registry()
    scorer = registry.get("scorer", scorer_name)
    registry.get("detector", detector_name)
    if params.get("oracle_metric") not in scorer.metrics:
        raise SculptbenchError(f"invalid oracle_metric {params.get('oracle_metric')!r}; scorer {scorer_name!r} reports: {', '.join(scorer.metrics)}")


def _select_detection(net: SculptedNetwork, job: PruneJob) -> Any:
    """``net``'s modules by the selection's detector (the registry's public component)."""
    from sculptbench.run.planning import detector_params

    detector = _registry().get("detector", job.params.get("select_detector") or OPTIONAL_DEFAULTS["select_detector"])
    row = _published(job.task, job.hidden, job.seed, job.params)
    hints = row.detector_hints() if row is not None else None
    return detector.detect(net, job.task, detector_params(detector, job.task, {}, hints), job.seed)


def _oracle_success(net: SculptedNetwork, job: PruneJob) -> bool:
    """Whether the oracle's scorer calls ``net``'s detection a success (the registry's public components)."""
    scorer = _registry().get("scorer", job.params.get("oracle_scorer") or OPTIONAL_DEFAULTS["oracle_scorer"])
    detection = _select_detection(net, job)
    value = scorer.score(detection, net, job.task).metrics.get(job.params.get("oracle_metric") or OPTIONAL_DEFAULTS["oracle_metric"])
    return bool(value) and value == value  # NaN is no success


def _with_auto_select(params: dict[str, Any], auto_loop: str = "ours", loop_given: bool | None = None) -> dict[str, Any]:
    """``params`` with :data:`AUTO_SELECT` as the rule under ``hparams=auto`` where none is named,
    and ``auto_loop`` as the loop where none is given (the pruner's :attr:`SchedulePruner.auto_loop`;
    ``loop_given``: whether the user or task gave one, by default whether ``params`` holds one)."""
    if params.get("hparams") != "auto":
        return params
    if not params.get("select"):
        params = {**params, "select": AUTO_SELECT}
    if not ("loop" in params if loop_given is None else loop_given) and auto_loop != "ours":
        params = {**params, "loop": auto_loop}
    return params


def _select(params: Mapping[str, Any]) -> str:
    """The selection rule of ``params``: the user's or the task's, else the fallback (an optional
    option, so it may be absent where the other task-settable ones are filled by :func:`resolved`)."""
    return params.get("select") or FALLBACKS["select"]


def _without_steps(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in ("unit_step", "edge_step", "unit_min_step", "edge_min_step")}


def _freeze(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
