"""`sculptbench report`: bootstrap CIs, bold best entries, group-by, the LaTeX/CSV/JSON forms,
deterministic bytes, manifests and user errors, on hand-built cells (no training)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from sculptbench.results import report
from sculptbench.cli import main
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.results.store import ResultsStore
from sculptbench.contracts.work import Cell
from conftest import assert_user_error

WEIRD_TASK = "my/we_ird&%$#{}~^\\task"
WEIRD_PRUNER = "my_pruner&co"
MANIFEST = {"sculptbench": "0.1.0", "git": {"sha": "abc", "dirty": False}, "python": "3.11", "torch": "2", "numpy": "2",
            "device": "cpu", "seeds": [0, 1, 2], "plugins": [{"name": "builtin", "status": "ok"}]}
CONFIG = {"tasks": ["x"], "pruners": ["iterative", "magnitude"], "seeds": [0, 1, 2]}


def make_cell(key, task="bool/a", pruner="iterative", detector="louvain", seed=0, depth=1, success=1.0, ari=0.5, ged=0.2,
              density=0.1, params=None, status="ok", family="fam", history=None):
    metrics = {} if status != "ok" else {"structure.success": success, "structure.input_ari": ari, "structure.ged": ged}
    config = {"data_source": "truth table", "task_parameters": dict(params or {})}
    if history is not None:
        config["history"] = history
    return Cell(cell_key=key, task=task, family=family, arch="x".join(["24"] * depth), depth=depth, pruner=pruner,
                detector=detector, seed=seed, status=status, density=density, accuracy=1.0, metrics=metrics,
                timings={"prune": 1.5, "detect": 0.5}, config=config, versions={"scorers": {"structure": {}}})


def standard_cells():
    """Two pruners x two tasks x two depths x three seeds, plus two overlap tasks with o and u."""
    cells = []
    rng = np.random.default_rng(7)
    for task, params in (("bool/a", {}), ("bool/b", {}), ("bool/overlap-o0-u1", {"o": 0, "u": 1}),
                         ("bool/overlap-o1-u2", {"o": 1, "u": 2})):
        for pruner in ("iterative", "magnitude"):
            for depth in (1, 2):
                for seed in range(3):
                    good = pruner == "iterative"
                    cells.append(make_cell(
                        f"{task}-{pruner}-{depth}-{seed}", task=task, pruner=pruner, depth=depth, seed=seed,
                        success=float(good or seed == 0), ari=float(rng.random()), ged=0.1 if good else 0.3 + 0.1 * seed,
                        density=0.05 if good else 0.2, params=params,
                    ))
    return cells


def write_db(path, cells, manifest=MANIFEST, config=CONFIG):
    store = ResultsStore(path)
    run_id = store.start_run("sculptbench run (test)", config, manifest)
    for cell in cells:
        store.write_cell(run_id, cell)
    store.finish_run(run_id, "done")
    store.close()
    return path


@pytest.fixture()
def db(tmp_path):
    return write_db(tmp_path / "r.db", standard_cells())


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def stored(path):
    store = ResultsStore(path, create=False)
    try:
        return store.cells(), store.runs()
    finally:
        store.close()


# --------------------------------------------------------------------------- bootstrap
def test_bootstrap_ci_is_deterministic_and_brackets_the_mean():
    values = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    first = report.bootstrap_ci(values)
    np.random.default_rng().random(100)  # unrelated random draws change nothing
    assert report.bootstrap_ci(values) == first
    lo, hi = first
    mean = sum(values) / len(values)
    assert 0.0 <= lo < mean < hi <= 1.0
    # The percentile bootstrap by hand, with the documented settings.
    rng = np.random.default_rng(report.BOOTSTRAP_SEED)
    means = np.asarray(values)[rng.integers(0, len(values), size=(report.BOOTSTRAP_RESAMPLES, len(values)))].mean(axis=1)
    assert (lo, hi) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    assert report.bootstrap_ci([]) is None
    assert report.bootstrap_ci([0.7]) == (0.7, 0.7)
    assert report.bootstrap_ci([0.3, 0.3, 0.3]) == (0.3, 0.3)
    # More data, narrower interval.
    wide = report.bootstrap_ci([0.0, 1.0] * 3)
    narrow = report.bootstrap_ci([0.0, 1.0] * 30)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


@pytest.mark.parametrize("seed", range(20))
def test_bootstrap_ci_contains_the_mean_for_skewed_data(seed):
    values = list(np.random.default_rng(seed).exponential(size=int(2 + seed % 7)) ** 3)
    lo, hi = report.bootstrap_ci(values)
    assert lo <= float(np.mean(values)) <= hi


def test_entries_carry_mean_ci_and_n(db):
    cells, runs = stored(db)
    board = report.build(cells, runs=runs)
    assert board.row_fields == ["pruner", "detector"] and board.column_fields == ["task"]
    assert board.columns == ["a", "b", "overlap-o0-u1", "overlap-o1-u2"]
    entry = board.entry(("magnitude", "louvain"), "a")
    assert entry["n"] == 6 and entry["errors"] == 0  # 2 depths x 3 seeds
    assert entry["mean"] == pytest.approx(2 / 6)
    assert entry["ci"][0] <= entry["mean"] <= entry["ci"][1]
    assert entry["secondary"] is not None
    text = report.render(board, "github")
    assert "0.33 [" in text and "n=6" in text


# --------------------------------------------------------------------------- bold
def table_row(text, *starts):
    return next(line for line in text.splitlines() if re.match(r"\|\s*" + r"\s*\|\s*".join(map(re.escape, starts)) + r"\s*\|", line))


def test_bold_marks_the_highest_mean_for_success(db):
    cells, runs = stored(db)
    board = report.build(cells, runs=runs)
    assert board.higher_is_better
    text = report.render(board, "markdown")
    assert table_row(text, "iterative", "louvain").count("**1.00**") == 4
    assert "**" not in table_row(text, "magnitude", "louvain")
    latex = report.render(board, "latex")
    assert latex.count("\\textbf{1.00}") == 4
    plain = report.render(board, "plain")
    assert "1.00* [" in plain and "**" not in plain


@pytest.mark.parametrize("metric", ["ged", "density", "time", "structure.ged"])
def test_bold_marks_the_lowest_mean_for_lower_is_better_metrics(tmp_path, metric):
    cells = standard_cells()
    for c in cells:  # make magnitude faster so "time" has a winner
        c.timings = {"prune": 1.0 if c.pruner == "magnitude" else 2.0}
    cells_db, runs = stored(write_db(tmp_path / "r.db", cells))
    board = report.build(cells_db, metric=metric, runs=runs)
    assert not board.higher_is_better
    winner = "magnitude" if metric == "time" else "iterative"
    assert {row[0] for row, _ in board.best} == {winner}
    text = report.render(board, "github")
    assert table_row(text, winner, "louvain").count("**") == 8
    assert "lower is better" in text


def test_ties_are_all_bold_and_a_lone_entry_is_not(tmp_path):
    cells = [make_cell(f"k{i}", pruner=p, seed=i, success=1.0) for i, p in enumerate(["p1", "p2", "p1", "p2"])]
    cells.append(make_cell("solo", task="bool/solo", pruner="p1"))
    board = report.build(stored(write_db(tmp_path / "r.db", cells))[0])
    assert board.best == {(("p1", "louvain"), "a"), (("p2", "louvain"), "a")}


# --------------------------------------------------------------------------- group-by
def test_group_by_rows_and_columns(db):
    cells, _ = stored(db)
    board = report.build(cells, group_by="pruner,depth:task")
    assert board.rows == [("iterative", 1), ("iterative", 2), ("magnitude", 1), ("magnitude", 2)]
    assert board.values[("magnitude", 2)]["a"]["n"] == 3
    board = report.build(cells, group_by="detector:depth")
    assert board.columns == ["L1", "L2"] and board.rows == [("louvain",)]
    assert board.values[("louvain",)]["L1"]["n"] == 24
    board = report.build(cells, group_by="task:seed")
    assert board.columns == ["seed=0", "seed=1", "seed=2"]


def test_group_by_task_parameters_gives_the_overlap_heatmap(db):
    cells, _ = stored(db)
    board = report.build(cells, group_by="o:u")
    assert board.row_fields == ["o"] and board.column_fields == ["u"]
    assert board.rows == [(0,), (1,)] and board.columns == ["u=1", "u=2"]
    assert board.values[(0,)]["u=1"]["n"] == 12 and "u=2" not in board.values[(0,)]
    assert board.omitted == 24  # the tasks without o and u
    text = report.render(board, "github")
    assert "24 cells without o/u left out" in text
    data = board.to_json()
    assert data["rows"][0]["key"] == {"o": 0} and data["column_keys"] == [{"u": 1}, {"u": 2}]


def test_group_by_without_columns_uses_the_columns_option(db):
    cells, _ = stored(db)
    board = report.build(cells, group_by="pruner", columns="task-depth")
    assert board.columns[:2] == ["a L1", "a L2"] and board.rows == [("iterative",), ("magnitude",)]
    assert report.build(cells, columns="family").columns == ["fam"]


def test_columns_sort_naturally(tmp_path):
    cells = [make_cell(f"k{m}", task=f"bool/reuse-m{m}") for m in (12, 2, 16, 4)]
    assert report.build(stored(write_db(tmp_path / "r.db", cells))[0]).columns == ["reuse-m2", "reuse-m4", "reuse-m12", "reuse-m16"]


@pytest.mark.parametrize("spec, fragments", [
    ("pruner:nope", ["invalid --group-by field 'nope'", "valid fields: task, family, depth, arch, pruner, detector, seed, o, u"]),
    ("z", ["invalid --group-by field 'z'"]),
    ("a:b:c", ["invalid --group-by 'a:b:c'", "ROWS:COLUMNS"]),
    ("task:task", ["field 'task' is used twice"]),
])
def test_bad_group_by(db, spec, fragments):
    line = assert_user_error(invoke("report", "--results", db, "--group-by", spec), *fragments)
    assert "\n" not in line


# --------------------------------------------------------------------------- LaTeX
def weird_db(tmp_path):
    cells = standard_cells()[:12]
    for c in cells[:6]:
        c.task, c.pruner = WEIRD_TASK, WEIRD_PRUNER
    return write_db(tmp_path / "weird.db", cells)


def unescaped_braces_balance(text):
    depth = 0
    for match in re.finditer(r"\\.|[{}]", text):
        tok = match.group(0)
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def test_latex_escapes_names_and_is_well_formed(tmp_path):
    db = weird_db(tmp_path)
    cells, runs = stored(db)
    latex = report.render(report.build(cells, runs=runs), "latex")
    lines = latex.splitlines()
    assert re.fullmatch(r"% sculptbench manifest sha256:[0-9a-f]{64}", lines[0])
    assert lines[1].startswith("% structure.success")
    body = [line for line in lines if not line.startswith("%")]
    assert body[0].startswith("\\begin{tabular}{ll") and body[-1] == "\\end{tabular}"
    assert body[1] == "\\toprule" and "\\midrule" in body and body[-2] == "\\bottomrule"
    table = "\n".join(body)
    escaped_task = r"we\_ird\&\%\$\#\{\}\textasciitilde{}\textasciicircum{}\textbackslash{}task"
    assert escaped_task in table
    assert r"my\_pruner\&co" in table
    assert unescaped_braces_balance(table)
    # Outside the escapes, no special character is left bare.
    bare = re.sub(r"\\(textbf|textbackslash|textasciitilde|textasciicircum|begin|end|toprule|midrule|bottomrule)|\\[&%$#_{}]|\\\\", "", table)
    bare = re.sub(r"[{}]", "", bare.replace("{tabular}", ""))
    assert not re.search(r"[&%$#_~^\\]", bare.replace(" & ", " ")), bare
    # Every table row has one cell per column (the leaderboard, then the paired comparisons).
    for tabular in table.split("\\end{tabular}")[:-1]:
        ncols = len(re.search(r"\\begin\{tabular\}\{(\w+)\}", tabular).group(1))
        rows = [line for line in tabular.splitlines() if line.endswith("\\\\")]
        assert rows and all(len(re.split(r"(?<!\\)&", r)) == ncols for r in rows)


def test_latex_manifest_hash_is_that_of_the_canonical_manifests(db):
    cells, runs = stored(db)
    latex = report.render(report.build(cells, runs=runs), "latex")
    canonical = json.dumps([{"config": CONFIG, "manifest": MANIFEST}], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert latex.splitlines()[0] == f"% sculptbench manifest sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"


def test_latex_compiles(tmp_path):
    """Compile with latex when it is installed; otherwise check the document's structure."""
    cells, runs = stored(weird_db(tmp_path))
    table = report.render(report.build(cells, runs=runs), "latex")
    doc = tmp_path / "t.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + table + "\n\\end{document}\n")
    binary = shutil.which("pdflatex") or shutil.which("latex")
    if binary is None:
        text = doc.read_text()
        assert text.count("\\begin{") == text.count("\\end{") and "\\begin{tabular}" in text
        assert text.count("{") - text.count("\\{") == text.count("}") - text.count("\\}")
        return
    res = subprocess.run([binary, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:]


# --------------------------------------------------------------------------- CSV and JSON
def test_csv_round_trips(tmp_path):
    cells, runs = stored(weird_db(tmp_path))
    board = report.build(cells, runs=runs)
    rows = list(csv.DictReader(io.StringIO(report.render(board, "csv"))))
    assert len(rows) == sum(len(v) for v in board.values.values())
    for r in rows:
        key = (r["pruner"], r["detector"])
        entry, ci = board.values[key][r["column"]], board.intervals[key][r["column"]]
        assert float(r["mean"]) == entry["mean"]
        assert (float(r["ci_low"]), float(r["ci_high"])) == ci
        assert int(r["n"]) == entry["n"] and int(r["errors"]) == entry["errors"]
        assert float(r["secondary_mean"]) == entry["secondary"]
        assert r["best"] == str(int((key, r["column"]) in board.best))
        assert r["metric"] == "structure.success" and r["task"] == r["column"]
    assert {r["task"] for r in rows} >= {WEIRD_TASK.split("/", 1)[1]}


def test_csv_group_by_has_one_column_per_field(db):
    cells, _ = stored(db)
    rows = list(csv.DictReader(io.StringIO(report.render(report.build(cells, group_by="o:u"), "csv"))))
    assert [(r["o"], r["u"], r["column"], r["n"]) for r in rows] == [("0", "1", "u=1", "12"), ("1", "2", "u=2", "12")]


def test_json_schema(db):
    cells, runs = stored(db)
    data = json.loads(report.render(report.build(cells, runs=runs), "json"))
    assert data["schema"] == "sculptbench.leaderboard/3"
    assert set(data) == {"schema", "metric", "secondary", "higher_is_better", "ci", "row_fields", "column_fields", "columns",
                         "column_keys", "data_sources", "statuses", "untrainable", "omitted", "manifest_sha256", "paired", "rows"}
    assert data["metric"] == "structure.success" and data["secondary"] == "structure.input_ari"
    assert data["ci"] == {"method": "percentile bootstrap of the mean", "level": 0.95, "resamples": 2000, "seed": 0}
    assert data["statuses"] == {"ok": 48} and data["omitted"] == 0 and data["data_sources"] == ["truth table"]
    assert re.fullmatch(r"[0-9a-f]{64}", data["manifest_sha256"])
    assert data["column_keys"][0] == {"task": "a"}
    row = data["rows"][0]
    assert set(row) == {"key", "cells"} and row["key"] == {"pruner": "iterative", "detector": "louvain"}
    entry = row["cells"]["a"]
    assert set(entry) == {"mean", "ci", "n", "errors", "untrainable", "best", "secondary"}
    assert entry["best"] is True and entry["n"] == 6 and entry["ci"] == [1.0, 1.0]


def test_json_of_an_empty_column_entry_is_null(tmp_path):
    cells = [make_cell("k1", task="bool/a", pruner="p1"), make_cell("k2", task="bool/b", pruner="p2")]
    data = report.build(stored(write_db(tmp_path / "r.db", cells))[0]).to_json()
    assert data["rows"][0]["cells"]["b"] is None and data["manifest_sha256"] is None


def test_errored_cells_have_no_value(tmp_path):
    cells = [make_cell("k1", pruner="p1"), make_cell("k2", pruner="p1", seed=1, status="error")]
    board = report.build(stored(write_db(tmp_path / "r.db", cells))[0])
    assert board.values[("p1", "louvain")]["a"] == {"mean": 1.0, "n": 1, "errors": 1, "untrainable": 0, "secondary": 0.5}


# --------------------------------------------------------------------------- determinism and the CLI
FORMAT_ARGS = [["--format", f] for f in report.FORMATS] + [["--group-by", "o:u", "--format", "latex"], ["--metric", "ged"], ["--manifest"]]


def test_output_is_deterministic(tmp_path):
    one = write_db(tmp_path / "one.db", standard_cells())
    two = write_db(tmp_path / "two.db", list(reversed(standard_cells())))  # same content, another run id and order
    for args in FORMAT_ARGS:
        first = invoke("report", "--results", one, *args)
        assert first.exit_code == 0, (args, first.output)
        assert invoke("report", "--results", one, *args).stdout == first.stdout, args
        if args != ["--manifest"]:  # the manifest lists run ids, command and times
            assert invoke("report", "--results", two, *args).stdout == first.stdout, args


def test_manifest_option_prints_the_runs_manifests(db):
    res = invoke("report", "--results", db, "--manifest")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["schema"] == "sculptbench.manifests/1"
    assert len(data["runs"]) == 1
    run = data["runs"][0]
    assert run["manifest"] == MANIFEST and run["config"] == CONFIG and run["cells_reported"] == 48
    latex = invoke("report", "--results", db, "--format", "latex").stdout
    assert latex.splitlines()[0] == f"% sculptbench manifest sha256:{data['sha256']}"


def test_manifest_hash_covers_every_run_involved(tmp_path):
    path = tmp_path / "r.db"
    cells = standard_cells()
    write_db(path, cells[:10])
    write_db(path, cells[10:], manifest={**MANIFEST, "device": "cuda"})
    res = json.loads(invoke("report", "--results", path, "--manifest").stdout)
    assert len(res["runs"]) == 2
    cells_db, runs = stored(path)
    assert report.manifest_hash(report.manifest_entries(cells_db, runs)) == res["sha256"]
    assert len(report.manifest_entries(cells_db, runs)) == 2
    assert len(report.manifest_entries(cells_db[:1], runs)) == 1


def test_secondary_flag(db):
    # The mean input ARI is shown by default (the leaderboard gives success and input ARI).
    res = invoke("report", "--results", db)
    assert res.exit_code == 0 and "; input_ari " in res.stdout
    assert "; input_ari " not in invoke("report", "--results", db, "--no-secondary").stdout


@pytest.mark.parametrize("args, fragments", [
    (["--metric", "nope"], ["unknown metric 'nope'", "available:", "success", "ged", "structure.input_ari"]),
    (["--format", "docx"], ["invalid --format 'docx'", "valid: github"]),
    (["--columns", "nope"], ["invalid --columns 'nope'"]),
])
def test_report_errors(db, args, fragments):
    assert_user_error(invoke("report", "--results", db, *args), *fragments)


def test_unknown_metric_is_a_sculptbench_error(db):
    with pytest.raises(SculptbenchError, match="unknown metric 'nope'; available: accuracy, density"):
        report.build(stored(db)[0], metric="nope")


def test_metrics_of_a_database_where_no_cell_was_scored(tmp_path):
    # All cells untrainable: the names are checked against what the structure scorer declares.
    path = write_db(tmp_path / "unscored.db", [make_cell(f"k{seed}", seed=seed, status="untrainable") for seed in range(2)])
    assert_user_error(invoke("report", "--results", path, "--metric", "nope"), "unknown metric 'nope'", "structure.input_ari")
    for name in ("success", "input_ari", "structure.ged"):
        res = invoke("report", "--results", path, "--metric", name, "--format", "json")
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["metric"] == (name if "." in name else f"structure.{name}")


def test_empty_database(tmp_path):
    path = write_db(tmp_path / "empty.db", [])
    assert_user_error(invoke("report", "--results", path), "no results to report", "sculptbench run")
    assert_user_error(invoke("report", "--results", path, "--manifest"), "no results to report")


def test_run_filter_and_full_metric_names(db):
    run_id = stored(db)[1][0]["run_id"]
    res = invoke("report", "--results", db, "--run", run_id, "--metric", "structure.input_ari", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["metric"] == "structure.input_ari"


# --------------------------------------------------------------------------- untrainable cells are visible
def untrainable_db(tmp_path):
    cells = [make_cell("ok0", seed=0, success=1.0), make_cell("ok1", seed=1, success=1.0), make_cell("u2", seed=2, status="untrainable")]
    return write_db(tmp_path / "u.db", cells)


def test_untrainable_cells_are_shown_apart_from_failures(tmp_path):
    path = untrainable_db(tmp_path)
    counted = invoke("report", "--results", path, "--no-secondary")
    assert counted.exit_code == 0, counted.output
    (row,) = [line for line in counted.stdout.splitlines() if line.startswith("| iterative")]
    assert "0.67 [0.00, 1.00] n=3 (1 untrainable)" in row
    assert "(k untrainable): cells whose dense network never learned the task, in n as failures (0)" in counted.stdout
    excluded = invoke("report", "--results", path, "--no-secondary", "--untrainable", "exclude")
    (row,) = [line for line in excluded.stdout.splitlines() if line.startswith("| iterative")]
    assert "1.00 [1.00, 1.00] n=2 (1 untrainable)" in row
    assert "left out of n and the mean (--untrainable exclude)" in excluded.stdout


def test_untrainable_counts_are_in_the_json_and_the_csv(tmp_path):
    path = untrainable_db(tmp_path)
    data = json.loads(invoke("report", "--results", path, "--format", "json").stdout)
    assert data["schema"] == "sculptbench.leaderboard/3" and data["untrainable"] == "count"
    entry = data["rows"][0]["cells"]["a"]
    assert (entry["n"], entry["untrainable"], entry["errors"]) == (3, 1, 0)
    data = json.loads(invoke("report", "--results", path, "--format", "json", "--untrainable", "exclude").stdout)
    entry = data["rows"][0]["cells"]["a"]
    assert (data["untrainable"], entry["mean"], entry["n"], entry["untrainable"]) == ("exclude", 1.0, 2, 1)
    (line,) = csv.DictReader(io.StringIO(invoke("report", "--results", path, "--format", "csv").stdout))
    assert (line["n"], line["untrainable"], line["errors"]) == ("3", "1", "0")


def test_without_untrainable_cells_the_table_is_unchanged(db):
    cells, _ = stored(db)
    text = report.render(report.build(cells), "github", secondary=True)
    assert "untrainable" not in text
    assert re.search(r"\| iterative *\| louvain *\| \*\*1\.00\*\* \[1\.00, 1\.00\] n=6; input_ari 0\.\d\d \|", text), text


def test_an_invalid_untrainable_mode_is_a_user_error(db):
    assert_user_error(invoke("report", "--results", db, "--untrainable", "drop"), "invalid --untrainable 'drop'; valid: count, exclude")
