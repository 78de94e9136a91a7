"""Contract tests and fixtures for sculptbench plugin authors: an opt-in pytest plugin.

Enable it in your plugin's ``conftest.py`` (install ``sculptbench[testing]``)::

    pytest_plugins = ["sculptbench.plugin.testing"]

then subclass a contract once per component; pytest collects every ``Test*`` subclass and runs
the inherited tests::

    from sculptbench.plugin.testing import DetectorContract, PrunerContract
    from my_package import plugin
    from my_package.plugin import MyDetector, MyPruner

    class TestMyDetector(DetectorContract):
        component = MyDetector()
        plugin = plugin                       # the module whose hook registers it
        bad_params = [{"n_clusters": 0}]      # each must raise SculptbenchError

    class TestMyPruner(PrunerContract):
        component = MyPruner()
        params = {"rounds": 5}                # options used for the test runs

The contracts (:class:`TaskContract`, :class:`PrunerContract`, :class:`DetectorContract`,
:class:`ScorerContract`) check output types and shapes, determinism (same inputs and seed, same
result), that masks are respected and inputs are never mutated, that bad options raise
:class:`sculptbench.api.SculptbenchError`, and that the component registers through its hook in
a fresh registry. Their sizes (task, hidden shape, epochs, seed, hand-built networks) are class
attributes or methods you can override; the defaults run in a few seconds per component.

The plugin also provides two fixtures: ``sculptbench_registry`` (a fresh registry with the
built-ins and no entry points) and ``register_plugin`` (``register_plugin(plugin, name="x")``
returns a fresh registry with the built-ins plus ``plugin`` and fails the test when the plugin
does not load, or loses a component name to a clash). The contracts do not depend on these
fixtures, so they also work in a test module that imports them without enabling the plugin.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import types
from typing import Any, Callable, ClassVar, Mapping, Sequence

import networkx as nx
import pytest
import torch

from sculptbench.contracts.components import Task
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.options import Option, Options, option_names
from sculptbench.contracts.types import (
    Detection,
    GroundTruth,
    PruneJob,
    SculptedNetwork,
    TaskData,
    TrainingConfig,
)
from sculptbench.plugin.hookspecs import hookimpl
from sculptbench.plugin.kit import (
    _assert_unchanged,
    _network_snapshot,
    _same_float,
    assert_networks_equal,
    check_detection,
    check_network,
    check_score_record,
    example_detections,
    example_networks,
)
from sculptbench.plugin.registry import (
    BUILTIN_PLUGINS,
    COMPONENT_KINDS,
    Registry,
    load_registry,
)

__all__ = [
    "DEFAULT_TASK",
    "TaskContract",
    "PrunerContract",
    "DetectorContract",
    "ScorerContract",
    "builtin_registry",
    "fresh_registry",
    "registry_with_plugin",
    "example_networks",
    "example_detections",
    "check_network",
    "check_detection",
    "check_score_record",
    "assert_networks_equal",
    "sculptbench_registry",
    "register_plugin",
]

#: The task every contract uses unless told otherwise: 4 inputs, 4 outputs, two modules.
DEFAULT_TASK = "bool/input-separable"
#: An option name no component should accept.
UNKNOWN_OPTION = "no_such_option_for_the_contract"


# --------------------------------------------------------------------------- registries
@functools.lru_cache(maxsize=1)
def builtin_registry() -> Registry:
    """The built-in plugins only, loaded once per process and shared: never mutate it."""
    return load_registry(entry_points=False)


def fresh_registry() -> Registry:
    """A new registry with the built-in plugins and no entry points."""
    return load_registry(entry_points=False)


def _resolve_plugin(plugin: Any) -> Any:
    if isinstance(plugin, str):
        try:
            return importlib.import_module(plugin)
        except Exception as exc:  # noqa: BLE001 - reported as a test failure
            pytest.fail(f"plugin module {plugin!r} failed to import: {type(exc).__name__}: {exc}", pytrace=False)
    return plugin


def registry_with_plugin(plugin: Any, name: str = "x") -> Registry:
    """A fresh registry with the built-ins plus ``plugin``; fails the current test if it does not load.

    ``plugin`` is a module, any object with hook functions, or a module path (``"pkg.plugin"``).
    ``name`` is the plugin's name in the registry (what an entry point's name would be).
    """
    plugin = _resolve_plugin(plugin)
    try:
        registry = load_registry(entry_points=False, extra=[(name, plugin)])
    except SculptbenchError as exc:  # SCULPTBENCH_STRICT_PLUGINS=1 turns a failure into an error
        pytest.fail(str(exc), pytrace=False)
    records = [p for p in registry.plugins if p.name == name]
    if not records:
        pytest.fail(f"plugin {name!r} was not loaded", pytrace=False)
    record = records[-1]
    if record.status != "ok":
        pytest.fail(f"plugin {name!r} {'failed to load' if record.status == 'failed' else 'did not load cleanly'}: {record.error}", pytrace=False)
    return registry


@pytest.fixture
def sculptbench_registry() -> Registry:
    """A fresh registry with sculptbench's built-in plugins and no entry points."""
    return fresh_registry()


