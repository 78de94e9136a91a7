"""``--resume RUN_ID`` takes only the grid from the database (issue 32, finding 2): a crafted
database cannot choose the cache directory, the number of workers, the timeout or the executor
of the resumed run; what it recorded and is not taken is named in one ``note:`` line; a recorded
grid value is checked as if it had been typed."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from click.testing import CliRunner
from conftest import assert_user_error

from sculptbench.cli import main
from sculptbench.run import execution

TASK = "bool/input-separable"
FAST = ["--tasks", TASK, "--arch", "24", "--epochs", "30", "--pruners", "dense", "--detectors", "louvain", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def first_run(db: Path) -> str:
    result = invoke("run", *FAST, "--seeds", 1, "--results", db)
    assert result.exit_code == 0, result.output
    (run_id,) = [r["run_id"] for r in json.loads(invoke("runs", "--results", db, "--json").stdout)]
    return run_id


def craft(db: Path, run_id: str, **recorded) -> None:
    """Rewrite what run ``run_id`` recorded of its command line, as a hostile database would."""
    conn = sqlite3.connect(db)
    config = json.loads(conn.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0])
    config["cli"].update(recorded)
    conn.execute("UPDATE runs SET config = ? WHERE run_id = ?", (json.dumps(config), run_id))
    conn.commit()
    conn.close()


def test_a_crafted_database_cannot_choose_the_cache_workers_or_timeout_of_a_resume(tmp_path, monkeypatch):
    """Before, a resumed run created and filled the recorded `cache_dir` and ran with the recorded
    `jobs` (a recorded jobs=48 made a 12-cell resume peak at 5.9 GB)."""
    db, evil = tmp_path / "shared.db", tmp_path / "chosen-by-the-database"
    run_id = first_run(db)
    craft(db, run_id, cache_dir=str(evil), jobs=48, timeout=0.001, no_batch=True, seeds=2)
    seen = []
    real_execute = execution.execute

    def spy(registry, spec, *args, **kwargs):
        seen.append(spec)
        return real_execute(registry, spec, *args, **kwargs)

    monkeypatch.setattr(execution, "execute", spy)
    result = invoke("run", "--resume", run_id, "--results", db)
    assert result.exit_code == 0, result.output
    assert not evil.exists(), "the resumed run used the cache directory recorded in the database"
    (spec,) = seen
    assert spec.jobs == 1 and spec.timeout is None and spec.batch is True
    assert spec.cache_dir == str(Path(os.environ["SCULPTBENCH_CACHE"]).resolve())
    assert spec.seeds == [0, 1]  # the grid is the recorded one
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, result.stderr
    for shown in (f"--cache {evil}", "--jobs 48", "--timeout 0.001", "--no-batch"):
        assert shown in notes[0], (shown, notes[0])
    assert "takes from the database only what defines the grid" in notes[0]
    runs = json.loads(invoke("runs", "--results", db, "--json").stdout)
    assert runs[0]["counts"] == {"ok": 2}


def test_options_given_again_win_and_an_equal_recorded_value_needs_no_note(tmp_path):
    db = tmp_path / "r.db"
    run_id = first_run(db)
    craft(db, run_id, seeds=2)
    result = invoke("run", "--resume", run_id, "--seeds", 1, "--results", db)
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr, result.stderr
    assert "1 of 1 cells were already in" in result.stdout


def test_a_recorded_grid_value_is_checked_as_if_typed(tmp_path):
    db = tmp_path / "r.db"
    run_id = first_run(db)
    craft(db, run_id, seeds="many", epochs=0)
    before = db.read_bytes()
    result = invoke("run", "--resume", run_id, "--results", db)
    line = assert_user_error(result, f"run {run_id!r} recorded an invalid", "the database is damaged or was edited")
    assert "--seeds" in line or "--epochs" in line
    assert db.read_bytes() == before
