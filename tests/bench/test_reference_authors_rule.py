"""``bench/reference_authors_rule.py`` on a small reference checkout whose ``main.py`` is a stand-in.

The stand-in trains nothing and imports no torch: for each unit step it writes, in the edge phase, the five variants'
files the real reference writes (``_Model``, ``_Mask``, ``_Results``), with a pruned percentage
and a wiring chosen by the test, so the bench's 14 x 2 runs per seed, its pick (the notebook's
first maximum, P_e outer, P_u inner), its oracle and its errors are tested without the
reference code (which has no licence and is never shipped).
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_bench_error, load_source, run_main

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED_TESTS = load_source("published_tests", ROOT / "tests" / "pruners" / "test_published.py")
BENCH = load_source("reference_authors_rule_bench", ROOT / "bench" / "reference_authors_rule.py")

#: PERCENT and GOOD (JSON) map "P_u/P_e" to the variant's pruned percentage (default 90) and
#: whether it is wired like the input-separable task (else all inputs go into one unit); the
#: stand-in copies the two wirings' files from WIRINGS, so that it never imports torch.
STAND_IN = '''
import argparse, json, os, pickle, shutil, sys
p = argparse.ArgumentParser()
for flag in ("--experiment", "--task", "--result_path", "--visualization_path", "--dataset_path"): p.add_argument(flag)
p.add_argument("--modularity", nargs="+", type=int); p.add_argument("--arch", nargs="+", type=int)
p.add_argument("--lr", type=float); p.add_argument("--batch_size", type=int); p.add_argument("--epochs", type=int)
p.add_argument("--seed", type=int); p.add_argument("--unit_pruning_gradient", type=float)
p.add_argument("--pruning_gradient", nargs="+", type=float, default=[2.5, 2.0, 1.5, 1.0, 0.5]); p.add_argument("--prune_units", type=int)
a, _ = p.parse_known_args()
with open(os.environ["ARGV_LOG"], "a") as log: log.write(json.dumps(sys.argv[1:]) + "\\n")
if os.environ.get("FAIL_AT") == f"{a.unit_pruning_gradient:g}/{a.prune_units}": sys.exit("RuntimeError: the stand-in failed on purpose")
if a.prune_units == 1: sys.exit(0)
percent, good = json.loads(os.environ.get("PERCENT", "{}")), json.loads(os.environ.get("GOOD", "[]"))
for pe in a.pruning_gradient:
    key = f"{a.unit_pruning_gradient:g}/{pe:g}"
    half = json.loads(os.environ.get("HALF", "[]"))
    wiring = os.path.join(os.environ["WIRINGS"], "good" if key in good else "half" if key in half else "merged")
    stem = "pruneactivation_gradient_productboolean" + "".join(map(str, (a.lr, a.batch_size, a.epochs, a.unit_pruning_gradient, pe))) + "None1.0"
    base = os.path.join(a.result_path, str(a.modularity), "{}", str(a.arch))
    for kind in ("Models", "Masks", "Results"): os.makedirs(base.format(kind), exist_ok=True)
    shutil.copy(wiring + ".pth", os.path.join(base.format("Models"), f"{stem}_Model{a.seed}.pth"))
    shutil.copy(wiring + ".pkl", os.path.join(base.format("Masks"), f"{stem}_Mask{a.seed}.pkl"))
    with open(os.path.join(base.format("Results"), f"{stem}_Results{a.seed}.pkl"), "wb") as f: pickle.dump([[], [], [], percent.get(key, 90.0)], f)
'''


@pytest.fixture()
def checkout(tmp_path, monkeypatch):
    root = PUBLISHED_TESTS.make_checkout(tmp_path / "Neural-Sculpting")
    (root / "main.py").write_text(STAND_IN)
    monkeypatch.setenv("ARGV_LOG", str(tmp_path / "argv.log"))
    wirings = tmp_path / "wirings"
    wirings.mkdir()
    for name in ("good", "half", "merged"):
        w1, w2 = _wiring(name)
        torch.save({"lin1.weight": w1, "lin1.bias": torch.zeros(24), "lin2.weight": w2, "lin2.bias": torch.zeros(4)}, wirings / f"{name}.pth")
        (wirings / f"{name}.pkl").write_bytes(pickle.dumps([(w1 != 0).float(), (w2 != 0).float()]))
    monkeypatch.setenv("WIRINGS", str(wirings))
    return root


def _wiring(name: str):
    """Weights of a 4-24-4 network wired like the input-separable task ("good"), with its two hidden
    units feeding every output ("half"), or with every input in one unit ("merged")."""
    w1, w2 = torch.zeros(24, 4), torch.zeros(4, 24)
    if name == "good":
        w1[0, :2] = w1[1, 2:] = 1.0
        w2[:2, 0] = w2[2:, 1] = 1.0
    elif name == "half":
        w1[0, :2] = w1[1, 2:] = 1.0
        w2[:, :2] = 1.0
    else:
        w1[0, :] = 1.0
        w2[:, 0] = 1.0
    return w1, w2


def table_rows(stdout: str) -> list[list[str]]:
    """The cells of the per-seed table's rows (not its header or rule)."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def bench(*args):
    """Run the bench's ``main`` in this process; (exit status, stdout, stderr)."""
    return run_main(BENCH.main, [*args, "--python", sys.executable])


