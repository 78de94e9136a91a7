"""Declared options: resolution on hand-built declarations, and every option of every built-in
under every rule either changes what its component receives or is refused with one line."""

from __future__ import annotations

import math
import pickle
import types

import pytest
from click.testing import CliRunner

from sculptbench.api import Check, Default, Option, Options, Scorer, ScoreRecord, SculptbenchError, When, hookimpl
from sculptbench.cli import main
from sculptbench.contracts.options import option_names, resolve_options
from sculptbench.plugin.registry import load_registry
from sculptbench.run import planning

TASK = "bool/input-separable"
HIDDEN = (24, 24)

DECLARED = (
    Option("rule", str, "fast", choices=("fast", "exact"), help="rule"),
    Option("rounds", int, 10, low=1, applies=When("rule", "exact"), instead="add {component}.rule=exact", help="rounds"),
    Option("cut", float, 0.8, low=0, high=1, high_open=True, task=True, help="cut"),
    Option("steps", float, (1.0,), many=True, low=0, low_open=True, help="steps"),
    Option("floor", float, None, nullable=True, low=0, help="floor"),
    Option("order", str, Default("rule", {"exact": "global"}, "layer"), choices=("global", "layer"), help="order"),
    Option("deep", bool, False, applies=Check(lambda v: v["cut"] > 0.5, "cut > 0.5", reads=("cut",)), help="deep"),
)


def resolve(user=None, task=None):
    return resolve_options(DECLARED, user, task, "mine")


# --------------------------------------------------------------------------- resolution, by hand
def test_defaults_in_declaration_order_and_only_what_applies():
    options = resolve()
    assert list(options) == ["rule", "cut", "steps", "floor", "order", "deep"]  # rounds does not apply under rule=fast
    assert options == {"rule": "fast", "cut": 0.8, "steps": (1.0,), "floor": None, "order": "layer", "deep": False}
    assert options.given == frozenset()


def test_the_user_wins_over_the_task_which_wins_over_the_default():
    assert resolve(task={"cut": 0.5})["cut"] == 0.5
    assert resolve({"cut": 0.25}, {"cut": 0.5})["cut"] == 0.25
    assert resolve(task={"rule": "exact"})["rule"] == "fast", "rule is not declared task=True: a task cannot set it"


def test_a_derived_default_follows_the_option_it_reads():
    assert resolve({"rule": "exact"})["order"] == "global"
    assert resolve({"rule": "exact", "order": "layer"})["order"] == "layer"


def test_values_are_normalised():
    options = resolve({"rule": "exact", "rounds": 9.0, "steps": 2, "cut": 0})
    assert options["rounds"] == 9 and type(options["rounds"]) is int
    assert options["steps"] == (2.0,) and options["cut"] == 0.0
    assert resolve({"steps": [1, 2.5]})["steps"] == (1.0, 2.5)


@pytest.mark.parametrize("user, fragment", [
    ({"cut": 1.0}, "invalid mine.cut 1; it must be a number in [0, 1)"),
    ({"cut": True}, "invalid mine.cut true"),
    ({"rule": "slow"}, "invalid mine.rule slow; it must be one of fast, exact"),
    ({"rule": "exact", "rounds": 2.5}, "invalid mine.rounds 2.5; it must be an integer in [1, inf)"),
    ({"steps": []}, "invalid mine.steps []: give at least one value"),
    ({"steps": [1, 0]}, "invalid mine.steps [1, 0]; it must be a list, each a number in (0, inf)"),
    ({"floor": float("nan")}, "invalid mine.floor nan"),
    ({"colour": 1}, "unknown option mine.colour; valid: rule, rounds, cut, steps, floor, order, deep"),
])
def test_bad_values_are_refused_in_one_line(user, fragment):
    with pytest.raises(SculptbenchError) as info:
        resolve(user)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_an_option_that_does_not_apply_is_refused_when_given_and_dropped_when_the_task_sets_it():
    with pytest.raises(SculptbenchError) as info:
        resolve({"rounds": 3})
    assert str(info.value) == ("option mine.rounds=3 would have no effect: it applies only when rule is exact "
                               "(here rule is fast); add mine.rule=exact")
    with pytest.raises(SculptbenchError, match=r"deep=true would have no effect: it applies only when cut > 0.5 \(here cut is 0.2\)"):
        resolve({"cut": 0.2, "deep": True})
    assert "deep" not in resolve(task={"cut": 0.2})


def test_a_bad_value_is_named_before_whether_it_applies():
    with pytest.raises(SculptbenchError, match="invalid mine.rounds 0"):
        resolve({"rounds": 0})


