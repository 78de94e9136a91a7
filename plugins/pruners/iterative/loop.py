"""Pruning decisions: schedules, the accept/halve-step loop, scores and masks.

These pieces decide *what* to prune; the engine (:func:`sculptbench.api.train_batch`) trains. :func:`sculpt` drives
both for a batch of members (seeds and hyperparameter variants of one task and shape), as the
built-in pruners do. Every decision is taken per member, so a member's result does not depend
on which other members share its batch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from sculptbench.api import (
    Layout,
    PruneJob,
    SculptbenchError,
    SculptedNetwork,
    TrainResult,
    evaluate_batch,
    init_params,
    single_threaded,
    to_network,
    train_batch,
)
from sculptbench.plugins.pruners.iterative.scores import edge_scores, unit_scores

SCHEDULES = ("linear", "exponential", "cosine", "cubic", "lth")
#: The reference code's loop semantics where ours differ (``loop`` option, docs/paper-differences.md):
#: keep_pruning: prune on when the dense network misses the threshold (we stop: untrainable);
#: keep_retrain: always keep the retraining between the unit and edge phases (we keep it only
#: if it still meets the threshold); percentile: prune by a percentile cut over all items,
#: pruned ones included, keeping items strictly above it (we prune an exact count of the lowest
#: alive items); mask_bias: mask the bias of a unit left with no incoming weight (we keep it, a
#: constant unit); later_epoch: on best-epoch ties keep the later epoch (we keep the earlier).
LOOP_POINTS = ("keep_pruning", "keep_retrain", "percentile", "mask_bias", "later_epoch")


# --------------------------------------------------------------------------- schedules
def schedule_target(name: str, step: float, i: int, iterations: int, start: float) -> float:
    """Cumulative target sparsity (percent) of iteration ``i`` (1-based) of a schedule.

    ``linear`` (start + g*i) and ``exponential`` (start + sum_{j<i} g/2^j) add absolute
    percentages; ``cosine``, ``cubic`` and ``lth`` are fractions of what remains above
    ``start`` (for ``start = 0`` they are exactly the reference's formulas).
    """
    if name == "linear":
        return start + step * i
    if name == "exponential":
        return start + sum(step / 2**j for j in range(i))
    if name == "cosine":
        frac = 100 - 50 * (1 + math.cos(math.pi * min(i, iterations) / iterations))
    elif name == "cubic":
        frac = 100 - 100 * (1 - min(i, iterations) / iterations) ** 3
    elif name == "lth":
        frac = 100 - 100 * (1 - step / 100) ** i
    else:
        raise SculptbenchError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    return start + (100 - start) * frac / 100


@dataclass
class PruneLoop:
    """The reference's accept/halve-step rule for one member and one phase.

    Follow the schedule while no step has been rejected; after the first rejection take fixed
    steps ``p`` from the last accepted target. On a rejection revert, halve ``p`` (never below
    ``p_min``) and go on; when a step of ``p_min`` is rejected, stop.
    """

    schedule: str
    step: float
    p_min: float
    start: float = 0.0
    iterations: int = 10
    accepted: float = field(init=False)
    i: int = field(default=0, init=False)
    rejected_once: bool = field(default=False, init=False)
    p: float = field(default=0.0, init=False)
    pending: float | None = field(default=None, init=False)
    done: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.accepted = self.start

    def propose(self) -> float:
        """The next cumulative target (percent, at most 100)."""
        if not self.rejected_once:
            self.i += 1
            target = schedule_target(self.schedule, self.step, self.i, self.iterations, self.start)
            # A schedule that flattens below one unit/weight continues in steps of p_min.
            target = min(max(target, self.accepted + self.p_min), 100.0)
            self.p = target - self.accepted
        else:
            target = self.accepted + self.p
        self.pending = min(target, 100.0)
        return self.pending

    def report(self, accepted: bool) -> None:
        """Record whether the proposed target was accepted."""
        if self.pending is None:
            raise RuntimeError("report() called before propose()")
        if accepted:
            self.accepted = self.pending
            if self.accepted >= 100.0:
                self.done = True
        else:
            self.rejected_once = True
            if self.p <= self.p_min * (1 + 1e-9):
                self.done = True
            else:
                self.p = max(self.p / 2, self.p_min)
        self.pending = None


# --------------------------------------------------------------------------- masks
def count_for_target(target: float, total: int) -> int:
    """How many of ``total`` items a cumulative target of ``target`` percent prunes."""
    return min(total, int(math.floor(target * total / 100 + 1e-6)))


def select_lowest(scores: torch.Tensor, alive: torch.Tensor, n_prune: int) -> torch.Tensor:
    """Indices of the ``n_prune`` lowest-scoring alive items; ties go to the lower index.

    Exactly ``n_prune`` items are chosen (the reference's strict-percentile threshold could
    choose a different number when scores tie).
    """
    if n_prune <= 0:
        return torch.zeros(0, dtype=torch.long)
    keyed = torch.where(alive, scores.double(), torch.full_like(scores, float("inf"), dtype=torch.float64))
    order = torch.sort(keyed, stable=True).indices
    return order[:n_prune]


def select_percentile(scores: torch.Tensor, alive: torch.Tensor, target: float) -> torch.Tensor:
    """The reference's cut: items (pruned ones scoring 0) strictly above the ``target`` percentile survive.

    Returns the new alive row. The percentile interpolates linearly, as ``numpy.percentile``;
    a target of 100% or more leaves nothing (the reference rejects such a step unchecked).
    """
    if target >= 100.0:
        return torch.zeros_like(alive)
    values = torch.where(alive, scores.double(), torch.zeros((), dtype=torch.float64))
    cut = torch.quantile(values, target / 100.0)
    return alive & (values > cut)


def mask_biases_without_inputs(layout: Layout, mask: torch.Tensor) -> torch.Tensor:
    """``mask`` with the bias of every unit that has no incoming weight left masked (rows of ``mask``)."""
    out = mask.clone()
    for layer in range(layout.n_layers):
        has_input = (layout.weights(mask, layer) > 0).any(dim=1)
        out[:, layout.bias_slice(layer)] = out[:, layout.bias_slice(layer)] * has_input.to(mask.dtype)
    return out


def unit_alive_from_mask(layout: Layout, mask: torch.Tensor) -> torch.Tensor:
    """Hidden units (concatenated over layers) whose bias is unmasked, for rows of ``mask``."""
    parts = [layout.biases(mask, layer)[:, 0] > 0 for layer in range(layout.n_layers - 1)]
    return torch.cat(parts, dim=1)


def flat_mask_from_units(layout: Layout, unit_alive: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """``base`` with every weight and bias of a dead hidden unit masked (rows of ``unit_alive``)."""
    k = unit_alive.shape[0]
    alive_by_layer = [torch.ones(k, layout.sizes[0], dtype=base.dtype, device=base.device)]
    pos = 0
    for size in layout.sizes[1:-1]:
        alive_by_layer.append(unit_alive[:, pos:pos + size].to(base.dtype))
        pos += size
    alive_by_layer.append(torch.ones(k, layout.sizes[-1], dtype=base.dtype, device=base.device))
    parts = []
    for layer in range(layout.n_layers):
        a_in, a_out = alive_by_layer[layer], alive_by_layer[layer + 1]
        parts.append((a_in.unsqueeze(2) * a_out.unsqueeze(1)).flatten(1))
        parts.append(a_out)
    return torch.cat(parts, dim=1) * base


def io_connected(layout: Layout, mask: torch.Tensor, require_all_inputs: bool) -> torch.Tensor:
    """Rows of ``mask`` where every output (and, if required, every input) keeps an edge."""
    ok = (layout.weights(mask, layout.n_layers - 1) > 0).any(dim=1).all(dim=1)
    if require_all_inputs:
        ok &= (layout.weights(mask, 0) > 0).any(dim=2).all(dim=1)
    return ok


# --------------------------------------------------------------------------- the driver
@dataclass(frozen=True)
class Phase:
    """One pruning phase: ``kind`` is ``"unit"`` or ``"edge"``."""

    kind: str
    score: str
    schedule: str
    step: float
    iterations: int = 10
    #: Smallest step in percent; ``None`` means one unit or one weight (the reference's rule).
    min_step: float | None = None


@dataclass
class Member:
    """One network being sculpted: a job with one hyperparameter variant."""

    job_index: int
    variant: dict[str, Any]
    phases: list[Phase]
    generator: torch.Generator
    threshold: float = 1.0
    accuracy: float = float("nan")
    dense_accuracy: float = float("nan")
    status: str = "ok"
    loop: PruneLoop | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    trainings: int = 0
    #: Whether any pruning step was accepted (``keep_pruning``: a network that missed the
    #: threshold dense counts as trained once a step is accepted).
    any_accepted: bool = False


@dataclass
class SculptStats:
    """Where the time of one :func:`sculpt` call went (seconds)."""

    train: float = 0.0
    decide: float = 0.0
    trainings: int = 0


def check_loop(points: Sequence[str]) -> frozenset[str]:
    """``points`` as a set of :data:`LOOP_POINTS`; a :class:`SculptbenchError` names an unknown one."""
    for point in points:
        if point not in LOOP_POINTS:
            raise SculptbenchError(f"unknown loop point {point!r}; valid: {', '.join(LOOP_POINTS)}")
    return frozenset(points)


def sculpt(jobs: Sequence[PruneJob], variants: Sequence[tuple[dict[str, Any], list[Phase]]] | None,
           loop: Sequence[str] = (), job_variants: Sequence[Sequence[tuple[dict[str, Any], list[Phase]]]] | None = None,
           ) -> tuple[list[list[SculptedNetwork]], SculptStats]:
    """Train and prune every (job, variant) pair as members of one batch.

    All jobs must share the task, hidden shape, training config and device. ``variants`` apply
    to every job; ``job_variants`` (instead) gives each job its own. ``loop`` names the
    reference-loop points (:data:`LOOP_POINTS`) to follow. Returns, per job, the networks of
    its variants in order, and the time split. Runs on one CPU thread, so that a member's result
    is the same in any batch (:func:`sculptbench.api.single_threaded`).
    """
    with single_threaded():
        return _sculpt(jobs, variants, loop, job_variants)


def _sculpt(jobs: Sequence[PruneJob], variants: Sequence[tuple[dict[str, Any], list[Phase]]] | None, loop: Sequence[str],
            job_variants: Sequence[Sequence[tuple[dict[str, Any], list[Phase]]]] | None) -> tuple[list[list[SculptedNetwork]], SculptStats]:
    stats = SculptStats()
    if not jobs:
        return [], stats
    loop = check_loop(loop)
    if job_variants is None:
        job_variants = [variants or []] * len(jobs)
    first = jobs[0]
    task, config, device = first.task, first.training, torch.device(first.device)
    layout = Layout(tuple(first.sizes))
    data = task.data(device)
    members = [
        Member(job_index=j, variant=dict(v), phases=phases, generator=torch.Generator().manual_seed(job.seed))
        for j, job in enumerate(jobs)
        for v, phases in job_variants[j]
    ]
    k = len(members)
    gens = [m.generator for m in members]
    params = init_params(layout, gens, device)
    masks = torch.ones_like(params)

    def train_rows(rows: list[int], cand_params: torch.Tensor, cand_masks: torch.Tensor) -> TrainResult:
        t0 = time.perf_counter()
        result = train_batch(layout, cand_params, cand_masks, data, config, [gens[r] for r in rows], accuracy=task.accuracy,
                              prefer_later="later_epoch" in loop)
        stats.train += time.perf_counter() - t0
        stats.trainings += len(rows)
        for r in rows:
            members[r].trainings += 1
        return result

    # Dense training, once per job (its variants start from the same network).
    all_rows = list(range(k))
    dense_followers = _followers(members, all_rows, None)
    leaders = sorted(dense_followers)
    dense = train_rows(leaders, params[leaders], masks[leaders])
    params[leaders] = dense.params
    for i, r in enumerate(leaders):
        members[r].dense_accuracy = members[r].accuracy = float(dense.accuracy[i])
    _copy_to_followers(dense_followers, members, params, masks, gens)
    # keep_pruning: a network that misses the threshold dense prunes on; if no step is accepted it
    # ends as it was trained dense (the retraining between phases, kept by keep_retrain, undone).
    missed_dense: dict[int, torch.Tensor] = {}
    for r, m in enumerate(members):
        m.threshold = task.acceptance_threshold(m.dense_accuracy)
        missed = m.accuracy < m.threshold - 1e-9
        if missed and "keep_pruning" in loop:
            missed_dense[r] = params[r].clone()
        elif missed:
            m.status = "untrainable"
        m.history.append({"phase": "dense", "target": 0.0, "density": 1.0, "accuracy": m.accuracy, "accepted": not missed})

    n_phases = max(len(m.phases) for m in members)
    for phase_index in range(n_phases):
        in_phase = [r for r, m in enumerate(members) if m.status == "ok" and phase_index < len(m.phases)]
        if not in_phase:
            continue
        # Members that are identical so far and take the same phase run it once (e.g. the
        # authors' 5 edge steps after each unit step); the others copy its result afterwards.
        phase_followers = _followers(members, in_phase, phase_index)
        in_phase = sorted(phase_followers)
        if phase_index > 0:
            # One more retraining between phases; kept only if it still meets the threshold
            # (always, with the reference's keep_retrain). Members that differ only in this
            # phase (the authors' 5 edge steps) start it from the same state: it runs once.
            same_start = _followers(members, in_phase, phase_index - 1)
            starters = sorted(same_start)
            res = train_rows(starters, params[starters], masks[starters])
            for i, r in enumerate(starters):
                if "keep_retrain" in loop or float(res.accuracy[i]) >= members[r].threshold - 1e-9:
                    params[r] = res.params[i]
                    members[r].accuracy = float(res.accuracy[i])
            _copy_to_followers(same_start, members, params, masks, gens)
        for r in in_phase:
            ph = members[r].phases[phase_index]
            total = layout.n_hidden if ph.kind == "unit" else layout.n_weights
            pruned_now = _pruned_percent(layout, masks[r:r + 1], ph.kind)
            p_min = max(100.0 / total, ph.min_step or 0.0)
            members[r].loop = PruneLoop(ph.schedule, ph.step, p_min, start=pruned_now, iterations=ph.iterations)
        while True:
            active = [r for r in in_phase if not members[r].loop.done]
            if not active:
                break
            t0 = time.perf_counter()
            cand_masks = _candidate_masks(layout, params, masks, active, members, phase_index, data, task.require_all_inputs, gens, loop)
            connected = io_connected(layout, cand_masks, task.require_all_inputs)
            same = (cand_masks == masks[active]).all(dim=1)
            to_train = [i for i in range(len(active)) if bool(connected[i]) and not bool(same[i])]
            stats.decide += time.perf_counter() - t0
            accepted = {i: bool(same[i]) and bool(connected[i]) for i in range(len(active))}
            if to_train:
                rows = [active[i] for i in to_train]
                res = train_rows(rows, params[rows], cand_masks[to_train])
                for j, i in enumerate(to_train):
                    r = active[i]
                    ok = float(res.accuracy[j]) >= members[r].threshold - 1e-9
                    accepted[i] = ok
                    members[r].history.append({
                        "phase": members[r].phases[phase_index].kind,
                        "target": members[r].loop.pending,
                        "density": float(_density(layout, cand_masks[i:i + 1])),
                        "accuracy": float(res.accuracy[j]),
                        "accepted": ok,
                    })
                    if ok:
                        params[r] = res.params[j]
                        masks[r] = cand_masks[i]
                        members[r].accuracy = float(res.accuracy[j])
                        members[r].any_accepted = True
            for i, r in enumerate(active):
                members[r].loop.report(accepted[i])
        _copy_to_followers(phase_followers, members, params, masks, gens)

    for r, dense_row in missed_dense.items():
        # Never a step accepted: untrainable (the reference crashes on it and writes nothing).
        if not members[r].any_accepted:
            members[r].status = "untrainable"
            params[r], members[r].accuracy = dense_row, members[r].dense_accuracy
    test_acc, _ = evaluate_batch(layout, params * masks, data.test_x, data.test_y, task.accuracy)
    results: list[list[SculptedNetwork]] = [[] for _ in jobs]
    for r, m in enumerate(members):
        net = to_network(layout, params[r], masks[r])
        net.accuracy = m.accuracy
        net.dense_accuracy = m.dense_accuracy
        net.test_accuracy = float(test_acc[r])
        net.status = m.status
        net.history = m.history
        net.info = {"variant": m.variant, "trainings": m.trainings, "threshold": m.threshold}
        results[m.job_index].append(net)
    return results, stats


def _followers(members: Sequence[Member], rows: Sequence[int], phase_index: int | None) -> dict[int, list[int]]:
    """Group ``rows`` into members that would compute the same thing: leader row -> follower rows.

    Two members are the same through dense training if they share a job (so a generator
    seed), and through phase ``phase_index`` if their phases up to it are also equal.
    Members run alone give the same numbers in any batch, so a follower may copy its leader.
    """
    groups: dict[tuple, list[int]] = {}
    for r in rows:
        m = members[r]
        phases = () if phase_index is None else tuple(m.phases[:phase_index + 1])
        groups.setdefault((m.job_index, phases), []).append(r)
    return {group[0]: group[1:] for group in groups.values()}


def _copy_to_followers(followers: dict[int, list[int]], members: list[Member], params: torch.Tensor, masks: torch.Tensor,
                       gens: Sequence[torch.Generator]) -> None:
    """Give every follower its leader's state, as if it had run the same steps itself."""
    for leader, rows in followers.items():
        src = members[leader]
        for r in rows:
            params[r] = params[leader]
            masks[r] = masks[leader]
            gens[r].set_state(gens[leader].get_state())
            dst = members[r]
            dst.accuracy, dst.dense_accuracy, dst.trainings, dst.any_accepted = src.accuracy, src.dense_accuracy, src.trainings, src.any_accepted
            dst.history = [dict(step) for step in src.history]


def _density(layout: Layout, mask: torch.Tensor) -> torch.Tensor:
    cols = layout.weight_columns().to(mask.device)
    return mask[:, cols].sum(dim=1) / layout.n_weights


def _pruned_percent(layout: Layout, mask: torch.Tensor, kind: str) -> float:
    if kind == "unit":
        alive = unit_alive_from_mask(layout, mask)
        return 100.0 * (1 - float(alive.float().mean())) if layout.n_hidden else 0.0
    return 100.0 * (1 - float(_density(layout, mask)[0]))


def _candidate_masks(layout, params, masks, active, members, phase_index, data, require_all_inputs, gens, loop=frozenset()) -> torch.Tensor:
    """Candidate masks for the active members' proposed targets (one row each)."""
    by_kind: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(active):
        ph = members[r].phases[phase_index]
        by_kind.setdefault((ph.kind, ph.score), []).append(i)
    out = masks[active].clone()
    for (kind, score), idx in by_kind.items():
        rows = [active[i] for i in idx]
        sub_gens = [gens[r] for r in rows]
        if kind == "unit":
            scores = unit_scores(score, layout, params[rows], masks[rows], data, sub_gens)
            alive = unit_alive_from_mask(layout, masks[rows])
            total = layout.n_hidden
        else:
            scores = edge_scores(score, layout, params[rows], sub_gens, masks[rows])
            cols = layout.weight_columns().to(masks.device)
            alive = masks[rows][:, cols] > 0
            total = layout.n_weights
        for j, i in enumerate(idx):
            r = active[i]
            target = members[r].loop.propose()
            if "percentile" in loop:
                new_alive = select_percentile(scores[j], alive[j], target)
            else:
                n_new = count_for_target(target, total) - int((~alive[j]).sum())
                chosen = select_lowest(scores[j].cpu(), alive[j].cpu(), n_new)
                new_alive = alive[j].clone()
                new_alive[chosen.to(new_alive.device)] = False
            if kind == "unit":
                out[i] = flat_mask_from_units(layout, new_alive.unsqueeze(0), masks[r:r + 1])[0]
            else:
                row = out[i].clone()
                row[cols] = new_alive.to(row.dtype)
                out[i] = row * masks[r]
    if "mask_bias" in loop:
        out = mask_biases_without_inputs(layout, out)
    return out
