"""The SQLite results database (stdlib sqlite3, WAL, one transaction per write).

Tables: ``meta`` (application id and schema version), ``runs`` (one row per invocation),
``cells`` (one row per task x architecture x pruner x detector x seed) and ``claims`` (the cells
a live run is computing, so that a second run of the same grid waits instead of computing them
again; a claim goes with its cell's row, its run's end, or its process). A cell's ``cell_key``
hashes everything that determines its result, so re-running a command finds its finished
cells. A database that is not sculptbench's, or whose schema is newer, is refused untouched.

A cell's ``status`` is ``ok``, ``untrainable``, ``error`` or ``timeout``. Only the coordinating
process of a run writes; several runs may write one database at once (WAL, ``BEGIN IMMEDIATE``,
a 60 s busy timeout), and ``UNIQUE (run_id, cell_key)`` keeps a cell to one row per run.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from sculptbench.core import SculptbenchError

#: How long a store waits for another process's lock before giving up.
LOCK_TIMEOUT_S = 60.0

APPLICATION = "sculptbench"
SCHEMA_VERSION = 1
DEFAULT_PATH = "sculptbench-results.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    executor TEXT,
    config TEXT NOT NULL,
    manifest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    cell_key TEXT NOT NULL,
    task TEXT NOT NULL,
    family TEXT NOT NULL,
    arch TEXT NOT NULL,
    depth INTEGER NOT NULL,
    pruner TEXT NOT NULL,
    detector TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    density REAL,
    accuracy REAL,
    test_accuracy REAL,
    dense_accuracy REAL,
    metrics TEXT NOT NULL,
    timings TEXT NOT NULL,
    config TEXT NOT NULL,
    versions TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (run_id, cell_key)
);
CREATE INDEX IF NOT EXISTS cells_by_key ON cells (cell_key);
CREATE TABLE IF NOT EXISTS claims (
    cell_key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    claimed REAL NOT NULL
);
"""

CELL_COLUMNS = (
    "run_id", "cell_key", "task", "family", "arch", "depth", "pruner", "detector", "seed", "status", "error",
    "density", "accuracy", "test_accuracy", "dense_accuracy", "metrics", "timings", "config", "versions", "created",
)
JSON_COLUMNS = ("metrics", "timings", "config", "versions")


@dataclass
class Cell:
    """One result row. ``metrics`` maps ``"scorer.metric"`` to a value."""

    cell_key: str
    task: str
    family: str
    arch: str
    depth: int
    pruner: str
    detector: str
    seed: int
    status: str
    error: str | None = None
    density: float | None = None
    accuracy: float | None = None
    test_accuracy: float | None = None
    dense_accuracy: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    created: float = 0.0


