"""In-process tests of plugin loading: validation, isolation, rollback and strict mode."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from sculptbench.api import hookimpl
from sculptbench.plugin import hookspecs
from sculptbench.contracts.types import Detection, GroundTruth, GroundTruthModule, ScoreRecord, SculptedNetwork, TaskData
from sculptbench.contracts.cli import CliCommand, CliOption
from sculptbench.contracts.components import Detector, Pruner, Scorer, Task, TaskSource
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.plugin.registry import STRICT_ENV, load_registry, valid_hooks

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- tiny components
class TinyDetector(Detector):
    """One module with every unit."""

    version = "0.1"

    def __init__(self, name="tiny"):
        self.name = name

    def detect(self, network, task, options, seed):
        return Detection(modules=[frozenset(network.unit_graph().nodes)])


class TinyScorer(Scorer):
    name = "tiny-scorer"
    metrics = {"n": "number of modules"}

    def score(self, detection, network, task, options, seed):
        return ScoreRecord(self.name, {"n": len(detection.modules)})


class TinyPruner(Pruner):
    name = "tiny-pruner"

    def prune(self, job):
        return SculptedNetwork.from_masks([torch.ones(job.task.n_outputs, job.task.n_inputs)])


class TinyTask(Task):
    name = "test/identity"
    family = "test"
    input_names = ("x1",)
    output_names = ("y1",)
    ground_truth = GroundTruth(inputs=("x1",), outputs=("y1",), modules=(GroundTruthModule("M", reads=("x1",), drives=("y1",)),))

    def data(self, device="cpu"):
        x = torch.tensor([[0.0], [1.0]], device=device)
        return TaskData(x, x.clone(), x, x.clone(), x, x.clone())


class TinySource(TaskSource):
    """Makes a :class:`TinyTask` named after any ``tiny:...`` selector."""

    name = "tiny-source"
    description = "tiny:ANYTHING"

    def matches(self, selector):
        return selector.startswith("tiny:")

    def load(self, selector):
        task = TinyTask()
        task.name = selector
        return task


def plugin(**hooks):
    """A plugin object whose attributes are @hookimpl functions."""
    return SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def load(*extra):
    return load_registry(entry_points=False, extra=list(extra))


def record(registry, name):
    return next(p for p in registry.plugins if p.name == name)


# --------------------------------------------------------------------------- built-ins
def test_builtins_load_without_failures(registry):
    assert registry.failed() == []
    assert all(p.builtin and p.package == "sculptbench" and p.status == "ok" for p in registry.plugins)
    assert set(registry.pruners) == {"iterative", "edge", "magnitude", "random", "dense", "published", "lth", "l1", "bimt", "snip", "grasp", "synflow"}
    assert set(registry.detectors) == {"sculpting", "louvain", "spectral", "leiden", "paris", "infomap", "activation", "single", "layers"}
    assert set(registry.scorers) == {"structure", "clusterability"}
    assert len([n for n in registry.tasks if n.startswith("bool/")]) == 39 + 7  # the paper's and the classic family's
    assert all(isinstance(t, Task) for t in registry.tasks.values())
    assert registry.version_of("pruner", "iterative")["package"] == "sculptbench"


def test_registry_get_names_the_available_components(registry):
    assert registry.get("pruner", "dense").name == "dense"
    with pytest.raises(SculptbenchError, match=re.escape("unknown pruner 'x'; available: bimt, dense, edge, grasp, iterative, l1, lth, magnitude, published, random, snip, synflow")):
        registry.get("pruner", "x")


def test_every_hook_registers_valid_components():
    def register_tasks(register):
        register(TinyTask())

    def register_pruners(register):
        register(TinyPruner())

    def register_detectors(register):
        register(TinyDetector("tiny-a"))
        register(TinyDetector("tiny-b"))

    def register_scorers(register):
        register(TinyScorer())

    good = plugin(register_tasks=register_tasks, register_pruners=register_pruners,
                  register_detectors=register_detectors, register_scorers=register_scorers)
    reg = load(("good", good))
    rec = record(reg, "good")
    assert rec.status == "ok" and rec.error is None and not rec.builtin
    assert rec.registers == {"task": ["test/identity"], "pruner": ["tiny-pruner"], "detector": ["tiny-a", "tiny-b"], "scorer": ["tiny-scorer"]}
    assert reg.tasks["test/identity"].family == "test"
    assert reg.owner[("detector", "tiny-b")] is rec
    assert reg.version_of("detector", "tiny-a") == {"package": "good", "package_version": "test", "version": "0.1"}
    assert "louvain" in reg.detectors  # built-ins are still there


def extras_plugin(applied):
    """A plugin with a task source, a CLI option (its ``apply`` calls land in ``applied``) and a command."""
    import click

    option = CliOption("--tiny-level", "How tiny.", lambda value, given: applied.append((value, dict(given))), kind="choice",
                       choices=("low", "high"))
    command = CliCommand("tiny-hello", lambda: click.Command("tiny-hello", callback=lambda: click.echo("hello from a plugin")))
    return plugin(register_task_sources=lambda register: register(TinySource()),
                  register_cli_options=lambda register: register(option),
                  register_commands=lambda register: register(command))


def test_task_sources_cli_options_and_commands_register_through_their_hooks():
    reg = load(("extras", extras_plugin([])))
    rec = record(reg, "extras")
    assert rec.status == "ok" and rec.error is None
    assert rec.registers == {"task_source": ["tiny-source"], "cli_option": ["tiny_level"], "command": ["tiny-hello"]}
    assert reg.task_source_for("tiny:3") is reg.task_sources["tiny-source"]
    assert reg.task_source_for("tiny:3").load("tiny:3").name == "tiny:3"
    assert reg.task_source_for("no/such-task") is None
    assert reg.cli_options["tiny_level"].flag == "--tiny-level"
    assert reg.commands["tiny-hello"].build().name == "tiny-hello"
    assert reg.owner[("task_source", "tiny-source")] is rec


@pytest.mark.parametrize("hook, base", [("register_task_sources", "TaskSource"), ("register_cli_options", "CliOption"),
                                        ("register_commands", "CliCommand")])
def test_the_new_hooks_refuse_the_wrong_type(hook, base):
    reg = load(("wrong", plugin(**{hook: lambda register: register(TinyTask())})))
    rec = record(reg, "wrong")
    assert rec.status == "failed" and f"expected an instance of sculptbench.api.{base}" in rec.error


def test_plugin_may_be_an_instance_of_a_class_with_hookimpl_methods():
    class ClassPlugin:
        @hookimpl
        def register_detectors(self, register):
            register(TinyDetector("from-class"))

    reg = load(("cls", ClassPlugin()))
    assert record(reg, "cls").status == "ok"
    assert "from-class" in reg.detectors


# --------------------------------------------------------------------------- validation
def test_wrong_base_class_is_refused():
    class NotADetector:
        name = "impostor"

        def detect(self, network, task, options, seed):
            return Detection(modules=[])

    reg = load(("bad", plugin(register_detectors=lambda register: register(NotADetector()))))
    rec = record(reg, "bad")
    assert rec.status == "failed"
    assert rec.error == "SculptbenchError: register_detectors got 'NotADetector'; expected an instance of sculptbench.api.Detector"
    assert "impostor" not in reg.detectors


def test_a_detector_registered_as_a_scorer_is_refused():
    reg = load(("bad", plugin(register_scorers=lambda register: register(TinyDetector("x")))))
    assert "expected an instance of sculptbench.api.Scorer" in record(reg, "bad").error
    assert "x" not in reg.detectors and "x" not in reg.scorers


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_missing_or_blank_name_is_refused(name):
    det = TinyDetector()
    det.name = name
    reg = load(("bad", plugin(register_detectors=lambda register: register(det))))
    rec = record(reg, "bad")
    assert rec.status == "failed"
    assert "has no name" in rec.error and "TinyDetector" in rec.error


def test_duplicate_within_one_plugin():
    def register_detectors(register):
        register(TinyDetector("twice"))
        register(TinyDetector("twice"))

    reg = load(("dup", plugin(register_detectors=register_detectors)))
    rec = record(reg, "dup")
    assert rec.status == "failed"
    assert rec.error == "SculptbenchError: duplicate detector name 'twice': registered twice by package 'dup'"
    assert "twice" not in reg.detectors


def test_a_name_claimed_by_two_plugins_is_refused_for_both():
    first = plugin(register_detectors=lambda register: register(TinyDetector("shared")))
    second = plugin(register_detectors=lambda register: [register(TinyDetector("shared")), register(TinyDetector("second-own"))])
    first.__name__, second.__name__ = "pkg_first", "pkg_second"
    reg = load(("first", first), ("second", second))
    assert "shared" not in reg.detectors and ("detector", "shared") not in reg.owner
    for name, other in (("first", "pkg_second"), ("second", "pkg_first")):
        rec = record(reg, name)
        assert rec.status == "clash", rec
        assert rec.error.startswith("name clash: detector 'shared' is also registered by package") and f"'{other}'" in rec.error
    # The clash costs only the clashing name: the second plugin's other detector is loaded.
    assert "second-own" in reg.detectors and record(reg, "second").registers == {"detector": ["second-own"]}
    assert record(reg, "first").registers == {}
    with pytest.raises(SculptbenchError, match=re.escape("detector 'shared' is registered by packages 'pkg_first' (plugin 'first') and 'pkg_second' (plugin 'second'), so none of them is used")):
        reg.get("detector", "shared")


def test_load_order_never_decides_who_owns_a_name():
    """Whichever plugin loads first, the name stays without an owner, also for a third claimant."""
    a = plugin(register_detectors=lambda register: register(TinyDetector("shared")))
    b = plugin(register_detectors=lambda register: register(TinyDetector("shared")))
    c = plugin(register_detectors=lambda register: register(TinyDetector("shared")))
    a.__name__, b.__name__, c.__name__ = "pkg_a", "pkg_b", "pkg_c"
    for order in ((("a", a), ("b", b), ("c", c)), (("c", c), ("b", b), ("a", a))):
        reg = load(*order)
        assert "shared" not in reg.detectors
        assert [record(reg, n).status for n in "abc"] == ["clash"] * 3
        assert [r.package for r in reg.contested[("detector", "shared")]] == [p.__name__ for _, p in order]
        assert f"'{order[-1][1].__name__}'" in record(reg, order[0][0]).error  # the first loaded hears of the last


def test_a_builtin_name_cannot_be_taken():
    class Shadow(TinyPruner):
        name = "magnitude"

    reg = load(("shadow", plugin(register_pruners=lambda register: [register(Shadow()), register(TinyPruner())])))
    rec = record(reg, "shadow")
    assert rec.status == "clash"
    assert rec.error == ("name clash: pruner 'magnitude' is a built-in name of package 'sculptbench'; "
                         "the built-in stays and this one is refused")
    assert type(reg.pruners["magnitude"]).__name__ == "MagnitudePruner"
    assert reg.owner[("pruner", "magnitude")].builtin
    assert "tiny-pruner" in reg.pruners and rec.registers == {"pruner": ["tiny-pruner"]}


def test_strict_mode_turns_a_clash_into_an_error(monkeypatch):
    class Shadow(TinyPruner):
        name = "magnitude"

    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(SculptbenchError, match="plugin 'shadow' from package .*name clash: pruner 'magnitude' is a built-in name"):
        load(("shadow", plugin(register_pruners=lambda register: register(Shadow()))))


def test_a_hook_that_raises_is_recorded_and_skipped():
    def register_scorers(register):
        raise RuntimeError("boom")

    reg = load(("raises", plugin(register_scorers=register_scorers)), ("fine", plugin(register_detectors=lambda register: register(TinyDetector("fine")))))
    rec = record(reg, "raises")
    assert (rec.status, rec.error) == ("failed", "RuntimeError: boom")
    assert reg.plugin_manager.get_plugin("raises") is None
    # The next plugin is unaffected.
    assert record(reg, "fine").status == "ok" and "fine" in reg.detectors


def test_an_unknown_hook_name_is_refused():
    def register_foo(register):
        raise AssertionError("never called")

    reg = load(("foo", plugin(register_foo=register_foo)))
    rec = record(reg, "foo")
    assert rec.status == "failed"
    assert "unknown hook 'register_foo'" in rec.error
    assert all(h in rec.error for h in valid_hooks())
    assert reg.plugin_manager.get_plugin("foo") is None


def test_a_hookimpl_with_a_wrong_argument_name_is_refused():
    def register_detectors(reg):
        raise AssertionError("never called")

    reg = load(("wrongarg", plugin(register_detectors=register_detectors)))
    rec = record(reg, "wrongarg")
    assert rec.status == "failed"
    assert rec.error.startswith("PluginValidationError") and "{'reg'}" in rec.error


def test_plugin_errors_are_one_line(monkeypatch):
    """A failure is shown in a table cell and, in strict mode, as the CLI's single error line."""

    def register_detectors(reg):
        raise AssertionError("never called")

    reg = load(("wrongarg", plugin(register_detectors=register_detectors)))
    assert "\n" not in record(reg, "wrongarg").error
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(SculptbenchError) as info:
        load(("wrongarg", plugin(register_detectors=register_detectors)))
    assert "\n" not in str(info.value)


