"""Hostile input and broken media (issue 14): nothing in a results database can point sculptbench
at a host; read-only, damaged, locked and full databases give one line and keep their rows; flags
are bounded before any work; the store's schema migrates and its leaderboard path stays lean."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sculptbench.run import guard, planning
from sculptbench.results import cells as cells_mod
from sculptbench.results import report
from sculptbench.results import store as store_mod
from sculptbench.cli import main
from sculptbench.results.store import ResultsStore
from sculptbench.contracts.work import Cell
from conftest import assert_user_error

TASK = "bool/input-separable"
#: Dense networks of 24 units: no pruning, a few seconds per cell.
FAST = ["--tasks", TASK, "--arch", "24", "--epochs", "30", "--pruners", "dense", "--detectors", "louvain", "--quiet"]


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def make_cell(key: str, seed: int = 0, history: list | None = None, **kw) -> Cell:
    config = {"task_parameters": {"u": seed % 2}, "data_source": "truth table", "training": {"epochs": 1}}
    if history is not None:
        config["history"] = history
    return Cell(cell_key=key, task=TASK, family="exemplars", arch="24", depth=1, pruner="dense", detector="louvain", seed=seed,
                status="ok", density=0.5, accuracy=1.0, test_accuracy=1.0, dense_accuracy=1.0,
                metrics={"structure.success": bool(seed % 3), "structure.input_ari": seed / 10}, timings={"prune": 1.0},
                config=config, versions={"scorers": {"structure": {"version": "2.1"}}}, **kw)


HISTORY = [{"phase": "dense", "target": 0.0, "density": 1.0, "accuracy": 1.0, "accepted": True},
           {"phase": "unit", "target": 50.0, "density": 0.5, "accuracy": 1.0, "accepted": True}]


def filled_store(path: Path, n: int = 6) -> Path:
    store = ResultsStore(path)
    run_id = store.start_run("sculptbench run (test)", {"cli": {}}, {}, executor="local")
    store.write_cells(run_id, [make_cell(f"key{i}", i, HISTORY) for i in range(n)])
    store.finish_run(run_id, "done")
    store.close()
    return path


# --------------------------------------------------------------------------- 1. no host from a database
def test_resume_does_not_contact_the_scheduler_recorded_in_the_database(tmp_path):
    """A shared database whose run records `--executor dask --scheduler tcp://...` is resumed: the
    listener that stands in for a hostile scheduler must see no connection at all."""
    db = tmp_path / "shared.db"
    first = invoke("run", *FAST, "--seeds", 1, "--results", db)
    assert first.exit_code == 0, first.output
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    conn = sqlite3.connect(db)
    (run_id, config) = conn.execute("SELECT run_id, config FROM runs").fetchone()
    config = json.loads(config)
    config["cli"].update(executor="dask", scheduler=address)
    conn.execute("UPDATE runs SET config = ?, executor = 'dask' WHERE run_id = ?", (json.dumps(config), run_id))
    conn.commit()
    conn.close()
    contacted = []

    def watch():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stop.is_set():
            try:
                peer, _ = listener.accept()
            except OSError:
                continue
            contacted.append(peer)
            peer.close()

    stop = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        res = invoke("run", "--resume", run_id, "--seeds", 2, "--results", db)
    finally:
        stop.set()
        watcher.join()
        listener.close()
    assert res.exit_code == 0, res.output
    assert not contacted, "sculptbench connected to the scheduler recorded in the database"
    assert f"recorded --executor dask, --scheduler {address}" in res.stderr and "--trust-recorded-executor" in res.stderr
    runs = json.loads(invoke("runs", "--results", db, "--json").stdout)
    assert runs[0]["executor"] == "local" and runs[0]["counts"] == {"ok": 2}


# --------------------------------------------------------------------------- 3. flags bounded before work
@pytest.mark.parametrize("args, fragments", [
    (["--seeds", 100_000], ["--seeds 100,000 is more than 1,000", "--large-grid"]),
    (["--arch", ""], ["invalid --arch ''"]),
    (["--arch", ",".join(str(w) for w in range(1, 101)), "--seeds", 1000], ["the grid has 100,000", "--large-grid"]),
    (["--arch", "4096x4096x4096", "--seeds", 200], ["GiB at once", "--large-grid"]),
])
def test_flags_are_bounded_before_any_work(tmp_path, args, fragments, monkeypatch):
    monkeypatch.setattr("sculptbench.run.guard.MAX_CELLS", 99_999)
    db = tmp_path / "r.db"
    res = CliRunner().invoke(main, ["run", "--tasks", TASK, "--pruners", "dense", "--detectors", "louvain", "--quiet", "--results", str(db),
                                    *map(str, args)])
    assert_user_error(res, *fragments)
    assert not db.exists()


def test_memory_estimate_grows_with_batched_seeds_and_width(registry):
    spec = planning.RunSpec(tasks=[registry.tasks[TASK]], pruners=["dense"], detectors=["louvain"], scorers=["structure"],
                           seeds=list(range(10)), archs=[(24,), (4096, 4096)], params={}, training_overrides={}, device="cpu",
                           batch=True, jobs=1, executor="local", timeout=None, scheduler=None, force=None)
    small, wide = planning.plan(registry, spec)
    assert guard.estimate_group_bytes(wide) > 100 * guard.estimate_group_bytes(small)
    # Unbatched, one seed's networks train at once instead of ten; one detection graph either way.
    assert guard.estimate_group_bytes(wide, batch=False) < guard.estimate_group_bytes(wide) < 10 * guard.estimate_group_bytes(wide, batch=False)


# --------------------------------------------------------------------------- 5. broken media
def test_report_runs_and_plot_open_the_database_read_only(tmp_path, monkeypatch):
    db = filled_store(tmp_path / "r.db")
    opened = []
    real_connect = sqlite3.connect

    def spy(target, *args, **kwargs):
        opened.append(str(target))
        return real_connect(target, *args, **kwargs)

    monkeypatch.setattr(store_mod.sqlite3, "connect", spy)
    for args in (["report"], ["runs"], ["plot", "--kind", "curve", "--seed", "1", "-o", tmp_path / "c.png"]):
        opened.clear()
        res = invoke(*args, "--results", db)
        assert res.exit_code == 0, res.output
        assert opened and all("mode=ro" in target for target in opened), (args, opened)


def test_a_read_only_store_cannot_write(tmp_path):
    db = filled_store(tmp_path / "r.db")
    store = ResultsStore(db, create=False)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.conn.execute("DELETE FROM cells")
    assert len(store.summary_cells()) == 6


def flip_pages(db: Path) -> None:
    """Overwrite every page after the first two with garbage, as a failing disk would."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for i in range(2 * page, len(data)):
        data[i] ^= 0x5A
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("command", [["report"], ["runs"], ["run", *FAST, "--seeds", 1]])
def test_damaged_database_gives_one_line(tmp_path, command):
    db = filled_store(tmp_path / "r.db", n=40)
    flip_pages(db)
    res = invoke(*command, "--results", db)
    assert_user_error(res, f"results database {db} is damaged", ".recover")


