"""The ``published`` pruner and ``bench/paper_networks.py`` on a small reference checkout built here.

The fake checkout has the reference's layout (``shell/<family>/*.sh`` detection commands,
``results/.../{Models,Masks}/<arch>/<stem>_{Model,Mask}<seed>``), written with torch and pickle
by the tests themselves: no file of the reference repository is used.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import assert_user_error, load_source

from sculptbench.cli import main
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.plugins.pruners import published as P
from sculptbench.results.store import ResultsStore
from sculptbench.plugin.testing import PrunerContract

ROOT = Path(__file__).resolve().parents[2]
SEPARABLE_ID = "4 2 4"  # the input-separable exemplar's --modularity
LINE = ("python3 main.py --experiment module_detection --task boolean --result_path ./results/exemplar/unit_edge/ "
        "--modularity {mod} --arch {arch} --lr 0.05 --batch_size 32 --epochs 10 --seed {seed} "
        "--unit_pruning_gradient 50.0 --pruning_gradient 1.5 --feature_step_size 2 --clusterability_step_size 2 "
        "--visualization_path ./visualizations/exemplar/")


def separable_state(width: int = 24):
    """A 4-width-4 network computing nothing useful but wired like the input-separable task."""
    w1 = torch.zeros(width, 4)
    w1[0, :2] = w1[1, 2:] = 1.0
    w2 = torch.zeros(4, width)
    w2[:2, 0] = w2[2:, 1] = 1.0
    state = {"lin1.weight": w1, "lin1.bias": torch.zeros(width), "lin2.weight": w2, "lin2.bias": torch.zeros(4)}
    return state, [(w1 != 0).float(), (w2 != 0).float()]


def make_checkout(root: Path, seeds=(0, 1), width: int = 24) -> Path:
    """A minimal reference checkout: one exemplar task, one architecture, the given seeds."""
    script = root / "shell" / "exemplars" / "input_separable.sh"
    script.parent.mkdir(parents=True)
    (root / "results").mkdir()
    arch = f"4 {width} 4"
    script.write_text("#!/bin/bash\n\n" + "\n".join(LINE.format(mod=SEPARABLE_ID, arch=arch, seed=s) for s in seeds) + "\n")
    for cmd in P.read_commands(root):
        state, masks = separable_state(width)
        files = cmd.files(root)
        for path in files.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, files["model"])
        files["mask"].write_bytes(pickle.dumps(masks))
    return root


@pytest.fixture()
def checkout(tmp_path):
    return make_checkout(tmp_path / "Neural-Sculpting")


# --------------------------------------------------------------------------- reading
def test_commands_and_file_names(checkout):
    cmds = P.read_commands(checkout)
    assert [c.seed for c in cmds] == [0, 1]
    cmd = cmds[0]
    assert cmd.paper_name == "[4, 2, 4]" and cmd.hidden == (24,) and cmd.family == "exemplars"
    assert (cmd.setting.unit_step, cmd.setting.edge_step, cmd.setting.feature_step) == (50.0, 1.5, 2)
    assert cmd.stem() == "pruneactivation_gradient_productboolean0.05321050.01.5None1.0"
    assert cmd.files(checkout)["model"].name == f"{cmd.stem()}_Model0.pth"
    assert cmd.files(checkout)["mask"].parent.parent.name == "Masks"


def test_first_command_of_a_duplicated_key_wins(tmp_path):
    root = tmp_path / "ref"
    script = root / "shell" / "exemplars" / "a.sh"
    script.parent.mkdir(parents=True)
    (root / "results").mkdir()
    first = LINE.format(mod=SEPARABLE_ID, arch="4 24 4", seed=0)
    second = first.replace("--unit_pruning_gradient 50.0", "--unit_pruning_gradient 25.0")
    script.write_text(first + "\n" + second + "\n")
    grid = P.first_commands(P.read_commands(root))
    assert len(grid) == 1 and next(iter(grid.values())).setting.unit_step == 50.0


def test_network_loads_masked_on_the_cpu(checkout):
    net = P.load_network(P.read_commands(checkout)[0], checkout)
    assert net.sizes == [4, 24, 4]
    assert [int(m.sum()) for m in net.weight_masks] == [4, 4]
    assert net.info["reference"]["seed"] == 0


def test_a_pickle_that_would_run_code_is_refused(checkout):
    cmd = P.read_commands(checkout)[0]

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > /dev/null",))

    cmd.files(checkout)["mask"].write_bytes(pickle.dumps([Evil()]))
    with pytest.raises(SculptbenchError, match="corrupt reference file .*only tensors are allowed"):
        P.load_network(cmd, checkout)


def test_wrong_shapes_and_garbage_are_corrupt(checkout):
    cmd = P.read_commands(checkout)[0]
    cmd.files(checkout)["model"].write_bytes(b"not a torch file")
    with pytest.raises(SculptbenchError, match="corrupt reference file"):
        P.load_network(cmd, checkout)
    state, masks = separable_state(24)
    torch.save(state, cmd.files(checkout)["model"])
    cmd.files(checkout)["mask"].write_bytes(pickle.dumps(masks[:1]))
    with pytest.raises(SculptbenchError, match="expected a list of 2 mask tensors"):
        P.load_network(cmd, checkout)


def test_check_root_names_the_problem(tmp_path):
    with pytest.raises(SculptbenchError, match="no reference checkout given"):
        P.check_root(None)
    with pytest.raises(SculptbenchError, match="is not a directory"):
        P.check_root(tmp_path / "nope")
    (tmp_path / "shell").mkdir()
    with pytest.raises(SculptbenchError, match="has no results/ folder"):
        P.check_root(tmp_path)


# --------------------------------------------------------------------------- the pruner through the CLI
def run_cli(tmp_path, *args, env=None):
    db = tmp_path / "r.db"
    return CliRunner().invoke(main, ["run", "--results", str(db), "--no-cache", *args], env=env), db


def test_published_cells_and_cells_outside_the_grid(tmp_path, checkout):
    result, db = run_cli(tmp_path, "--tasks", "bool/input-separable", "--arch", "24,36", "--pruners", "published",
                         "--detectors", "sculpting", "--seeds", "5", "--param", f"published.root={checkout}")
    assert result.exit_code == 0, result.output
    cells = {(c.arch, c.seed): c for c in ResultsStore(db, create=False).cells()}
    assert cells[("24", 0)].status == "ok" and cells[("24", 1)].status == "ok"
    assert cells[("24", 0)].config["pruner_info"]["reference"]["line"] == 3
    # reference seed 2 is not in this checkout, seed index 4 is not in any: clear error rows
    assert cells[("24", 2)].status == "error" and "no network of 'bool/input-separable' at 24 seed index 2" in cells[("24", 2)].error
    assert "the published architectures of this task are 24" in cells[("24", 2)].error
    assert "seed index 4 is outside the published grid" in cells[("24", 4)].error
    assert all(cells[("36", s)].status == "error" for s in range(5))


def test_root_from_the_environment(tmp_path, checkout):
    result, db = run_cli(tmp_path, "--tasks", "bool/input-separable", "--arch", "24", "--pruners", "published",
                         "--detectors", "sculpting", "--seeds", "1", env={P.ROOT_ENV: str(checkout)})
    assert result.exit_code == 0, result.output
    assert [c.status for c in ResultsStore(db, create=False).cells()] == ["ok"]


@pytest.mark.parametrize("param, fragment", [
    (None, "no reference checkout given"),
    ("published.root=/nonexistent/ref", "is not a directory"),
])
def test_bad_root_is_one_line(tmp_path, monkeypatch, param, fragment):
    monkeypatch.delenv(P.ROOT_ENV, raising=False)
    args = ["--tasks", "bool/input-separable", "--arch", "24", "--pruners", "published", "--detectors", "sculpting", "--seeds", "1"]
    result, db = run_cli(tmp_path, *args, *(["--param", param] if param else []))
    assert_user_error(result, fragment)
    assert not db.exists()


# --------------------------------------------------------------------------- the bench
PAPER_NETWORKS = load_source("paper_networks_bench", ROOT / "bench" / "paper_networks.py")


def bench(*args):
    """Run the bench's ``main`` in this process; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = PAPER_NETWORKS.main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_bench_scores_a_checkout_and_ends_with_the_count(tmp_path, checkout):
    proc = bench("--reference-root", checkout, "--json", tmp_path / "out.json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    # two width-24 networks of one exemplar: one figure cell, 1.00 like the paper, from n=2
    assert lines[-1] == "figure cells within 0.02 of the paper: 1/114"
    assert "1.00 / 1.00 (n=2)" in proc.stdout
    assert "networks scored: 2; missing or unreadable: 0" in proc.stdout
    assert (tmp_path / "out.json").exists()


def test_bench_bad_input_is_one_line(tmp_path, checkout):
    for args, fragment in [
        (("--reference-root", tmp_path / "missing"), "is not a directory"),
        (("--reference-root", tmp_path), "has no shell/ folder"),
    ]:
        proc = bench(*args)
        assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.startswith("error: ") and fragment in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    cmd = P.read_commands(checkout)[1]
    cmd.files(checkout)["mask"].unlink()
    proc = bench("--reference-root", checkout)
    assert proc.returncode == 2 and "1 of 2 published networks have missing files" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = bench("--reference-root", checkout, "--allow-missing")
    assert proc.returncode == 0, proc.stderr
    assert "missing or unreadable: 1" in proc.stdout and "not scored: shell/exemplars/input_separable.sh line 4" in proc.stdout
    P.read_commands(checkout)[0].files(checkout)["model"].write_bytes(b"garbage")
    proc = bench("--reference-root", checkout, "--allow-missing")  # corrupt files are listed too
    assert proc.returncode == 0 and "missing or unreadable: 2" in proc.stdout
    cmd.files(checkout)["mask"].write_bytes(pickle.dumps(separable_state()[1]))
    proc = bench("--reference-root", checkout)
    assert proc.returncode == 2 and proc.stderr.startswith("error: 1 published networks could not be read")
    assert "corrupt reference file" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_bench_puts_our_databases_beside_the_paper_networks(tmp_path, checkout):
    db = tmp_path / "ours.db"
    run = CliRunner().invoke(main, ["run", "--tasks", "bool/input-separable", "--arch", "24", "--seeds", "2", "--pruners", "published",
                                    "--param", f"published.root={checkout}", "--results", str(db), "--no-cache", "--quiet"])
    assert run.exit_code == 0, run.output
    proc = bench("--reference-root", checkout, "--ours", f"published={db}")
    assert proc.returncode == 0, proc.stderr
    # paper / our scorer on the paper's networks / the database, for the one cell both have
    assert "1.00 / 1.00 / 1.00 (n=2)" in proc.stdout
    assert "published: figure cells within 0.15 of our scorer on the paper's networks: 1/1 (100%)" in proc.stdout
    # two hidden units in modules, eight weights kept: the same networks on both sides
    assert "| bool/input-separable | 24     | 2 / 8              | 2 / 8       |" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "figure cells within 0.02 of the paper: 1/114"


def test_bench_ours_bad_input_is_one_line(tmp_path, checkout):
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello")
    for value, fragment in [
        ("ours.db", "write it as LABEL=DB"),
        (f"a={tmp_path / 'missing.db'}", "no results database at"),
        (f"a={not_a_db}", "not a sculptbench results database"),
    ]:
        proc = bench("--reference-root", checkout, "--ours", value)
        assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.startswith("error: ") and fragment in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- the contract kit
class TestPublishedPrunerContract(PrunerContract):
    """The same contract every pruner passes, on a fake checkout with seeds 0 and 1."""

    plugin = P
    component = P.PublishedPruner()
    task_name = "bool/input-separable"
    hidden = (24,)
    params = {"root": str(make_checkout(Path(tempfile.mkdtemp(prefix="sculptbench-ref-")) / "ref"))}
    bad_params = [{"root": "/nonexistent/reference"}, {"root": 5}, {"depth": 3}]

    def test_options_are_declared(self, monkeypatch):
        """Without ``root`` the pruner needs the environment variable; with it, the defaults are valid."""
        monkeypatch.delenv(P.ROOT_ENV, raising=False)
        with pytest.raises(SculptbenchError, match="no reference checkout given"):
            self.make_component().resolve({})
        monkeypatch.setenv(P.ROOT_ENV, self.params["root"])
        super().test_options_are_declared()


def test_chance_within_is_the_exact_binomial_agreement():
    within = PAPER_NETWORKS.chance_within
    assert within(12, 12, 1.0) == pytest.approx(1.0) and within(12, 12, 0.0) == pytest.approx(1.0)
    assert within(1, 1, 0.5) == pytest.approx(0.5)  # both succeed or both fail
    # two cells of 4 at rate 1/2 agree within 0.15 only when their counts are equal: sum of C(4,k)^2 / 4^4
    assert within(4, 4, 0.5) == pytest.approx(70 / 256)
    assert within(12, 36, 0.3) == pytest.approx(within(12, 36, 0.7))


def test_agreement_counts_cells_within_and_which_side_the_rest_fall():
    yes, no = True, False
    # reuse cells at 2 hidden layers: m=2 equal, m=4 ours below, m=8 ours above (tolerance 0.15)
    paper_nets = {"reuse": {2: {2: [yes, no], 4: [yes] * 4, 8: [no] * 4}}}
    ours = {"a": {"reuse": {2: {2: [no, yes], 4: [yes, no, no, no], 8: [yes, yes, no, no]}}}}
    _, _, counts = PAPER_NETWORKS.compare_ours(paper_nets, ours, "reuse")
    agreement = counts["a"]
    assert (agreement.within, agreement.cells, agreement.below, agreement.above) == (1, 3, 1, 1)
    # m=4 and m=8 sit at rates 1 and 0, where two draws always agree; m=2, two networks a side at
    # rate 1/2, agrees when the counts are equal: 1/16 + 1/4 + 1/16
    assert agreement.expected == pytest.approx(2 + 0.375)


def test_a_second_draw_is_expected_to_agree_by_the_binomial_chance():
    cells = {"exemplars": {2: {"bool/reused": [True, False]}},  # not a family cell
             "reuse": {2: {2: [True, False], 4: [True] * 3}}, "levels": {3: {12: [False] * 12}}}
    expected, count = PAPER_NETWORKS.resampled_agreement(cells)
    assert count == 3 and expected == pytest.approx(0.375 + 1 + 1)
