"""The command line: every user error is one `error:` line with exit status 2; the happy path."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner

from conftest import assert_user_error
from sculptbench.cli import main

TASK = "bool/input-separable"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def run_args(db, *overrides):
    """A small `run` command; later options override earlier ones."""
    return ["run", "--tasks", TASK, "--pruners", "dense", "--detectors", "louvain", "--seeds", 1,
            "--arch", 4, "--epochs", 1, "--quiet", "--results", db, *overrides]


# --------------------------------------------------------------------------- run: user errors
@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (["--tasks", "bool/nope"], ["unknown task 'bool/nope'", "available: all, families"]),
        (["--tasks", "nope-*"], ["unknown task 'nope-*'"]),
        (["--pruners", "x"], ["unknown pruner 'x'; available: bimt, dense, edge, grasp, iterative, l1, lth, magnitude, published, random, snip, synflow"]),
        (["--detectors", "x"], ["unknown detector 'x'; available: activation, infomap, layers, leiden, louvain, paris, sculpting, single, spectral"]),
        (["--scorers", "x"], ["unknown scorer 'x'; available: clusterability, structure"]),
        (["--arch", "24xq"], ["invalid --arch '24xq'", "widths joined by 'x'"]),
        (["--arch", "0"], ["invalid --arch '0'", "between 1 and"]),
        (["--arch", "24,24x"], ["invalid --arch '24x'"]),
        (["--seeds", 0], ["invalid --seeds 0; it must be >= 1"]),
        (["--seed-start", -5], ["invalid --seed-start -5; it must be >= 0"]),
        (["--lr", "inf"], ["invalid lr inf; it must be a finite number > 0"]),
        (["--lr", "nan"], ["invalid lr nan"]),
        (["--lr", "0"], ["invalid lr 0.0"]),
        (["--param", "iterative"], ["invalid --param 'iterative'", "COMPONENT.KEY=VALUE"]),
        (["--param", "unit_step=30"], ["invalid --param 'unit_step=30'"]),
        (["--param", "iterative.unit_step=30"],
         ["--param names 'iterative'", "not a selected pruner, detector or scorer", "selected: dense, louvain, structure"]),
        (["--pruners", "iterative", "--param", "iterative.hparams=task", "--param", "iterative.unit_step=150"],
         ["invalid iterative.unit_step 150; it must be a number in (0, 100)"]),
        (["--pruners", "iterative", "--param", "iterative.edge_schedule=zigzag"],
         ["invalid iterative.edge_schedule zigzag", "it must be one of linear, "]),
        (["--pruners", "iterative", "--param", "iterative.bogus=1"], ["unknown option iterative.bogus; valid: hparams, unit_step"]),
        (["--param", "louvain.bogus=1"], ["unknown option louvain.bogus; valid: resolution"]),
        (["--param", "structure.bogus=1"], ["unknown option structure.bogus"]),
        (["--format", "nope"], ["invalid --format 'nope'", "valid: github"]),
        (["--columns", "nope"], ["invalid --columns 'nope'"]),
        (["--device", "tpu"], ["invalid --device 'tpu'"]),
        (["--no-cache", "--cache", "stages"], ["--cache stages and --no-cache contradict each other", "drop one of them"]),
    ],
)
def test_run_user_errors(tmp_path, overrides, fragments):
    db = tmp_path / "r.db"
    assert_user_error(invoke(*run_args(db, *overrides)), *fragments)
    assert not db.exists(), "a refused command must not create the results database"


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        # bool/both prunes under hparams=auto by default (the task sets it): its grid sets the steps.
        (["--tasks", "bool/both", "--pruners", "iterative", "--param", "iterative.unit_step=30"],
         ["option iterative.unit_step=30 would have no effect: it applies only when hparams is task (here hparams is auto)",
          "auto_unit_steps", "add iterative.hparams=task to prune with unit_step=30"]),
        (["--tasks", "bool/both", "--pruners", "iterative", "--param", "iterative.edge_step=2.5"],
         ["option iterative.edge_step=2.5 would have no effect", "(here hparams is auto)", "add iterative.hparams=task to prune with edge_step=2.5"]),
        (["--tasks", "bool/both", "--pruners", "iterative", "--param", "iterative.hparams=authors", "--param", "iterative.unit_step=30"],
         ["option iterative.unit_step=30 would have no effect", "(here hparams is authors)"]),
        # auto_restarts is gone (the protocol's restarts); the auto grid's steps act only under hparams=auto.
        (["--tasks", "bool/overlap-o2-u1", "--pruners", "iterative", "--param", "iterative.auto_unit_steps=30"],
         ["option iterative.auto_unit_steps=30 would have no effect: it applies only when hparams is auto (here hparams is task)",
          "add iterative.hparams=auto"]),
        # One start of one variant: the select rule has nothing to choose from.
        (["--tasks", "bool/overlap-o2-u1", "--pruners", "iterative", "--param", "iterative.select=modularity"],
         ["option iterative.select=modularity would have no effect", "(here restarts is 1)", "add iterative.restarts=N with N > 1"]),
        (["--pruners", "iterative", "--param", "iterative.schedule_iterations=3"],
         ["option iterative.schedule_iterations=3 would have no effect", "unit_schedule is cosine or cubic"]),
        # magnitude has no unit phase and no hparams rules; dense has no options but the protocol's.
        (["--pruners", "magnitude", "--param", "magnitude.unit_schedule=cubic"], ["unknown option magnitude.unit_schedule; valid: edge_step"]),
        (["--pruners", "magnitude", "--param", "magnitude.hparams=auto"], ["unknown option magnitude.hparams"]),
        (["--param", "dense.schedule_iterations=3"], ["unknown option dense.schedule_iterations; valid: restarts, select"]),
    ],
)
def test_an_option_the_rule_or_pruner_would_ignore_is_refused(tmp_path, overrides, fragments):
    db = tmp_path / "r.db"
    assert_user_error(invoke(*run_args(db, *overrides)), *fragments)
    assert not db.exists()


def test_an_option_that_applies_is_accepted(tmp_path):
    """unit_step applies under hparams=task (explicit, or the overlap family's default rule)."""
    for overrides in (["--tasks", "bool/both", "--param", "iterative.hparams=task"], ["--tasks", "bool/overlap-o2-u1"]):
        result = invoke(*run_args(tmp_path / "r.db", "--pruners", "iterative", "--param", "iterative.unit_step=30", "--epochs", 1, *overrides))
        assert result.exit_code == 0, result.output


def test_unknown_pruner_message_is_exact(tmp_path):
    from sculptbench.plugin.registry import load_registry

    line = assert_user_error(invoke(*run_args(tmp_path / "r.db", "--pruners", "x")))
    # Exactly the registered names, sorted: the built-ins plus any installed third-party pruner.
    names = sorted(load_registry().pruners)
    assert {"dense", "edge", "iterative", "magnitude", "random"} <= set(names)
    assert line == f"error: unknown pruner 'x'; available: {', '.join(names)}"


def test_cuda_without_cuda(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert_user_error(invoke(*run_args(tmp_path / "r.db", "--device", "cuda")), "--device cuda", "no CUDA device", "cpu")


def test_results_in_a_missing_directory(tmp_path):
    db = tmp_path / "missing" / "r.db"
    assert_user_error(invoke(*run_args(db)), "cannot create results database", "does not exist")
    assert not db.parent.exists()


def test_results_path_is_a_directory(tmp_path):
    assert_user_error(invoke(*run_args(tmp_path)), "is a directory")
    assert_user_error(invoke("report", "--results", tmp_path), "is a directory")
    assert_user_error(invoke("runs", "--results", tmp_path), "is a directory")


def test_results_file_that_is_not_a_database_is_left_untouched(tmp_path):
    path = tmp_path / "notes.txt"
    content = b"my precious notes\n\x00\x01 binary too\n" * 10
    path.write_bytes(content)
    assert_user_error(invoke(*run_args(path)), str(path), "not a sculptbench results database")
    assert_user_error(invoke("report", "--results", path), "not a sculptbench results database")
    assert_user_error(invoke("runs", "--results", path), "not a sculptbench results database")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no -wal/-shm/-journal files


def test_corrupt_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "corrupt.db"
    content = b"SQLite format 3\x00" + b"\xff" * 200  # an SQLite header, then garbage
    path.write_bytes(content)
    for args in (run_args(path), ("report", "--results", path), ("runs", "--results", path)):
        assert_user_error(invoke(*args), f"cannot read results database {path}", "file is not a database", "--results")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.db"]


def test_foreign_sqlite_database_is_refused_untouched(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    assert_user_error(invoke(*run_args(path)), "not sculptbench's")
    assert path.read_bytes() == before


def test_malformed_circuit_yaml_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: t/bad\nfamily: x\ninputs: [x1, x2]\ngates:\n  a: {op: frob, in: [x1, x2]}\n"
        "outputs:\n  y: a\nmodules:\n  A: {reads: [x1, x2], drives: [y]}\n"
    )
    assert_user_error(invoke(*run_args(tmp_path / "r.db", "--tasks", bad)), str(bad), "gates.a.op", "frob")


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [\n")
    assert_user_error(invoke(*run_args(tmp_path / "r.db", "--tasks", bad)), str(bad), "line")


def test_missing_task_file(tmp_path):
    assert_user_error(invoke(*run_args(tmp_path / "r.db", "--tasks", tmp_path / "nothere.yaml")), "does not exist")


def test_run_where_every_cell_is_untrainable_prints_a_leaderboard(tmp_path):
    """Untrainable cells count as failures: the run succeeds and shows success 0, it does not
    end with "unknown metric 'success'" after the cells were computed and written."""
    db = tmp_path / "r.db"
    res = invoke("run", "--tasks", "bool/reused", "--pruners", "dense", "--detectors", "louvain", "--seeds", 1,
                 "--arch", 24, "--epochs", 1, "--quiet", "--results", db)
    assert res.exit_code == 0, res.output
    assert "cells: untrainable 1" in res.stdout
    rows = [line for line in res.stdout.splitlines() if line.startswith("| dense")]
    assert rows and "0.00" in rows[0]


def test_run_warns_when_most_dense_networks_of_a_task_are_untrainable(tmp_path):
    db = tmp_path / "r.db"
    res = invoke("run", "--tasks", "bool/reused", "--pruners", "dense", "--detectors", "louvain", "--seeds", 2,
                 "--arch", 24, "--epochs", 1, "--quiet", "--results", db)
    assert res.exit_code == 0, res.output
    assert ("warning: 2 of 2 dense networks of task bool/reused are untrainable (they never reached the accuracy threshold), "
            "so its cells count as failures, not as results of the method; train longer, e.g. --epochs 2 (now 1), or use wider --arch") in res.stderr
    (row,) = [line for line in res.stdout.splitlines() if line.startswith("| dense")]
    assert "n=2 (2 untrainable)" in row
    assert "Traceback" not in res.output


# --------------------------------------------------------------------------- report and runs: user errors
def test_report_on_a_missing_database(tmp_path):
    db = tmp_path / "none.db"
    assert_user_error(invoke("report", "--results", db), "no results database at", str(db))
    assert_user_error(invoke("runs", "--results", db), "no results database at")
    assert not db.exists()


# --------------------------------------------------------------------------- the happy path
@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    db = tmp_path_factory.mktemp("cli") / "results.db"
    args = ["run", "--tasks", TASK, "--pruners", "magnitude,dense", "--detectors", "louvain", "--seeds", 2,
            "--arch", 24, "--epochs", 30, "--results", db, "--quiet"]
    first = invoke(*args)
    assert first.exit_code == 0, (first.output, first.exception)
    second = invoke(*args)
    assert second.exit_code == 0, (second.output, second.exception)
    return db, first, second


def table_lines(text):
    return [line for line in text.splitlines() if line.startswith("|")]


def test_run_prints_a_leaderboard(done_run):
    _, first, _ = done_run
    lines = table_lines(first.stdout)
    assert re.split(r"\s*\|\s*", lines[0].strip("| ")) == ["pruner", "detector", "input-separable"]
    # The exemplars set restarts 9 and select sparsest_modularity for every pruner: both rows carry the rule.
    assert [re.split(r"\s*\|\s*", line.strip("| "))[:2] for line in lines[2:]] == [["dense[sparsest_modularity]", "louvain"], ["magnitude[sparsest_modularity]", "louvain"]]
    assert "cells: ok 4" in first.stdout
    assert "4 cells written to" in first.stderr
    assert "already in" not in first.stdout


def test_report_reprints_the_same_table(done_run):
    db, first, _ = done_run
    rep = invoke("report", "--results", db)
    assert rep.exit_code == 0, rep.output
    # The same leaderboard; `report` then adds the paired comparisons, which `run` leaves out.
    assert table_lines(rep.stdout.split("\n\n")[0]) == table_lines(first.stdout)
    assert "W-L-T" in rep.stdout and "W-L-T" not in first.stdout
    caption = [line for line in first.stdout.splitlines() if line.startswith("structure.success")]
    assert caption and caption[0] in rep.stdout


def test_report_json(done_run):
    db, _, _ = done_run
    rep = invoke("report", "--results", db, "--format", "json")
    assert rep.exit_code == 0, rep.output
    board = json.loads(rep.stdout)
    assert board["schema"] == "sculptbench.leaderboard/3"
    assert board["metric"] == "structure.success" and board["secondary"] == "structure.input_ari"
    assert board["columns"] == ["input-separable"]
    assert board["statuses"] == {"ok": 4}
    assert board["data_sources"] == ["truth table"]
    assert [(r["key"]["pruner"], r["key"]["detector"]) for r in board["rows"]] == [("dense[sparsest_modularity]", "louvain"), ("magnitude[sparsest_modularity]", "louvain")]
    for row in board["rows"]:
        cell = row["cells"]["input-separable"]
        assert cell["n"] == 2 and cell["errors"] == 0
        assert 0 <= cell["mean"] <= 1 and cell["secondary"] is not None
        assert cell["ci"][0] <= cell["mean"] <= cell["ci"][1]


def test_report_csv(done_run):
    db, _, _ = done_run
    rep = invoke("report", "--results", db, "--format", "csv")
    assert rep.exit_code == 0, rep.output
    rows = list(csv.DictReader(io.StringIO(rep.stdout)))
    assert [(r["pruner"], r["detector"], r["column"]) for r in rows] == [("dense[sparsest_modularity]", "louvain", "input-separable"), ("magnitude[sparsest_modularity]", "louvain", "input-separable")]
    assert all(r["metric"] == "structure.success" and r["n"] == "2" for r in rows)
    assert all(0 <= float(r["mean"]) <= 1 for r in rows)


def test_report_latex(done_run):
    db, _, _ = done_run
    rep = invoke("report", "--results", db, "--format", "latex")
    assert rep.exit_code == 0, rep.output
    assert "\\toprule" in rep.stdout and "\\bottomrule" in rep.stdout
    first, second = rep.stdout.splitlines()[:2]
    assert re.fullmatch(r"% sculptbench manifest sha256:[0-9a-f]{64}", first)
    assert second.startswith("% structure.success")


def test_report_other_metrics(done_run):
    db, _, _ = done_run
    for metric in ("density", "input_ari", "structure.success", "time"):
        rep = invoke("report", "--results", db, "--metric", metric, "--format", "json")
        assert rep.exit_code == 0, (metric, rep.output)
    dens = json.loads(invoke("report", "--results", db, "--metric", "density", "--format", "json").stdout)
    by_pruner = {r["key"]["pruner"]: r["cells"]["input-separable"]["mean"] for r in dens["rows"]}
    assert by_pruner["dense[sparsest_modularity]"] == 1.0 and by_pruner["magnitude[sparsest_modularity]"] < 1.0


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--metric", "nope"], ["unknown metric 'nope'", "available:", "success"]),
        (["--format", "nope"], ["invalid --format 'nope'", "valid: github"]),
        (["--run", "nope"], ["no run 'nope'", "sculptbench runs"]),
        (["--columns", "nope"], ["invalid --columns 'nope'"]),
    ],
)
def test_report_user_errors(done_run, args, fragments):
    db, _, _ = done_run
    assert_user_error(invoke("report", "--results", db, *args), *fragments)


def test_rerun_recomputes_nothing(done_run):
    _, first, second = done_run
    assert "4 of 4 cells were already in" in second.stdout and "not recomputed" in second.stdout
    assert "0 cells written to" in second.stderr
    assert table_lines(second.stdout) == table_lines(first.stdout)


def test_runs_lists_both_runs(done_run):
    db, _, _ = done_run
    res = invoke("runs", "--results", db, "--json")
    assert res.exit_code == 0, res.output
    runs = json.loads(res.stdout)
    assert len(runs) == 2
    assert [r["status"] for r in runs] == ["done", "done"]
    assert runs[0]["counts"] == {"ok": 4} and runs[1]["counts"] == {}
    assert runs[0]["config"]["pruners"] == ["magnitude", "dense"] and runs[0]["config"]["seeds"] == [0, 1]
    table = invoke("runs", "--results", db)
    assert table.exit_code == 0 and all(r["run_id"] in table.stdout for r in runs)
    one = invoke("report", "--results", db, "--run", runs[0]["run_id"])
    assert one.exit_code == 0 and "cells: ok 4" in one.stdout


def test_list_tasks_json():
    res = invoke("list", "tasks", "--json")
    assert res.exit_code == 0, res.output
    tasks = json.loads(res.stdout)
    assert len([t for t in tasks if t["name"].startswith("bool/")]) == 39 + 7  # the paper's and the classic family's
    assert {t["family"] for t in tasks} == {"exemplars", "reuse", "overlap", "levels", "classic", "mnist", "halves-mnist"}
    assert TASK in {t["name"] for t in tasks}


def test_list_pruners_json_shows_options():
    res = invoke("list", "pruners", "--json")
    assert res.exit_code == 0, res.output
    pruners = {p["name"]: p for p in json.loads(res.stdout)}
    builtins = {"dense", "edge", "iterative", "magnitude", "published", "random", "lth", "l1", "bimt", "snip", "grasp", "synflow"}
    assert builtins <= set(pruners)
    assert all(p["package"] != "sculptbench" for name, p in pruners.items() if name not in builtins)
    options = {o["name"]: o for o in pruners["magnitude"]["options"]}
    assert options["edge_schedule"]["default"] == "lth"
    assert not options["edge_schedule"]["protocol"] and options["restarts"]["protocol"]
    assert "hparams" not in options and "unit_step" not in options  # magnitude has no rules and no unit phase
    assert [o["name"] for o in pruners["dense"]["options"]] == ["restarts", "select", "select_detector", "oracle_scorer", "oracle_metric", "adapt"]


def test_plugins_in_process():
    res = invoke("plugins", "--json")
    assert res.exit_code == 0, res.output
    assert {p["status"] for p in json.loads(res.stdout)} == {"ok"}


def test_a_number_with_an_exponent_is_a_number():
    """YAML 1.1 reads 1e-3 as text; --param reads it as the number a user means."""
    from sculptbench.run.parsing import parse_params

    assert parse_params(["l1.lambda=1e-3", "x.steps=[1e-3, 2]", "x.name=e5"]) == {"l1": {"lambda": 0.001}, "x": {"steps": [0.001, 2], "name": "e5"}}