def hold_write_lock(db: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_lock_held_at_start_says_it_is_locked(tmp_path, monkeypatch):
    monkeypatch.setenv("SCULPTBENCH_LOCK_TIMEOUT", "0.3")
    db = filled_store(tmp_path / "r.db")
    holder = hold_write_lock(db)
    try:
        res = invoke("run", *FAST, "--seeds", 1, "--results", db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_user_error(res, f"results database {db} is locked by another process (waited 0.3 s", "SCULPTBENCH_LOCK_TIMEOUT")
    assert len(ResultsStore(db, create=False).summary_cells()) == 6


def break_second_write(monkeypatch, breaker):
    """Let the first cell of a run be written, then call ``breaker(store)`` before the next one."""
    real = ResultsStore.write_cell
    calls = []

    def write_cell(self, run_id, cell):
        calls.append(cell.cell_key)
        if len(calls) == 2:
            breaker(self)
        return real(self, run_id, cell)

    monkeypatch.setattr(ResultsStore, "write_cell", write_cell)
    return calls


def test_lock_taken_mid_run_gives_one_line_and_keeps_the_written_cell(tmp_path, monkeypatch):
    monkeypatch.setenv("SCULPTBENCH_LOCK_TIMEOUT", "0.3")
    db = tmp_path / "r.db"
    holders = []
    break_second_write(monkeypatch, lambda store: holders.append(hold_write_lock(db)))
    try:
        res = invoke("run", *FAST, "--seeds", 2, "--results", db)
    finally:
        for holder in holders:
            holder.execute("ROLLBACK")
            holder.close()
    assert_user_error(res, "is locked by another process", "while writing a cell")
    assert [c.seed for c in ResultsStore(db, create=False).summary_cells()] == [0]


def test_full_disk_mid_run_gives_one_line_and_keeps_the_written_cell(tmp_path, monkeypatch):
    db = tmp_path / "r.db"

    def fill(store):  # SQLite's own "database or disk is full", as from a full file system
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")

    break_second_write(monkeypatch, fill)
    res = invoke("run", *FAST, "--seeds", 2, "--results", db)
    assert_user_error(res, f"the disk holding results database {db} is full", "run the same command again")
    cells = ResultsStore(db, create=False).summary_cells()
    assert [(c.seed, c.status) for c in cells] == [(0, "ok")]


# --------------------------------------------------------------------------- 6. schema and lean reads
#: Schema 1, as sculptbench 0.1.0 wrote it (histories inside cells.config).
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, command TEXT NOT NULL, started REAL NOT NULL, finished REAL, status TEXT NOT NULL,
    executor TEXT, config TEXT NOT NULL, manifest TEXT NOT NULL);
CREATE TABLE cells (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id), cell_key TEXT NOT NULL,
    task TEXT NOT NULL, family TEXT NOT NULL, arch TEXT NOT NULL, depth INTEGER NOT NULL, pruner TEXT NOT NULL, detector TEXT NOT NULL,
    seed INTEGER NOT NULL, status TEXT NOT NULL, error TEXT, density REAL, accuracy REAL, test_accuracy REAL, dense_accuracy REAL,
    metrics TEXT NOT NULL, timings TEXT NOT NULL, config TEXT NOT NULL, versions TEXT NOT NULL, created REAL NOT NULL,
    UNIQUE (run_id, cell_key));
