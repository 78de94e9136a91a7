"""SynFlow: pruning at initialisation without data (Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020).

Every weight is scored by its share of the *synaptic flow* ``R = 1ᵀ (∏ |W_l|) 1``: the output sum
of the network whose weights are replaced by their absolute values, fed an all-ones input (all
ReLUs are then active, so the network is the product of its weight matrices; biases are left
out). The score of a weight is ``|θ ⊙ ∂R/∂θ|``. Pruning is global and iterative: over ``rounds``
rounds the density follows the exponential schedule ``d^(k/rounds)``, and each round re-scores
the surviving weights and keeps the highest-scoring ones. Only then is the sparse network
trained, once, with the task's :class:`~sculptbench.core.TrainingConfig`.

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

from sculptbench import engine
from sculptbench.core import PruneJob, Pruner, SculptbenchError, SculptedNetwork
from sculptbench.plugins.pruners.iterative.loop import io_connected, select_lowest


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


def synflow_mask(layout: engine.Layout, params_row: torch.Tensor, density: float, rounds: int) -> torch.Tensor:
    """The flat 0/1 mask row SynFlow keeps at ``density`` after ``rounds`` exponential rounds.

    Ties are broken towards pruning the weight with the lower flat index. A hidden unit's bias is
    kept only while the unit has an outgoing weight; output biases are always kept.
    """
    flat = params_row.detach().unsqueeze(0)
    weights = [layout.weights(flat, l)[0] for l in range(layout.n_layers)]
    alive = [torch.ones_like(w, dtype=torch.bool) for w in weights]
    total = layout.n_weights
    for k in range(1, rounds + 1):
        keep = max(1, int(round(total * density ** (k / rounds))))
        scores = synflow_scores([w * a for w, a in zip(weights, alive)])
        flat_scores = torch.cat([s.flatten() for s in scores]).cpu()
        flat_alive = torch.cat([a.flatten() for a in alive]).cpu()
        n_prune = int(flat_alive.sum()) - keep
        if n_prune > 0:
            chosen = select_lowest(flat_scores, flat_alive, n_prune)
            flat_alive[chosen] = False
            pos = 0
            for l, a in enumerate(alive):
                alive[l] = flat_alive[pos:pos + a.numel()].view_as(a).to(a.device)
                pos += a.numel()
    mask = torch.zeros(layout.n_params, dtype=params_row.dtype, device=params_row.device)
    for l in range(layout.n_layers):
        mask[layout.weight_slice(l)] = alive[l].flatten().to(mask.dtype)
        if l + 1 < layout.n_layers:
            has_out = alive[l + 1].any(dim=1)  # units of layer l+1 with an outgoing weight
            mask[layout.bias_slice(l)] = has_out.to(mask.dtype)
        else:
            mask[layout.bias_slice(l)] = 1
    return mask


def _check_densities(value: Any) -> tuple[float, ...]:
    values = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    message = f"invalid densities {value!r}; give one or more numbers in (0, 1], e.g. [0.05, 0.1, 0.2]"
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values:
        raise SculptbenchError(message)
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= 1:
            raise SculptbenchError(message)
        out.append(float(v))
    return tuple(sorted(set(out)))


class SynFlowPruner(Pruner):
    """SynFlow pruning at initialisation, then one training of the sparse network."""

    name = "synflow"
    version = "0.1.0"
    defaults = {"densities": (0.05, 0.1, 0.2), "rounds": 100}

    def validate_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check ``densities`` (numbers in (0, 1]) and ``rounds`` (an integer >= 1)."""
        p = super().validate_params(params)
        p["densities"] = _check_densities(p["densities"])
        rounds = p["rounds"]
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise SculptbenchError(f"invalid rounds {rounds!r}; it must be an integer >= 1")
        return p

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
        task, device = first.task, torch.device(first.device)
        layout = engine.Layout(tuple(first.sizes))
        data = task.data(device)
        rows_params, rows_masks, gens, owners = [], [], [], []
        for j, job in enumerate(jobs):
            p = self.validate_params(dict(job.params))
            init = engine.init_params(layout, [torch.Generator().manual_seed(job.seed)], device)[0]
            for density in (None, *p["densities"]):  # None: the dense reference
                gen = torch.Generator().manual_seed(job.seed)
                engine.init_params(layout, [gen])  # the same draws as `init`: gen continues after them
                mask = torch.ones_like(init) if density is None else synflow_mask(layout, init, density, p["rounds"])
                rows_params.append(init)
                rows_masks.append(mask)
                gens.append(gen)
                owners.append((j, density))
        params, masks = torch.stack(rows_params), torch.stack(rows_masks)
        result = engine.train(layout, params, masks, data, first.training, gens, accuracy=task.accuracy)
        test_acc, _ = engine.evaluate(layout, result.params * masks, data.test_x, data.test_y, task.accuracy)
        connected = io_connected(layout, masks, task.require_all_inputs)
        nets = []
        for j, job in enumerate(jobs):
            rows = [r for r, (owner, _) in enumerate(owners) if owner == j]
            dense_row, sparse_rows = rows[0], rows[1:]
            dense_acc = float(result.accuracy[dense_row])
            threshold = task.acceptance_threshold(dense_acc)
            trainable = dense_acc >= threshold - 1e-9
            meets = {r: bool(connected[r]) and float(result.accuracy[r]) >= threshold - 1e-9 for r in sparse_rows}
            good = [r for r in sparse_rows if meets[r]]
            chosen = good[0] if good else sparse_rows[-1]  # densities are sorted: sparsest first
            if not trainable:
                chosen = dense_row
            net = engine.to_network(layout, result.params[chosen], masks[chosen])
            net.accuracy = float(result.accuracy[chosen])
            net.test_accuracy = float(test_acc[chosen])
            net.dense_accuracy = dense_acc
            net.status = "ok" if trainable else "untrainable"
            net.history = [{"phase": "dense", "target": 0.0, "density": 1.0, "accuracy": dense_acc, "accepted": trainable}]
            for r in sparse_rows:
                d = owners[r][1]
                net.history.append({
                    "phase": "synflow", "target": 100.0 * (1 - d), "density": float(masks[r][layout.weight_columns().to(masks.device)].mean()),
                    "accuracy": float(result.accuracy[r]), "accepted": meets[r],
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
