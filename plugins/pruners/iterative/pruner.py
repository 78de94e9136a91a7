"""A base class for pruners built on the batched engine and the accept/halve-step loop.

Subclass :class:`SchedulePruner`, set :attr:`~SchedulePruner.phase_kinds` and declare the options
with :func:`schedule_options`: batching, hyperparameter variants (the ``auto`` and ``authors``
grids) and the paper's published settings come with it. The protocol (restarts, the ``select``
rule) is the framework's; this pruner hands it each start's variants as candidates.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sculptbench.api import (
    CellSettings,
    Default,
    Option,
    Options,
    PruneJob,
    Pruner,
    SculptedNetwork,
    Task,
    When,
    find_paper_cell,
    paper_setting,
)
from sculptbench.plugins.pruners.iterative.loop import LOOP_POINTS, SCHEDULES, Phase, SculptStats, sculpt
from sculptbench.plugins.pruners.iterative.scores import EDGE_SCORES, UNIT_SCORES
from sculptbench.plugins.pruners.iterative.selection import sparsity_key

#: The ``hparams`` rules: the task family's steps, the automatic grid, the paper's published
#: settings per network, the authors' 70-variant grid. Recorded in ``pruner_info`` by these names.
HPARAM_RULES = {"task": "task-defaults", "auto": "auto-grid", "paper": "paper-published", "authors": "authors-grid"}
#: The authors' selection grid, in their notebook's loop order (P_e outer, P_u inner):
#: visualizations/Notebooks/reused_structure.ipynb of the reference code.
AUTHORS_EDGE_STEPS = (2.5, 2.0, 1.5, 1.0, 0.5)
AUTHORS_UNIT_STEPS = tuple(float(u) for u in range(70, 0, -5))
#: What ``hparams=auto`` implies for the protocol unless the task sets it: nine initialisations and
#: the most modular of the sparsest (the best label-free rule measured, docs/paper-differences.md).
AUTO_PROTOCOL = {"restarts": 9, "select": "sparsest_modularity"}
#: The paper's procedures (``paper``, ``authors``) start once, keep the sparsest and never adapt the
#: recipe (a seed whose dense network misses the threshold stays untrainable), whatever the task says.
PAPER_PROTOCOL = {"restarts": 1, "select": "sparsest", "adapt": 0}
_SCHEDULES_WITH_ITERATIONS = ("cosine", "cubic")


def _loop_value(value: Any) -> Any:
    """``"ours"``, ``"reference"`` or a list of :data:`LOOP_POINTS` (kept as a sorted tuple; all of
    them is ``"reference"``)."""
    if value in ("ours", "reference"):
        return value
    points = [value] if isinstance(value, str) else value
    if not isinstance(points, (list, tuple)) or not points:
        raise ValueError("give ours, reference or a list of loop points")
    unknown = [p for p in points if p not in LOOP_POINTS]
    if unknown:
        raise ValueError(f"unknown loop point {unknown[0]!r}")
    chosen = tuple(sorted(set(points)))
    return "reference" if set(chosen) == set(LOOP_POINTS) else chosen


def schedule_options(phase_kinds: Sequence[str], rules: bool = True, auto_loop: str = "ours", edge_schedule: str = "linear",
                     edge_step: float = 1.5, edge_score: bool = True) -> tuple[Option, ...]:
    """The options of a :class:`SchedulePruner` with ``phase_kinds``.

    ``rules``: the pruner takes the ``hparams`` rules (its steps then default to the task
    family's); ``auto_loop``: its loop under ``hparams=auto``; ``edge_schedule``, ``edge_step``:
    its edge phase's defaults; ``edge_score``: whether the edge score is an option.
    """
    family_steps = When("hparams", "task") if rules else None
    instead = ("under that rule the steps come from auto_unit_steps and auto_edge_steps (hparams=auto), the authors' grid "
               "(authors) or the published table (paper): add {component}.hparams=task to prune with {kind}_step={value}")
    options: list[Option] = []
    if rules:
        options.append(Option("hparams", str, "task", choices=tuple(HPARAM_RULES), task=True,
                              help="Where the steps come from: task (the family's unit_step and edge_step), auto (the grid "
                                   "auto_unit_steps x auto_edge_steps), paper (the published settings of each network), authors "
                                   "(the authors' 70-variant grid, every seed with its cell's published recipe)."))
    for kind in phase_kinds:
        step_default = 50.0 if kind == "unit" else edge_step
        what = "units" if kind == "unit" else "weights"
        options.append(Option(f"{kind}_step", float, step_default, low=0, high=100, low_open=True, high_open=True, task=rules,
                              applies=family_steps, instead=instead.replace("{kind}", kind),
                              help=f"Step of the {kind} phase: percent of the {what} pruned per iteration (its schedule's step)."))
    for kind in phase_kinds:
        options.append(Option(f"{kind}_schedule", str, edge_schedule if kind == "edge" else "linear", choices=SCHEDULES,
                              help=f"How the {kind} phase's targets grow (docs/pruners.md)."))
    if "unit" in phase_kinds:
        options.append(Option("unit_score", str, "act_grad", choices=UNIT_SCORES, help="How units are ranked for pruning."))
    if "edge" in phase_kinds and edge_score:
        options.append(Option("edge_score", str, "magnitude", choices=EDGE_SCORES, task=True,
                              help="How weights are ranked: magnitude (|w|, global), lamp (layer-adaptive magnitude), random."))
    if phase_kinds:
        uses = [When(f"{kind}_schedule", *_SCHEDULES_WITH_ITERATIONS) for kind in phase_kinds]
        condition = uses[0] if len(uses) == 1 else uses[0] | uses[1]
        options.append(Option("schedule_iterations", int, 10, low=1, applies=condition,
                              help="Iterations over which the cosine and cubic schedules reach 100%."))
    for kind in phase_kinds:
        options.append(Option(f"{kind}_min_step", float, None, low=0, high=100, low_open=True, high_open=True, nullable=True, task=True,
                              help=f"Smallest step of the {kind} phase in percent (null: one {kind[:4] if kind == 'edge' else 'unit'}, "
                                   "as the reference)."))
    if rules:
        for kind in phase_kinds:
            options.append(Option(f"auto_{kind}_steps", float, (50.0,) if kind == "unit" else (1.5,), many=True, low=0, high=100,
                                  low_open=True, high_open=True, task=True, applies=When("hparams", "auto"),
                                  instead="add {component}.hparams=auto",
                                  help=f"The {kind} steps of the automatic grid (hparams=auto)."))
    if phase_kinds:
        loop_default: Any = Default("hparams", {"auto": auto_loop, "authors": "reference"}, "ours") if rules else "ours"
        options.append(Option("loop", str, loop_default, task=True, parse=_loop_value,
                              type_text=f"ours, reference, or a list of {', '.join(LOOP_POINTS)}",
                              help="Whose pruning loop: ours, the reference code's (docs/paper-differences.md), or some of its points."))
    return tuple(options)


class SchedulePruner(Pruner):
    """A pruner made of unit and/or edge phases run by :func:`sculptbench.plugins.pruners.iterative.loop.sculpt`."""

    #: Which phases this pruner runs, in order: a subset of ``("unit", "edge")``.
    phase_kinds: tuple[str, ...] = ()
    #: Time split of the last :meth:`candidates` call, for benchmarks.
    last_stats: SculptStats | None = None

    def rule(self, options: Mapping[str, Any]) -> str:
        """The ``hparams`` rule of ``options`` (``task`` for a pruner without rules)."""
        return options.get("hparams", "task")

    def protocol_defaults(self, options: Mapping[str, Any]) -> Mapping[str, Any]:
        """Under ``hparams=auto``: nine starts and the most modular of the sparsest, unless the task says otherwise."""
        return AUTO_PROTOCOL if self.rule(options) == "auto" and self.phase_kinds else {}

    def protocol_fixed(self, options: Mapping[str, Any]) -> Mapping[str, Any]:
        """Under ``hparams=paper`` and ``authors``: one start, the sparsest and no adaptation, as the paper did."""
        return PAPER_PROTOCOL if self.rule(options) in ("paper", "authors") else {}

    def candidates_per_start(self, options: Mapping[str, Any]) -> int:
        """One per variant of the rule's grid (:meth:`variants`)."""
        return len(self.variants(options, None))

    def sparsity(self, network: SculptedNetwork, options: Mapping[str, Any]) -> float:
        """Under the authors' rule, minus the reference's pruned percentage rounded to three decimals
        (the notebook's ``np.argmax`` over it keeps the first of equals); else the density."""
        return sparsity_key(network, self.rule(options))

    def cell_settings(self, task: Task, hidden: tuple[int, ...], seed: int, options: Options) -> CellSettings | None:
        """The published lr, batch size, epochs and detector steps: under ``hparams=paper`` the
        network's own (an error outside the published grid); under ``hparams=authors`` its cell's,
        for every seed (the task's recipe where the paper published none). Other rules: ``None``."""
        rule = self.rule(options)
        if rule == "paper":
            row = paper_setting(task, hidden, seed)
        elif rule == "authors":
            row = find_paper_cell(task, hidden)
        else:
            return None
        return CellSettings(training=row.training(), detector_hints=row.detector_hints()) if row is not None else None

    def variants(self, options: Mapping[str, Any], job: PruneJob | None) -> list[dict[str, Any]]:
        """The hyperparameter variants of one start, in order (one unless the rule has a grid);
        under ``hparams=paper`` the job's published steps (``job=None``: just count them)."""
        rule = self.rule(options)
        kinds = self.phase_kinds
        if rule == "paper" and job is not None:
            row = paper_setting(job.task, job.hidden, job.cell_seed)
            return [{"unit_step": row.unit_step, "edge_step": row.edge_step}]
        if rule in ("authors", "auto") and kinds:
            grids = {"unit": AUTHORS_UNIT_STEPS, "edge": AUTHORS_EDGE_STEPS} if rule == "authors" else \
                {kind: options[f"auto_{kind}_steps"] for kind in kinds}
            unit_steps = grids["unit"] if "unit" in kinds else (None,)
            edge_steps = grids["edge"] if "edge" in kinds else (None,)
            if rule == "authors":  # the notebook's order: P_e outer, P_u inner
                pairs = [(u, e) for e in edge_steps for u in unit_steps]
            else:
                pairs = [(u, e) for u in unit_steps for e in edge_steps]
            return [{f"{kind}_step": step for kind, step in (("unit", u), ("edge", e)) if kind in kinds} for u, e in pairs]
        if rule == "paper" or not kinds:
            return [{}]
        return [{f"{kind}_step": options[f"{kind}_step"] for kind in kinds}]

    def phases(self, options: Mapping[str, Any], variant: Mapping[str, Any]) -> list[Phase]:
        """The phases of one variant."""
        return [
            Phase(kind=kind, score=options["unit_score"] if kind == "unit" else options.get("edge_score", self.edge_score),
                  schedule=options[f"{kind}_schedule"], step=variant[f"{kind}_step"],
                  iterations=options.get("schedule_iterations", 10), min_step=options.get(f"{kind}_min_step"))
            for kind in self.phase_kinds
        ]

    #: The edge score of a pruner that does not take ``edge_score`` as an option.
    edge_score: str = "magnitude"

    def candidates(self, jobs: Sequence[PruneJob]) -> list[list[SculptedNetwork]]:
        """Sculpt every variant of every job together; each job's networks in variant order."""
        if not jobs:
            return []
        first = jobs[0]
        for job in jobs:
            if (job.task.name, job.hidden, job.training, job.device, job.params) != (first.task.name, first.hidden, first.training, first.device, first.params):
                raise ValueError("candidates() needs jobs of one task, shape, recipe, device and options")
        per_job = [[(v, self.phases(job.params, v)) for v in self.variants(job.params, job)] for job in jobs]
        loop = _loop_points(first.params)
        if all(p == per_job[0] for p in per_job):
            results, stats = sculpt(jobs, per_job[0], loop=loop)
        else:
            results, stats = sculpt(jobs, None, loop=loop, job_variants=per_job)
        self.last_stats = stats
        rule = HPARAM_RULES[self.rule(first.params)]
        for nets in results:
            for net in nets:
                net.info["hparam_rule"] = rule
        return results

    def prune_many(self, jobs: Sequence[PruneJob]) -> list[SculptedNetwork]:
        """Each job's sparsest variant that met the threshold (the first on ties; if none did, the first)."""
        return [min([n for n in nets if n.status == "ok"] or nets[:1], key=lambda n: self.sparsity(n, job.params))
                for nets, job in zip(self.candidates(jobs), jobs)]

    def prune(self, job: PruneJob) -> SculptedNetwork:
        """One job: :meth:`prune_many` of it alone."""
        return self.prune_many([job])[0]


def _loop_points(options: Mapping[str, Any]) -> tuple[str, ...]:
    loop = options.get("loop", "ours")
    if loop == "ours":
        return ()
    if loop == "reference":
        return LOOP_POINTS
    return tuple(loop)

