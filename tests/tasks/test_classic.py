"""The classic family (tasks/bool/classic/): every truth table against a reference written here
from the sources' own definitions (field-methods.md, "Tasks with known structure"), their
ground-truth modules, their citations, and how they are selected."""

from __future__ import annotations

import itertools

import pytest

from sculptbench.plugins.tasks.boolean import builtin_task_files, load_circuit
from sculptbench.run.planning import select_tasks

# retina.cpp, _create_objects: pattern s in 0..255, pixel i = bit i of s.
LEFT_OBJECTS = {15, 7, 5, 13, 1, 11, 4, 14}
RIGHT_OBJECTS = {240, 224, 160, 176, 128, 208, 32, 112}


def retina(pixels):
    s = sum(bit << i for i, bit in enumerate(pixels))
    return (s & 0xF) in LEFT_OBJECTS, (s & 0xF0) in RIGHT_OBJECTS


def kashtan(x):
    return (x[0] ^ x[1]), (x[2] ^ x[3])


REFERENCE = {  # name -> (inputs, outputs as a function of the input bits, ground truth as (module, reads, uses, drives))
    "bool/kashtan-g1": (4, lambda x: [int(all(kashtan(x)))],
                        [("A", ["x1", "x2"], [], []), ("B", ["x3", "x4"], [], []), ("G1", [], ["A", "B"], ["y1"])]),
    "bool/kashtan-g2": (4, lambda x: [int(any(kashtan(x)))],
                        [("A", ["x1", "x2"], [], []), ("B", ["x3", "x4"], [], []), ("G2", [], ["A", "B"], ["y1"])]),
    "bool/kashtan-g1g2": (4, lambda x: [int(all(kashtan(x))), int(any(kashtan(x)))],
                          [("A", ["x1", "x2"], [], []), ("B", ["x3", "x4"], [], []), ("G1", [], ["A", "B"], ["y1"]),
                           ("G2", [], ["A", "B"], ["y2"])]),
    "bool/retina-and": (8, lambda x: [int(all(retina(x)))],
                        [("L", ["p0", "p1", "p2", "p3"], [], []), ("R", ["p4", "p5", "p6", "p7"], [], []), ("AND", [], ["L", "R"], ["y1"])]),
    "bool/retina-or": (8, lambda x: [int(any(retina(x)))],
                       [("L", ["p0", "p1", "p2", "p3"], [], []), ("R", ["p4", "p5", "p6", "p7"], [], []), ("OR", [], ["L", "R"], ["y1"])]),
    "bool/retina-two": (8, lambda x: [int(all(retina(x))), int(any(retina(x)))],
                        [("L", ["p0", "p1", "p2", "p3"], [], []), ("R", ["p4", "p5", "p6", "p7"], [], []),
                         ("AND", [], ["L", "R"], ["y1"]), ("OR", [], ["L", "R"], ["y2"])]),
    # hxor.cpp, FitXorXor::eval: xor_res pairs inputs (0,1), (2,3), (4,5), (6,7); out0 = r0 ^ r1, out1 = r2 ^ r3.
    "bool/hxor": (8, lambda x: [x[0] ^ x[1] ^ x[2] ^ x[3], x[4] ^ x[5] ^ x[6] ^ x[7]],
                  [("A", ["x0", "x1"], [], []), ("B", ["x2", "x3"], [], []), ("C", ["x4", "x5"], [], []),
                   ("D", ["x6", "x7"], [], []), ("AB", [], ["A", "B"], ["y1"]), ("CD", [], ["C", "D"], ["y2"])]),
}


@pytest.fixture(scope="module")
def classic():
    files = [p for p in builtin_task_files() if p.parent.name == "classic"]
    return {t.name: t for t in (load_circuit(p) for p in files)}


def test_the_family_holds_exactly_the_classic_tasks(classic, registry):
    assert set(classic) == set(REFERENCE)
    assert {t.family for t in classic.values()} == {"classic"}
    assert {t.name for t in select_tasks(registry, ["classic"])} == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_truth_table_matches_the_source(classic, name):
    n, outputs, _ = REFERENCE[name]
    task = classic[name]
    x, y = task.truth_table()
    assert task.n_inputs == n
    for row, bits in enumerate(itertools.product((0, 1), repeat=n)):  # x1 (the first input) most significant
        assert x[row].int().tolist() == list(bits)
        assert y[row].int().tolist() == outputs(list(bits)), (name, bits)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_ground_truth_modules(classic, name):
    _, _, modules = REFERENCE[name]
    gt = classic[name].ground_truth
    assert [(m.name, list(m.reads), list(m.uses), list(m.drives)) for m in gt.modules] == modules


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_each_file_cites_its_source(classic, name):
    text = classic[name].description
    assert "Source read:" in text and ("2005" in text or "2014" in text)


def test_retina_objects_are_a_quarter_of_each_half():
    # 8 of 16 left patterns and 8 of 16 right patterns: L AND R holds on 1/4 of the 256 rows.
    rows = [retina(bits) for bits in itertools.product((0, 1), repeat=8)]
    assert sum(left and right for left, right in rows) == 64 and sum(left or right for left, right in rows) == 192
