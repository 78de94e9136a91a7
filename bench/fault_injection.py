"""Kill and resume, as a hostile user would: does a run lose, duplicate or change any row?

Runs one grid uninterrupted (the reference), then again under faults, each scenario on a database
and stage cache of its own, and resumes until every cell is finished:

- ``coordinator``: the coordinator (`sculptbench run --jobs 1`) is killed with SIGKILL three
  times mid-run, each time followed by the same command (which resumes);
- ``workers``: two worker processes of `--jobs 2` are killed with SIGKILL mid-run; the run goes
  on (their cells get `error` rows) and the same command then recomputes those cells;
- ``concurrent``: two runs of the same grid start together on one database;
- ``concurrent-kill``: two runs together, one killed with SIGKILL mid-run, then both commands again;
- ``dask-stop`` (with ``--dask``): the dask scheduler is stopped (SIGSTOP) after the first cells;
  the time until the run fails is printed; then the same command with the local executor;
- ``dask-kill`` (with ``--dask``): the scheduler is killed (SIGKILL) instead.

For each it prints the cells lost (no finished row at the end), the cells duplicated (more than
one finished row: a resume must never recompute a finished cell) and whether every finished row
equals the reference bit for bit (density, accuracies and every metric).

    python bench/fault_injection.py            # local scenarios
    python bench/fault_injection.py --dask     # and the dask scheduler's
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = ["--tasks", "bool/input-separable,bool/none", "--arch", "24,24x24", "--pruners", "magnitude,dense", "--detectors", "louvain",
        "--seeds", "3", "--epochs", "30", "--quiet"]
ROW = "density, accuracy, test_accuracy, dense_accuracy, metrics"


def command(db: Path, cache: Path, *extra: str) -> list[str]:
    """The grid's `sculptbench run` command on ``db`` with ``cache``."""
    return [sys.executable, "-m", "sculptbench.cli", "run", *GRID, "--results", str(db), "--cache", str(cache), *extra]


