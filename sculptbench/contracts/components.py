"""The components a plugin implements: tasks, pruners, detectors, scorers and executors.

Every component but the executor is :class:`Configurable`: it declares its options
(:class:`~sculptbench.contracts.options.Option`), and receives them resolved
(:class:`~sculptbench.contracts.options.Options`) when a run is planned.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Mapping, Sequence

import torch

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.hashing import digest
from sculptbench.contracts.options import Option, Options, option_names, resolve_options
from sculptbench.contracts.protocol import PROTOCOL_OPTIONS, protocol_options
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


class Configurable(ABC):
    """A named, versioned component with declared options (``--param NAME.KEY=VALUE``)."""

    #: What the component is, for messages (``"pruner"``, ``"detector"``).
    kind: str = "component"
    name: str = ""
    version: str = "0"
    #: One line on what it does (default: the first line of the class docstring).
    description: str = ""
    #: The work it implements, e.g. ``"Frankle & Carbin, ICLR 2019"`` (empty for controls).
    citation: str = ""
    #: The options it accepts, in the order they resolve (docs/options.md).
    options: Sequence[Option] = ()

    def summary(self) -> str:
        """:attr:`description`, else the first line of the class docstring."""
        if self.description:
            return self.description
        doc = (type(self).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def declared_options(self) -> tuple[Option, ...]:
        """Every option this component accepts (for listings and docs)."""
        return tuple(self.options)

    def check_options(self, options: Options) -> None:
        """Check combinations of resolved options; raise :class:`SculptbenchError` for a bad one.
        Each value alone is already checked against its declaration."""

    def resolve(self, user: Mapping[str, Any] | None = None, task: Mapping[str, Any] | None = None) -> Options:
        """The options this component receives for ``user``'s values (``--param``) and ``task``'s
        defaults: :func:`~sculptbench.contracts.options.resolve_options`, then :meth:`check_options`."""
        options = resolve_options(self.declared_options(), user, task, self.name)
        self.check_options(options)
        return options


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
    #: Option values this task sets for pruners (e.g. ``{"unit_step": 50, "restarts": 9}``): each
    #: is the default of a pruner's option of that name declared with ``task=True``, and of the
    #: protocol's ``restarts`` and ``select`` (docs/options.md).
    pruning_defaults: Mapping[str, Any] = {}
    #: Option values this task sets for detectors, the same way.
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
        """The pruner option values this task sets for one hidden shape and seed (default:
        :attr:`pruning_defaults`), read when a run is planned."""
        return self.pruning_defaults

    def acceptance_threshold(self, dense_accuracy: float) -> float:
        """The validation accuracy a pruned network must reach to be accepted."""
        if self.accuracy_tolerance is not None:
            return dense_accuracy - self.accuracy_tolerance
        return self.accuracy_threshold


class Pruner(Configurable):
    """A pruning strategy: trains a network for a task and returns it pruned.

    Implement :meth:`prune` (one job) and, to train several jobs together, :meth:`prune_many`.
    The framework runs the protocol around it (:mod:`sculptbench.contracts.protocol`): each cell
    is pruned from ``restarts`` initialisations, one job per start (``job.seed`` is the start's
    seed, ``job.cell_seed`` the cell's), and ``select`` keeps one of the candidates. A pruner
    with several candidates per start (hyperparameter variants) overrides :meth:`candidates`.
    """

    kind = "pruner"
    #: Whether the protocol's options (``restarts``, ``select``, ...) apply to this pruner; false
    #: for one that has nothing to draw, e.g. ``published`` (the paper's own networks).
    protocol: bool = True

    def candidates_per_start(self, options: Mapping[str, Any]) -> int:
        """How many candidate networks one start gives under ``options`` (the pruner's own)."""
        return 1

    def networks_per_start(self, options: Mapping[str, Any]) -> int:
        """How many networks one start trains side by side (the memory guard's count)."""
        return self.candidates_per_start(options)

    def protocol_defaults(self, options: Mapping[str, Any]) -> Mapping[str, Any]:
        """Protocol values (``restarts``, ``select``) that ``options`` imply unless the task sets them."""
        return {}

    def protocol_fixed(self, options: Mapping[str, Any]) -> Mapping[str, Any]:
        """Protocol values that ``options`` fix over the task's (the user's still win), e.g. one
        start for a rule that reproduces a published procedure."""
        return {}

    def declared_options(self) -> tuple[Option, ...]:
        """The pruner's options, then the protocol's (their defaults as for the pruner's defaults)."""
        if not self.protocol:
            return tuple(self.options)
        own = resolve_options(self.options, {}, {}, self.name)
        return (*self.options, *protocol_options(self, own))

    def resolve(self, user: Mapping[str, Any] | None = None, task: Mapping[str, Any] | None = None) -> Options:
        """The pruner's own options resolved first, then the protocol's: the user's value, else what
        :meth:`protocol_fixed` says, else the task's, else :meth:`protocol_defaults`, else the
        protocol's default."""
        user, task = dict(user or {}), dict(task or {})
        own_names = option_names(self.options)
        protocol = PROTOCOL_OPTIONS if self.protocol else ()
        unknown = sorted(set(user) - set(own_names) - set(protocol))
        if unknown:
            valid = ", ".join([*own_names, *protocol]) or "none (it takes no options)"
            raise SculptbenchError(f"unknown option {self.name}.{unknown[0]}; valid: {valid}")
        own = resolve_options(self.options, {k: v for k, v in user.items() if k in own_names}, task, self.name)
        if self.protocol:
            chosen = {**self.protocol_defaults(own), **{k: task[k] for k in protocol if k in task}, **self.protocol_fixed(own)}
            rules = resolve_options(protocol_options(self, own), {k: v for k, v in user.items() if k in protocol}, chosen, self.name)
            own = Options({**own, **rules}, given=own.given | rules.given)
        self.check_options(own)
        return own

    def sparsity(self, network: SculptedNetwork, options: Mapping[str, Any]) -> float:
        """How the protocol ranks sparsity (lower is sparser): the density, unless a rule compares
        it its own way (e.g. the authors' rounded percentage)."""
        return network.density()

    def cell_settings(self, task: Task, hidden: tuple[int, ...], seed: int, options: Options) -> CellSettings | None:
        """Training and detector settings that ``options`` fix for the network of ``task`` at
        ``hidden`` and cell seed ``seed`` (``None``: the task's), e.g. a published recipe. Called
        when a run is planned, once per cell; raise :class:`SculptbenchError` for a combination
        the options cannot serve."""
        return None

    def check_cell(self, task: Task, hidden: tuple[int, ...], training: TrainingConfig, options: Options) -> None:
        """Raise :class:`SculptbenchError` if ``options`` cannot serve the network of ``task`` at
        ``hidden`` under its final training recipe ``training`` (the task's, the pruner's
        :meth:`cell_settings` and the user's ``--epochs``/``--lr``/``--batch-size``), e.g. a step
        beyond the training's steps. Called when a run is planned, before anything is written."""

    def label(self, options: Mapping[str, Any]) -> str:
        """The name shown in results: the pruner's, with the ``select`` rule unless it is ``sparsest``
        (e.g. ``iterative[oracle]``)."""
        select = options.get("select", "sparsest")
        return self.name if select == "sparsest" else f"{self.name}[{select}]"

    @abstractmethod
    def prune(self, job: PruneJob) -> SculptedNetwork:
        """Train and prune one network."""

    def prune_many(self, jobs: Sequence[PruneJob]) -> list[SculptedNetwork]:
        """Train and prune several networks of the same task, shape and options (default: one by one)."""
        return [self.prune(job) for job in jobs]

    def candidates(self, jobs: Sequence[PruneJob]) -> list[list[SculptedNetwork]]:
        """Each job's candidate networks, in a fixed order (default: the one :meth:`prune_many` gives)."""
        return [[net] for net in self.prune_many(jobs)]


class Detector(Configurable):
    """A module detector: partitions a pruned network's units into modules."""

    kind = "detector"

    @abstractmethod
    def detect(self, network: SculptedNetwork, task: Task, options: Options, seed: int) -> Detection:
        """Return the modules of ``network`` (``seed``: the cell's, for a stochastic method)."""


class Scorer(Configurable):
    """Scores a detection: against the task's ground truth, or label-free."""

    kind = "scorer"
    #: Metric names this scorer reports, with a one-line description each.
    metrics: Mapping[str, str] = {}

    @abstractmethod
    def score(self, detection: Detection, network: SculptedNetwork, task: Task, options: Options, seed: int) -> ScoreRecord:
        """Return the metrics of ``detection`` (``seed``: the cell's, for a stochastic score)."""


class TaskSource(ABC):
    """Makes tasks from selectors that name no registered task: a file path, a parametrised name."""

    name: str = ""
    version: str = "0"
    #: How a user writes a selector it takes, for messages: ``"a path to a circuit .yaml file"``.
    description: str = ""

    @abstractmethod
    def matches(self, selector: str) -> bool:
        """Whether ``selector`` is one this source makes a task of."""

    @abstractmethod
    def load(self, selector: str) -> Task:
        """The task of ``selector``; a :class:`SculptbenchError` says what is wrong with it."""


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
