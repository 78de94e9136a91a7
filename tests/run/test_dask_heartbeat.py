"""A dask scheduler that stops answering fails the run (issue 32, finding 4): `kill -STOP` on the
scheduler mid-run used to hang the run forever, since a stopped process keeps its TCP connections
open. An application-level heartbeat now ends the run with one line and exit status 2; the
finished cells are kept and a rerun computes the others."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner
from conftest import assert_user_error

from sculptbench.cli import main

TASK = "bool/input-separable"
#: Two groups: a quick one (arch 24) whose cells arrive first, and one that takes seconds.
GRID = ["run", "--tasks", TASK, "--arch", "24,96x96x96", "--pruners", "iterative", "--detectors", "louvain", "--seeds", "2", "--quiet"]


@pytest.fixture
def scheduler_and_worker(tmp_path):
    """A dask scheduler and one single-threaded worker, each a process of its own."""
    pytest.importorskip("distributed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    commands = [["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                ["distributed.cli.dask_worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]]
    log = open(tmp_path / "dask.log", "w")
    procs = [subprocess.Popen([sys.executable, "-m", *command], env=env, stdout=log, stderr=subprocess.STDOUT) for command in commands]
    try:
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=120)
        yield address, procs[0]
    finally:
        for proc in procs:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()
        log.close()


def rows(db):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT cell_key, status FROM cells").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


@pytest.mark.slow
def test_a_stopped_scheduler_ends_the_run_with_one_line_and_its_cells_resumable(scheduler_and_worker, tmp_path, monkeypatch):
    import sculptbench.plugins.executors.dask as module

    # The documented defaults (5, 10 and 30 s) scaled down: the mechanism is the same.
    monkeypatch.setattr(module, "HEARTBEAT_EVERY_S", 0.5)
    monkeypatch.setattr(module, "HEARTBEAT_TIMEOUT_S", 1.0)
    monkeypatch.setattr(module, "SCHEDULER_SILENCE_S", 3.0)
    address, scheduler = scheduler_and_worker
    db = tmp_path / "r.db"
    stopped = threading.Event()

    def stop_after_the_first_cells():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not rows(db):
            time.sleep(0.05)
        os.kill(scheduler.pid, signal.SIGSTOP)
        stopped.set()
        # A run that never notices would hang this test: after 120 s the scheduler is killed instead.
        if not finished.wait(120):
            scheduler.kill()

    finished = threading.Event()
    watcher = threading.Thread(target=stop_after_the_first_cells, daemon=True)
    watcher.start()
    try:
        result = CliRunner().invoke(main, [*GRID, "--results", str(db), "--executor", "dask", "--scheduler", address])
    finally:
        finished.set()
    assert stopped.is_set()
    line = assert_user_error(result, f"the dask scheduler at {address} stopped answering (no answer to a heartbeat for 3 s)",
                             "run the same command again")
    written = rows(db)
    assert written and all(status == "ok" for _, status in written) and len(written) < 4, (written, line)
    (run,) = json.loads(CliRunner().invoke(main, ["runs", "--json", "--results", str(db)]).stdout)
    assert run["status"] == "failed"
    again = CliRunner().invoke(main, [*GRID, "--results", str(db)])
    assert again.exit_code == 0, again.output
    assert f"{len(written)} of 4 cells were already in" in again.stdout
    assert len(rows(db)) == 4 and len({key for key, _ in rows(db)}) == 4