@pytest.fixture
def register_plugin() -> Callable[..., Registry]:
    """A factory: ``register_plugin(plugin_or_module, name="x")`` returns a fresh registry with the
    built-ins plus that plugin, and fails the test if the plugin failed to load."""
    return registry_with_plugin


def _single_component_plugin(hook_name: str, component: Any) -> types.ModuleType:
    """A throwaway plugin module whose ``hook_name`` hook registers ``component``."""
    module = types.ModuleType(f"sculptbench_contract_{hook_name}")

    def impl(register):
        """Register the one component."""
        register(component)

    setattr(module, hook_name, hookimpl(impl))
    return module


# --------------------------------------------------------------------------- contracts
class _ContractMeta(type):
    """Makes ``__test__`` False for the contract base classes of this module only.

    Pytest collects a class when its name matches ``python_classes`` (``Test*``) unless its
    ``__test__`` is false; a plain ``__test__ = False`` would be inherited by every subclass.
    """

    def __getattr__(cls, name: str) -> Any:
        if name == "__test__" and cls.__module__ == __name__:
            return False
        raise AttributeError(name)


class _Contract(metaclass=_ContractMeta):
    """Shared machinery: which component is tested, its registration, and a per-class cache.

    Subclasses set ``component`` (an instance) or override :meth:`make_component`. The base
    classes here are never collected; subclasses are collected when their name matches pytest's
    ``python_classes`` (``Test*`` by default).
    """
    #: The registry kind: ``"task"``, ``"pruner"``, ``"detector"`` or ``"scorer"``.
    kind: ClassVar[str] = ""
    #: The component under test (or override :meth:`make_component`).
    component: Any = None
    #: The plugin (module, object or module path) whose hook registers the component. ``None``:
    #: a throwaway plugin registering :meth:`make_component` is used for the registration test.
    plugin: Any = None
    #: The plugin's name in the test registry.
    plugin_name: str = "contract-plugin"
    #: The task used by pruner, detector and scorer contracts.
    task_name: str = DEFAULT_TASK

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._contract_cache = {}

    def make_component(self) -> Any:
        """The component under test; by default the ``component`` class attribute."""
        if self.component is None:
            raise TypeError(f"{type(self).__name__}: set `component = YourComponent()` or override make_component()")
        return self.component

    def make_task(self) -> Task:
        """The task the component is exercised on; by default the built-in ``task_name``."""
        return builtin_registry().get("task", self.task_name)

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per test class (results are shared by the class's tests: do not mutate)."""
        cache = type(self)._contract_cache
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    # ------------------------------------------------------------------- registration
    def test_registers_through_a_hook(self) -> None:
        """The component registers through its hook in a fresh registry, with no failure."""
        component = self.make_component()
        hook_name, base = COMPONENT_KINDS[self.kind]
        assert isinstance(component, base), f"{type(component).__name__} is not a sculptbench.api.{base.__name__}"
        assert isinstance(component.name, str) and component.name.strip(), "set the component's `name`"
        plugin = _resolve_plugin(self.plugin) if self.plugin is not None else _single_component_plugin(hook_name, component)
        module_name = getattr(plugin, "__name__", None)
        if module_name in BUILTIN_PLUGINS:
            registry = fresh_registry()
            records = [p for p in registry.plugins if p.name == f"builtin:{module_name.rsplit('.', 1)[-1]}"]
            assert records and records[0].status == "ok", f"built-in plugin {module_name} failed: {records and records[0].error}"
            record = records[0]
        else:
            registry = registry_with_plugin(plugin, self.plugin_name)
            record = [p for p in registry.plugins if p.name == self.plugin_name][-1]
        registered = registry.components[self.kind].get(component.name)
        assert registered is not None, f"the plugin registered no {self.kind} named {component.name!r}; it registered {record.registers}"
        assert type(registered) is type(component), (
            f"the registered {self.kind} {component.name!r} is a {type(registered).__name__}, not a {type(component).__name__}"
        )
        assert registry.owner[(self.kind, component.name)] is record


class _OptionsMixin:
    """Tests of the declared options shared by pruners, detectors and scorers."""

    #: Options used for the test runs (resolved like user ``--param`` options).
    params: Mapping[str, Any] = {}
    #: Option sets that must each raise :class:`SculptbenchError` (an unknown option is always checked).
    bad_params: Sequence[Mapping[str, Any]] = ()

    def test_options_are_declared(self) -> None:
        """Every option is an :class:`Option` with a description; ``resolve({})`` and
        ``resolve(params)`` succeed, leave their input alone, and resolving the result again gives it back."""
        component = self.make_component()
        declared = component.declared_options()
        for option in declared:
            assert isinstance(option, Option), f"{option!r} is not a sculptbench.api.Option"
            assert option.help.strip(), f"option {option.name!r} needs a one-line help"
        option_names(declared)
        assert isinstance(component.resolve({}), Options), "resolve() must return Options"
        given = copy.deepcopy(dict(self.params))
        before = copy.deepcopy(given)
        resolved = component.resolve(given)
        assert given == before, "resolve() mutated the dict it was given"
        assert set(resolved) >= set(self.params)
        assert component.resolve(resolved.as_dict()) == resolved, "resolving the resolved options again changes them"

    def test_unknown_option_is_rejected(self) -> None:
        """An unknown option raises :class:`SculptbenchError` naming it."""
        component = self.make_component()
        with pytest.raises(SculptbenchError) as info:
            component.resolve({UNKNOWN_OPTION: 1})
        assert UNKNOWN_OPTION in str(info.value), "name the unknown option in the error message"

    def test_bad_params_are_rejected(self) -> None:
        """Every option set in ``bad_params`` raises :class:`SculptbenchError`."""
        component = self.make_component()
        for bad in self.bad_params:
            try:
                component.resolve(dict(bad))
            except SculptbenchError:
                continue
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"resolve({dict(bad)!r}) raised {type(exc).__name__}: {exc}; raise SculptbenchError instead")
            pytest.fail(f"resolve({dict(bad)!r}) accepted a bad option; raise SculptbenchError naming the valid range")


