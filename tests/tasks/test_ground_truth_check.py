"""The ground truth checked against the function (plugins/tasks/boolean/check.py): the inputs each
output depends on, read from its truth table, must be what its modules read."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from click.testing import CliRunner

from sculptbench.cli import main
from sculptbench.plugins.tasks.boolean import CircuitSpecError, load_builtin_tasks, load_circuit
from sculptbench.plugins.tasks.boolean.check import check_against_function, functional_support, module_reach
from sculptbench.plugins.tasks.boolean.generate_cmd import generated_task

HEADER = "name: t/contradicts\nfamily: custom\ninputs: [x1, x2, x3]\n"

# y1 = x1 XOR x2 XOR x2 = x1: wired to all three inputs' gates but a function of x1 alone.
CANCELLING = HEADER + """\
gates:
  a: {op: xor, in: [x1, x2]}
  b: {op: xor, in: [a, x2]}
  c: {op: and, in: [b, x3]}
  d: {op: or, in: [b, c]}
outputs:
  y1: d
modules:
  M: {reads: [x1, x2, x3], drives: [y1]}
"""

# A table gate over x1..x3 whose ones ignore x3 (y1 = x1 AND x2), drawn as reading all three.
TABLE = HEADER + """\
gates:
  t: {op: table, in: [x1, x2, x3], ones: ["110", "111"]}
outputs:
  y1: t
modules:
  A: {reads: [x1, x2]}
  M: {uses: [A], reads: [x3], drives: [y1]}
"""


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_functional_support_by_hand():
    # Rows in binary order over (a, b, c), a most significant. Column 0 = a (ignores b, c),
    # column 1 = b XOR c, column 2 = constant 1, column 3 = a AND NOT a OR c = c.
    rows = np.array(list(itertools.product((0, 1), repeat=3)), dtype=bool)
    a, b, c = rows.T
    y = np.stack([a, b ^ c, np.ones(8, dtype=bool), (a & ~a) | c], axis=1)
    assert functional_support(y, 3) == [frozenset({0}), frozenset({1, 2}), frozenset(), frozenset({2})]


def test_module_reach_follows_uses():
    from sculptbench.api import GroundTruthModule

    modules = [GroundTruthModule("A", reads=("x1",)), GroundTruthModule("B", reads=("x2",), uses=("A",)),
               GroundTruthModule("C", uses=("B",), drives=("y1",))]
    assert module_reach(modules) == {"A": {"x1"}, "B": {"x1", "x2"}, "C": {"x1", "x2"}}


@pytest.mark.parametrize("text, message", [
    (CANCELLING, "outputs.y1: module DAG contradicts the function: by its truth table y1 depends on inputs {x1} but its "
                 "modules (M) read {x1, x2, x3} directly or through uses (extra {x2, x3}: y1 does not change with them)"),
    (TABLE, "outputs.y1: module DAG contradicts the function: by its truth table y1 depends on inputs {x1, x2} but its "
            "modules (M) read {x1, x2, x3} directly or through uses (extra {x3}: y1 does not change with them)"),
])
def test_a_hand_written_contradicting_circuit_is_refused(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(CircuitSpecError) as info:
        load_circuit(path)
    assert str(info.value) == f"{path}: {message}"


def test_the_cli_refuses_it_with_one_line_and_exit_2(tmp_path):
    path = write(tmp_path, CANCELLING)
    result = CliRunner().invoke(main, ["run", "--tasks", str(path), "--pruners", "dense", "--results", str(tmp_path / "r.db")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: outputs.y1: module DAG contradicts the function")
    assert "depends on inputs {x1}" in lines[0] and "extra {x2, x3}" in lines[0]
    assert not (tmp_path / "r.db").exists()


def test_the_same_function_drawn_right_passes(tmp_path):
    fixed = CANCELLING.replace("reads: [x1, x2, x3], drives: [y1]", "reads: [x1], drives: [y1]")
    # x2 and x3 then change no output: refused as such, naming the first.
    with pytest.raises(CircuitSpecError, match=r"inputs\[1\]: input 'x2' changes no output \(by the truth table\)"):
        load_circuit(write(tmp_path, fixed))
    honest = TABLE.replace('ones: ["110", "111"]', 'ones: ["110", "011"]')  # now x3 matters: (x1 x2 x3) in {110, 011}
    task = load_circuit(write(tmp_path, honest, "honest.yaml"))
    assert task.output_names == ("y1",)


def test_every_built_in_task_passes():
    tasks = load_builtin_tasks()  # loading runs the check
    assert len(tasks) >= 39 + 7
    for task in tasks:
        _, y = task.truth_table()
        check_against_function(task.source, task.input_names, task.output_names, task.ground_truth.modules, y.numpy() > 0.5)


def test_generated_circuits_pass():
    for selector in ("gen/l1-m2-f4-r1-o2-gt-s0", "gen/l3-m3-f2-r0-o1-s5", "gen/l2-m4-f2-r2-o0-gax-s9"):
        task = generated_task(selector)
        _, y = task.truth_table()
        check_against_function(task.source, task.input_names, task.output_names, task.ground_truth.modules, y.numpy() > 0.5)
