"""The data a plugin receives or returns: ground truths, training recipes, task data, networks,
detections, scores and prune jobs.

Units are addressed as ``(layer, index)`` tuples: layer 0 holds the input units, layers
``1..L-1`` the hidden units and layer ``L`` the output units of an MLP with ``L`` weight layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

import networkx as nx
import torch

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.limits import ARCH_LIMIT, DEPTH_LIMIT  # noqa: F401 - also read from here

if TYPE_CHECKING:
    from sculptbench.contracts.components import Task

Unit = tuple[int, int]


# --------------------------------------------------------------------------- ground truth
@dataclass(frozen=True)
class GroundTruthModule:
    """One sub-function of a task's hierarchy.

    ``reads`` are the input units it reads directly, ``uses`` the modules whose results it
    reuses, and ``drives`` the output units it computes. ``gates`` (circuit specs only) names
    the circuit's gates inside it: documentation, checked against the circuit when the spec
    loads, and not part of the task's definition.
    """

    name: str
    reads: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    drives: tuple[str, ...] = ()
    gates: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroundTruth:
    """The ground-truth module DAG of a task, over named input and output units."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    modules: tuple[GroundTruthModule, ...]

    def graph(self) -> nx.DiGraph:
        """The hierarchy in the scorers' reduced form (see ``docs/scoring.md``).

        Nodes are ``("in", name)``, ``("module", name)`` and ``("out", name)``; each carries a
        ``label`` attribute (``"in:x1"``, ``"module"``, ``"out:y1"``). Edges run from an input
        to each module that reads it, from a module to each module that uses it, and from a
        module to each output it drives.
        """
        g = nx.DiGraph()
        for name in self.inputs:
            g.add_node(("in", name), label=f"in:{name}")
        for name in self.outputs:
            g.add_node(("out", name), label=f"out:{name}")
        for module in self.modules:
            g.add_node(("module", module.name), label="module")
        for module in self.modules:
            node = ("module", module.name)
            g.add_edges_from((("in", x), node) for x in module.reads)
            g.add_edges_from((("module", u), node) for u in module.uses)
            g.add_edges_from((node, ("out", y)) for y in module.drives)
        return g

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form, used for hashing and storage."""
        return {
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "modules": [
                {"name": m.name, "reads": list(m.reads), "uses": list(m.uses), "drives": list(m.drives)}
                for m in self.modules
            ],
        }


# --------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class TrainingConfig:
    """How one (re)training runs. Defaults are the paper's Boolean recipe."""

    lr: float = 0.05
    batch_size: int = 8
    epochs: int = 15
    weight_decay: float = 1e-4
    noise_std: float = 0.1

    def validate(self) -> "TrainingConfig":
        """Raise :class:`SculptbenchError` naming the valid range of a bad field."""
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SculptbenchError(f"invalid lr {self.lr}; it must be a finite number > 0")
        if self.batch_size < 1:
            raise SculptbenchError(f"invalid batch_size {self.batch_size}; it must be >= 1")
        if self.epochs < 1:
            raise SculptbenchError(f"invalid epochs {self.epochs}; it must be >= 1")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise SculptbenchError(f"invalid weight_decay {self.weight_decay}; it must be a finite number >= 0")
        if not (math.isfinite(self.noise_std) and self.noise_std >= 0):
            raise SculptbenchError(f"invalid noise_std {self.noise_std}; it must be a finite number >= 0")
        return self


@dataclass
class TaskData:
    """Tensors of one task on one device.

    ``train_x``/``train_y`` are drawn from during training (noise is added per draw),
    ``val_x``/``val_y`` select the best epoch and accept pruning steps, and ``test_x``/``test_y``
    give the reported test accuracy. For Boolean tasks all three are the noise-free truth table.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def per_bit_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Fraction of output bits predicted right (threshold 0.5 on the sigmoid), over the last two dims."""
    return ((logits > 0) == (targets > 0.5)).float().mean(dim=(-2, -1))




