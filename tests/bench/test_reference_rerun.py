"""``bench/reference_rerun.py`` on a small reference checkout whose ``main.py`` is a stand-in.

The stand-in prunes nothing: it writes, for each phase the bench asks for, the files the real
reference writes, so the bench's command rewriting, its two phases, its scoring and its errors
are tested without the reference code (which has no licence and is never shipped).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import assert_bench_error, load_source, run_main

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED_TESTS = load_source("published_tests", ROOT / "tests" / "pruners" / "test_published.py")
RERUN = load_source("reference_rerun_bench", ROOT / "bench" / "reference_rerun.py")

#: A stand-in for the reference's main.py: records its argv; in the edge phase writes the network
#: (wired like the input-separable task when WIRING=good, else all inputs into one unit).
STAND_IN = '''
import argparse, json, os, pickle, sys
import torch
p = argparse.ArgumentParser()
for flag in ("--experiment", "--task", "--result_path", "--visualization_path"): p.add_argument(flag)
p.add_argument("--modularity", nargs="+", type=int); p.add_argument("--arch", nargs="+", type=int)
p.add_argument("--lr", type=float); p.add_argument("--batch_size", type=int); p.add_argument("--epochs", type=int)
p.add_argument("--seed", type=int); p.add_argument("--unit_pruning_gradient", type=float)
p.add_argument("--pruning_gradient", nargs="+", type=float); p.add_argument("--prune_units", type=int)
a, _ = p.parse_known_args()
with open(os.environ["ARGV_LOG"], "a") as log: log.write(json.dumps(sys.argv[1:]) + "\\n")
if os.environ.get("FAIL_PHASE") == str(a.prune_units): sys.exit("RuntimeError: the stand-in failed on purpose")
if a.prune_units == 1: sys.exit(0)
width = a.arch[1]
w1 = torch.zeros(width, 4); w2 = torch.zeros(4, width)
if os.environ.get("WIRING") == "good":
    w1[0, :2] = w1[1, 2:] = 1.0; w2[:2, 0] = w2[2:, 1] = 1.0
else:
    w1[0, :] = 1.0; w2[:, 0] = 1.0
stem = "pruneactivation_gradient_productboolean" + "".join(map(str, (a.lr, a.batch_size, a.epochs, a.unit_pruning_gradient, a.pruning_gradient[0]))) + "None1.0"
base = os.path.join(a.result_path, str(a.modularity), "{}", str(a.arch))
for kind in ("Models", "Masks"): os.makedirs(base.format(kind), exist_ok=True)
torch.save({"lin1.weight": w1, "lin1.bias": torch.zeros(width), "lin2.weight": w2, "lin2.bias": torch.zeros(4)},
           os.path.join(base.format("Models"), f"{stem}_Model{a.seed}.pth"))
with open(os.path.join(base.format("Masks"), f"{stem}_Mask{a.seed}.pkl"), "wb") as f: pickle.dump([(w1 != 0).float(), (w2 != 0).float()], f)
'''


@pytest.fixture()
def checkout(tmp_path, monkeypatch):
    root = PUBLISHED_TESTS.make_checkout(tmp_path / "Neural-Sculpting")
    (root / "main.py").write_text(STAND_IN)
    monkeypatch.setenv("ARGV_LOG", str(tmp_path / "argv.log"))
    return root


def rerun(*args):
    """Run the bench's ``main`` in this process; (exit status, stdout, stderr)."""
    return run_main(RERUN.main, [*args, "--python", sys.executable])