@pytest.mark.slow
def test_the_sparsest_variant_is_kept_and_scored(tmp_path, checkout, monkeypatch):
    monkeypatch.setenv("PERCENT", json.dumps({"35/1": 95.0}))
    monkeypatch.setenv("GOOD", json.dumps(["35/1"]))
    proc = bench("--reference-root", checkout, "--out", tmp_path / "out", "--task", "bool/input-separable", "--arch", "24", "--seeds", 2)
    assert proc.returncode == 0, proc.stderr
    assert "| 35/1 " in proc.stdout and "| 1/70 " in proc.stdout
    # P_u 35 is the 8th unit step and P_e 1 the 4th edge step: position 3 x 14 + 7; one variant that sparse
    assert [row[1:5] for row in table_rows(proc.stdout)] == [["35/1", "49", "95.000", "1"]] * 2
    # the checkout's two published networks (P_u 50, P_e 1.5) have no _Results file
    assert ("published networks of this cell (steps, position in the notebook's order, pruned %): "
            "seed 0: 50/1.5 at position 32, pruned -; seed 1: 50/1.5 at position 32, pruned -") in proc.stdout
    assert proc.stdout.strip().endswith("reference code, authors' rule: 2/2 seeds regrown (oracle: 2/2)")
    # 14 unit steps x 2 phases per seed; each the published command with the seed and P_u set and
    # no --pruning_gradient (the reference's five edge steps), its data loaders in process
    calls = [json.loads(line) for line in (tmp_path / "argv.log").read_text().splitlines()]
    assert len(calls) == 2 * 14 * 2
    assert all("--pruning_gradient" not in c for c in calls)
    assert {c[c.index("--unit_pruning_gradient") + 1] for c in calls} == {f"{float(u)}" for u in range(5, 75, 5)}
    assert {c[c.index("--seed") + 1] for c in calls} == {"0", "1"}
    assert all(c.count("--seed") == 1 and "--dataset_path" in c for c in calls)
    assert (tmp_path / "out" / "launch.py").exists()


@pytest.mark.slow
def test_first_seed_adds_seeds_and_the_metric_is_the_figures(tmp_path, checkout, monkeypatch):
    monkeypatch.setenv("GOOD", json.dumps(["70/2.5"]))
    proc = bench("--reference-root", checkout, "--out", tmp_path / "out", "--task", "bool/input-separable", "--arch", "24",
                 "--seeds", 2, "--first-seed", 5)
    assert proc.returncode == 0, proc.stderr
    assert "seeds 5-6," in proc.stdout and "regrown = structure.success" in proc.stdout
    assert [line.split("|")[1].strip() for line in proc.stdout.splitlines() if line.startswith("|") and "70/2.5" in line] == ["5", "6"]
    calls = [json.loads(line) for line in (tmp_path / "argv.log").read_text().splitlines()]
    assert {c[c.index("--seed") + 1] for c in calls} == {"5", "6"}
    assert proc.stdout.strip().endswith("reference code, authors' rule: 2/2 seeds regrown (oracle: 2/2)")
    # a second run over seeds 5-7 runs only seed 7: seeds 5 and 6 have their 70 variants on disk
    proc = bench("--reference-root", checkout, "--out", tmp_path / "out", "--task", "bool/input-separable", "--arch", "24",
                 "--seeds", 3, "--first-seed", 5)
    assert proc.returncode == 0, proc.stderr
    calls = [json.loads(line) for line in (tmp_path / "argv.log").read_text().splitlines()]
    assert len(calls) == 3 * 14 * 2 and {c[c.index("--seed") + 1] for c in calls[2 * 14 * 2:]} == {"7"}
    assert proc.stdout.strip().endswith("reference code, authors' rule: 3/3 seeds regrown (oracle: 3/3)")


