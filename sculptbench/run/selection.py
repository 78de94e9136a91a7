"""The protocol, run: prune each cell from its starts, then keep one of its candidates by the rule.

:func:`prune_cells` builds one job per (cell seed, restart), asks the pruner for every job's
candidates in one call (batched) or job by job, and applies :func:`choose` per cell. The rules
are in :mod:`sculptbench.contracts.protocol`; the label-free ones read the modules of the
``select_detector`` (:func:`partition_modularity`, :func:`module_signature`), the oracle asks
its scorer. Everything here is a function of the candidates and the cell's seed, so a cell gets
the same network whatever shares its batch.
"""

from __future__ import annotations

import collections
from typing import Any, Sequence

from sculptbench.contracts import checks
from sculptbench.contracts.components import Pruner
from sculptbench.contracts.protocol import ADAPT_LADDER, adapt_restart, restart_seed
from sculptbench.contracts.types import Detection, PruneJob, SculptedNetwork, TrainingConfig
from sculptbench.contracts.work import Group

#: Modularities closer than this count as equal (the sparsest of them is kept).
MODULARITY_TIE = 1e-9


def start_jobs(group: Group, seeds: Sequence[int], training: TrainingConfig | None = None, first_restart: int = 0) -> list[PruneJob]:
    """One job per start of each cell seed, seed-major: the protocol's ``restarts`` of each.

    ``training`` (default: the group's) and ``first_restart`` (the restart index of each cell's
    first start, :func:`~sculptbench.contracts.protocol.restart_seed`) serve the adaptation's
    further attempts.
    """
    options = group.pruner_params
    restarts = options.get("restarts", 1)
    return [
        PruneJob(group.task, group.hidden, restart_seed(seed, first_restart + r), options, training or group.training, group.device,
                 restart=first_restart + r, cell_seed=seed)
        for seed in seeds for r in range(restarts)
    ]


def prune_cells(pruner: Pruner, group: Group, seeds: Sequence[int], registry: Any, batch: bool = True,
                who: str = "the pruner") -> list[SculptedNetwork | checks.InvalidOutput]:
    """The network the protocol keeps for each of ``seeds``: every start's candidates, then the rule.

    ``batch``: all jobs in one :meth:`~sculptbench.contracts.components.Pruner.candidates` call;
    otherwise one call per job. A cell whose candidates break the output contract gets the
    :class:`~sculptbench.contracts.checks.InvalidOutput` instead of a network, and one with a
    candidate the pruner could not serve (status ``error``) gets that candidate. Raises
    ``InvalidOutput`` when the pruner returns the wrong number of results.

    A cell whose kept network is ``untrainable`` is pruned again, up to the protocol's ``adapt``
    times, each attempt with the next step of :data:`~sculptbench.contracts.protocol.ADAPT_LADDER`
    (all such cells of an attempt in one call); the first attempt that trains is kept, and
    ``info["adapted"]`` records what every attempt used. A cell that trained at once is untouched.
    """
    chosen = _prune_round(pruner, group, seeds, registry, batch, who, group.training, 0)
    budget = group.pruner_params.get("adapt", 0)
    tried: dict[int, list[dict[str, Any]]] = {}
    for attempt, step in enumerate(ADAPT_LADDER[:budget], 1):
        left = [i for i, net in enumerate(chosen) if isinstance(net, SculptedNetwork) and net.status == "untrainable"]
        if not left:
            break
        training = step.training(group.training)
        first = adapt_restart(group.pruner_params.get("restarts", 1), attempt, 0) if step.fresh else 0
        again = _prune_round(pruner, group, [seeds[i] for i in left], registry, batch, who, training, first)
        for i, net in zip(left, again):
            record = tried.setdefault(i, [_attempt_record(0, group.training, False, chosen[i])])
            if isinstance(net, SculptedNetwork):
                record.append(_attempt_record(attempt, training, step.fresh, net))
            if not isinstance(net, SculptedNetwork) or net.status != "untrainable":
                chosen[i] = net  # trained (or failed: an error row says why)
    for i, record in tried.items():
        net = chosen[i]
        if isinstance(net, SculptedNetwork):
            net.info["adapted"] = {"attempts": record, "budget": budget, "spent": net.status == "untrainable"}
    return chosen


def _attempt_record(attempt: int, training: TrainingConfig, fresh: bool, net: Any) -> dict[str, Any]:
    """What one attempt of a cell used, and how its dense network did."""
    dense = net.dense_accuracy if isinstance(net, SculptedNetwork) else None
    return {"attempt": attempt, "epochs": training.epochs, "lr": training.lr, "fresh": fresh, "dense_accuracy": dense}