def test_a_plugin_name_already_taken_fails_without_touching_the_builtin():
    reg = load(("builtin:louvain", plugin(register_detectors=lambda register: register(TinyDetector("clash")))))
    failed = reg.failed()
    assert len(failed) == 1 and failed[0].name == "builtin:louvain" and not failed[0].builtin
    assert "clash" not in reg.detectors and "louvain" in reg.detectors


def test_rollback_drops_what_a_failing_plugin_registered_first():
    def register_detectors(register):
        register(TinyDetector("valid-one"))
        raise RuntimeError("after one")

    reg = load(("half", plugin(register_detectors=register_detectors)))
    rec = record(reg, "half")
    assert rec.status == "failed" and rec.registers == {}
    assert "valid-one" not in reg.detectors
    assert ("detector", "valid-one") not in reg.owner


def test_rollback_spans_hooks():
    def register_detectors(register):
        register(TinyDetector("kept-nowhere"))

    def register_scorers(register):
        register(object())

    reg = load(("half", plugin(register_detectors=register_detectors, register_scorers=register_scorers)))
    assert record(reg, "half").status == "failed"
    assert "kept-nowhere" not in reg.detectors


# --------------------------------------------------------------------------- strict mode
def test_strict_mode_turns_a_failure_into_an_error(monkeypatch):
    bad = plugin(register_detectors=lambda register: register(object()))
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(SculptbenchError) as info:
        load(("bad", bad))
    message = str(info.value)
    assert "plugin 'bad'" in message and "expected an instance of sculptbench.api.Detector" in message
    assert STRICT_ENV in message and "\n" not in message


