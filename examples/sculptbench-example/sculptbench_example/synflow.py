"""SynFlow: pruning at initialisation without data (Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020).

Every weight is scored by its share of the *synaptic flow* ``R = 1ᵀ (∏ |W_l|) 1``: the output sum
of the network whose weights are replaced by their absolute values, fed an all-ones input (all
ReLUs are then active, so the network is the product of its weight matrices; biases are left
out). The score of a weight is ``|θ ⊙ ∂R/∂θ|``. Pruning is global and iterative: over ``rounds``
rounds the density follows the exponential schedule ``d^(k/rounds)``, and each round re-scores
the surviving weights and keeps the highest-scoring ones. Only then is the sparse network
trained, once, with the job's training recipe, through sculptbench's public helper
:func:`sculptbench.api.train_masked`.

sculptbench asks for the sparsest network that still solves the task, so the pruner tries every
target density in ``densities`` (from the same initialisation) and keeps the sparsest one whose
validation accuracy meets the task's threshold, else the densest. A dense network is trained from
the same initialisation as well, only to report the dense accuracy and to flag a task the
architecture cannot learn (status ``untrainable``, as for the built-in pruners).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from sculptbench.api import Option, PruneJob, Pruner, SculptedNetwork, initial_network, train_masked


def synflow_scores(weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``|θ ⊙ ∂R/∂θ|`` for each weight matrix (``(in, out)`` layout), with ``R = 1ᵀ(∏|W|)1``.

    ``weights`` are the current (masked) weights; the computation runs in float64 on copies.
    """
    abs_w = [w.detach().abs().double().clone().requires_grad_(True) for w in weights]
    h = torch.ones(1, abs_w[0].shape[0], dtype=torch.float64, device=abs_w[0].device)
    for w in abs_w:
        h = h @ w
    h.sum().backward()
    return [(w * w.grad).detach().abs() for w in abs_w]