class TaskContract(_Contract):
    """Contract of a :class:`sculptbench.api.Task`.

    Set ``component = MyTask()`` (or ``task_name`` for a built-in task). Checks the names, the
    ground truth against the names and the data, the data's shapes and targets, determinism,
    the training recipe and the registration.
    """

    kind = "task"

    def make_component(self) -> Task:
        """The task under test: ``component``, else the built-in task ``task_name``."""
        if self.component is not None:
            return self.component
        return builtin_registry().get("task", self.task_name)

    def task_data(self) -> TaskData:
        """The task's data on CPU (computed once per class)."""
        return self.cached("data", lambda: self.make_component().data("cpu"))

    def test_names(self) -> None:
        """Name, family and unit names are non-empty strings; unit names are unique."""
        task = self.make_component()
        assert isinstance(task.name, str) and task.name.strip(), "set the task's `name`"
        assert isinstance(task.family, str) and task.family.strip(), "set the task's `family`"
        for what, names in (("input_names", task.input_names), ("output_names", task.output_names)):
            assert len(names) >= 1, f"{what} is empty"
            assert all(isinstance(n, str) and n for n in names), f"{what} must be non-empty strings"
            assert len(set(names)) == len(names), f"{what} has duplicates"

    def test_ground_truth_is_consistent(self) -> None:
        """Every ground-truth input/output exists, modules read existing inputs, use existing modules
        and drive existing outputs, and the hierarchy is a DAG."""
        task = self.make_component()
        gt = task.ground_truth
        assert isinstance(gt, GroundTruth), "ground_truth must be a sculptbench.api.GroundTruth"
        unknown_in = set(gt.inputs) - set(task.input_names)
        unknown_out = set(gt.outputs) - set(task.output_names)
        assert not unknown_in, f"ground-truth inputs {sorted(unknown_in)} are not in input_names"
        assert not unknown_out, f"ground-truth outputs {sorted(unknown_out)} are not in output_names"
        names = [m.name for m in gt.modules]
        assert all(isinstance(n, str) and n for n in names), "every ground-truth module needs a name"
        assert len(set(names)) == len(names), f"duplicate ground-truth module names in {names}"
        for m in gt.modules:
            assert set(m.reads) <= set(gt.inputs), f"module {m.name!r} reads {sorted(set(m.reads) - set(gt.inputs))}, not ground-truth inputs"
            assert set(m.uses) <= set(names), f"module {m.name!r} uses unknown modules {sorted(set(m.uses) - set(names))}"
            assert m.name not in m.uses, f"module {m.name!r} uses itself"
            assert set(m.drives) <= set(gt.outputs), f"module {m.name!r} drives {sorted(set(m.drives) - set(gt.outputs))}, not ground-truth outputs"
        assert nx.is_directed_acyclic_graph(gt.graph()), "the ground-truth hierarchy has a cycle"

    def test_data_matches_the_task(self) -> None:
        """Every split has ``n_inputs`` input and ``n_outputs`` target columns, as many target rows
        as input rows, finite float inputs and targets in {0, 1}."""
        task = self.make_component()
        data = self.task_data()
        assert isinstance(data, TaskData), f"data() returned {type(data).__name__}, not a TaskData"
        for split in ("train", "val", "test"):
            x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
            assert x.dim() == 2 and x.shape[1] == task.n_inputs, f"{split}_x has shape {tuple(x.shape)}; expected (rows, {task.n_inputs})"
            assert y.dim() == 2 and y.shape[1] == task.n_outputs, f"{split}_y has shape {tuple(y.shape)}; expected (rows, {task.n_outputs})"
            assert x.shape[0] == y.shape[0] >= 1, f"{split}: {x.shape[0]} input rows but {y.shape[0]} target rows"
            assert x.is_floating_point() and y.is_floating_point(), f"{split} tensors must be floating point"
            assert bool(torch.isfinite(x).all()), f"{split}_x has non-finite values"
            assert bool(((y == 0) | (y == 1)).all()), f"{split}_y has targets outside {{0, 1}}"

    def test_data_is_deterministic(self) -> None:
        """``data()`` twice gives identical tensors, and the definition hash is stable."""
        task = self.make_component()
        first, second = self.task_data(), task.data("cpu")
        for field in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
            assert torch.equal(getattr(first, field), getattr(second, field)), f"data().{field} differs between calls"
        assert task.definition_hash() == task.definition_hash()
        json.dumps(task.definition(), sort_keys=True)

    def test_perfect_predictions_have_accuracy_one(self) -> None:
        """``task.accuracy`` of logits that match the targets is 1 for each of K networks."""
        task = self.make_component()
        y = self.task_data().test_y
        logits = ((y * 2 - 1) * 10).unsqueeze(0).expand(2, -1, -1)
        acc = task.accuracy(logits, y)
        assert tuple(acc.shape) == (2,), f"accuracy() returned shape {tuple(acc.shape)}; expected (K,)"
        assert torch.allclose(acc.float(), torch.ones(2)), f"perfect logits give accuracy {acc.tolist()}"

    def test_training_recipe_and_defaults(self) -> None:
        """The training recipe validates, default architectures are positive widths and the
        accuracy threshold is in [0, 1]."""
        task = self.make_component()
        assert isinstance(task.training, TrainingConfig)
        task.training.validate()
        assert task.default_archs, "default_archs is empty"
        for arch in task.default_archs:
            assert all(isinstance(w, int) and w >= 1 for w in arch), f"invalid default arch {arch!r}"
        assert 0.0 <= task.accuracy_threshold <= 1.0, f"accuracy_threshold {task.accuracy_threshold} is not in [0, 1]"
        assert task.accuracy_tolerance is None or task.accuracy_tolerance >= 0


