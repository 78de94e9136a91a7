"""``sculptbench merge``: databases built on two halves of a grid merge into the leaderboard of the
whole grid; exact duplicates are kept once, conflicting ones refused with nothing written; every
run and each cell's kernels, history and configuration survive."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from board_cells import cell, write_db
from conftest import assert_user_error
from sculptbench.cli import main
from sculptbench.results.store import ResultsStore

HISTORY = [{"density": 1.0, "accuracy": 1.0, "phase": "dense", "accepted": True}]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def board_json(path):
    result = invoke("report", "--results", path, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rows(path, query):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def files(folder):
    """The files in ``folder``, but SQLite's own -wal and -shm files of the sources."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm")))


@pytest.mark.slow
def test_two_halves_of_a_grid_merge_into_the_whole_grids_leaderboard(tmp_path):
    grid = ["run", "--tasks", "bool/overlap-o0-u1", "--pruners", "dense", "--detectors", "louvain,sculpting", "--arch", "12",
            "--epochs", "40", "--quiet", "--no-cache"]
    for name, seeds in (("whole", ["--seeds", "4"]), ("a", ["--seeds", "2"]), ("b", ["--seed-start", "2", "--seeds", "2"])):
        result = invoke(*grid, *seeds, "--results", tmp_path / f"{name}.db")
        assert result.exit_code == 0, result.output
    merged = invoke("merge", tmp_path / "a.db", tmp_path / "b.db", "-o", tmp_path / "merged.db")
    assert merged.exit_code == 0, merged.output
    assert f"merged 2 databases into {tmp_path / 'merged.db'}: 8 cells (4 from {tmp_path / 'a.db'}, 4 from {tmp_path / 'b.db'}), 2 runs" in merged.stdout
    whole, halves = board_json(tmp_path / "whole.db"), board_json(tmp_path / "merged.db")
    # The manifest hash names the runs behind a table (here two runs with their own seeds, there
    # one), so it differs; every entry, interval and paired comparison is the same.
    assert whole.pop("manifest_sha256") != halves.pop("manifest_sha256")
    assert halves == whole
    assert halves["paired"]["families"][0]["comparisons"]
    manifest = json.loads(invoke("report", "--results", tmp_path / "merged.db", "--manifest").stdout)
    assert sorted(r["config"]["seeds"] for r in manifest["runs"]) == [[0, 1], [2, 3]]
    # The kept rows are the sources' rows: kernels, configuration and history included.
    source = {c.cell_key: c for db in ("a", "b") for c in ResultsStore(tmp_path / f"{db}.db", create=False).cells()}
    kept = ResultsStore(tmp_path / "merged.db", create=False).cells()
    assert {c.cell_key for c in kept} == set(source)
    for c in kept:
        original = source[c.cell_key]
        assert (c.versions, c.config, c.run_id, c.created, c.timings) == (original.versions, original.config, original.run_id,
                                                                         original.created, original.timings)
        assert c.versions["kernels"] and c.config["history"]


def test_exact_duplicates_are_kept_once(tmp_path):
    cells = [cell(seed=s, config={"history": HISTORY}) for s in range(3)]
    write_db(tmp_path / "a.db", cells)
    # The same cells computed elsewhere: other run, timings, kernels and cache state, same results.
    again = [cell(seed=s, timings={"prune": 9.0}, versions={"kernels": {"cpu": "other"}}, config={"history": HISTORY, "cache": {"prune": "hit"}})
             for s in range(3)] + [cell(seed=7)]
    write_db(tmp_path / "b.db", again)
    result = invoke("merge", tmp_path / "a.db", tmp_path / "b.db", "-o", tmp_path / "c.db")
    assert result.exit_code == 0, result.output
    assert "4 cells (3 from" in result.stdout and "1 from" in result.stdout and "3 duplicate cells skipped" in result.stdout
    kept = ResultsStore(tmp_path / "c.db", create=False).cells()
    assert len(kept) == 4 and len(ResultsStore(tmp_path / "c.db", create=False).runs()) == 2
    first = {c.seed: c for c in kept}
    assert first[0].versions["kernels"] == {"cpu": "test"} and first[0].config["history"] == HISTORY  # the first database's row
    assert rows(tmp_path / "c.db", "SELECT COUNT(*) FROM cell_history") == [(3,)]


def test_a_conflicting_duplicate_is_refused_and_nothing_is_written(tmp_path):
    write_db(tmp_path / "a.db", [cell(seed=0, success=1.0), cell(seed=1)])
    write_db(tmp_path / "b.db", [cell(seed=0, success=0.0), cell(seed=2)])
    result = invoke("merge", tmp_path / "a.db", tmp_path / "b.db", "-o", tmp_path / "c.db")
    assert_user_error(result, "conflicting results for cell bool/a 24 iterative/louvain seed 0", "structure.success is 1.0 in",
                      f"in {tmp_path / 'a.db'} but 0.0 in {tmp_path / 'b.db'}", "nothing was written")
    assert files(tmp_path) == ["a.db", "b.db"]


