"""SQLite helpers of the results store: connections (read-only, WAL with a bounded wait), one
transaction per write, error messages naming the way out, schema migrations and liveness of the
processes that claim cells."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.processes import process_alive
from sculptbench.contracts.hashing import canonical_json
from sculptbench.contracts.work import Cell

#: How long a store waits for another process's lock before giving up.
LOCK_TIMEOUT_S = 60.0


def _claimer_alive(host: str, pid: int) -> bool:
    """Whether the process that made a claim still runs (one on another machine is assumed to)."""
    if host != socket.gethostname():
        return True
    return pid != os.getpid() and process_alive(pid)


def _chunks(items: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size`` (SQLite limits the parameters of one statement)."""
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _cell_order(cell: Cell) -> tuple:
    return (cell.task, cell.depth, cell.arch, cell.pruner, cell.detector, cell.seed)


def lock_timeout() -> float:
    """Seconds a store waits for another process's lock: ``$SCULPTBENCH_LOCK_TIMEOUT``, else
    :data:`LOCK_TIMEOUT_S`."""
    text = os.environ.get("SCULPTBENCH_LOCK_TIMEOUT")
    if text:
        try:
            value = float(text)
        except ValueError:
            raise SculptbenchError(f"invalid SCULPTBENCH_LOCK_TIMEOUT={text!r}; give seconds, e.g. 60") from None
        if value >= 0:
            return value
        raise SculptbenchError(f"invalid SCULPTBENCH_LOCK_TIMEOUT={text!r}; it must be >= 0 seconds")
    return LOCK_TIMEOUT_S


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; on read-only media (no ``-shm`` file can be made) the file is
    opened as immutable, which is safe there because nothing else can write it either."""
    uri = Path(path).resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=lock_timeout(), isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        if "unable to open" not in str(exc) and "readonly" not in str(exc) and "read-only" not in str(exc):
            raise
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)
        conn.row_factory = sqlite3.Row
    return conn


def database_error(exc: sqlite3.Error, path: Path | str, doing: str) -> SculptbenchError:
    """One line for an SQLite failure: a held lock, a full disk, a damaged or read-only file."""
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return SculptbenchError(
            f"results database {path} is locked by another process (waited {lock_timeout():g} s while {doing}); "
            "let that process finish, set SCULPTBENCH_LOCK_TIMEOUT to wait longer, or pass another --results path"
        )
    if "full" in low:
        return SculptbenchError(
            f"the disk holding results database {path} is full ({text}, while {doing}); the cells already written are kept: "
            "free some space and run the same command again to continue"
        )
    if "readonly" in low or "read-only" in low:
        return SculptbenchError(f"results database {path} is read-only ({text}, while {doing}); pass a writable --results path")
    if "not a database" in low:
        return SculptbenchError(f"cannot read results database {path} ({text}): it is damaged or not a database; restore a copy, or pass another --results path")
    if "malformed" in low or "corrupt" in low or "i/o error" in low:
        return SculptbenchError(
            f"results database {path} is damaged ({text}, while {doing}); restore a copy, or salvage it with "
            f"`sqlite3 {path} .recover | sqlite3 recovered.db`"
        )
    return SculptbenchError(f"cannot use results database {path} ({text}, while {doing}); pass another --results path")


#: How many problems a check lists at most (the first is shown).
_PROBLEMS_SHOWN = 10


def quick_check(conn: sqlite3.Connection, path: Path | str, full: bool = False) -> None:
    """Refuse a damaged database file with one line: SQLite's ``PRAGMA quick_check`` (every page
    and b-tree, in about the time of reading the file once), or with ``full`` its
    ``integrity_check`` (also every index against its table)."""
    pragma = "integrity_check" if full else "quick_check"
    try:
        problems = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}({_PROBLEMS_SHOWN})")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems != ["ok"]:
        more = "" if len(problems) == 1 else f" and {len(problems) - 1} more" if len(problems) < _PROBLEMS_SHOWN else " and more"
        raise SculptbenchError(
            f"results database {path} is damaged ({pragma}: {' '.join(problems[0].split())}{more}); nothing was written to it: "
            f"restore a copy, or salvage it with `sqlite3 {path} .recover | sqlite3 recovered.db`"
        )


def _migrate_to_2(cur: sqlite3.Cursor) -> None:
    """Schema 1 -> 2: pruning histories move out of ``cells.config`` into ``cell_history``; the
    leaderboard's ``task_parameters`` and ``data_source`` get columns of their own."""
    cur.execute("CREATE TABLE IF NOT EXISTS cell_history (cell_id INTEGER PRIMARY KEY, history TEXT NOT NULL)")
    have = {r[1] for r in cur.execute("PRAGMA table_info(cells)")}
    for column in ("task_parameters", "data_source"):
        if column not in have:
            cur.execute(f"ALTER TABLE cells ADD COLUMN {column} TEXT")
    ids = [r[0] for r in cur.execute("SELECT id FROM cells")]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = cur.execute(f"SELECT id, config FROM cells WHERE id IN ({marks})", chunk).fetchall()
        for ident, text in rows:
            config = json.loads(text)
            history = config.pop("history", None)
            if history is not None:
                cur.execute("INSERT OR REPLACE INTO cell_history (cell_id, history) VALUES (?, ?)", (ident, _dump(history)))
            cur.execute("UPDATE cells SET config = ?, task_parameters = ?, data_source = ? WHERE id = ?",
                        (_dump(config), _dump(config.get("task_parameters") or {}), config.get("data_source"), ident))


#: schema version -> the migration that brings the previous version to it (run by writers).
_MIGRATIONS = {2: _migrate_to_2}


_MIGRATION_NOTES = {2: "pruning histories moved to table cell_history"}


def _enable_wal(conn: sqlite3.Connection, timeout_s: float | None = None) -> None:
    """Switch ``conn``'s database to WAL mode, waiting out other processes that hold it.

    SQLite answers a concurrent journal-mode change with "database is locked" at once, without
    calling the busy handler, so two runs creating one database together must retry here.
    """
    deadline = time.monotonic() + (lock_timeout() if timeout_s is None else timeout_s)
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
        try:
            if exc_type is None:
                try:
                    self.cur.execute("COMMIT")
                except sqlite3.Error:
                    self._rollback()  # e.g. a full disk at the COMMIT: leave no transaction open
                    raise
            else:
                self._rollback()
        finally:
            self.cur.close()

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.cur.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite may have rolled back already; the original error is what matters


def _dump(value: Any) -> str:
    return canonical_json(value)


def iter_metric_names(cells: list[Cell]) -> Iterator[str]:
    """Every metric name recorded in ``cells``, sorted."""
    yield from sorted({name for c in cells for name in c.metrics})