class PrunerContract(_OptionsMixin, _Contract):
    """Contract of a :class:`sculptbench.api.Pruner`.

    Set ``component``; tune ``task_name``, ``hidden``, ``epochs``, ``seed``, ``params``,
    ``training_overrides`` and ``bad_params``. The pruner runs on one job (cached per class), again
    for determinism, and once through ``prune_many`` on two seeds, which must agree with ``prune``.
    """

    kind = "pruner"
    #: Hidden-layer widths of the test network.
    hidden: tuple[int, ...] = (16,)
    #: Epochs per (re)training (``None``: the task's own).
    epochs: int | None = 20
    #: Seed of the test job (``prune_many`` also uses ``seed + 1``).
    seed: int = 0
    #: Further :class:`TrainingConfig` fields to override.
    training_overrides: Mapping[str, Any] = {}
    #: Whether ``prune_many`` must give exactly the networks ``prune`` gives.
    check_batch: bool = True

    def make_job(self, seed: int | None = None) -> PruneJob:
        """The test job, with options resolved as a run resolves them (the task's defaults included)."""
        pruner, task = self.make_component(), self.make_task()
        overrides = dict(self.training_overrides)
        if self.epochs is not None:
            overrides.setdefault("epochs", self.epochs)
        training = TrainingConfig(**{**task.training.__dict__, **overrides}).validate()
        seed = self.seed if seed is None else seed
        params = pruner.resolve(dict(self.params), task.pruning_defaults_for(tuple(self.hidden), seed))
        return PruneJob(task, tuple(self.hidden), seed, params, training, "cpu")

    def pruned(self) -> SculptedNetwork:
        """``prune(make_job())``, computed once per class."""
        return self.cached("pruned", lambda: self.make_component().prune(self.make_job()))

    def test_prune_returns_a_network(self) -> None:
        """``prune`` returns a :class:`SculptedNetwork` of the job's sizes with bool masks, masked
        weights and biases at zero, a valid status and the validation accuracy filled."""
        job = self.make_job()
        check_network(self.pruned(), job.sizes, f"pruner {self.make_component().name!r}")

    def test_masks_are_respected(self) -> None:
        """Weights and biases are exactly zero wherever their mask is False."""
        net = self.pruned()
        for l in range(net.n_layers):
            assert int((net.weights[l][~net.weight_masks[l]] != 0).sum()) == 0, f"layer {l}: masked weights are not zero"
            assert int((net.biases[l][~net.bias_masks[l]] != 0).sum()) == 0, f"layer {l}: masked biases are not zero"

    def test_prune_is_deterministic(self) -> None:
        """The same job and seed twice give identical networks; the job is not mutated."""
        job = self.make_job()
        params_before = copy.deepcopy(job.params)
        again = self.make_component().prune(job)
        assert job.params == params_before, "prune() mutated job.params"
        assert_networks_equal(self.pruned(), again, "two prune() calls with the same seed")

    def test_prune_many_matches_prune(self) -> None:
        """``prune_many`` on two seeds returns one network per job, the first identical to ``prune``'s."""
        if not self.check_batch:
            pytest.skip("check_batch is False")
        jobs = [self.make_job(), self.make_job(self.seed + 1)]
        nets = self.make_component().prune_many(jobs)
        assert isinstance(nets, list) and len(nets) == 2, "prune_many must return a list with one network per job"
        for net, job in zip(nets, jobs):
            check_network(net, job.sizes, "prune_many")
        assert_networks_equal(self.pruned(), nets[0], "prune() and prune_many() for the same seed")


