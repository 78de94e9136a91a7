# Over 500 lines because the results store is one SQLite schema: its migrations, claims, writes and queries share one connection, transaction and error-translation discipline.
"""The SQLite results database (stdlib sqlite3, WAL, one transaction per write).

Tables: ``meta`` (application id and schema version), ``runs`` (one row per invocation),
``cells`` (one row per task x architecture x pruner x detector x seed), ``cell_history``
(a cell's pruning history, kept apart so that a leaderboard never reads it) and ``claims`` (the
cells a live run is computing, so that a second run of the same grid waits instead of computing
them again; a claim goes with its cell's row, its run's end, or its process). A cell's
``cell_key`` hashes everything that determines its result, so re-running a command finds its
finished cells. A database that is not sculptbench's, or whose schema is newer, is refused
untouched; an older one is migrated when a run opens it for writing (readers never write:
``report``, ``runs`` and ``plot`` open the file read-only, so read-only media work).

A cell's ``status`` is ``ok``, ``untrainable``, ``error`` or ``timeout``. Only the coordinating
process of a run writes; several runs may write one database at once (WAL, ``BEGIN IMMEDIATE``,
a 60 s busy timeout), and ``UNIQUE (run_id, cell_key)`` keeps a cell to one row per run.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.work import Cell
from sculptbench.contracts import rows as fields
from sculptbench.results.sqlite import (  # noqa: F401 - process_alive: also read as store.process_alive
    _cell_order,
    _chunks,
    _claimer_alive,
    _connect_read_only,
    _dump,
    _enable_wal,
    _MIGRATION_NOTES,
    _MIGRATIONS,
    _Transaction,
    database_error,
    lock_timeout,
    process_alive,
    quick_check,
)


APPLICATION = "sculptbench"
#: 2: pruning histories in ``cell_history``; ``task_parameters`` and ``data_source`` columns.
SCHEMA_VERSION = 2
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
    task_parameters TEXT,
    data_source TEXT,
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
CREATE TABLE IF NOT EXISTS cell_history (cell_id INTEGER PRIMARY KEY, history TEXT NOT NULL);
"""

CELL_COLUMNS = (
    "run_id", "cell_key", "task", "family", "arch", "depth", "pruner", "detector", "seed", "status", "error",
    "density", "accuracy", "test_accuracy", "dense_accuracy", "metrics", "timings", "config", "versions", "created",
)
JSON_COLUMNS = ("metrics", "timings", "config", "versions")