def lowest(scores: torch.Tensor, alive: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the ``count`` lowest-scoring alive items; ties go to the lower index."""
    keyed = torch.where(alive, scores.double(), torch.tensor(float("inf"), dtype=torch.float64))
    return torch.sort(keyed, stable=True).indices[:count]


def synflow_masks(network: SculptedNetwork, density: float, rounds: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The weight masks ``(out, in)`` and bias masks SynFlow keeps of ``network`` at ``density``.

    Scores the network's weights over ``rounds`` exponential rounds; ties are broken towards
    pruning the weight that comes first with the weights laid out ``(in, out)``, layer by layer.
    A hidden unit's bias is kept only while the unit has an outgoing weight; output biases are
    always kept.
    """
    weights = [w.detach().t() for w in network.weights]  # (in, out)
    alive = [torch.ones_like(w, dtype=torch.bool) for w in weights]
    counts = [w.numel() for w in weights]
    total = sum(counts)
    for k in range(1, rounds + 1):
        keep = max(1, int(round(total * density ** (k / rounds))))
        scores = synflow_scores([w * a for w, a in zip(weights, alive)])
        flat_scores = torch.cat([s.flatten() for s in scores])
        flat_alive = torch.cat([a.flatten() for a in alive])
        n_prune = int(flat_alive.sum()) - keep
        if n_prune > 0:
            flat_alive[lowest(flat_scores, flat_alive, n_prune)] = False
            alive = [part.view_as(a) for part, a in zip(flat_alive.split(counts), alive)]
    weight_masks = [a.t().contiguous() for a in alive]
    has_out = [m.any(dim=0) for m in weight_masks[1:]]  # hidden units with an outgoing weight
    return weight_masks, has_out + [torch.ones(network.sizes[-1], dtype=torch.bool)]


def io_connected(weight_masks: Sequence[torch.Tensor], require_all_inputs: bool) -> bool:
    """Whether every output (and, if required, every input) keeps a weight."""
    outputs_fed = bool(weight_masks[-1].any(dim=1).all())
    return outputs_fed and (not require_all_inputs or bool(weight_masks[0].any(dim=0).all()))


def densities_value(value: Any) -> tuple[float, ...]:
    """The ``densities`` option's value: one number or a list of them in (0, 1], as a sorted tuple
    without repeats (sparsest first), so ``[0.2, 0.1]`` and ``[0.1, 0.2]`` are the same options.
    Raises ``ValueError`` with the reason; sculptbench turns it into a one-line error naming the option."""
    values = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values:
        raise ValueError("e.g. [0.05, 0.1, 0.2]")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= 1:
            raise ValueError(f"{v!r} is not a number in (0, 1]")
        out.append(float(v))
    return tuple(sorted(set(out)))


class SynFlowPruner(Pruner):
    """SynFlow pruning at initialisation, then one training of the sparse network."""

    name = "synflow"
    version = "0.1.0"
    citation = "Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020"
    options = (
        Option("densities", float, (0.05, 0.1, 0.2), parse=densities_value, type_text="one or more numbers in (0, 1]",
               help="Target densities, each tried from the same initialisation; the sparsest that meets the "
                    "task's accuracy threshold is kept (else the densest)."),
        Option("rounds", int, 100, low=1, help="Rounds of the exponential schedule d^(k/rounds), each re-scoring the surviving weights."),
    )

    def prune(self, job: PruneJob) -> SculptedNetwork:
        """Prune and train one network."""
        return self.prune_many([job])[0]

    def prune_many(self, jobs: Sequence[PruneJob]) -> list[SculptedNetwork]:
        """Prune every job at every density and train all networks (and a dense reference) as one batch.

        Jobs must share the task, hidden shape, training config and device. Each network draws from
        its own generator seeded with its job's seed, so a job's result does not depend on the batch.
        """
        if not jobs:
            return []
        first = jobs[0]
        for job in jobs:
            if (job.task.name, job.hidden, job.training, job.device) != (first.task.name, first.hidden, first.training, first.device):
                raise ValueError("prune_many needs jobs of one task, shape, training config and device")
        task = first.task
        masks: list[list[torch.Tensor] | None] = []
        bias_masks: list[list[torch.Tensor] | None] = []
        seeds, owners = [], []
        for j, job in enumerate(jobs):
            p = job.params  # resolved by sculptbench when the run was planned
            init = initial_network(job.sizes, job.seed)  # where train_masked starts this seed
            for density in (None, *p["densities"]):  # None: the dense reference
                weight_mask, bias_mask = (None, None) if density is None else synflow_masks(init, density, p["rounds"])
                masks.append(weight_mask)
                bias_masks.append(bias_mask)
                seeds.append(job.seed)
                owners.append((j, density))
        trained = train_masked(task, first.sizes, masks, seeds, first.training, first.device, bias_masks=bias_masks)
        nets = []
        for j, job in enumerate(jobs):
            rows = [r for r, (owner, _) in enumerate(owners) if owner == j]
            dense_row, sparse_rows = rows[0], rows[1:]
            dense_acc = trained[dense_row].accuracy
            threshold = task.acceptance_threshold(dense_acc)
            trainable = dense_acc >= threshold - 1e-9
            meets = {r: io_connected(trained[r].weight_masks, task.require_all_inputs) and trained[r].accuracy >= threshold - 1e-9
                     for r in sparse_rows}
            good = [r for r in sparse_rows if meets[r]]
            chosen = good[0] if good else sparse_rows[-1]  # densities are sorted: sparsest first
            if not trainable:
                chosen = dense_row
            net = trained[chosen]
            net.dense_accuracy = dense_acc
            net.status = "ok" if trainable else "untrainable"
            net.history = [{"phase": "dense", "target": 0.0, "density": 1.0, "accuracy": dense_acc, "accepted": trainable}]
            for r in sparse_rows:
                d = owners[r][1]
                net.history.append({
                    "phase": "synflow", "target": 100.0 * (1 - d), "density": trained[r].density(),
                    "accuracy": trained[r].accuracy, "accepted": meets[r],
                })
            net.info = {
                "variant": {"density": owners[chosen][1]},
                "densities_tried": [owners[r][1] for r in sparse_rows],
                "met_threshold": bool(good),
                "threshold": threshold,
                "trainings": len(rows),
            }
            nets.append(net)
        return nets