def test_a_kept_network_is_judged_by_the_metric_asked_for(tmp_path, checkout, monkeypatch):
    # Hidden units split by input group but both feeding every output: inputs separable, not a success.
    monkeypatch.setenv("HALF", json.dumps(["70/2.5"]))
    out = tmp_path / "out"
    proc = bench("--reference-root", checkout, "--out", out, "--task", "bool/input-separable", "--arch", "24", "--seeds", 1)
    assert proc.stdout.strip().endswith("0/1 seeds regrown (oracle: 0/1)")
    proc = bench("--reference-root", checkout, "--out", out, "--task", "bool/input-separable", "--arch", "24", "--seeds", 1,
                 "--metric", "input_separability")
    assert proc.returncode == 0, proc.stderr
    assert "regrown = structure.input_separability" in proc.stdout and "kept: input_separability" in proc.stdout
    assert proc.stdout.strip().endswith("1/1 seeds regrown (oracle: 1/1)")


def test_ties_go_to_the_notebooks_first_variant_and_the_oracle_looks_at_all(tmp_path, checkout, monkeypatch):
    # Every variant equally sparse: np.argmax keeps the first, P_e 2.5 and P_u 70; a success elsewhere is the oracle's.
    monkeypatch.setenv("GOOD", json.dumps(["5/0.5"]))
    proc = bench("--reference-root", checkout, "--out", tmp_path / "out", "--task", "bool/input-separable", "--arch", "24", "--seeds", 1)
    assert proc.returncode == 0, proc.stderr
    assert "| 70/2.5 " in proc.stdout and "| no " in proc.stdout
    assert [row[1:5] for row in table_rows(proc.stdout)] == [["70/2.5", "0", "90.000", "70"]]
    assert proc.stdout.strip().endswith("reference code, authors' rule: 0/1 seeds regrown (oracle: 1/1)")


def test_a_failed_phase_is_a_failed_seed(tmp_path, checkout, monkeypatch):
    monkeypatch.setenv("FAIL_AT", "40/1")
    proc = bench("--reference-root", checkout, "--out", tmp_path / "out", "--task", "bool/input-separable", "--arch", "24", "--seeds", 1,
                 "--workers", "reference")
    assert proc.returncode == 0, proc.stderr
    assert "failed: P_u 40 units: RuntimeError: the stand-in failed on purpose" in proc.stdout
    assert proc.stdout.strip().endswith("reference code, authors' rule: 0/1 seeds regrown (oracle: 0/1)")
    assert not (tmp_path / "out" / "launch.py").exists()


def test_bad_input_is_one_line(tmp_path, checkout):
    for args, fragment in [
        (("--reference-root", tmp_path / "missing"), "is not a directory"),
        (("--reference-root", checkout, "--task", "bool/nope"), "unknown task 'bool/nope'"),
        (("--reference-root", checkout, "--task", "bool/input-separable", "--arch", "36"), "published for these tasks: --arch 24"),
        (("--reference-root", checkout, "--arch", "wide"), "must be one hidden shape"),
        (("--reference-root", checkout, "--seeds", "0"), "--seeds a count >= 1 and --first-seed >= 0"),
        (("--reference-root", checkout, "--first-seed", "-1"), "--seeds a count >= 1 and --first-seed >= 0"),
        (("--reference-root", checkout, "--task", "bool/input-separable", "--arch", "24", "--metric", "nope"),
         "unknown --metric 'nope'; use figure or one of"),
    ]:
        assert_bench_error(bench(*args, "--out", tmp_path / "out"), fragment)


def test_flags_are_replaced_with_all_their_values():
    argv = ["main.py", "--seed", "0", "--pruning_gradient", "2.5", "1.0", "--lr", "0.1"]
    assert BENCH.with_flags(argv, {"--seed": "7"}, drop=("--pruning_gradient",)) == ["main.py", "--lr", "0.1", "--seed", "7"]