CREATE INDEX cells_by_key ON cells (cell_key);
INSERT INTO meta VALUES ('application', 'sculptbench'), ('schema_version', '1');
"""


def schema_1_store(path: Path, n: int = 5) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1)
    conn.execute("INSERT INTO runs VALUES ('r1', 'sculptbench run', 1.0, 2.0, 'done', 'local', '{\"cli\": {}}', '{}')")
    for i in range(n):
        c = make_cell(f"key{i}", i, HISTORY)
        conn.execute(
            "INSERT INTO cells (run_id, cell_key, task, family, arch, depth, pruner, detector, seed, status, error, density, accuracy, "
            "test_accuracy, dense_accuracy, metrics, timings, config, versions, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ("r1", c.cell_key, c.task, c.family, c.arch, c.depth, c.pruner, c.detector, c.seed, c.status, None, c.density, c.accuracy,
             c.test_accuracy, c.dense_accuracy, json.dumps(c.metrics), json.dumps(c.timings), json.dumps(c.config),
             json.dumps(c.versions), 10.0 + i),
        )
    conn.commit()
    conn.close()
    return path


def test_schema_1_database_is_read_untouched_and_migrated_by_a_run(tmp_path):
    db = schema_1_store(tmp_path / "old.db")
    before = db.read_bytes()
    board = invoke("report", "--results", db, "--format", "json")
    assert board.exit_code == 0, board.output
    assert db.read_bytes() == before  # readers never migrate (nor write)
    assert ResultsStore(db, create=False).cells()[1].config["history"] == HISTORY
    res = invoke("run", *FAST, "--seeds", 1, "--results", db)
    assert res.exit_code == 0, res.output
    assert f"note: upgraded results database {db} from schema 1 to 2 (pruning histories moved to table cell_history)" in res.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    assert conn.execute("SELECT COUNT(*) FROM cell_history").fetchone()[0] >= 5
    assert all("history" not in json.loads(c) for (c,) in conn.execute("SELECT config FROM cells"))
    conn.close()
    store = ResultsStore(db, create=False)
    old = [c for c in store.cells() if c.run_id == "r1"]
    assert len(old) == 5 and all(c.config["history"] == HISTORY for c in old)
    after = invoke("report", "--results", db, "--format", "json", "--run", "r1")
    assert json.loads(after.stdout)["rows"] == json.loads(board.stdout)["rows"]
    again = invoke("run", *FAST, "--seeds", 1, "--results", db)
    assert "upgraded" not in again.stderr


def test_summary_cells_give_the_same_leaderboard_as_full_cells(tmp_path):
    db = filled_store(tmp_path / "r.db", n=30)
    store = ResultsStore(db, create=False)
    full, summary = store.cells(), store.summary_cells()
    assert [c.cell_key for c in full] == [c.cell_key for c in summary]
    assert all("history" not in c.config for c in summary) and all(c.config["history"] == HISTORY for c in full)
    for group_by in (None, "pruner:u"):
        assert report.render(report.build(full, group_by=group_by), "json") == report.render(report.build(summary, group_by=group_by), "json")
    assert {c.cell_key for c in store.summary_cells(keys={"key3", "key4"})} == {"key3", "key4"}


def test_rewriting_a_cell_replaces_its_history(tmp_path):
    store = ResultsStore(tmp_path / "r.db")
    run_id = store.start_run("x", {}, {})
    store.write_cell(run_id, make_cell("k", 0, HISTORY))
    store.write_cell(run_id, make_cell("k", 0, HISTORY[:1]))
    assert store.conn.execute("SELECT COUNT(*) FROM cell_history").fetchone()[0] == 1
    assert store.cells()[0].config["history"] == HISTORY[:1]


@pytest.mark.parametrize("binary", [False, True])
def test_bootstrap_in_blocks_equals_one_draw(monkeypatch, binary):
    import numpy as np

    values = list(np.random.default_rng(1).random(3001))
    if binary:  # success rates take the counting path
        values = [float(v < 0.7) for v in values]
    whole = report.bootstrap_ci(values)
    monkeypatch.setattr(cells_mod, "_BOOTSTRAP_BLOCK", 3001 * 7)  # report.bootstrap_ci lives there; 8 rows a block (rounded up to even), 250 blocks
    assert report.bootstrap_ci(values) == whole
    rng = np.random.default_rng(report.BOOTSTRAP_SEED)
    arr = np.asarray(values)
    means = arr[rng.integers(0, len(arr), size=(report.BOOTSTRAP_RESAMPLES, len(arr)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    assert whole == (min(float(lo), float(arr.mean())), max(float(hi), float(arr.mean())))


# --------------------------------------------------------------------------- 4. network
def serve(answer: bytes | None):
    """A loopback listener that accepts and then sends ``answer`` (``None``: stays silent)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    peers = []

    def loop():
        while True:
            try:
                peer, _ = listener.accept()
            except OSError:
                return
            peers.append(peer)
            if answer is not None:
                peer.sendall(answer)

    threading.Thread(target=loop, daemon=True).start()
    return listener, f"tcp://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("answer, fragment", [
    (None, "it accepted the connection but sent nothing in 5 s; is it a dask scheduler?"),
    (b"\xff" * 64, "it answered with something that is not the dask protocol (a first message of 18,446,744,073,709,551,615 bytes)"),
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not the dask protocol"),
])
@pytest.mark.slow
def test_silent_or_garbage_scheduler_fails_within_the_connect_timeout(tmp_path, answer, fragment):
    pytest.importorskip("distributed")
    import os
    import subprocess
    import sys

    listener, address = serve(answer)
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="400")
    try:
        # In its own process, so that a hang (dask waiting forever for the handshake) fails the
        # test at the timeout instead of hanging the suite.
        proc = subprocess.run([sys.executable, "-m", "sculptbench.cli", "run", *FAST, "--seeds", "1", "--results", str(tmp_path / "r.db"),
                               "--executor", "dask", "--scheduler", address], capture_output=True, text=True, env=env, timeout=90)
    finally:
        listener.close()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach the dask scheduler at {address} within 5 s"), proc.stderr
    assert fragment in lines[0]
    assert not (tmp_path / "r.db").exists()