def test_resolved_options_are_frozen_hashable_picklable_and_resolve_to_themselves():
    options = resolve({"rule": "exact", "steps": [1, 2]}, {"cut": 0.5})
    assert options.given == {"rule", "steps"}
    with pytest.raises(TypeError):
        options["cut"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        options.given = frozenset()  # type: ignore[misc]
    assert hash(options) == hash(resolve({"rule": "exact", "steps": [1, 2]}, {"cut": 0.5}))
    assert pickle.loads(pickle.dumps(options)) == options
    assert options.as_dict()["steps"] == [1.0, 2.0]
    assert resolve(options.as_dict()) == options


def test_declarations_are_checked():
    with pytest.raises(ValueError, match="declared twice"):
        option_names((Option("a", help="x"), Option("a", help="y")))
    with pytest.raises(ValueError, match=r"depends on \['b'\], which must be declared before it"):
        option_names((Option("a", applies=When("b", 1), help="x"), Option("b", help="y")))


def test_descriptions_for_listings_and_docs():
    by_name = {o.name: o for o in DECLARED}
    assert by_name["cut"].describe_type() == "a number in [0, 1)"
    assert by_name["steps"].describe_type() == "a list, each a number in (0, inf)"
    assert by_name["floor"].describe_type() == "a number in [0, inf), or null"
    assert by_name["order"].describe_default() == "global if rule is exact, else layer"
    assert by_name["rounds"].to_dict()["applies"] == "rule is exact"


# --------------------------------------------------------------------------- every option of every built-in
class OtherScorer(Scorer):
    """A second scorer reporting `success`, so that oracle_scorer has somewhere to point."""

    name = "other-scorer"
    metrics = {"success": "always true"}

    def score(self, detection, network, task, options, seed):
        """Always a success."""
        return ScoreRecord(self.name, {"success": True})


def _plugin():
    module = types.ModuleType("options_test_plugin")

    @hookimpl
    def register_scorers(register):
        register(OtherScorer())

    module.register_scorers = register_scorers
    return module


@pytest.fixture(scope="module")
def registry():
    return load_registry(entry_points=False, extra=[("options-test", _plugin())])


def _other_value(option: Option, current: object) -> object:
    """A valid value of ``option`` other than ``current`` (its resolved value, or its default)."""
    default = option.default if current is None else current
    if option.name == "select_detector":
        return "louvain"
    if option.name == "oracle_scorer":
        return "other-scorer"
    if option.name == "oracle_metric":
        return "success_at_depth"
    if option.name == "loop":
        return ["percentile"]
    if option.choices:
        value = next(c for c in option.choices if c != (default[0] if option.many and default else default))
        return [value] if option.many else value
    if option.type is bool:
        return not default
    if option.type is str:
        return "something"
    if option.many:
        return [float(default[0]) / 2 + 0.1]
    if default is None:
        value = 3 if option.type is int else 2.5
        if option.high is not None and value >= option.high:  # e.g. a density in (0, 1)
            value = (float(option.low or 0) + option.high) / 2
        return value
    if option.type is int:
        return int(default) + 1 if option.high is None or default + 1 <= option.high else int(default) - 1
    low = option.low if option.low is not None else 0.0
    high = option.high if option.high is not None else float(default) * 2 + 1
    value = (low + high) / 2
    return value if not math.isclose(value, default) else (low + value) / 2


def _enabling(option: Option, declared: dict[str, Option]) -> dict[str, object]:
    """Values of other options under which ``option`` applies (its condition satisfied)."""
    condition = option.applies
    if condition is None:
        return {}
    if hasattr(condition, "parts"):  # "a or b": satisfy the first
        condition = condition.parts[0]
    if isinstance(condition, When):
        enabling = {condition.option: condition.values[0]}
        return {**_enabling(declared[condition.option], declared), **enabling} if condition.option in declared else enabling
    return {"restarts": 2}  # the protocol's "more than one candidate"


def _plan(registry, kind, name, params, tmp_reference=None):
    pruners, detectors, scorers = ["dense"], ["sculpting"], ["structure"]
    {"pruner": pruners, "detector": detectors, "scorer": scorers}[kind][0] = name
    spec = planning.RunSpec(tasks=[registry.tasks[TASK]], pruners=pruners, detectors=detectors, scorers=scorers, seeds=[0],
                            archs=[HIDDEN], params={name: params} if params else {})
    (group,) = planning.plan(registry, spec)
    if kind == "pruner":
        return group.pruner_params, group
    return dict(group.detectors if kind == "detector" else group.scorers)[name], group


def _cases(registry):
    for kind in ("pruner", "detector", "scorer"):
        for name, component in sorted(registry.components[kind].items()):
            if name in ("published", "other-scorer"):
                continue
            declared = {o.name: o for o in component.declared_options()}
            rules = declared["hparams"].choices if "hparams" in declared else (None,)
            for option in declared.values():
                for rule in rules:
                    yield kind, name, option.name, rule


CASES = list(_cases(load_registry(entry_points=False)))


@pytest.mark.parametrize("kind, name, option_name, rule", CASES, ids=[f"{k}-{n}-{o}-{r}" for k, n, o, r in CASES])
def test_every_option_changes_what_its_component_receives_or_is_refused(registry, kind, name, option_name, rule):
    component = registry.get(kind, name)
    declared = {o.name: o for o in component.declared_options()}
    option = declared[option_name]
    context = {} if rule is None or option_name == "hparams" else {"hparams": rule}
    # Where its condition holds, the option reaches the component.
    enabling = {**context, **{k: v for k, v in _enabling(option, declared).items() if k != "hparams" or rule is None}}
    try:
        base, _ = _plan(registry, kind, name, enabling)
        value = rule if option_name == "hparams" and rule != base.get("hparams") else _other_value(option, base.get(option_name))
        changed, _ = _plan(registry, kind, name, {**enabling, option_name: value})
    except SculptbenchError as exc:  # the rule itself rules the option out (e.g. the steps under hparams=auto)
        assert "would have no effect" in str(exc) and "\n" not in str(exc), str(exc)
        return
    assert option_name in changed and changed != base, f"{kind} {name}: {option_name}={value!r} under {enabling} changed nothing"
    # In the plain context, either it applies and changes what the component receives, or it is refused.
    try:
        base, _ = _plan(registry, kind, name, context)
        value = _other_value(option, base.get(option_name)) if option_name in base else value
        changed, _ = _plan(registry, kind, name, {**context, option_name: value})
    except SculptbenchError as exc:
        assert "would have no effect" in str(exc) and "\n" not in str(exc), str(exc)
        return
    assert changed != base, f"{kind} {name}: {option_name}={value!r} under {context} was accepted and changed nothing"


def test_the_published_pruners_root_reaches_it(registry, tmp_path, monkeypatch):
    monkeypatch.delenv("SCULPTBENCH_REFERENCE_ROOT", raising=False)
    for sub in ("shell", "results"):
        (tmp_path / sub).mkdir()
    with pytest.raises(SculptbenchError, match="no reference checkout given"):
        _plan(registry, "pruner", "published", {})
    options, _ = _plan(registry, "pruner", "published", {"root": str(tmp_path)})
    assert options["root"] == str(tmp_path.resolve())


# --------------------------------------------------------------------------- the silent cases, from the command line
@pytest.mark.parametrize("args, fragment", [
    (["--tasks", "bool/reused", "--param", "iterative.schedule_iterations=3"], "iterative.schedule_iterations=3 would have no effect"),
    (["--tasks", "bool/levels-m4", "--param", "iterative.select_detector=louvain"], "iterative.select_detector=louvain would have no effect"),
    (["--tasks", "bool/levels-m4", "--param", "iterative.oracle_metric=success"], "iterative.oracle_metric=success would have no effect"),
    (["--tasks", "bool/levels-m4", "--pruners", "dense", "--param", "dense.select=oracle"], "dense.select=oracle would have no effect"),
    (["--tasks", "bool/levels-m4", "--param", "iterative.hparams=task", "--param", "iterative.select=oracle"],
     "iterative.select=oracle would have no effect"),
])
def test_options_that_used_to_be_ignored_are_refused_in_one_line(tmp_path, args, fragment):
    db = tmp_path / "r.db"
    result = CliRunner().invoke(main, ["run", *args, "--results", str(db), "--quiet"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and lines[0].startswith("error: ")
    assert not db.exists(), "nothing is written for a refused option"


def test_a_task_value_that_does_not_apply_is_dropped(registry):
    """bool/reused sets unit_step and edge_step, which do not apply under hparams=auto (its own rule)."""
    options, group = _plan(registry, "pruner", "iterative", {})
    assert options["hparams"] == "auto" and "unit_step" not in options and options["restarts"] == 9
    assert group.pruner_label == "iterative[sparsest_modularity]"


def test_resolving_the_recorded_options_again_gives_them_back(registry):
    for name in ("iterative", "edge", "magnitude", "random", "dense"):
        options, _ = _plan(registry, "pruner", name, {})
        again, _ = _plan(registry, "pruner", name, options.as_dict())
        assert again == options and isinstance(again, Options)