# --------------------------------------------------------------------------- networks
@dataclass
class SculptedNetwork:
    """A trained (and possibly pruned) MLP together with its masks.

    ``weights[i]`` has shape ``(sizes[i+1], sizes[i])`` (PyTorch's ``Linear`` layout) and is
    already multiplied by ``weight_masks[i]``. ``status`` is ``"ok"``, ``"untrainable"`` (the
    dense network never met the accuracy threshold) or ``"error"`` (see :meth:`failed`). ``history`` holds one entry per pruning
    iteration (phase, target, density, accuracy, accepted) for pruning curves.
    """

    sizes: list[int]
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    weight_masks: list[torch.Tensor]
    bias_masks: list[torch.Tensor]
    accuracy: float = float("nan")
    test_accuracy: float = float("nan")
    dense_accuracy: float = float("nan")
    status: str = "ok"
    history: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failed(cls, sizes: Sequence[int], message: str) -> "SculptedNetwork":
        """The result of a job a pruner could not serve (e.g. outside a published grid).

        Its status is ``"error"`` and ``info["error"]`` holds ``message``; the run records the
        cell as an ``error`` row with that message and never caches it. Other jobs of the same
        batch are unaffected.
        """
        zeros = [torch.zeros(b, a) for a, b in zip(sizes[:-1], sizes[1:])]
        return cls(
            sizes=list(sizes), weights=zeros, biases=[torch.zeros(len(w)) for w in zeros],
            weight_masks=[w.bool() for w in zeros], bias_masks=[torch.zeros(len(w), dtype=torch.bool) for w in zeros],
            status="error", info={"error": message},
        )

    @property
    def n_layers(self) -> int:
        """Number of weight layers."""
        return len(self.weights)

    def density(self) -> float:
        """Fraction of weights that survive."""
        alive = sum(int(m.sum()) for m in self.weight_masks)
        total = sum(m.numel() for m in self.weight_masks)
        return alive / total if total else 0.0

    def unit_graph(self, input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None) -> nx.DiGraph:
        """The graph of surviving weights.

        Every unit is a node ``(layer, index)`` with attributes ``layer``, ``index``, ``kind``
        (``"input"``, ``"hidden"`` or ``"output"``) and ``name`` (for inputs and outputs when
        names are given). Every unmasked weight is an edge with attribute ``weight``. Units with
        no edges are kept as isolated nodes; detectors decide what to do with them.
        """
        g = nx.DiGraph()
        last = len(self.sizes) - 1
        for layer, size in enumerate(self.sizes):
            kind = "input" if layer == 0 else "output" if layer == last else "hidden"
            for index in range(size):
                name = None
                if kind == "input" and input_names is not None:
                    name = input_names[index]
                elif kind == "output" and output_names is not None:
                    name = output_names[index]
                g.add_node((layer, index), layer=layer, index=index, kind=kind, name=name)
        for layer, (w, m) in enumerate(zip(self.weights, self.weight_masks)):
            outs, ins = torch.nonzero(m, as_tuple=True)
            values = w[outs, ins].tolist()
            g.add_edges_from(
                ((layer, i), (layer + 1, o), {"weight": v})
                for o, i, v in zip(outs.tolist(), ins.tolist(), values)
            )
        return g

    def to_state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only, suitable for ``torch.save`` and ``torch.load(weights_only=True)``."""
        state: dict[str, torch.Tensor] = {"sizes": torch.tensor(self.sizes)}
        for i in range(self.n_layers):
            state[f"weight_{i}"] = self.weights[i]
            state[f"bias_{i}"] = self.biases[i]
            state[f"weight_mask_{i}"] = self.weight_masks[i]
            state[f"bias_mask_{i}"] = self.bias_masks[i]
        return state

    @classmethod
    def from_masks(cls, weight_masks: Sequence[Sequence[Sequence[int]]] | Sequence[torch.Tensor]) -> "SculptedNetwork":
        """A network whose weights are 1 where the mask is set; handy for hand-built tests.

        ``weight_masks[i]`` has shape ``(sizes[i+1], sizes[i])``.
        """
        masks = [torch.as_tensor(m, dtype=torch.bool) for m in weight_masks]
        sizes = [masks[0].shape[1]] + [m.shape[0] for m in masks]
        return cls(
            sizes=sizes,
            weights=[m.float() for m in masks],
            biases=[torch.zeros(m.shape[0]) for m in masks],
            weight_masks=masks,
            bias_masks=[m.any(dim=1) for m in masks],
        )


# --------------------------------------------------------------------------- detections and scores
@dataclass
class Detection:
    """Modules found in a network: a partition of (some of) its units.

    ``modules`` is a list of unit sets. Units that a detector discarded (for example dead units)
    are absent. ``info`` holds detector-specific diagnostics (JSON-friendly).
    """

    modules: list[frozenset[Unit]]
    info: dict[str, Any] = field(default_factory=dict)
    #: Whether modules may share units. A plain ``Detection`` must be disjoint (the run rejects
    #: overlaps); a detector whose modules may overlap returns an :class:`OverlappingDetection`.
    overlapping: ClassVar[bool] = False

    def module_of(self) -> dict[Unit, int]:
        """Map each unit to the index of its module."""
        return {unit: i for i, module in enumerate(self.modules) for unit in module}


class OverlappingDetection(Detection):
    """A detection whose modules may share units (the type declares it; see :attr:`Detection.overlapping`).

    :meth:`module_of` maps a shared unit to the last module holding it.
    """

    overlapping: ClassVar[bool] = True


ScoreValue = float | int | bool | None


@dataclass
class ScoreRecord:
    """The metrics one scorer computed for one detection."""

    scorer: str
    metrics: dict[str, ScoreValue]


# --------------------------------------------------------------------------- plugin component bases
@dataclass
class PruneJob:
    """Everything a pruner needs to produce one network: one start of one cell.

    ``seed`` initialises the network (restart 0 of a cell: the cell's seed; a later restart: a
    seed derived from it, :func:`sculptbench.contracts.protocol.restart_seed`); ``cell_seed`` is
    the cell's own seed (for what a cell looks up, e.g. a published recipe) and ``restart`` the
    start's index. ``params`` are the pruner's resolved options
    (:class:`~sculptbench.contracts.options.Options`), the protocol's included: what the cell
    records. ``training`` is the recipe to train with.
    """

    task: Task
    hidden: tuple[int, ...]
    seed: int
    params: Mapping[str, Any]
    training: TrainingConfig
    device: str = "cpu"
    restart: int = 0
    cell_seed: int | None = None

    def __post_init__(self) -> None:
        if self.cell_seed is None:
            self.cell_seed = self.seed

    @property
    def sizes(self) -> list[int]:
        """Layer sizes including inputs and outputs."""
        return [self.task.n_inputs, *self.hidden, self.task.n_outputs]


@dataclass
class CellSettings:
    """Settings a pruner's options fix for one network (task, architecture, seed), e.g. the paper's published ones.

    ``training`` overrides fields of the task's :class:`TrainingConfig` (the user's ``--lr``,
    ``--epochs``, ``--batch-size`` still win); ``detector_hints`` are detector parameters applied
    like the task's ``detector_defaults`` (a detector takes the ones it knows; the user's win).
    """

    training: dict[str, Any] = field(default_factory=dict)
    detector_hints: dict[str, Any] = field(default_factory=dict)