@pytest.mark.slow
def test_a_rerun_that_regrows_the_structure_counts(tmp_path, checkout, monkeypatch):
    monkeypatch.setenv("WIRING", "good")
    proc = rerun("--reference-root", checkout, "--out", tmp_path / "out", "--tasks", "bool/input-separable", "--arch", "24")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "regrown by one rerun: 2/2 networks (published networks: 2/2)"
    # two phases per network, each the published command's flags with the experiment and paths replaced
    calls = [line for line in (tmp_path / "argv.log").read_text().splitlines()]
    assert len(calls) == 4
    first = calls[0]
    assert '"--experiment", "prune", "--prune_units", "1"' in first and '"--prune_units", "0"' in calls[1]
    assert "module_detection" not in first and '"--unit_pruning_gradient", "50.0"' in first
    assert str(tmp_path / "out" / "results") in first and "./visualizations" not in first


@pytest.mark.slow
def test_a_compressed_rerun_and_a_failed_one_are_not_regrown(tmp_path, checkout, monkeypatch):
    monkeypatch.setenv("WIRING", "merged")
    proc = rerun("--reference-root", checkout, "--out", tmp_path / "out", "--tasks", "bool/input-separable", "--arch", "24", "--seeds", "0")
    assert proc.returncode == 0, proc.stderr
    assert "| no " in proc.stdout and proc.stdout.strip().endswith("regrown by one rerun: 0/1 networks (published networks: 1/1)")
    monkeypatch.setenv("FAIL_PHASE", "1")
    proc = rerun("--reference-root", checkout, "--out", tmp_path / "out2", "--tasks", "bool/input-separable", "--arch", "24", "--seeds", "1")
    assert proc.returncode == 0, proc.stderr
    assert "failed: units: RuntimeError: the stand-in failed on purpose" in proc.stdout
    assert proc.stdout.strip().endswith("regrown by one rerun: 0/1 networks (published networks: 1/1)")


def test_bad_input_is_one_line(tmp_path, checkout):
    for args, fragment in [
        (("--reference-root", tmp_path / "missing"), "is not a directory"),
        (("--reference-root", checkout, "--tasks", "bool/nope"), "unknown task 'bool/nope'"),
        (("--reference-root", checkout, "--tasks", "bool/input-separable", "--arch", "36"), "published for these tasks: --arch 24, --seeds 0,1"),
        (("--reference-root", checkout, "--arch", "wide"), "is not a comma-separated list"),
        (("--reference-root", checkout, "--tasks", "mnist/xor"), "is not one of the paper's Boolean tasks"),
    ]:
        assert_bench_error(rerun(*args, "--out", tmp_path / "out"), fragment)


@pytest.mark.parametrize("result_path, folder", [
    ("./results/exemplar/unit_edge/", "./datasets/exemplar/"),
    ("./results/increasing_hierarchical_levels/unit_edge/", "./datasets/increasing_hierarchical_levels/"),
    ("./results/input_overlap_exp/unit_edge/", "./datasets/input_overlap_exp/"),
    ("./results/non_separable_increasing_use/unit_edge/", "./datasets/increasing_reuse_non_separable/"),
])
def test_each_family_reruns_on_its_own_dataset(tmp_path, result_path, folder):
    # The published lines give no --dataset_path, and the reference's default is the exemplars'
    # folder, which holds no other family's truth tables.
    shell = tmp_path / "shell" / "x.sh"
    shell.parent.mkdir()
    shell.write_text(f"python3 main.py --experiment module_detection --result_path {result_path} --seed 0\n")
    cmd = RERUN.ReferenceCommand(script="shell/x.sh", line=1, modularity=(8, 2, 1, 2, 12), arch=(8, 36, 12), seed=0,
                                 result_path=result_path, setting=None)
    argv = RERUN.prune_argv(str(tmp_path), cmd, tmp_path / "out", "units")
    assert argv[argv.index("--dataset_path") + 1] == folder
    shell.write_text(f"python3 main.py --dataset_path ./mine/ --result_path {result_path} --seed 0\n")
    argv = RERUN.prune_argv(str(tmp_path), cmd, tmp_path / "out", "units")
    assert argv.count("--dataset_path") == 1 and argv[argv.index("--dataset_path") + 1] == "./mine/"