@pytest.mark.parametrize("value", ["", "0", "no"])
def test_non_strict_values_only_record_the_failure(monkeypatch, value):
    monkeypatch.setenv(STRICT_ENV, value)
    reg = load(("bad", plugin(register_detectors=lambda register: register(object()))))
    assert [p.name for p in reg.failed()] == ["bad"]


def test_strict_mode_accepts_good_plugins(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    reg = load(("good", plugin(register_detectors=lambda register: register(TinyDetector("good")))))
    assert reg.failed() == [] and "good" in reg.detectors


# --------------------------------------------------------------------------- hook documentation
HOOKS = [name for name, fn in vars(hookspecs).items() if name.startswith("register_") and inspect.isfunction(fn)]


def test_there_are_hooks():
    assert sorted(HOOKS) == valid_hooks() and len(HOOKS) >= 4


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_typed_and_tested(hook):
    """Datasette-style: every hook has a docstring, typed parameters, docs and a test."""
    fn = getattr(hookspecs, hook)
    assert (fn.__doc__ or "").strip(), f"{hook} has no docstring"
    params = list(inspect.signature(fn).parameters.values())
    assert params, f"{hook} takes no parameter"
    for p in params:
        assert p.annotation is not inspect.Parameter.empty, f"{hook}: parameter {p.name} has no type annotation"
    assert hook in (ROOT / "README.md").read_text(), f"{hook} is not mentioned in README.md"
    plugins_doc = ROOT / "docs" / "plugins.md"
    assert plugins_doc.is_file(), "docs/plugins.md does not exist"
    assert hook in plugins_doc.read_text(), f"{hook} is not documented in docs/plugins.md"
    # A test somewhere implements the hook (not counting this meta-test, which names no hook).
    pattern = re.compile(rf"\b{hook}\b")
    used_in = [p.name for p in (ROOT / "tests").rglob("*.py") if pattern.search(p.read_text())]
    assert used_in, f"no test in tests/ exercises {hook}"


# --------------------------------------------------------------------------- clashes through entry points and the CLI
class FakeEntryPoint:
    """Just what load_registry reads from an entry point."""

    def __init__(self, name, package, obj):
        self.name, self.value, self._obj = name, f"{package.replace('-', '_')}:plugin", obj
        self.dist = SimpleNamespace(name=package, version="1.0")

    def load(self):
        return self._obj


@pytest.fixture
def fresh_cli():
    """The CLI's group with no registry loaded yet (it loads the plugins once per process), and again afterwards."""
    from sculptbench.cli import common, main

    def reset():
        common.plugin_registry.cache_clear()
        main.__dict__.pop("_plugin_commands_cache", None)

    reset()
    yield main
    reset()


def test_the_cli_takes_a_plugins_task_source_options_and_commands(monkeypatch, tmp_path, fresh_cli):
    """Through an entry point: the plugin's command runs, its option is offered by ``run`` and applied
    before the tasks are selected, and ``--tasks`` takes a selector its task source makes."""
    from click.testing import CliRunner

    from sculptbench.plugin import registry as plugin_manager

    applied = []
    monkeypatch.setattr(plugin_manager, "_entry_points", lambda: [FakeEntryPoint("extras", "extras-pkg", extras_plugin(applied))])
    monkeypatch.delenv(STRICT_ENV, raising=False)
    hello = CliRunner().invoke(fresh_cli, ["tiny-hello"])
    assert hello.exit_code == 0 and hello.stdout == "hello from a plugin\n", hello.output
    assert "tiny-hello" in CliRunner().invoke(fresh_cli, ["--help"]).stdout
    assert "--tiny-level" in CliRunner().invoke(fresh_cli, ["run", "--help"]).stdout
    assert applied == []
    result = CliRunner().invoke(fresh_cli, ["run", "--tasks", "tiny:one", "--pruners", "dense", "--arch", "4", "--seeds", "1", "--epochs", "1",
                                            "--tiny-level", "high", "--quiet", "--no-cache", "--results", str(tmp_path / "r.db")])
    assert result.exit_code == 0, result.output
    assert applied == [("high", {"tiny_level": "high"})]
    assert "tiny:one" in result.stdout


def test_cli_reports_a_clash_and_never_runs_either_claimant(monkeypatch, tmp_path, fresh_cli):
    """The entry point that sorts first used to win the name; now neither runs and both are named."""
    from click.testing import CliRunner

    from sculptbench.plugin import registry as plugin_manager

    main = fresh_cli

    class Owner(TinyPruner):
        name = "shared-pruner"

    class Impostor(TinyPruner):
        name = "shared-pruner"

    eps = [FakeEntryPoint("a-impostor", "impostor-pkg", plugin(register_pruners=lambda register: register(Impostor()))),
           FakeEntryPoint("z-owner", "owner-pkg", plugin(register_pruners=lambda register: register(Owner()),
                                                                  register_detectors=lambda register: register(TinyDetector("owner-det"))))]
    monkeypatch.setattr(plugin_manager, "_entry_points", lambda: eps)
    monkeypatch.delenv(STRICT_ENV, raising=False)
    table = CliRunner().invoke(main, ["plugins"])
    assert table.exit_code == 0, table.output
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]] for line in table.stdout.splitlines()
            if line.startswith("| ") and "plugin" not in line.split("|")[1]}
    assert rows["a-impostor"][4] == "name clash: pruner 'shared-pruner' is also registered by package 'owner-pkg' (plugin 'z-owner'); refused for both"
    assert rows["z-owner"][4] == "name clash: pruner 'shared-pruner' is also registered by package 'impostor-pkg' (plugin 'a-impostor'); refused for both"
    assert rows["z-owner"][3] == "detectors: owner-det"
    result = CliRunner().invoke(main, ["run", "--tasks", "bool/input-separable", "--pruners", "shared-pruner", "--detectors", "owner-det",
                                       "--seeds", "1", "--quiet", "--results", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.output
    *warnings, line = result.stderr.strip().splitlines()
    assert [w.split(" lost names")[0] for w in warnings] == ["warning: plugin 'a-impostor' (package impostor-pkg 1.0)",
                                                            "warning: plugin 'z-owner' (package owner-pkg 1.0)"]
    assert line == ("error: pruner 'shared-pruner' is registered by packages 'impostor-pkg' (plugin 'a-impostor') and 'owner-pkg' "
                    "(plugin 'z-owner'), so none of them is used; uninstall all but one (see `sculptbench plugins`)")
    assert not (tmp_path / "r.db").exists()


def test_warm_up_imports_what_plugins_list_and_skips_what_fails(monkeypatch):
    import sys
    import types

    from sculptbench.plugin.registry import warm_up, worker_imports

    plugin = types.ModuleType("warm_plugin")
    plugin.WORKER_IMPORTS = ("colorsys", "no_such_module_for_sculptbench", "colorsys")
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    registry = load_registry(entry_points=False, extra=[("warm", plugin)])
    assert worker_imports([plugin]) == ["colorsys", "no_such_module_for_sculptbench"]
    assert warm_up(registry) == ["no_such_module_for_sculptbench"]
    assert "colorsys" in sys.modules


def test_builtins_name_the_libraries_they_import_on_first_use():
    import importlib

    from sculptbench.plugin.registry import BUILTIN_PLUGINS, worker_imports

    names = worker_imports(importlib.import_module(m) for m in BUILTIN_PLUGINS)
    assert {"sklearn.metrics", "scipy.optimize", "scipy.cluster.hierarchy"} <= set(names)