def test_a_conflict_in_the_history_is_named(tmp_path):
    write_db(tmp_path / "a.db", [cell(config={"history": HISTORY})])
    write_db(tmp_path / "b.db", [cell(config={"history": HISTORY * 2})])
    result = invoke("merge", tmp_path / "a.db", tmp_path / "b.db", "-o", tmp_path / "c.db")
    assert_user_error(result, "the pruning history is 1 steps")
    assert not (tmp_path / "c.db").exists()


def test_a_failed_cell_takes_the_row_where_it_finished(tmp_path):
    write_db(tmp_path / "a.db", [cell(seed=0, status="error")])
    write_db(tmp_path / "b.db", [cell(seed=0, success=1.0)])
    result = invoke("merge", tmp_path / "a.db", tmp_path / "b.db", "-o", tmp_path / "c.db")
    assert result.exit_code == 0, result.output
    assert "1 failed cells taken from the database where they finished" in result.stdout and "duplicate" not in result.stdout
    (kept,) = ResultsStore(tmp_path / "c.db", create=False).cells()
    assert kept.status == "ok" and kept.metrics["structure.success"] == 1.0


def test_only_each_sources_latest_row_of_a_cell_is_merged(tmp_path):
    store = ResultsStore(tmp_path / "a.db")
    first = store.start_run("first", {}, {})
    store.write_cells(first, [cell(seed=0, status="error")])
    second = store.start_run("retry", {}, {})
    store.write_cells(second, [cell(seed=0, success=0.0)])
    store.close()
    write_db(tmp_path / "b.db", [cell(seed=1)])
    assert invoke("merge", tmp_path / "a.db", tmp_path / "b.db", "-o", tmp_path / "c.db").exit_code == 0
    assert rows(tmp_path / "c.db", "SELECT seed, status, run_id FROM cells ORDER BY seed")[0] == (0, "ok", second)
    assert rows(tmp_path / "c.db", "SELECT COUNT(*) FROM runs") == [(3,)]


def test_a_database_of_schema_1_is_merged_and_left_untouched(tmp_path):
    old = write_db(tmp_path / "old.db", [cell(seed=0, config={"history": HISTORY})])
    conn = sqlite3.connect(old)  # back to schema 1: the history inside the config, no summary columns
    config = json.loads(conn.execute("SELECT config FROM cells").fetchone()[0])
    conn.execute("UPDATE cells SET config = ?", (json.dumps({**config, "history": HISTORY}),))
    conn.executescript("DROP TABLE cell_history; ALTER TABLE cells DROP COLUMN task_parameters; ALTER TABLE cells DROP COLUMN data_source;"
                       "UPDATE meta SET value = '1' WHERE key = 'schema_version';")
    conn.commit()
    conn.close()
    before = old.read_bytes()
    write_db(tmp_path / "new.db", [cell(seed=1)])
    result = invoke("merge", old, tmp_path / "new.db", "-o", tmp_path / "c.db")
    assert result.exit_code == 0, result.output
    assert old.read_bytes() == before
    kept = {c.seed: c for c in ResultsStore(tmp_path / "c.db", create=False).cells()}
    assert kept[0].config["history"] == HISTORY and "history" not in json.loads(rows(tmp_path / "c.db", "SELECT config FROM cells")[0][0])


def test_user_errors(tmp_path):
    write_db(tmp_path / "a.db", [cell(seed=0)])
    write_db(tmp_path / "b.db", [cell(seed=1)])
    (tmp_path / "notes.txt").write_text("not a database")
    a, b, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    assert_user_error(invoke("merge", a, "-o", out), "merge needs at least two results databases")
    assert_user_error(invoke("merge", a, a, "-o", out), "is given twice")
    assert_user_error(invoke("merge", a, tmp_path / "missing.db", "-o", out), "no results database at")
    assert_user_error(invoke("merge", a, b, "-o", a), "is one of the databases to merge")
    assert_user_error(invoke("merge", a, tmp_path / "notes.txt", "-o", out), "is not a sculptbench results database")
    assert_user_error(invoke("merge", a, b, "-o", tmp_path / "nowhere" / "c.db"), "directory", "does not exist")
    out.write_text("")
    assert_user_error(invoke("merge", a, b, "-o", out), "exists; merge writes a new database")
    assert files(tmp_path) == ["a.db", "b.db", "c.db", "notes.txt"]