class ResultsStore:
    """A results database at ``path``; opened, checked and (if new) created by the constructor."""

    def __init__(self, path: str | os.PathLike[str], create: bool = True):
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise SculptbenchError(f"no results database at {self.path}; run `sculptbench run` first or pass --results PATH")
        if self.path.exists() and self.path.is_dir():
            raise SculptbenchError(f"results path {self.path} is a directory; pass a file path with --results")
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not self.path.exists():
            if not parent.is_dir():
                raise SculptbenchError(f"cannot create results database {self.path}: directory {parent} does not exist; create it or pass another --results path")
            if not os.access(parent, os.W_OK):
                raise SculptbenchError(f"cannot write results database {self.path}: directory {parent} is not writable; pass another --results path")
        elif create and not os.access(self.path, os.W_OK):
            raise SculptbenchError(f"results database {self.path} is not writable; fix its permissions or pass another --results path")
        self._check_foreign()
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=LOCK_TIMEOUT_S, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(LOCK_TIMEOUT_S * 1000)}")
            if create:
                _enable_wal(self.conn)
                self._init_schema()
            else:
                self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise SculptbenchError(f"{self.path} is not a sculptbench results database ({exc}); pass another --results path") from None

    # ------------------------------------------------------------------ schema
    def _check_foreign(self) -> None:
        """Refuse a file that exists but is not an SQLite database, without touching it."""
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as fh:
                if fh.read(16) != b"SQLite format 3\x00":
                    raise SculptbenchError(f"{self.path} is not a sculptbench results database; pass another --results path")
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=LOCK_TIMEOUT_S)
            try:
                try:
                    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                except sqlite3.DatabaseError as exc:
                    raise SculptbenchError(f"cannot read results database {self.path} ({exc}); pass another --results path") from None
                if tables and "meta" not in tables:
                    raise SculptbenchError(f"{self.path} is an SQLite database but not sculptbench's; pass another --results path")
                if "meta" in tables:
                    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                    if meta.get("application") != APPLICATION:
                        raise SculptbenchError(f"{self.path} is an SQLite database but not sculptbench's; pass another --results path")
                    if int(meta.get("schema_version", 0)) > SCHEMA_VERSION:
                        raise SculptbenchError(
                            f"{self.path} was written by a newer sculptbench (schema {meta['schema_version']} > {SCHEMA_VERSION}); upgrade sculptbench"
                        )
            finally:
                conn.close()

    def _init_schema(self) -> None:
        # executescript commits implicitly, so run the statements one by one inside a transaction.
        with self.transaction() as cur:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                cur.execute(statement)
            cur.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('application', ?)", (APPLICATION,))
            cur.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _check_schema(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "cells" not in tables:
            raise SculptbenchError(f"{self.path} holds no results yet; run `sculptbench run` first")

    def transaction(self):
        """A context manager running its body in one ``BEGIN IMMEDIATE`` transaction."""
        return _Transaction(self.conn)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # ------------------------------------------------------------------ runs
    def start_run(self, command: str, config: dict[str, Any], manifest: dict[str, Any], executor: str = "local") -> str:
        """Record a new run and return its id."""
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        with self.transaction() as cur:
            cur.execute(
                "INSERT INTO runs (run_id, command, started, status, executor, config, manifest) VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (run_id, command, time.time(), executor, json.dumps(config, sort_keys=True), json.dumps(manifest, sort_keys=True)),
            )
        return run_id

    def finish_run(self, run_id: str, status: str) -> None:
        """Mark a run finished (``done``, ``interrupted`` or ``failed``).

        A run whose process was killed (``kill -9``, a lost machine) stays ``running``; running
        the same command again, or ``sculptbench run --resume RUN_ID``, continues it.
        """
        with self.transaction() as cur:
            cur.execute("UPDATE runs SET finished = ?, status = ? WHERE run_id = ?", (time.time(), status, run_id))
            cur.execute("DELETE FROM claims WHERE run_id = ?", (run_id,))

    def resume_run(self, run_id: str, executor: str | None = None) -> dict[str, Any]:
        """Mark an existing run ``running`` again (``--resume RUN_ID``) and return its record."""
        with self.transaction() as cur:
            row = cur.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise SculptbenchError(f"no run {run_id!r} in {self.path}; see `sculptbench runs`")
            cur.execute(
                "UPDATE runs SET status = 'running', finished = NULL, executor = COALESCE(?, executor) WHERE run_id = ?",
                (executor, run_id),
            )
        item = dict(row)
        item["config"] = json.loads(item["config"])
        item["manifest"] = json.loads(item["manifest"])
        return item

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run's record (as in :meth:`runs`), or a :class:`SculptbenchError` naming the id."""
        for item in self.runs():
            if item["run_id"] == run_id:
                return item
        raise SculptbenchError(f"no run {run_id!r} in {self.path}; see `sculptbench runs`")

    def runs(self) -> list[dict[str, Any]]:
        """All runs, oldest first, with cell counts by status."""
        out = []
        for row in self.conn.execute("SELECT * FROM runs ORDER BY started"):
            counts = dict(self.conn.execute("SELECT status, COUNT(*) FROM cells WHERE run_id = ? GROUP BY status", (row["run_id"],)).fetchall())
            item = dict(row)
            item["config"] = json.loads(item["config"])
            item["manifest"] = json.loads(item["manifest"])
            item["counts"] = counts
            out.append(item)
        return out

    def latest_run_id(self) -> str | None:
        """The id of the most recently started run that wrote cells."""
        row = self.conn.execute(
            "SELECT run_id FROM runs WHERE run_id IN (SELECT run_id FROM cells) ORDER BY started DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ cells
    def write_cell(self, run_id: str, cell: Cell) -> None:
        """Insert (or replace) one cell of ``run_id`` in its own transaction."""
        cell.run_id = run_id
        cell.created = time.time()
        values = []
        for col in CELL_COLUMNS:
            v = getattr(cell, col)
            values.append(json.dumps(v, sort_keys=True, default=_json_default) if col in JSON_COLUMNS else v)
        placeholders = ", ".join("?" for _ in CELL_COLUMNS)
        with self.transaction() as cur:
            cur.execute(f"INSERT OR REPLACE INTO cells ({', '.join(CELL_COLUMNS)}) VALUES ({placeholders})", values)
            cur.execute("DELETE FROM claims WHERE cell_key = ? AND run_id = ?", (cell.cell_key, run_id))

    # ------------------------------------------------------------------ claims
    def claim(self, run_id: str, keys: Iterable[str]) -> dict[str, str]:
        """Claim ``keys`` for ``run_id``; return ``{key: run id}`` of those another live run holds.

        A claim of a process that is gone (``kill -9``), or of this very process, is taken over.
        """
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        held: dict[str, str] = {}
        with self.transaction() as cur:
            for key in keys:
                row = cur.execute("SELECT run_id, host, pid FROM claims WHERE cell_key = ?", (key,)).fetchone()
                if row is not None and row["run_id"] != run_id and _claimer_alive(row["host"], row["pid"]):
                    held[key] = row["run_id"]
                    continue
                cur.execute("INSERT OR REPLACE INTO claims (cell_key, run_id, host, pid, claimed) VALUES (?, ?, ?, ?, ?)",
                            (key, run_id, host, pid, now))
        return held

    def release(self, run_id: str, keys: Iterable[str]) -> None:
        """Drop ``run_id``'s claims on ``keys``."""
        with self.transaction() as cur:
            cur.executemany("DELETE FROM claims WHERE cell_key = ? AND run_id = ?", [(k, run_id) for k in keys])

    def written_since(self, keys: Iterable[str], since: float, other_than: str) -> set[str]:
        """Those ``keys`` that a run other than ``other_than`` wrote a row for at or after ``since``."""
        wanted = set(keys)
        rows = self.conn.execute("SELECT DISTINCT cell_key FROM cells WHERE created >= ? AND run_id != ?", (since, other_than))
        return {r[0] for r in rows if r[0] in wanted}

    def finished_keys(self, statuses: tuple[str, ...] = ("ok", "untrainable")) -> set[str]:
        """Cell keys that have a finished row with one of ``statuses`` in any run."""
        marks = ", ".join("?" for _ in statuses)
        return {r[0] for r in self.conn.execute(f"SELECT DISTINCT cell_key FROM cells WHERE status IN ({marks})", statuses)}

    def failed_keys(self, statuses: tuple[str, ...] = ("error", "timeout")) -> set[str]:
        """Cell keys whose latest row has one of ``statuses`` (``--retry-failed``)."""
        latest = {}
        for key, status in self.conn.execute("SELECT cell_key, status FROM cells ORDER BY created, id"):
            latest[key] = status
        return {key for key, status in latest.items() if status in statuses}

    def cells(self, run_id: str | None = None) -> list[Cell]:
        """Cells, the latest row per ``cell_key`` (optionally of one run), in a stable order."""
        query = "SELECT * FROM cells"
        args: tuple = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            args = (run_id,)
        query += " ORDER BY created, id"
        latest: dict[str, Cell] = {}
        for row in self.conn.execute(query, args):
            item = dict(row)
            item.pop("id")
            for col in JSON_COLUMNS:
                item[col] = json.loads(item[col])
            latest[item["cell_key"]] = Cell(**item)
        return sorted(latest.values(), key=lambda c: (c.task, c.depth, c.arch, c.pruner, c.detector, c.seed))


def _claimer_alive(host: str, pid: int) -> bool:
    """Whether the process that made a claim still runs (one on another machine is assumed to)."""
    if host != socket.gethostname():
        return True
    return pid != os.getpid() and process_alive(pid)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` on this machine runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _enable_wal(conn: sqlite3.Connection, timeout_s: float = LOCK_TIMEOUT_S) -> None:
    """Switch ``conn``'s database to WAL mode, waiting out other processes that hold it.

    SQLite answers a concurrent journal-mode change with "database is locked" at once, without
    calling the busy handler, so two runs creating one database together must retry here.
    """
    deadline = time.monotonic() + timeout_s
    attempt = 0
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")  # a no-op, without locking, once the database is in WAL mode
            return
        except sqlite3.OperationalError as exc:
            contended = "locked" in str(exc) or "busy" in str(exc)
            if not contended or time.monotonic() > deadline:
                raise
            attempt += 1
            time.sleep(min(0.005 * attempt, 0.1))


class _Transaction:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Cursor:
        self.cur = self.conn.cursor()
        self.cur.execute("BEGIN IMMEDIATE")
        return self.cur

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.cur.execute("COMMIT")
        else:
            self.cur.execute("ROLLBACK")
        self.cur.close()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def iter_metric_names(cells: list[Cell]) -> Iterator[str]:
    """Every metric name recorded in ``cells``, sorted."""
    yield from sorted({name for c in cells for name in c.metrics})