def start(db: Path, cache: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(command(db, cache, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def run(db: Path, cache: Path, *extra: str) -> tuple[int, str]:
    return finish(start(db, cache, *extra))


def rows(db: Path, statuses: tuple[str, ...] = ("ok", "untrainable")) -> list[tuple]:
    """``(cell_key, density, accuracies, metrics)`` of every row with one of ``statuses``."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    try:
        marks = ", ".join("?" for _ in statuses)
        return conn.execute(f"SELECT cell_key, {ROW} FROM cells WHERE status IN ({marks})", statuses).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def wait_for_rows(db: Path, count: int, proc: subprocess.Popen, timeout: float = 600) -> None:
    """Until ``db`` holds ``count`` finished rows (or ``proc`` ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and len(rows(db)) < count:
        time.sleep(0.05)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process alone (its workers must notice by themselves)."""
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def verdict(db: Path, reference: dict[str, tuple]) -> tuple[int, int, bool]:
    """(cells lost, cells duplicated, every finished row equal to the reference's)."""
    finished = rows(db)
    keys = [r[0] for r in finished]
    lost = len(set(reference) - set(keys))
    duplicated = len(keys) - len(set(keys))
    equal = all(reference.get(r[0]) == _value(r) for r in finished)
    return lost, duplicated, equal and lost == 0


def _value(row: tuple) -> tuple:
    """What a finished row says: density, accuracies and the metrics (decoded, compared exactly)."""
    return (*row[1:5], json.loads(row[5]))


def as_reference(db: Path) -> dict[str, tuple]:
    return {r[0]: _value(r) for r in rows(db)}


# --------------------------------------------------------------------------- scenarios
def coordinator_kills(db: Path, cache: Path, total: int) -> str:
    for fraction in (0.15, 0.45, 0.75):
        proc = start(db, cache)
        wait_for_rows(db, max(1, int(total * fraction)), proc)
        kill(proc)
    code, err = run(db, cache)
    return f"3 coordinator kills, then the same command (exit {code})"


def worker_kills(db: Path, cache: Path, total: int) -> str:
    import psutil

    proc = start(db, cache, "--jobs", "2")
    killed = 0
    for fraction in (0.2, 0.5):
        wait_for_rows(db, max(1, int(total * fraction)), proc)
        servers = [p for p in psutil.Process(proc.pid).children() if "forkserver" in " ".join(p.cmdline())]
        workers = [w for s in servers for w in s.children()]
        if workers:
            workers[0].send_signal(signal.SIGKILL)
            killed += 1
    code, _ = finish(proc)
    errors = len(rows(db, ("error",)))
    code2, _ = run(db, cache, "--jobs", "2")
    return f"{killed} worker kills (exit {code}, {errors} error rows), then the same command (exit {code2})"


def concurrent(db: Path, cache: Path, total: int) -> str:
    first, second = start(db, cache), start(db, cache)
    codes = (finish(first)[0], finish(second)[0])
    return f"2 runs at once (exits {codes[0]}, {codes[1]})"


def concurrent_kill(db: Path, cache: Path, total: int) -> str:
    first, second = start(db, cache), start(db, cache)
    wait_for_rows(db, max(1, total // 3), first)
    kill(first)
    code = finish(second)[0]
    again = (run(db, cache)[0], run(db, cache)[0])
    return f"2 runs at once, one killed (the other exit {code}), then both commands again (exits {again[0]}, {again[1]})"


def dask_scheduler(db: Path, cache: Path, total: int, stop: bool) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cluster = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env),
               subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                                 "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        time.sleep(5)
        proc = start(db, cache, "--executor", "dask", "--scheduler", address)
        wait_for_rows(db, 1, proc)
        scheduler = cluster[0]
        os.kill(scheduler.pid, signal.SIGSTOP if stop else signal.SIGKILL)
        t0 = time.monotonic()
        code, err = finish(proc)
        waited = time.monotonic() - t0
        line = next((x for x in err.splitlines() if x.startswith("error:")), "(no error line)")
    finally:
        for p in cluster:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
            p.kill()
            p.wait()
    code2, _ = run(db, cache)
    what = "scheduler stopped (SIGSTOP)" if stop else "scheduler killed (SIGKILL)"
    return f"{what} after the first cells: exit {code} after {waited:.0f} s, `{line[:110]}...`; then --executor local (exit {code2})"


SCENARIOS = {
    "coordinator": coordinator_kills, "workers": worker_kills, "concurrent": concurrent, "concurrent-kill": concurrent_kill,
    "dask-stop": lambda db, cache, total: dask_scheduler(db, cache, total, stop=True),
    "dask-kill": lambda db, cache, total: dask_scheduler(db, cache, total, stop=False),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dask", action="store_true", help="Also the dask scheduler scenarios (needs dask.distributed).")
    parser.add_argument("--scenarios", default=None, help="Comma-separated scenario names (default: all chosen).")
    args = parser.parse_args(argv)
    names = args.scenarios.split(",") if args.scenarios else [n for n in SCENARIOS if args.dask or not n.startswith("dask")]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"error: unknown scenario {unknown[0]!r}; valid: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    from sculptbench.engine.torch_import import cpu_model

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; grid: sculptbench run {' '.join(GRID)}")
    with tempfile.TemporaryDirectory(prefix="sculptbench-faults-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        code, err = run(root / "reference.db", root / "reference-cache")
        if code != 0:
            print(f"error: the uninterrupted run failed: {err.strip()[-300:]}", file=sys.stderr)
            return 1
        reference = as_reference(root / "reference.db")
        print(f"uninterrupted: {len(reference)} cells in {time.perf_counter() - t0:.0f} s\n")
        print("| scenario | what happened | cells | lost | duplicated | rows equal to uninterrupted | wall |")
        print("|---|---|---|---|---|---|---|")
        worst = 0
        for name in names:
            db, cache = root / f"{name}.db", root / f"{name}-cache"
            t0 = time.perf_counter()
            what = SCENARIOS[name](db, cache, len(reference))
            lost, duplicated, equal = verdict(db, reference)
            worst += lost + duplicated + (not equal)
            print(f"| {name} | {what} | {len(reference)} | {lost} | {duplicated} | {'yes' if equal else 'NO'} | "
                  f"{time.perf_counter() - t0:.0f} s |", flush=True)
    print(f"\n{'every scenario: 0 lost, 0 duplicated, rows equal' if worst == 0 else 'FAULTS FOUND'}")
    return 0 if worst == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
