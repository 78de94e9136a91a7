"""The components a plugin implements: tasks, pruners, detectors, scorers and executors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Mapping, Sequence

import torch

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.hashing import digest
from sculptbench.contracts.types import (
    CellSettings,
    Detection,
    GroundTruth,
    PruneJob,
    ScoreRecord,
    SculptedNetwork,
    TaskData,
    TrainingConfig,
    per_bit_accuracy,
)
from sculptbench.contracts.work import Cell, ExecutionOptions, WorkUnit


class Task(ABC):
    """A learning task with a known ground-truth hierarchy.

    Subclasses set the class or instance attributes below and implement :meth:`data`.
    """

    #: Unique name, e.g. ``"bool/exemplars/input-separable"``.
    name: str
    #: Family path used for selection and grouping, e.g. ``"bool/exemplars"``.
    family: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    ground_truth: GroundTruth
    #: Default training recipe for this task.
    training: TrainingConfig = TrainingConfig()
    #: Default hidden-layer shapes, e.g. ``((24,), (24, 24))``.
    default_archs: tuple[tuple[int, ...], ...] = ((24,), (24, 24), (24, 24, 24))
    #: Default pruner parameters for this task (e.g. ``{"unit_step": 50, "edge_step": 1.5}``):
    #: they fill the options a pruner leaves ``None`` (:func:`with_task_defaults`).
    pruning_defaults: Mapping[str, Any] = {}
    #: Detector parameters that differ from a detector's defaults for this task.
    detector_defaults: Mapping[str, Any] = {}
    #: Pruning accepts a step when the validation accuracy is >= this threshold (absolute),
    #: or >= the dense accuracy minus ``accuracy_tolerance`` when that is set.
    accuracy_threshold: float = 1.0
    accuracy_tolerance: float | None = None
    #: Whether every input unit must keep at least one edge (true for Boolean circuits).
    require_all_inputs: bool = True
    #: Free-form description of the data source, reported with results.
    data_source: str = "truth table"
    #: Parameters of the task within its family (e.g. ``{"o": 2, "u": 4}``), for sweeps and plots.
    task_parameters: Mapping[str, Any] = {}

    @property
    def n_inputs(self) -> int:
        """Number of input units."""
        return len(self.input_names)

    @property
    def n_outputs(self) -> int:
        """Number of output units."""
        return len(self.output_names)

    @abstractmethod
    def data(self, device: torch.device | str = "cpu") -> TaskData:
        """Return the task's tensors on ``device`` (float32, targets in {0, 1})."""

    def definition(self) -> dict[str, Any]:
        """A JSON-friendly definition; its hash keys caches and results."""
        return {"name": self.name, "ground_truth": self.ground_truth.to_dict()}

    def definition_hash(self) -> str:
        """A short stable hash of :meth:`definition`."""
        return digest(self.definition(), 16)

    def accuracy(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Accuracy of each of K networks: ``logits`` is ``(K, R, outputs)``, ``targets`` ``(R, outputs)``.

        The default is per-bit accuracy (threshold 0.5 on the sigmoid). Override it for, e.g.,
        one-hot outputs read by argmax.
        """
        return per_bit_accuracy(logits, targets)

    def training_for(self, hidden: tuple[int, ...]) -> TrainingConfig:
        """The training recipe for one hidden shape (default: :attr:`training` for every shape)."""
        return self.training

    def pruning_defaults_for(self, hidden: tuple[int, ...], seed: int) -> Mapping[str, Any]:
        """Pruner defaults for one hidden shape and seed (default: :attr:`pruning_defaults`); merged
        into the options a pruner leaves ``None`` when a run is planned (:func:`with_task_defaults`)."""
        return self.pruning_defaults

    def acceptance_threshold(self, dense_accuracy: float) -> float:
        """The validation accuracy a pruned network must reach to be accepted."""
        if self.accuracy_tolerance is not None:
            return dense_accuracy - self.accuracy_tolerance
        return self.accuracy_threshold



class Configurable(ABC):
    """A named, versioned component with options (``--param NAME.KEY=VALUE``)."""

    #: What the component is, for messages ("pruner", "detector").
    kind: str = "component"
    name: str = ""
    version: str = "0"
    #: Option names with their defaults; the harness validates user options against it.
    defaults: Mapping[str, Any] = {}

    def validate_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check and normalise options; raise :class:`SculptbenchError` on a bad one.

        The base check rejects unknown names; override it (and call ``super()``) to check ranges.
        """
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise SculptbenchError(
                f"unknown option {sorted(unknown)[0]!r} for {self.kind} {self.name!r}; valid: {', '.join(sorted(self.defaults)) or 'none'}"
            )
        return {**self.defaults, **params}


class Pruner(Configurable):
    """A pruning strategy: trains a network for a task and returns it pruned.

    Implement :meth:`prune`. Override :meth:`prune_many` to train several jobs together (the
    built-ins use the batched engine); by default the harness calls :meth:`prune` per job.
    """

    kind = "pruner"
    #: Values for options that are still ``None`` after the task's defaults
    #: (:func:`with_task_defaults`): an option a task may set, with the pruner's own default.
    fallbacks: Mapping[str, Any] = {}

    def cell_settings(self, task: Task, hidden: tuple[int, ...], seeds: Sequence[int], params: dict[str, Any]) -> CellSettings | None:
        """Training and detector settings that ``params`` fix for ``task`` at ``hidden`` (``None``: the task's).

        Called when a run is planned, once per seed of each (task, architecture) with
        ``seeds=[seed]`` and that seed's ``params``, so that each network may have its own recipe
        (seeds whose settings agree are still pruned together); raise :class:`SculptbenchError`
        for a combination the options cannot serve.
        """
        return None

    def label(self, params: dict[str, Any]) -> str:
        """The name shown in results and reports for this pruner with ``params`` (default: its name)."""
        return self.name

    @abstractmethod
    def prune(self, job: PruneJob) -> SculptedNetwork:
        """Train and prune one network."""

    def prune_many(self, jobs: Sequence[PruneJob]) -> list[SculptedNetwork]:
        """Train and prune several networks of the same task and shape."""
        return [self.prune(job) for job in jobs]


class Detector(Configurable):
    """A module detector: partitions a pruned network's units into modules."""

    kind = "detector"

    @abstractmethod
    def detect(self, network: SculptedNetwork, task: Task, params: dict[str, Any], seed: int) -> Detection:
        """Return the modules of ``network``."""


class Scorer(ABC):
    """Compares a detection with the task's ground truth."""

    name: str = ""
    version: str = "0"
    #: Metric names this scorer reports, with a one-line description each.
    metrics: Mapping[str, str] = {}

    @abstractmethod
    def score(self, detection: Detection, network: SculptedNetwork, task: Task) -> ScoreRecord:
        """Return the metrics of ``detection``."""


class Executor(ABC):
    """Runs the work units of a run (``sculptbench run --executor NAME``).

    A work unit is a :class:`sculptbench.run.planning.WorkUnit`: some cells of one group (task x
    architecture x pruner, several seeds pruned together). An executor runs each unit with
    :func:`sculptbench.run.running.run_unit` wherever it likes (this process, worker processes, a
    cluster) and calls ``deliver(cell)`` *in the calling process* once for every cell of every
    unit: the caller alone writes the results database. It must deliver a row for each cell
    even when a plugin raises, hangs or kills its process (:class:`sculptbench.run.execution.UnitTracker`
    builds the ``error``/``timeout`` rows). ``options`` is a
    :class:`sculptbench.run.execution.ExecutionOptions` (jobs, timeout, scheduler, threads, registry).
    """

    name: str = ""
    version: str = "0"

    def prepare(self, options: ExecutionOptions) -> None:
        """Check ``options`` before anything is written (e.g. that a cluster answers); raise
        :class:`SculptbenchError` with a clear message if the run cannot start."""

    @abstractmethod
    def run(self, units: Sequence[WorkUnit], options: ExecutionOptions, deliver: Callable[[Cell], None]) -> None:
        """Run every unit and deliver one cell per requested cell key."""
