"""Every built-in component passes the plugin contract kit (``sculptbench.plugin.testing``).

The fixtures are imported rather than enabled with ``pytest_plugins`` (which a test module
imported after the kit could not assertion-rewrite); plugin authors enable the kit in their
``conftest.py`` instead.
"""

from __future__ import annotations

import types

import pytest

from sculptbench.api import hookimpl
from sculptbench.contracts.types import Detection
from sculptbench.contracts.components import Detector
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.options import Option, Options
from sculptbench.plugins.detectors import louvain, sculpting
from sculptbench.plugins.pruners import iterative
from sculptbench.plugins.scorers import structure
from sculptbench.plugins.tasks import boolean
from sculptbench.plugin.testing import (  # noqa: F401 - fixtures used by name
    DetectorContract,
    PrunerContract,
    ScorerContract,
    TaskContract,
    builtin_registry,
    example_networks,
    register_plugin,
    sculptbench_registry,
)

#: Bad values, and options given where they would have no effect, refused by every pruner's protocol.
PROTOCOL_BAD = [{"restarts": 0}, {"restarts": 2, "select": "best"}, {"select": "modularity"}]
SCHEDULE_BAD = [{"unit_step": 0}, {"edge_step": 100}, {"edge_schedule": "sideways"}, {"edge_schedule": "cosine", "schedule_iterations": 0},
                {"schedule_iterations": 5}, {"hparams": "some"}, {"hparams": "auto", "edge_step": 2.0}, *PROTOCOL_BAD]
#: magnitude and random take no ``hparams`` (their own 20% schedule) and no unit phase.
LTH_BAD = [{"edge_step": 100}, {"edge_schedule": "sideways"}, {"edge_schedule": "cosine", "schedule_iterations": 0},
           {"schedule_iterations": 5}, {"hparams": "task"}, {"unit_step": 50}, *PROTOCOL_BAD]


# --------------------------------------------------------------------------- pruners
class _BuiltinPruner(PrunerContract):
    plugin = iterative
    params = {"hparams": "task"}  # the exemplars default to the `auto` grid: keep one variant
    bad_params = SCHEDULE_BAD


class TestIterativePruner(_BuiltinPruner):
    component = iterative.IterativePruner()


class TestEdgePruner(_BuiltinPruner):
    component = iterative.EdgePruner()


class TestMagnitudePruner(_BuiltinPruner):
    component = iterative.MagnitudePruner()
    params = {}
    bad_params = LTH_BAD


class TestRandomPruner(_BuiltinPruner):
    component = iterative.RandomPruner()
    params = {}
    bad_params = [*LTH_BAD, {"edge_score": "magnitude"}]


class TestDensePruner(_BuiltinPruner):
    component = iterative.DensePruner()
    params = {}
    bad_params = [{"hparams": "task"}, {"edge_step": 1.5}, *PROTOCOL_BAD]


# --------------------------------------------------------------------------- detectors
class TestSculptingDetector(DetectorContract):
    component = sculpting.SculptingDetector()
    plugin = sculpting
    bad_params = [{"linkage": "ward-ish"}, {"metric": "euclid"}, {"mm_threshold": 2}, {"merge_threshold": 0}, {"feature_step": 0}]


class TestLouvainDetector(DetectorContract):
    component = louvain.LouvainDetector()
    plugin = louvain
    seed = 3
    bad_params = [{"resolution": 0}, {"resolution": "high"}, {"resolution": float("inf")}]


# --------------------------------------------------------------------------- scorers and tasks
class TestStructureScorer(ScorerContract):
    component = structure.StructureScorer()
    plugin = structure


class TestInputSeparableTask(TaskContract):
    task_name = "bool/input-separable"
    plugin = boolean

    def make_component(self):
        return builtin_registry().tasks[self.task_name]


class TestOverlapTask(TestInputSeparableTask):
    task_name = "bool/overlap-o2-u1"


# --------------------------------------------------------------------------- the kit itself
class _Everything(Detector):
    """One module of all units with an edge."""

    name = "contract-everything"

    def detect(self, network, task, options, seed):
        g = network.unit_graph()
        return Detection(modules=[frozenset(u for u in g if g.degree(u))])


class TestThirdPartyDetectorWithoutPlugin(DetectorContract):
    """No ``plugin``: the registration test wraps the component in a throwaway plugin."""

    component = _Everything()


def test_register_plugin_fixture_adds_a_plugin(register_plugin):
    plugin = types.SimpleNamespace(register_detectors=hookimpl(lambda register: register(_Everything())))
    registry = register_plugin(plugin, name="everything")
    assert "contract-everything" in registry.detectors
    assert "sculpting" in registry.detectors  # the built-ins are there too
    assert registry.owner[("detector", "contract-everything")].name == "everything"


def test_register_plugin_fails_the_test_when_the_plugin_fails(register_plugin):
    def boom(register):
        raise RuntimeError("exploded")

    with pytest.raises(pytest.fail.Exception, match="exploded"):
        register_plugin(types.SimpleNamespace(register_detectors=hookimpl(boom)), name="boom")
    # A name clash (here with a built-in) fails too.
    dup = types.SimpleNamespace(register_detectors=hookimpl(lambda register: register(louvain.LouvainDetector())))
    with pytest.raises(pytest.fail.Exception, match="did not load cleanly: name clash: detector 'louvain' is a built-in name"):
        register_plugin(dup, name="dup")


def test_sculptbench_registry_is_fresh(sculptbench_registry):
    assert sculptbench_registry is not builtin_registry()
    assert {"iterative", "magnitude"} <= set(sculptbench_registry.pruners)
    assert not sculptbench_registry.failed()


def test_contract_catches_a_mutating_detector():
    class Mutating(_Everything):
        name = "mutating"

        def detect(self, network, task, options, seed):
            network.weights[0].abs_()
            return super().detect(network, task, options, seed)

    class Probe(DetectorContract):
        component = Mutating()

    with pytest.raises(AssertionError, match="mutated"):
        Probe().test_detect_does_not_mutate_the_network()


def test_contract_catches_a_lenient_validator():
    class Lenient(_Everything):
        name = "lenient"
        options = (Option("k", int, 2, help="No bounds checked."),)

        def resolve(self, user=None, task=None):
            return Options({"k": 2, **(user or {})})

    class Probe(DetectorContract):
        component = Lenient()
        bad_params = [{"k": -1}]

    with pytest.raises(pytest.fail.Exception, match="accepted a bad option"):
        Probe().test_bad_params_are_rejected()
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        Probe().test_unknown_option_is_rejected()


def test_contract_bases_are_not_collected():
    for base in (TaskContract, PrunerContract, DetectorContract, ScorerContract):
        assert getattr(base, "__test__", True) is False
    for cls in (_BuiltinPruner, TestIterativePruner):  # collected by name only
        assert getattr(cls, "__test__", True) is True


def test_example_networks_fit_the_task():
    task = builtin_registry().tasks["bool/overlap-o2-u1"]
    for net in example_networks(task).values():
        assert net.sizes[0] == task.n_inputs and net.sizes[-1] == task.n_outputs
    with pytest.raises(SculptbenchError):
        builtin_registry().get("task", "no/such-task")