def _translated(doing: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a store method so that an SQLite failure becomes one :func:`database_error` line."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def run(self: "ResultsStore", *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise database_error(exc, self.path, doing) from None

        return run

    return wrap


class ResultsStore:
    """A results database at ``path``; opened, checked and (if new) created by the constructor.

    ``create=False`` opens an existing database read-only (``report``, ``runs``, ``plot``): it
    is never written, migrated or locked, so a database on read-only media can be read.
    Every SQLite failure (a lock held past :data:`LOCK_TIMEOUT_S`, a full disk, a damaged file)
    is raised as a one-line :class:`SculptbenchError`; committed rows are never lost.
    ``notes`` collects what the caller should tell the user (e.g. a schema migration).
    """

    def __init__(self, path: str | os.PathLike[str], create: bool = True):
        self.path = Path(path)
        self.read_only = not create
        self.notes: list[str] = []
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
        try:
            self.schema_version = self._check_foreign()
            if create:
                self.conn = sqlite3.connect(str(self.path), timeout=lock_timeout(), isolation_level=None)
                self.conn.row_factory = sqlite3.Row
                self.conn.execute(f"PRAGMA busy_timeout = {int(lock_timeout() * 1000)}")
                _enable_wal(self.conn)
                self._init_schema()
            else:
                self.conn = _connect_read_only(self.path)
                self._check_schema()
        except sqlite3.Error as exc:
            raise database_error(exc, self.path, "opening it") from None

    # ------------------------------------------------------------------ schema
    def _check_foreign(self) -> int | None:
        """Refuse a file that exists but is not an SQLite database, without touching it; return
        its schema version (``None`` for a new or empty file)."""
        if not (self.path.exists() and self.path.stat().st_size > 0):
            return None
        with open(self.path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise SculptbenchError(f"{self.path} is not a sculptbench results database; pass another --results path")
        conn = _connect_read_only(self.path)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" not in tables:
                raise SculptbenchError(f"{self.path} is an SQLite database but not sculptbench's; pass another --results path")
            if "meta" not in tables:
                return None
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("application") != APPLICATION:
                raise SculptbenchError(f"{self.path} is an SQLite database but not sculptbench's; pass another --results path")
            version = meta.get("schema_version", "0")
            if not (isinstance(version, str) and version.isdigit()):
                raise fields.bad_field(f"results database {self.path}: table meta", "schema_version", "is not a number")
            version = int(version)
            quick_check(conn, self.path)
            if version > SCHEMA_VERSION:
                raise SculptbenchError(
                    f"{self.path} was written by a newer sculptbench (schema {meta['schema_version']} > {SCHEMA_VERSION}); upgrade sculptbench"
                )
            return version
        finally:
            conn.close()

    def _init_schema(self) -> None:
        # executescript commits implicitly, so run the statements one by one inside a transaction.
        with self.transaction() as cur:
            row = None
            if cur.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone():
                row = cur.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            found = int(row[0]) if row else None
            if found is not None and found < SCHEMA_VERSION:
                for version in range(found + 1, SCHEMA_VERSION + 1):
                    _MIGRATIONS[version](cur)
                cur.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
                self.notes.append(
                    f"note: upgraded results database {self.path} from schema {found} to {SCHEMA_VERSION} "
                    f"({'; '.join(_MIGRATION_NOTES[v] for v in range(found + 1, SCHEMA_VERSION + 1))}); "
                    "older sculptbench versions refuse it from now on"
                )
            for statement in filter(str.strip, _SCHEMA.split(";")):
                cur.execute(statement)
            cur.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('application', ?)", (APPLICATION,))
            cur.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self.schema_version = SCHEMA_VERSION

    def _check_schema(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "cells" not in tables:
            raise SculptbenchError(f"{self.path} holds no results yet; run `sculptbench run` first")
        self._has_history_table = "cell_history" in tables

    def transaction(self):
        """A context manager running its body in one ``BEGIN IMMEDIATE`` transaction."""
        return _Transaction(self.conn)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    @_translated("checking it")
    def check(self) -> tuple[int, int]:
        """The full check of ``sculptbench runs --check``: SQLite's ``integrity_check``, then every
        field of every run, cell, pruning history and claim; the numbers of runs and cells."""
        quick_check(self.conn, self.path, full=True)
        runs = self.runs()
        cells = 0
        for row in self.conn.execute("SELECT * FROM cells"):
            item = dict(row)
            self.cell_from_row(item.pop("id"), item)
            cells += 1
        for row in self.conn.execute("SELECT cell_key, run_id, host, pid FROM claims"):
            fields.claim_row(self.path, row)
        return len(runs), cells

    # ------------------------------------------------------------------ runs
    @_translated("starting a run")
    def start_run(self, command: str, config: dict[str, Any], manifest: dict[str, Any], executor: str = "local") -> str:
        """Record a new run and return its id."""
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        with self.transaction() as cur:
            cur.execute(
                "INSERT INTO runs (run_id, command, started, status, executor, config, manifest) VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (run_id, command, time.time(), executor, json.dumps(config, sort_keys=True), json.dumps(manifest, sort_keys=True)),
            )
        return run_id

    @_translated("recording the end of the run")
    def finish_run(self, run_id: str, status: str) -> None:
        """Mark a run finished (``done``, ``interrupted`` or ``failed``).

        A run whose process was killed (``kill -9``, a lost machine) stays ``running``; running
        the same command again, or ``sculptbench run --resume RUN_ID``, continues it.
        """
        with self.transaction() as cur:
            cur.execute("UPDATE runs SET finished = ?, status = ? WHERE run_id = ?", (time.time(), status, run_id))
            cur.execute("DELETE FROM claims WHERE run_id = ?", (run_id,))

    @_translated("resuming the run")
    def resume_run(self, run_id: str, executor: str | None = None) -> dict[str, Any]:
        """Mark an existing run ``running`` again (``--resume RUN_ID``) and return its record."""
        with self.transaction() as cur:
            row = cur.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise SculptbenchError(f"no run {run_id!r} in {self.path}; see `sculptbench runs`")
            item = fields.run_record(self.path, dict(row))  # a damaged record is refused before it is touched
            cur.execute(
                "UPDATE runs SET status = 'running', finished = NULL, executor = COALESCE(?, executor) WHERE run_id = ?",
                (executor, run_id),
            )
        return item

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run's record (as in :meth:`runs`), or a :class:`SculptbenchError` naming the id."""
        for item in self.runs():
            if item["run_id"] == run_id:
                return item
        raise SculptbenchError(f"no run {run_id!r} in {self.path}; see `sculptbench runs`")

    @_translated("reading its runs")
    def runs(self) -> list[dict[str, Any]]:
        """All runs, oldest first, with cell counts by status."""
        counts: dict[str, dict[str, int]] = {}
        for run_id, status, n in self.conn.execute("SELECT run_id, status, COUNT(*) FROM cells GROUP BY run_id, status"):
            if not isinstance(run_id, str) or status not in fields.CELL_STATUSES:  # name a row that has it
                (key,) = self.conn.execute("SELECT cell_key FROM cells WHERE run_id IS ? AND status IS ? LIMIT 1", (run_id, status)).fetchone()
                fields.check_cell_columns(self.path, {"run_id": run_id, "cell_key": key, "status": status})
            counts.setdefault(run_id, {})[status] = n
        out = []
        for row in self.conn.execute("SELECT * FROM runs ORDER BY started"):
            item = fields.run_record(self.path, dict(row))
            item["counts"] = counts.get(item["run_id"], {})
            out.append(item)
        return out

    @_translated("reading its runs")
    def latest_run_id(self) -> str | None:
        """The id of the most recently started run that wrote cells."""
        row = self.conn.execute(
            "SELECT run_id FROM runs WHERE run_id IN (SELECT run_id FROM cells) ORDER BY started DESC LIMIT 1"
        ).fetchone()
        if row is not None and not isinstance(row[0], str):
            raise fields.bad_field(fields.where_run(self.path, row[0]), "run_id", "is not text")
        return row[0] if row else None

    # ------------------------------------------------------------------ cells
    def write_cell(self, run_id: str, cell: Cell) -> None:
        """Insert (or replace) one cell of ``run_id`` in its own transaction; its pruning history
        (``cell.config["history"]``) goes to the ``cell_history`` table."""
        self.write_cells(run_id, [cell])

    @_translated("writing a cell")
    def write_cells(self, run_id: str, cells: Iterable[Cell]) -> None:
        """Insert (or replace) ``cells`` of ``run_id`` in one transaction (as :meth:`write_cell`)."""
        columns = (*CELL_COLUMNS, "task_parameters", "data_source")
        insert = f"INSERT OR REPLACE INTO cells ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        with self.transaction() as cur:
            for cell in cells:
                cell.run_id = run_id
                cell.created = time.time()
                config = dict(cell.config)
                history = config.pop("history", None)
                values = [_dump(config) if col == "config" else _dump(getattr(cell, col)) if col in JSON_COLUMNS else getattr(cell, col)
                          for col in CELL_COLUMNS]
                values += [_dump(config.get("task_parameters") or {}), config.get("data_source")]
                cur.execute(
                    "DELETE FROM cell_history WHERE cell_id IN (SELECT id FROM cells WHERE run_id = ? AND cell_key = ?)", (run_id, cell.cell_key)
                )
                cur.execute(insert, values)
                if history is not None:
                    cur.execute("INSERT INTO cell_history (cell_id, history) VALUES (?, ?)", (cur.lastrowid, _dump(history)))
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
                row = cur.execute("SELECT cell_key, run_id, host, pid FROM claims WHERE cell_key = ?", (key,)).fetchone()
                if row is not None:
                    fields.claim_row(self.path, row)
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

    @_translated("reading its cells")
    def finished_keys(self, statuses: tuple[str, ...] = ("ok", "untrainable"), among: Iterable[str] | None = None) -> set[str]:
        """Cell keys that have a finished row with one of ``statuses`` in any run (only keys
        ``among`` these, looked up by index, when given)."""
        marks = ", ".join("?" for _ in statuses)
        query = f"SELECT DISTINCT cell_key FROM cells WHERE status IN ({marks})"
        if among is None:
            return {r[0] for r in self.conn.execute(query, statuses)}
        found: set[str] = set()
        for chunk in _chunks(among):
            found.update(r[0] for r in self.conn.execute(f"{query} AND cell_key IN ({', '.join('?' for _ in chunk)})", (*statuses, *chunk)))
        return found

    @_translated("reading its cells")
    def failed_keys(self, statuses: tuple[str, ...] = ("error", "timeout")) -> set[str]:
        """Cell keys whose latest row has one of ``statuses`` (``--retry-failed``)."""
        latest = {}
        for key, status in self.conn.execute("SELECT cell_key, status FROM cells ORDER BY created, id"):
            latest[key] = status
        return {key for key, status in latest.items() if status in statuses}

    @_translated("reading its cells")
    def cells(self, run_id: str | None = None) -> list[Cell]:
        """Cells, the latest row per ``cell_key`` (optionally of one run), in a stable order;
        complete, pruning history included (see :meth:`summary_cells` for a leaderboard)."""
        query = "SELECT * FROM cells"
        args: tuple = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            args = (run_id,)
        query += " ORDER BY created, id"
        latest: dict[str, tuple[int, dict[str, Any]]] = {}
        for row in self.conn.execute(query, args):
            item = dict(row)
            latest[item["cell_key"]] = (item.pop("id"), item)
        return sorted((self.cell_from_row(ident, item) for ident, item in latest.values()), key=_cell_order)

    def cell_from_row(self, ident: int, item: dict[str, Any]) -> Cell:
        """The :class:`Cell` of row ``ident`` of the cells table (``item``: its columns but ``id``)."""
        fields.check_cell_columns(self.path, item)
        item = {k: v for k, v in item.items() if k not in ("task_parameters", "data_source")}
        where = functools.partial(fields.where_cell, self.path, item["run_id"], item["cell_key"])
        for col, check in (("metrics", fields.metrics), ("timings", fields.timings)):
            item[col] = fields.checked(where, col, check, item[col])
        for col in ("config", "versions"):
            item[col] = fields.checked(where, col, fields.decode, item[col], dict)
        cell = Cell(**item)
        self.attach_history(cell, ident)
        return cell

    @_translated("reading its cells")
    def summary_cells(self, run_id: str | None = None, keys: set[str] | None = None, timings: bool = True) -> list[Cell]:
        """What a leaderboard needs of the latest row per ``cell_key`` (optionally of one run, or
        only ``keys``), in the order of :meth:`cells`, without decoding configs or histories.

        ``config`` holds only ``task_parameters`` and ``data_source``; equal JSON texts (versions,
        task parameters) decode to one shared object, and metric names are shared strings, so
        treat the cells as read-only. ``timings=False`` leaves ``timings`` empty (only the
        ``time`` metric reads them).
        """
        legacy = "task_parameters" not in {r[1] for r in self.conn.execute("PRAGMA table_info(cells)")}
        extra = "config" if legacy else "task_parameters, data_source"
        query = f"SELECT id, {', '.join(fields.SUMMARY_COLUMNS)}, {extra} FROM cells"
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if keys is None:
            selections = [(query + (" WHERE " + " AND ".join(where) if where else ""), tuple(args))]
        else:  # by index, a few hundred keys at a time
            selections = []
            for chunk in _chunks(keys):
                marks = ", ".join("?" for _ in chunk)
                selections.append((f"{query} WHERE " + " AND ".join([*where, f"cell_key IN ({marks})"]), (*args, *chunk)))
        shared: dict[Any, Any] = {}
        names = ("id", *fields.SUMMARY_COLUMNS, *extra.split(", "))

        def decode(text: str | None, where: Callable[[], str], field: str) -> Any:
            if text is None:
                return None
            value = shared.get(text)
            if value is None:
                value = shared[text] = fields.checked(where, field, fields.decode, text, dict)
            return value

        def same(text: Any) -> Any:  # one object per distinct short string (names, statuses, run ids)
            return shared.setdefault(("s", text), text)

        # Each row becomes a cell at once (a later row of the same key replaces it), so the raw
        # JSON texts are freed as the scan goes instead of all being held until the end.
        # Rows come in table order (no sort of 100,000s of wide rows); the latest by (created, id) wins.
        latest: dict[str, Cell] = {}
        order: dict[str, tuple[float, int]] = {}
        cursor = self.conn.cursor()
        cursor.row_factory = None  # plain tuples
        for row in (r for q, a in selections for r in cursor.execute(q, a)):
            if not fields.summary_types_ok(row):
                fields.check_cell_columns(self.path, dict(zip(names, row)))
            (ident, run, key, task, family, arch, depth, pruner, detector, seed, status, error, density, accuracy, test_accuracy,
             dense_accuracy, metrics, timings_text, versions, created, *rest) = row
            if keys is not None and key not in keys:
                continue
            if key in order and order[key] > (created, ident):
                continue
            order[key] = (created, ident)
            where = functools.partial(fields.where_cell, self.path, run, key)
            if legacy:
                config = fields.checked(where, "config", fields.decode, rest[0], dict)
                summary = {"task_parameters": config.get("task_parameters") or {}, "data_source": config.get("data_source")}
            else:
                summary = shared.get(("c", *rest))
                if summary is None:
                    summary = shared[("c", *rest)] = {"task_parameters": decode(rest[0], where, "task_parameters") or {},
                                                      "data_source": rest[1]}
            latest[key] = Cell(
                cell_key=key, task=same(task), family=same(family), arch=same(arch), depth=depth, pruner=same(pruner),
                detector=same(detector), seed=seed, status=same(status), error=error, density=density, accuracy=accuracy,
                test_accuracy=test_accuracy, dense_accuracy=dense_accuracy,
                metrics={same(k): v for k, v in fields.checked(where, "metrics", fields.metrics, metrics).items()},
                timings=fields.checked(where, "timings", fields.timings, timings_text) if timings else {},
                config=summary, versions=decode(versions, where, "versions") or {}, run_id=same(run), created=created,
            )
        cursor.close()
        out = list(latest.values())
        return sorted(out, key=_cell_order)

    def attach_history(self, cell: Cell, ident: int) -> None:
        """Put row ``ident``'s pruning history in ``cell.config["history"]`` (rows written by
        schema 1 already hold it there)."""
        if "history" in cell.config or not getattr(self, "_has_history_table", True):
            return
        row = self.conn.execute("SELECT history FROM cell_history WHERE cell_id = ?", (ident,)).fetchone()
        if row is not None:
            where = functools.partial(fields.where_cell, self.path, cell.run_id, cell.cell_key)
            cell.config["history"] = fields.checked(where, "history", fields.decode, row[0], list)


