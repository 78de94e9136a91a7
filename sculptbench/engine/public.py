"""The engine's helpers for plugin authors (re-exported by :mod:`sculptbench.api`): train masked
networks of a task in one batch, the network a seed starts from, and the forward pass, loss and
gradients the engine trains with, for one network at a time."""

from __future__ import annotations

from typing import Sequence

import torch

from sculptbench.contracts.components import Task
from sculptbench.contracts.types import SculptedNetwork, TrainingConfig
from sculptbench.engine.kernels import Layout, init_params, single_threaded
from sculptbench.engine.training import TrainingHooks, evaluate, to_network, train

WeightMasks = Sequence["torch.Tensor"]


def initial_network(sizes: Sequence[int], seed: int) -> SculptedNetwork:
    """The dense network of layer ``sizes`` at ``seed``'s initialisation (all masks set).

    It is exactly where :func:`train_masked` starts a network of this ``seed`` when no ``start``
    is given, so a pruner can score the initial weights (pruning at initialisation) and then
    train the masks it chose from the same weights.
    """
    layout = Layout(tuple(int(n) for n in sizes))
    flat = init_params(layout, [torch.Generator().manual_seed(int(seed))])[0]
    return to_network(layout, flat, torch.ones_like(flat))


def _mask_row(layout: Layout, index: int, weight_masks: WeightMasks | None, bias_masks: WeightMasks | None) -> torch.Tensor:
    """One flat 0/1 mask row from per-layer ``(out, in)`` weight masks and ``(out,)`` bias masks."""
    row = torch.ones(layout.n_params)
    for name, given, shape_of, where in (
        ("masks", weight_masks, lambda l: (layout.sizes[l + 1], layout.sizes[l]), layout.weight_slice),
        ("bias_masks", bias_masks, lambda l: (layout.sizes[l + 1],), layout.bias_slice),
    ):
        if given is None:
            continue
        if len(given) != layout.n_layers:
            raise ValueError(f"{name}[{index}] has {len(given)} layers; the network has {layout.n_layers}")
        for layer, mask in enumerate(given):
            mask = torch.as_tensor(mask).detach().to("cpu")
            if tuple(mask.shape) != shape_of(layer):
                raise ValueError(f"{name}[{index}][{layer}] has shape {tuple(mask.shape)}; expected {shape_of(layer)} (out, in)")
            # Weights are stored (in, out) in a flat row: transpose the (out, in) mask.
            row[where(layer)] = (mask.t() if mask.dim() == 2 else mask).reshape(-1).ne(0).float()
    return row