class DetectorContract(_OptionsMixin, _Contract):
    """Contract of a :class:`sculptbench.api.Detector`.

    Set ``component``; tune ``task_name``, ``params``, ``seed``, ``bad_params``, or override
    :meth:`make_networks` to use your own networks. The detector runs on each network with the
    options resolved as a run resolves them (defaults, the task's hints, ``params``).
    """

    kind = "detector"
    #: Seed passed to ``detect``.
    seed: int = 0

    def make_networks(self, task: Task) -> dict[str, SculptedNetwork]:
        """The networks the detector runs on (default: :func:`example_networks`)."""
        return example_networks(task)

    def resolved_params(self, task: Task) -> Options:
        """The options passed to ``detect``, resolved as a run resolves them (the task's defaults included)."""
        return self.make_component().resolve(dict(self.params), task.detector_defaults)

    def _detect(self, network: SculptedNetwork, task: Task) -> Detection:
        return self.make_component().detect(network, task, self.resolved_params(task), self.seed)

    def test_detect_returns_a_detection(self) -> None:
        """``detect`` returns a :class:`Detection` of disjoint, non-empty frozensets of valid units."""
        task = self.make_task()
        for label, net in self.make_networks(task).items():
            check_detection(self._detect(net, task), net, f"detector {self.make_component().name!r} on network {label!r}")

    def test_detect_is_deterministic(self) -> None:
        """The same network and seed twice give the same modules, in the same order."""
        task = self.make_task()
        for label, net in self.make_networks(task).items():
            first, second = self._detect(net, task), self._detect(net, task)
            assert [sorted(m) for m in first.modules] == [sorted(m) for m in second.modules], (
                f"two detect() calls on network {label!r} with seed {self.seed} gave different modules"
            )

    def test_detect_does_not_mutate_the_network(self) -> None:
        """``detect`` leaves every tensor of the network (and its options) unchanged."""
        task = self.make_task()
        for label, net in self.make_networks(task).items():
            snapshot = _network_snapshot(net)
            params = self.resolved_params(task)
            before = copy.deepcopy(params)
            self.make_component().detect(net, task, params, self.seed)
            _assert_unchanged(net, snapshot, f"detect() on network {label!r}")
            assert params == before, "detect() changed its options"