def _prune_round(pruner: Pruner, group: Group, seeds: Sequence[int], registry: Any, batch: bool, who: str,
                 training: TrainingConfig, first_restart: int) -> list[SculptedNetwork | checks.InvalidOutput]:
    """One attempt of ``seeds``: their starts with ``training``, pruned, and one network kept per cell."""
    jobs = start_jobs(group, seeds, training, first_restart)
    per_job = pruner.candidates(jobs) if batch else [pruner.candidates([job])[0] for job in jobs]
    if not isinstance(per_job, (list, tuple)) or len(per_job) != len(jobs):
        count = len(per_job) if isinstance(per_job, (list, tuple)) else type(per_job).__name__
        raise checks.InvalidOutput(f"{who} returned {count} results for {len(jobs)} jobs")
    restarts = len(jobs) // len(seeds) if seeds else 1
    sizes = [group.task.n_inputs, *group.hidden, group.task.n_outputs]
    chosen: list[SculptedNetwork | checks.InvalidOutput] = []
    for i, seed in enumerate(seeds):
        candidates: list[SculptedNetwork] = []
        try:
            for job, nets in zip(jobs[i * restarts:(i + 1) * restarts], per_job[i * restarts:(i + 1) * restarts]):
                if not isinstance(nets, (list, tuple)) or not nets:
                    raise checks.InvalidOutput(f"{who} gave {nets!r} for the start of seed {job.seed}; expected a non-empty list of networks")
                for net in nets:
                    checks.check_network(net, sizes, who)
                    if restarts > 1:
                        net.info["variant"] = {**(net.info.get("variant") or {}), "restart": job.restart}
                candidates.extend(nets)
        except checks.InvalidOutput as exc:
            chosen.append(exc)
            continue
        failed = [n for n in candidates if n.status == "error"]
        chosen.append(failed[0] if failed else choose(candidates, pruner, group, seed, registry))
    return chosen


def choose(nets: Sequence[SculptedNetwork], pruner: Pruner, group: Group, seed: int, registry: Any) -> SculptedNetwork:
    """The candidate the ``select`` rule keeps (see :data:`~sculptbench.contracts.protocol.SELECT_RULES`).

    Only networks that met the threshold (status ``ok``) compete; if none did, the first is
    kept. Sparsity is ranked by the pruner (:meth:`~sculptbench.contracts.components.Pruner.sparsity`),
    the first of equals winning. ``info`` records the rule and what it measured.
    """
    options = group.pruner_params
    rule = options.get("select", "sparsest")
    ok = [n for n in nets if n.status == "ok"]

    def sparsity(net: SculptedNetwork) -> float:
        return pruner.sparsity(net, options)

    candidates = ok
    extra: dict[str, Any] = {"oracle_successes": 0} if rule == "oracle" else {}
    if ok and rule != "sparsest":
        detections = _Detections(group, seed, registry)
        if rule == "oracle":
            hits = [n for n in ok if detections.oracle_success(n)]
            candidates = hits or ok
            extra["oracle_successes"] = len(hits)
        elif rule == "consensus":
            signatures = [module_signature(detections.of(n), len(group.hidden) + 1) for n in ok]
            common, count = collections.Counter(signatures).most_common(1)[0]
            candidates = [n for n, sig in zip(ok, signatures) if sig == common]
            extra["consensus_share"] = count / len(ok)
        else:
            if rule == "sparsest_modularity":
                least = min(sparsity(n) for n in ok)
                candidates = [n for n in ok if sparsity(n) == least]
            scores = [partition_modularity(n, detections.of(n)) for n in candidates]
            top = max(scores)
            candidates = [n for n, q in zip(candidates, scores) if q >= top - MODULARITY_TIE]
            extra["modularity"] = round(top, 6)
    best = min(candidates, key=sparsity) if candidates else nets[0]
    best.info["variants_tried"] = len(nets)
    if rule != "sparsest":
        best.info["selection"] = rule
        best.info.update(extra)
    return best


class _Detections:
    """The select detector's modules of each candidate (and the oracle's verdict), computed once each."""

    def __init__(self, group: Group, seed: int, registry: Any):
        self.group, self.seed, self.registry = group, seed, registry
        self.parts = {kind: (name, options) for kind, name, options in group.protocol}
        self.found: dict[int, Detection] = {}

    def of(self, net: SculptedNetwork) -> Detection:
        if id(net) not in self.found:
            name, options = self.parts["detector"]
            self.found[id(net)] = self.registry.get("detector", name).detect(net, self.group.task, options, self.seed)
        return self.found[id(net)]

    def oracle_success(self, net: SculptedNetwork) -> bool:
        name, options = self.parts["scorer"]
        record = self.registry.get("scorer", name).score(self.of(net), net, self.group.task, options, self.seed)
        value = record.metrics.get(self.group.pruner_params["oracle_metric"])
        return bool(value) and value == value  # NaN is no success


def partition_modularity(net: SculptedNetwork, detection: Detection) -> float:
    """Newman modularity of ``detection``'s modules on the undirected, unweighted graph of
    ``net``'s surviving edges (units outside every module count as modules of their own; a
    network without edges scores 0). Label-free: a network whose modules share no edge scores
    highest for its number of modules."""
    import networkx as nx
    from networkx.algorithms.community import modularity

    graph = nx.Graph()
    for layer in range(net.n_layers):
        rows, cols = net.weight_masks[layer].nonzero(as_tuple=True)
        graph.add_edges_from(((layer, int(i)), (layer + 1, int(o))) for o, i in zip(rows.tolist(), cols.tolist()))
    if graph.number_of_edges() == 0:
        return 0.0
    module_of = {tuple(u): k for k, module in enumerate(detection.modules) for u in module}
    groups: dict[Any, set] = {}
    for node in graph.nodes:
        groups.setdefault(module_of.get(node, ("alone", node)), set()).add(node)
    return float(modularity(graph, list(groups.values())))


def module_signature(detection: Detection, last_layer: int) -> frozenset:
    """A detection's module structure, label-free: per module its input units, output units and layer count."""
    return frozenset(
        (frozenset(u for u in m if u[0] == 0), frozenset(u for u in m if u[0] == last_layer), len({u[0] for u in m}))
        for m in detection.modules
    )