def train_masked(
    task: Task,
    sizes: Sequence[int],
    masks: Sequence[WeightMasks | None],
    seed: int | Sequence[int],
    config: TrainingConfig | None = None,
    device: str | torch.device = "cpu",
    *,
    bias_masks: Sequence[WeightMasks | None] | None = None,
    start: SculptedNetwork | Sequence[SculptedNetwork | None] | None = None,
    hooks: TrainingHooks | None = None,
) -> list[SculptedNetwork]:
    """Train one masked network of ``task`` per entry of ``masks``, all in one batch; the public training helper.

    ``sizes`` are the layer sizes, inputs and outputs included (``PruneJob.sizes``). Each entry of
    ``masks`` is ``None`` (dense) or one bool mask per weight layer, shaped ``(out, in)`` as
    :attr:`SculptedNetwork.weight_masks`; masked weights stay zero throughout. Biases are all
    trained unless ``bias_masks`` gives, per network, ``None`` or one ``(out,)`` mask per layer.
    ``seed`` is one seed for every network or one per network. A network starts from its seed's
    initialisation (:func:`initial_network`), or from the weights and biases of ``start`` (one
    network for all, or one per entry; ``None`` entries start from the initialisation), times its
    masks. ``config`` defaults to the task's recipe for the hidden shape
    (:meth:`Task.training_for`); a pruner passes ``job.training``. ``hooks`` adds a regulariser's
    gradient, a hook every N steps or keeps the last step (:class:`TrainingHooks`; the weights at
    a step, ``capture_step``, come back from the batched engine, :func:`train_batch`).

    Each network trains with a fresh Adam and its own generator seeded with its seed (which first
    draws the initialisation, then the minibatch order and input noise), on one CPU thread: its
    result depends only on (task, sizes, mask, seed, start, config, device), never on the other
    networks of the call. Returns one CPU :class:`SculptedNetwork` per mask, in order, with the
    best-epoch weights, their validation ``accuracy`` and ``test_accuracy``, status ``"ok"``;
    whether that accuracy is enough is the caller's rule (:meth:`Task.acceptance_threshold`).
    """
    layout = Layout(tuple(int(n) for n in sizes))
    if layout.sizes[0] != task.n_inputs or layout.sizes[-1] != task.n_outputs:
        raise ValueError(f"sizes {list(layout.sizes)} must start with the task's {task.n_inputs} inputs "
                         f"and end with its {task.n_outputs} outputs")
    count = len(masks)
    seeds = [int(seed)] * count if isinstance(seed, int) else [int(s) for s in seed]
    starts = list(start) if isinstance(start, Sequence) else [start] * count
    biases = [None] * count if bias_masks is None else list(bias_masks)
    for name, values in (("seed", seeds), ("start", starts), ("bias_masks", biases)):
        if len(values) != count:
            raise ValueError(f"{name} gives {len(values)} entries for {count} masks")
    if hooks is not None and hooks.capture_step is not None:
        raise ValueError("train_masked does not hand back captured weights; call train_batch for capture_step")
    if count == 0:
        return []
    config = (config or task.training_for(tuple(layout.sizes[1:-1]))).validate()
    device = torch.device(device)
    mask_rows = torch.stack([_mask_row(layout, i, masks[i], biases[i]) for i in range(count)]).to(device)
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    params = init_params(layout, generators, device)  # drawn even under `start`: the generators move on alike
    for i, net in enumerate(starts):
        if net is not None:
            params[i] = network_row(layout, net).to(device)
    data = task.data(device)
    with single_threaded():
        result = train(layout, params, mask_rows, data, config, generators, accuracy=task.accuracy, hooks=hooks)
        test_accuracy, _ = evaluate(layout, result.params * mask_rows, data.test_x, data.test_y, task.accuracy)
    networks = []
    for i in range(count):
        net = to_network(layout, result.params[i], mask_rows[i])
        net.accuracy, net.test_accuracy = float(result.accuracy[i]), float(test_accuracy[i])
        networks.append(net)
    return networks


def network_row(layout: Layout, net: SculptedNetwork) -> torch.Tensor:
    """The flat parameter row of ``net`` (the inverse of :func:`to_network` for its weights and biases)."""
    if list(net.sizes) != list(layout.sizes):
        raise ValueError(f"start network has sizes {list(net.sizes)}; expected {list(layout.sizes)}")
    row = torch.zeros(layout.n_params)
    for layer in range(layout.n_layers):
        row[layout.weight_slice(layer)] = net.weights[layer].detach().to("cpu", torch.float32).t().reshape(-1)
        row[layout.bias_slice(layer)] = net.biases[layer].detach().to("cpu", torch.float32).reshape(-1)
    return row


def mlp_logits(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The forward pass the engine trains, for one network: ReLU hidden layers, linear outputs
    (logits; the engine reads them through a sigmoid). ``weights[i]`` is ``(out, in)`` and
    ``biases[i]`` ``(out,)``, as :class:`SculptedNetwork` holds them; ``x`` is ``(rows, inputs)``.

    Written with plain torch operations, so autograd differentiates it (to any order), e.g. for
    scoring weights by their gradient. It computes one network alone, so its numbers do not depend
    on any batch.
    """
    h = x
    for layer, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w.t() + b
        if layer < len(weights) - 1:
            h = torch.relu(h)
    return h


def training_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The loss the engine minimises: binary cross-entropy with logits, averaged over rows and
    outputs (``targets`` in {0, 1}, the shape of ``logits``). Differentiable."""
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