class ScorerContract(_OptionsMixin, _Contract):
    """Contract of a :class:`sculptbench.api.Scorer`.

    Set ``component``; tune ``task_name`` or override :meth:`make_cases`. The scorer scores
    several detections (one module, singletons, layers, components, none) of hand-built networks.
    """

    kind = "scorer"
    #: Which of :func:`example_networks` to score detections of.
    network_names: Sequence[str] = ("blocks", "deep-blocks", "dead-units")

    def make_cases(self, task: Task) -> list[tuple[str, SculptedNetwork, Detection]]:
        """``(label, network, detection)`` triples to score (default: :func:`example_detections`
        of the ``network_names`` networks)."""
        nets = example_networks(task)
        return [
            (f"{name}/{kind}", nets[name], det)
            for name in self.network_names
            for kind, det in example_detections(nets[name]).items()
        ]

    def test_declares_metrics(self) -> None:
        """``metrics`` maps every metric name to a one-line description."""
        scorer = self.make_component()
        assert isinstance(scorer.metrics, Mapping) and scorer.metrics, "declare your metrics in `metrics`"
        for key, text in scorer.metrics.items():
            assert isinstance(key, str) and key and "." not in key, f"invalid metric name {key!r}"
            assert isinstance(text, str) and text.strip(), f"metric {key!r} needs a description"

    def test_score_returns_a_record(self) -> None:
        """``score`` returns a :class:`ScoreRecord` whose metrics are declared and JSON-serialisable."""
        scorer, task = self.make_component(), self.make_task()
        for label, net, det in self.make_cases(task):
            check_score_record(scorer.score(det, net, task, scorer.resolve(dict(self.params)), 0), scorer, f"scorer {scorer.name!r} on {label!r}")

    def test_score_is_deterministic_and_pure(self) -> None:
        """Scoring twice gives the same metrics; neither the detection nor the network changes."""
        scorer, task = self.make_component(), self.make_task()
        for label, net, det in self.make_cases(task):
            snapshot = _network_snapshot(net)
            modules = list(det.modules)
            options = scorer.resolve(dict(self.params))
            first = scorer.score(det, net, task, options, 0)
            second = scorer.score(det, net, task, options, 0)
            assert first.metrics.keys() == second.metrics.keys() and all(
                _same_float(first.metrics[k], second.metrics[k]) for k in first.metrics
            ), f"two score() calls on {label!r} gave different metrics"
            _assert_unchanged(net, snapshot, f"score() on {label!r}")
            assert det.modules == modules, f"score() on {label!r} mutated the detection"

