"""Tests of the Boolean-circuit format, its loader and the 39 shipped paper tasks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import networkx as nx
import pytest
import torch

from sculptbench.plugins.tasks.boolean import (
    PAPER_ARCHS,
    BooleanTask,
    CircuitSpecError,
    builtin_task_files,
    load_builtin_tasks,
    load_circuit,
    parse_circuit,
)
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.types import TaskData

# --------------------------------------------------------------------------- independent reference
# Written straight from /work/shared/reference/paper-tasks.md, row by row in plain Python.
G4A = {"0011", "1010", "1100"}
G4B = {"0101", "1001", "1111"}


def g4a(bits):
    return int("".join(map(str, bits)) in G4A)


def g4b(bits):
    return int("".join(map(str, bits)) in G4B)


def _g1(x):
    return int("".join(map(str, x[:4])) in {"1010", "1100"})


def _g2(x):
    return int("".join(map(str, x[:4])) in {"0011", "1010"})


def _alternate(m, odd, even):
    return [odd if j % 2 == 0 else even for j in range(m)]


def ref_input_separable(x):
    a, b = x[0] ^ x[1], x[2] ^ x[3]
    return [a, 1 - a, b, 1 - b]


def ref_both(x):
    f1, f2, f3 = x[0] & x[1], x[2] & x[3], x[4] & x[5]
    return [f1 | f2, f1 | f3, f2 | f3]


def ref_none(x):
    return [g4a(x[:4])] * 4


def ref_reuse(m):
    return lambda x: _alternate(m, _g1(x), _g2(x))


def ref_overlap(o, u):
    n = 8 - o
    return lambda x: _alternate(2 * u, g4a(x[0:4]), g4b(x[n - 4 : n]))


def ref_levels(m):
    def f(x):
        a, b = g4a(x[0:4]), g4b(x[4:8])
        c = a ^ b
        return _alternate(m, c & a, c & b)

    return f


def odd(m):
    return [f"y{j}" for j in range(1, m + 1, 2)]


def even(m):
    return [f"y{j}" for j in range(2, m + 1, 2)]


def xs(a, b):
    return [f"x{i}" for i in range(a, b + 1)]


def _reuse_modules(m):
    return [("M", xs(1, 4), [], []), ("g1", [], ["M"], odd(m)), ("g2", [], ["M"], even(m))]


# name -> (family, n_inputs, reference, parameters, expected modules [(name, reads, uses, drives)])
EXPECTED: dict[str, tuple] = {
    "bool/input-separable": ("exemplars", 4, ref_input_separable, {}, [
        ("A", ["x1", "x2"], [], ["y1", "y2"]), ("B", ["x3", "x4"], [], ["y3", "y4"])]),
    "bool/reused": ("exemplars", 4, ref_reuse(16), {}, _reuse_modules(16)),
    "bool/both": ("exemplars", 6, ref_both, {}, [
        ("f1", ["x1", "x2"], [], ["y1", "y2"]), ("f2", ["x3", "x4"], [], ["y1", "y3"]),
        ("f3", ["x5", "x6"], [], ["y2", "y3"])]),
    "bool/none": ("exemplars", 4, ref_none, {}, [("M", xs(1, 4), [], ["y1", "y2", "y3", "y4"])]),
}
for _m in (2, 4, 8, 12, 16):
    EXPECTED[f"bool/reuse-m{_m}"] = ("reuse", 4, ref_reuse(_m), {"m": _m, "uses": _m // 2}, _reuse_modules(_m))
    EXPECTED[f"bool/levels-m{_m}"] = ("levels", 8, ref_levels(_m), {"m": _m, "uses": _m // 2}, [
        ("a", xs(1, 4), [], []), ("b", xs(5, 8), [], []), ("c", [], ["a", "b"], []),
        ("p", [], ["c"], odd(_m)), ("q", [], ["c"], even(_m))])
for _o in range(5):
    for _u in (1, 2, 4, 6, 8):
        _n = 8 - _o
        EXPECTED[f"bool/overlap-o{_o}-u{_u}"] = ("overlap", _n, ref_overlap(_o, _u), {"o": _o, "u": _u}, [
            ("a", xs(1, 4), [], odd(2 * _u)), ("b", xs(_n - 3, _n), [], even(2 * _u))])


@pytest.fixture(scope="module")
def tasks() -> dict[str, BooleanTask]:
    loaded = load_builtin_tasks()
    return {t.name: t for t in loaded if t.family != "classic"}  # the paper's 39; the classic family: test_classic.py


def test_builtin_names_families_and_count(tasks):
    files = [f for f in builtin_task_files() if f.parent.name != "classic"]
    assert len(files) == 39 and files == sorted(files)
    assert len(tasks) == 39
    assert set(tasks) == set(EXPECTED)
    counts: dict[str, int] = {}
    for t in tasks.values():
        counts[t.family] = counts.get(t.family, 0) + 1
    assert counts == {"exemplars": 4, "reuse": 5, "overlap": 25, "levels": 5}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_truth_table_matches_reference(tasks, name):
    task = tasks[name]
    family, n, ref, params, _ = EXPECTED[name]
    assert task.family == family
    assert task.n_inputs == n
    assert task.input_names == tuple(xs(1, n))
    X, Y = task.truth_table()
    assert X.dtype == torch.float32 and Y.dtype == torch.float32
    assert X.shape == (2**n, n)
    for r in range(2**n):
        bits = [(r >> (n - 1 - j)) & 1 for j in range(n)]  # x1 is the most significant bit
        assert X[r].tolist() == bits
        assert Y[r].tolist() == ref(bits), f"{name} row {r}"
    assert task.output_names == tuple(f"y{j}" for j in range(1, Y.shape[1] + 1))
    for key, value in params.items():
        assert task.task_parameters[key] == value


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ground_truth(tasks, name):
    task = tasks[name]
    expected = EXPECTED[name][4]
    gt = task.ground_truth
    got = [(m.name, list(m.reads), list(m.uses), list(m.drives)) for m in gt.modules]
    assert got == [(a, list(b), list(c), list(d)) for a, b, c, d in expected]
    g = gt.graph()
    assert nx.is_directed_acyclic_graph(g)
    for y in task.output_names:  # every output is reached from every input it depends on
        assert g.in_degree(("out", y)) >= 1
    for x in task.input_names:
        assert g.out_degree(("in", x)) >= 1
    assert task.accuracy_threshold == 1.0 and task.require_all_inputs
    assert task.data_source == "truth table"
    # Small tables (exemplars, reuse) default to the automatic step grid, with the protocol's nine
    # starts and the most modular of the sparsest (for every pruner); the others to fixed steps.
    expected = {"unit_step": 50, "edge_step": 1.5}
    if task.family in ("exemplars", "reuse"):
        expected.update(hparams="auto", restarts=9, select="sparsest_modularity")
    assert task.pruning_defaults == expected
    assert task.paper_name.startswith("[")
    assert Path(task.source).is_file()


def test_task_defaults(tasks):
    assert tasks["bool/levels-m4"].default_archs == ((24, 24), (24, 24, 24), (24, 24, 24, 24))
    assert tasks["bool/both"].default_archs == ((24,), (24, 24), (24, 24, 24))
    assert tasks["bool/levels-m4"].training.batch_size == 32
    assert tasks["bool/overlap-o1-u1"].training.batch_size == 16  # 7 inputs
    assert tasks["bool/overlap-o2-u1"].training.batch_size == 16  # 6 inputs
    assert tasks["bool/overlap-o3-u1"].training.batch_size == 8  # 5 inputs
    # bool/both trains the reference's 15 epochs (less compressed networks, docs/paper-differences.md).
    assert tasks["bool/both"].training.epochs == 15
    assert all(t.training.epochs == 60 for name, t in tasks.items() if name != "bool/both")
    assert all(t.training.lr == 0.05 for t in tasks.values())
    assert tasks["bool/input-separable"].training.weight_decay == 1e-4
    assert PAPER_ARCHS[:4] == ((24,), (36,), (48,), (24, 24)) and len(PAPER_ARCHS) == 9


def test_data_and_definition(tasks):
    task = tasks["bool/input-separable"]
    data = task.data("cpu")
    assert isinstance(data, TaskData)
    X, Y = task.truth_table()
    for x, y in ((data.train_x, data.train_y), (data.val_x, data.val_y), (data.test_x, data.test_y)):
        assert torch.equal(x, X) and torch.equal(y, Y)
    assert "circuit" in task.definition()
    hashes = {t.definition_hash() for t in tasks.values()}
    assert len(hashes) == 39


MINIMAL = """\
name: t/mini
family: custom
inputs: [x1, x2]
gates:
  g: {op: and, in: [x1, x2]}
