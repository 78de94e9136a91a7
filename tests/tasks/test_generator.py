"""The hierarchy generator (plugins/tasks/boolean/generator.py): its selector grammar, its fixed
bytes, the exactness of what it draws, the task source and the ``generate`` command."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from click.testing import CliRunner

from sculptbench.api import SculptbenchError
from sculptbench.cli import main
from sculptbench.plugins.tasks.boolean.check import functional_support, module_reach
from sculptbench.plugins.tasks.boolean.generate_cmd import generated_task
from sculptbench.plugins.tasks.boolean.generator import MAX_INPUTS, GeneratorParams, generate, parse_selector
from sculptbench.plugins.tasks.boolean.truth import _evaluate
from sculptbench.run.planning import select_tasks

#: sha256 of the YAML of each selector. The generator draws from SHA-256 streams and writes the
#: file field by field, so these bytes are the same on every machine; a change that moves them
#: must bump GENERATOR_VERSION.
DIGESTS = {
    "gen/l3-m2-f2-r0-o0-s7": "fba44eb1b01717b1203989087cf8f64d7d8a8bb6fa24062fc78b5215300c77dc",
    "gen/l2-m3-f3-r1-o1-gt-s11": "89269507709409d3a2c1a7a84597ca4e893d430dec24743c91b6b9dd884a5699",
}


@pytest.mark.parametrize("selector", sorted(DIGESTS))
def test_the_same_parameters_give_the_same_bytes(selector):
    text = generate(parse_selector(selector))
    assert hashlib.sha256(text.encode()).hexdigest() == DIGESTS[selector]
    assert generate(parse_selector(selector)) == text


def test_other_seeds_give_other_circuits():
    texts = {generate(GeneratorParams(levels=2, modules=3, seed=s)) for s in range(5)}
    assert len(texts) == 5


def test_grammar_defaults_and_canonical_names():
    assert parse_selector("gen/") == GeneratorParams()
    assert parse_selector("gen/s7-l3") == GeneratorParams(levels=3, seed=7)
    assert parse_selector("gen/l3-m2-f2-r0-o0-s7").name() == "gen/l3-m2-f2-r0-o0-s7"
    assert parse_selector("gen/gt-l1-m2-f4").name() == "gen/l1-m2-f4-r0-o0-gt-s0"
    assert GeneratorParams(modules=3, fanin=4, overlap=1).n_inputs == 3 * 4 - 2 * 1


@pytest.mark.parametrize("selector, message", [
    ("gen/l2-x3", "bad token 'x3' in gen/l2-x3"),
    ("gen/l2-l3", "gives levels twice"),
    ("gen/lthree", "bad levels 'three'"),
    ("gen/l9", "invalid generator levels 9"),
    ("gen/f2-o2", "invalid generator overlap 2"),
    ("gen/gaq", "invalid generator gate set 'aq'"),
    ("gen/gaa", "invalid generator gate set 'aa'"),
    ("gen/l2-m1", "needs at least 2 modules per level"),
    ("gen/m4-f4", f"has 16 inputs (modules x fanin - (modules - 1) x overlap); at most {MAX_INPUTS}"),
    ("gen/l4-m2-f3", "none of 2000 draws"),
])
def test_bad_selectors_are_one_line(selector, message):
    with pytest.raises(SculptbenchError) as info:
        generate(parse_selector(selector))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("selector", ["gen/l1-m2-f4-r3-o2-gt-s1", "gen/l3-m3-f2-r1-o1-s4", "gen/l2-m4-f3-r0-o2-gaoxnre-s2"])
def test_the_drawn_ground_truth_is_exact(selector):
    params = parse_selector(selector)
    task = generated_task(selector)
    modules = task.ground_truth.modules
    assert task.name == params.name() and task.family == "generated"
    assert task.n_inputs == params.n_inputs and task.n_outputs == params.modules * (1 + params.reuse)
    assert len(modules) == params.levels * params.modules
    assert task.task_parameters["levels"] == params.levels and task.task_parameters["inputs"] == params.n_inputs
    # Level 1 reads windows of fanin inputs, adjacent ones sharing overlap.
    stride = params.fanin - params.overlap
    for i, module in enumerate(modules[:params.modules]):
        assert list(module.reads) == [f"x{stride * i + j + 1}" for j in range(params.fanin)]
    # Every module's own function (its gate's column) depends on exactly the inputs it reaches.
    spec = task.spec.__class__(**{**task.spec.__dict__, "outputs": tuple((m.name, m.name) for m in modules)})
    columns = _evaluate(spec)[1]
    reach = module_reach(modules)
    supports = functional_support(columns, task.n_inputs)
    for k, module in enumerate(modules):
        assert {task.input_names[j] for j in supports[k]} == reach[module.name]
    # No two modules compute the same function or its negation.
    keys = {np.packbits(c).tobytes() for c in columns.T} | {np.packbits(~c).tobytes() for c in columns.T}
    assert len(keys) == 2 * len(modules)
    # Top modules drive 1 + reuse outputs each, alternating.
    top = modules[-params.modules:]
    assert [m.drives for m in top] == [tuple(f"y{k * params.modules + i + 1}" for k in range(1 + params.reuse)) for i in range(params.modules)]


def test_the_task_source_makes_tasks_of_selectors(registry):
    [task] = select_tasks(registry, ["gen/l2-m2-f2-s3"])
    assert task.name == "gen/l2-m2-f2-r0-o0-s3"
    with pytest.raises(SculptbenchError, match="bad token"):
        select_tasks(registry, ["gen/l2-q1"])


def test_generate_writes_the_same_bytes(tmp_path):
    out = tmp_path / "c.yaml"
    result = CliRunner().invoke(main, ["generate", "gen/l3-m2-f2-r0-o0-s7", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(out.read_bytes()).hexdigest() == DIGESTS["gen/l3-m2-f2-r0-o0-s7"]
    assert "wrote" in result.stderr and "gen/l3-m2-f2-r0-o0-s7" in result.stderr
    by_options = CliRunner().invoke(main, ["generate", "--levels", "3", "--seed", "7"])
    assert by_options.exit_code == 0 and by_options.stdout == out.read_text()


@pytest.mark.parametrize("args, message", [
    (["gen/l2", "--levels", "3"], "give either a selector (gen/l2) or the options --levels, not both"),
    (["--fanin", "9"], "invalid generator fanin 9"),
    (["gen/l2", "-o", "/nonexistent-folder/c.yaml"], "folder /nonexistent-folder does not exist"),
])
def test_generate_errors_are_one_line_exit_2(tmp_path, args, message):
    result = CliRunner().invoke(main, ["generate", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_run_takes_a_generated_circuit_by_name(tmp_path):
    result = CliRunner().invoke(main, ["run", "--tasks", "gen/l1-m2-f2-s1", "--pruners", "dense", "--detectors", "louvain",
                                       "--arch", "8", "--seeds", "1", "--results", str(tmp_path / "r.db")])
    assert result.exit_code == 0, result.output
    assert "l1-m2-f2-r0-o0-s1" in result.stdout and "cells: ok 1" in result.stdout


def test_a_gate_set_that_spells_a_yaml_boolean_stays_a_string():
    assert generated_task("gen/l2-m2-gon-s1").task_parameters["gates"] == "on"  # unquoted, YAML reads "on" as true