outputs:
  y1: g
modules:
  M: {reads: [x1, x2], drives: [y1]}
"""


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_minimal_and_hash_follows_circuit(tmp_path):
    a = load_circuit(_write(tmp_path, MINIMAL, "a.yaml"))
    b = load_circuit(_write(tmp_path, MINIMAL.replace("op: and", "op: or"), "b.yaml"))
    assert a.truth_table()[1].flatten().tolist() == [0, 0, 0, 1]
    assert b.truth_table()[1].flatten().tolist() == [0, 1, 1, 1]
    assert a.definition_hash() != b.definition_hash()
    assert a.default_archs == ((24,), (24, 24), (24, 24, 24))
    assert a.source.endswith("a.yaml")


def test_all_ops_and_archs(tmp_path):
    spec = {
        "name": "t/ops", "family": "custom", "inputs": ["x1", "x2", "x3"],
        "gates": {
            "a": {"op": "and", "in": ["x1", "x2", "x3"]}, "o": {"op": "or", "in": ["x1", "x2", "x3"]},
            "x": {"op": "xor", "in": ["x1", "x2", "x3"]}, "na": {"op": "nand", "in": ["x1", "x2"]},
            "no": {"op": "nor", "in": ["x1", "x2"]}, "xn": {"op": "xnor", "in": ["x1", "x2", "x3"]},
            "n": {"op": "not", "in": ["x3"]}, "b": {"op": "buf", "in": ["x2"]},
            "t": {"op": "table", "in": ["x3", "x1"], "ones": ["10"]},
        },
        "outputs": {k: k for k in ["a", "o", "x", "na", "no", "xn", "n", "b", "t"]},
        "modules": {
            "M": {"reads": ["x1", "x2", "x3"], "drives": ["a", "o", "x", "xn"]},
            "P": {"reads": ["x1", "x2"], "drives": ["na", "no"]},
            "N": {"reads": ["x3"], "drives": ["n"]},
            "B": {"reads": ["x2"], "drives": ["b"]},
            "T": {"reads": ["x1", "x3"], "drives": ["t"], "gates": ["t"]},
        },
        "archs": [[8], "8x4", 16],
    }
    task = parse_circuit(spec, "mem")
    X, Y = task.truth_table()
    for row, out in zip(X.int().tolist(), Y.int().tolist()):
        x1, x2, x3 = row
        par = x1 ^ x2 ^ x3
        assert out == [x1 & x2 & x3, x1 | x2 | x3, par, 1 - (x1 & x2), 1 - (x1 | x2), 1 - par, 1 - x3, x2,
                       int(x3 == 1 and x1 == 0)]
    assert task.default_archs == ((8,), (8, 4), (16,))


# --------------------------------------------------------------------------- loader errors
BAD_CASES = {
    "yaml_syntax": (MINIMAL.replace("y1: g", "y1: [g"), "line ", "YAML syntax error"),
    "unknown_top_key": (MINIMAL + "colour: red\n", "colour", "unknown key"),
    "missing_key": (MINIMAL.replace("family: custom\n", ""), "family", "missing required key"),
    "ill_typed": (MINIMAL.replace("inputs: [x1, x2]", "inputs: x1"), "inputs", "expected a list"),
    "unknown_op": (MINIMAL.replace("op: and", "op: andd"), "gates.g.op", "unknown gate op"),
    "undefined_wire": (MINIMAL.replace("in: [x1, x2]", "in: [x1, x9]"), "gates.g.in[1]", "undefined wire 'x9'"),
    "undefined_output_wire": (MINIMAL.replace("y1: g", "y1: h"), "outputs.y1", "undefined wire 'h'"),
    "cycle": (MINIMAL.replace("  g: {op: and, in: [x1, x2]}",
                              "  g: {op: and, in: [x1, h]}\n  h: {op: or, in: [g, x2]}"), "gates.", "cycle g -> h -> g"),
    "arity_not": (MINIMAL.replace("op: and, in: [x1, x2]", "op: not, in: [x1, x2]"), "gates.g.in", "wrong arity"),
    "arity_and": (MINIMAL.replace("in: [x1, x2]}", "in: [x1]}"), "gates.g.in", "wrong arity"),
    "table_pattern_length": (MINIMAL.replace("op: and, in: [x1, x2]", 'op: table, in: [x1, x2], ones: ["011"]'),
                             "gates.g.ones[0]", "bad table pattern"),
    "table_pattern_chars": (MINIMAL.replace("op: and, in: [x1, x2]", 'op: table, in: [x1, x2], ones: ["0a"]'),
                            "gates.g.ones[0]", "bad table pattern"),
    "table_pattern_unquoted": (MINIMAL.replace("op: and, in: [x1, x2]", "op: table, in: [x1, x2], ones: [11]"),
                               "gates.g.ones[0]", "quoted string"),
    "table_pattern_duplicate": (MINIMAL.replace("op: and, in: [x1, x2]", 'op: table, in: [x1, x2], ones: ["11", "11"]'),
                                "gates.g.ones[1]", "duplicate table pattern"),
    "gate_named_like_input": (MINIMAL.replace("  g: {op: and, in: [x1, x2]}", "  x1: {op: and, in: [x1, x2]}"),
                              "gates.x1", "duplicate name"),
    "duplicate_input": (MINIMAL.replace("inputs: [x1, x2]", "inputs: [x1, x1]"), "inputs[1]", "duplicate name"),
    "duplicate_yaml_key": (MINIMAL.replace("  y1: g\n", "  y1: g\n  y1: g\n"), "outputs.y1", "duplicate key 'y1'"),
    "duplicate_yaml_gate": (MINIMAL.replace("  g: {op: and, in: [x1, x2]}",
                                            "  g: {op: and, in: [x1, x2]}\n  g: {op: or, in: [x1, x2]}"),
                            "gates.g", "duplicate key 'g'"),
    "module_missing_input": (MINIMAL.replace("reads: [x1, x2]", "reads: [x1, x7]"), "modules.M.reads[1]",
                             "unknown input 'x7'"),
    "module_missing_output": (MINIMAL.replace("drives: [y1]", "drives: [y1, y5]"), "modules.M.drives[1]",
                              "unknown output 'y5'"),
    "module_missing_module": (MINIMAL.replace("drives: [y1]}", "drives: [y1], uses: [Q]}"), "modules.M.uses[0]",
                              "unknown module 'Q'"),
    "module_missing_gate": (MINIMAL.replace("drives: [y1]}", "drives: [y1], gates: [zz]}"), "modules.M.gates[0]",
                            "unknown gate 'zz'"),
    "module_cycle": (MINIMAL.replace("  M: {reads: [x1, x2], drives: [y1]}",
                                     "  M: {reads: [x1, x2], uses: [N], drives: [y1]}\n  N: {reads: [x1], uses: [M]}"),
                     "modules.M.uses", "cycle in the module DAG: M uses N uses M"),
    "missing_output_driver": (MINIMAL.replace("  y1: g\n", "  y1: g\n  y2: x1\n"), "outputs.y2",
                              "not driven by any module"),
    "contradiction_missing_input": (MINIMAL.replace("reads: [x1, x2]", "reads: [x1]").replace(
        "  M: {reads: [x1], drives: [y1]}", "  M: {reads: [x1], drives: [y1]}\n  N: {reads: [x2], uses: [M], drives: [y1]}")
        .replace("inputs: [x1, x2]", "inputs: [x1, x2, x3]").replace("in: [x1, x2]", "in: [x1, x2, x3]"),
        "outputs.y1", "missing {x3}"),
    "contradiction_dangling_module": (MINIMAL.replace(
        "  M: {reads: [x1, x2], drives: [y1]}", "  M: {reads: [x1, x2], drives: [y1]}\n  N: {reads: [x2]}"),
        "modules.N", "drives no output and is used by no other module"),
    "contradiction_extra_input": (MINIMAL.replace("  y1: g\n", "  y1: g\n  y2: x2\n").replace(
        "  M: {reads: [x1, x2], drives: [y1]}", "  M: {reads: [x1, x2], drives: [y1, y2]}"),
        "outputs.y2", "extra {x1}"),
    "contradiction_gates": (MINIMAL.replace("  y1: g\n", "  y1: g\n  y2: x2\n").replace(
        "  M: {reads: [x1, x2], drives: [y1]}",
        "  M: {reads: [x1, x2], drives: [y1]}\n  N: {reads: [x2], drives: [y2], gates: [g]}"),
        "modules.N.gates", "depend on {x1}"),
    "unused_input": (MINIMAL.replace("inputs: [x1, x2]", "inputs: [x1, x2, x3]"), "inputs[2]", "does not reach any output"),
    "bad_training": (MINIMAL + "training: {lr: -1}\n", "training.lr", "invalid lr"),
    "infinite_lr": (MINIMAL + "training: {lr: .inf}\n", "training.lr", "finite number > 0"),
    "nan_noise": (MINIMAL + "training: {noise_std: .nan}\n", "training.noise_std", "invalid noise_std nan"),
    "bad_arch": (MINIMAL + "archs: [[24, 0]]\n", "archs[0]", "width must be between 1 and 4096"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_loader_errors(tmp_path, case):
    text, key_path, reason = BAD_CASES[case]
    path = _write(tmp_path, text, f"{case}.yaml")
    with pytest.raises(CircuitSpecError) as info:
        load_circuit(path)
    message = str(info.value)
    assert isinstance(info.value, SculptbenchError)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    assert key_path in message, message
    assert reason in message, message


def test_levels_hierarchy_rule_c_holds(tasks):
    # p's gate reads a and c (support x1..x8), which module p reaches through c.
    spec = tasks["bool/levels-m2"].spec
    assert {m.name: m.gates for m in spec.modules}["p"] == ("p",)


def test_missing_file(tmp_path):
    with pytest.raises(CircuitSpecError, match="cannot read"):
        load_circuit(tmp_path / "nope.yaml")


def test_empty_and_non_mapping(tmp_path):
    with pytest.raises(CircuitSpecError, match="empty"):
        load_circuit(_write(tmp_path, ""))
    with pytest.raises(CircuitSpecError, match=r"\(document\): expected a mapping"):
        load_circuit(_write(tmp_path, "- a\n- b\n"))


# --------------------------------------------------------------------------- hostile files (issue 14)
def _chain(n_inputs: int, n_gates: int) -> str:
    """A circuit of ``n_inputs`` inputs whose output is an xor of them through a chain of NOT gates."""
    xs = [f"x{i}" for i in range(1, n_inputs + 1)]
    lines = ["name: t/chain", "family: custom", f"inputs: [{', '.join(xs)}]", "gates:", f"  g0: {{op: xor, in: [{', '.join(xs)}]}}"]
    lines += [f"  g{i}: {{op: not, in: [g{i - 1}]}}" for i in range(1, n_gates)]
    lines += ["outputs:", f"  y1: g{n_gates - 1}", "modules:", f"  M: {{reads: [{', '.join(xs)}], drives: [y1]}}", ""]
    return "\n".join(lines)


def test_yaml_alias_is_refused_before_it_expands(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
               for i in range(1, 5)]  # 10^5 strings if expanded (without the check: loads, slowly)
    text = MINIMAL + "parameters:\n" + "".join(f"  {line}\n" for line in levels)
    with pytest.raises(CircuitSpecError, match=r"parameters\.a1\[0\]: YAML alias \(line \d+\) refused"):
        load_circuit(_write(tmp_path, text))


def test_yaml_width_is_capped_like_arch(tmp_path):
    with pytest.raises(CircuitSpecError, match=r"archs\[0\]: bad architecture list \[60000, 60000\]: every width must be between 1 and 4096"):
        load_circuit(_write(tmp_path, MINIMAL + "archs: [[60000, 60000]]\n"))


def test_evaluation_memory_is_checked_before_any_array(tmp_path, monkeypatch):
    from sculptbench.plugins.tasks.boolean import spec, task, truth

    monkeypatch.setattr(spec, "EVAL_MEMORY_BUDGET", 64 * 2**10)  # 64 KiB: a 12-input table needs more
    for module in (task, truth):
        monkeypatch.setattr(module, "_evaluate", lambda spec: pytest.fail("evaluated although over budget"))
    with pytest.raises(CircuitSpecError, match=r"gates: evaluating 3 gates on 2\^12 = 4,096 rows needs about 0 MiB at once, more than the budget of 0 MiB"):
        load_circuit(_write(tmp_path, _chain(12, 3)))


def test_evaluation_work_is_bounded(tmp_path, monkeypatch):
    from sculptbench.plugins.tasks.boolean import spec

    monkeypatch.setattr(spec, "EVAL_WORK_BUDGET", 10 * 2**10)
    with pytest.raises(CircuitSpecError, match=r"gates: 20 gates x 2\^10 = 1,024 rows is 20,480 gate evaluations, more than the budget of 10,240"):
        load_circuit(_write(tmp_path, _chain(10, 20)))


def test_evaluation_memory_follows_live_wires_not_gates(tmp_path):
    import tracemalloc

    from sculptbench.plugins.tasks.boolean.truth import evaluation_cost

    short, long = (load_circuit(_write(tmp_path, _chain(12, n), f"c{n}.yaml")) for n in (3, 400))
    assert evaluation_cost(long.spec.inputs, long.spec.gates, long.spec.outputs) == evaluation_cost(short.spec.inputs, short.spec.gates, short.spec.outputs)
    tracemalloc.start()
    x, y = long.truth_table()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100 * 2**12, peak  # 400 gate arrays of 4,096 rows would be 1.6 MB
    assert y[:, 0].tolist() == (x.sum(dim=1) % 2 == 0).float().tolist()  # xor, then 399 NOTs (odd): xnor
