"""``sculptbench merge A.db B.db -o C.db``: one results database from several, so that a lab can
collect one leaderboard from many machines or people.

The merged database holds every run of every source (its command, configuration and manifest)
and, for every cell key, one row: the row each source reports (its latest), with its kernel
fingerprint (``versions``), configuration, pruning history, timings and run id as they were. A
cell that several sources hold is kept once when their results agree (an exact duplicate: same
status, density, accuracies, metrics, history and configuration, the stage cache's hit or miss
aside; timings, run and kernels may differ). A cell that failed (``error``, ``timeout``) in one
source and finished in another takes the finished row. Two finished rows with different results
are a conflict: the merge stops with one line naming the cell and both sources, and writes
nothing. The output is written to a temporary file beside it and renamed into place at the end.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.results.store import CELL_COLUMNS, ResultsStore

FINISHED = ("ok", "untrainable")
#: The columns of a cell's row that are its results (compared between sources).
RESULT_COLUMNS = ("status", "density", "accuracy", "test_accuracy", "dense_accuracy", "metrics")
_ROW_COLUMNS = (*CELL_COLUMNS, "task_parameters", "data_source")
_RUN_COLUMNS = ("run_id", "command", "started", "finished", "status", "executor", "config", "manifest")


@dataclass
class MergeSummary:
    """What a merge wrote: cells kept per source, duplicates skipped, failed rows replaced by a
    finished one, and runs."""

    output: Path
    kept: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    replaced_failures: int = 0
    runs: int = 0

    def line(self) -> str:
        """One line for the terminal."""
        per_source = ", ".join(f"{n} from {name}" for name, n in self.kept.items())
        text = f"merged {len(self.kept)} databases into {self.output}: {sum(self.kept.values())} cells ({per_source}), {self.runs} runs"
        if self.duplicates:
            text += f"; {self.duplicates} duplicate cells skipped"
        if self.replaced_failures:
            text += f"; {self.replaced_failures} failed cells taken from the database where they finished"
        return text


@dataclass
class _Source:
    path: Path
    store: ResultsStore
    latest: dict[str, int]  # cell key -> id of its latest row

    @property
    def name(self) -> str:
        return str(self.path)


def merge(sources: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str]) -> MergeSummary:
    """Merge the results databases ``sources`` into a new database ``output`` (see the module
    docstring); raise :class:`SculptbenchError` (nothing written) on a conflict or bad input."""
    out = Path(output)
    _check_paths([Path(s) for s in sources], out)
    opened: list[_Source] = []
    with tempfile.TemporaryDirectory(prefix="sculptbench-merge-") as scratch:
        try:
            for index, path in enumerate(map(Path, sources)):
                store = ResultsStore(path, create=False)
                if store.schema_version is not None and store.schema_version < 2:
                    store = _upgraded_copy(store, Path(scratch) / f"{index}.db")
                opened.append(_Source(path, store, _latest_rows(store)))
            chosen, summary = _choose(opened, out)
            _write(opened, chosen, out, summary)
            return summary
        finally:
            for source in opened:
                source.store.close()


def _upgraded_copy(store: ResultsStore, copy: Path) -> ResultsStore:
    """A copy of an older database brought to the current schema (the source is never written)."""
    target = sqlite3.connect(str(copy))
    try:
        store.conn.backup(target)
    finally:
        target.close()
        store.close()
    return ResultsStore(copy)


def _check_paths(sources: list[Path], out: Path) -> None:
    if len(sources) < 2:
        raise SculptbenchError("merge needs at least two results databases, e.g. `sculptbench merge a.db b.db -o all.db`")
    for path in sources:
        if not path.is_file():
            raise SculptbenchError(f"no results database at {path}; pass the paths of existing databases")
    resolved = [p.resolve() for p in sources]
    for i, path in enumerate(resolved):
        if path in resolved[:i]:
            raise SculptbenchError(f"{sources[i]} is given twice; pass each database once")
    if out.resolve() in resolved:
        raise SculptbenchError(f"-o {out} is one of the databases to merge; pass another -o path")
    if out.exists():
        raise SculptbenchError(f"{out} exists; merge writes a new database: pass another -o path (or remove {out})")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise SculptbenchError(f"cannot write {out}: directory {parent} does not exist; create it or pass another -o path")
    if not os.access(parent, os.W_OK):
        raise SculptbenchError(f"cannot write {out}: directory {parent} is not writable; pass another -o path")


def _latest_rows(store: ResultsStore) -> dict[str, int]:
    """Cell key -> id of its latest row (by creation time, then id): the row its reports read."""
    latest: dict[str, tuple[float, int]] = {}
    for key, created, ident in store.conn.execute("SELECT cell_key, created, id FROM cells"):
        if key not in latest or latest[key] < (created, ident):
            latest[key] = (created, ident)
    return {key: ident for key, (_, ident) in latest.items()}


def _choose(sources: list[_Source], out: Path) -> tuple[list[list[int]], MergeSummary]:
    """Per source, the ids of the rows the merged database keeps."""
    holders: dict[str, list[int]] = {}
    for index, source in enumerate(sources):
        for key in source.latest:
            holders.setdefault(key, []).append(index)
    summary = MergeSummary(out)
    chosen: list[list[int]] = [[] for _ in sources]
    for key, where in holders.items():
        if len(where) == 1:
            chosen[where[0]].append(sources[where[0]].latest[key])
            continue
        rows = [(i, _result(sources[i], sources[i].latest[key])) for i in where]
        finished = [(i, r) for i, r in rows if r["status"] in FINISHED]
        keep, result = (finished or rows)[0]
        for other, other_result in finished[1:]:
            difference = _difference(result, other_result)
            if difference:
                raise SculptbenchError(
                    f"conflicting results for cell {_describe(result)} (key {key}): {difference[0]} is {difference[1]} in "
                    f"{sources[keep].name} but {difference[2]} in {sources[other].name}; nothing was written: keep the cell in one of "
                    "them only (or rerun it in both with the same versions), then merge again")
        replaced = len(rows) - len(finished) if finished else 0
        summary.replaced_failures += replaced
        summary.duplicates += len(where) - 1 - replaced
        chosen[keep].append(sources[keep].latest[key])
    return chosen, summary


def _result(source: _Source, ident: int) -> dict[str, Any]:
    """The results of one row (and what names its cell), decoded for comparison."""
    row = source.store.conn.execute(
        f"SELECT task, arch, pruner, detector, seed, config, {', '.join(RESULT_COLUMNS)} FROM cells WHERE id = ?", (ident,)).fetchone()
    result = dict(row)
    result["metrics"] = json.loads(result["metrics"])
    config = json.loads(result.pop("config"))
    config.pop("cache", None)  # whether the stage cache served it is not a result
    result["config"] = config
    history = source.store.conn.execute("SELECT history FROM cell_history WHERE cell_id = ?", (ident,)).fetchone()
    result["history"] = json.loads(history[0]) if history else None
    return result


def _describe(result: dict[str, Any]) -> str:
    return f"{result['task']} {result['arch']} {result['pruner']}/{result['detector']} seed {result['seed']}"


def _difference(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str, str] | None:
    """The first result field where ``a`` and ``b`` differ, as (name, value in a, value in b)."""
    for name in RESULT_COLUMNS[:-1]:
        if a[name] != b[name] and not (a[name] != a[name] and b[name] != b[name]):  # NaN equals NaN here
            return name, repr(a[name]), repr(b[name])
    for metric in sorted(set(a["metrics"]) | set(b["metrics"])):
        if a["metrics"].get(metric) != b["metrics"].get(metric):
            return metric, repr(a["metrics"].get(metric)), repr(b["metrics"].get(metric))
    for key in sorted(set(a["config"]) | set(b["config"])):
        if a["config"].get(key) != b["config"].get(key):
            return f"config {key}", _short(a["config"].get(key)), _short(b["config"].get(key))
    if a["history"] != b["history"]:
        return "the pruning history", f"{len(a['history'] or [])} steps", f"{len(b['history'] or [])} steps (or other values)"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _write(sources: list[_Source], chosen: list[list[int]], out: Path, summary: MergeSummary) -> None:
    """Write the merged database to a temporary file beside ``out``, then rename it into place."""
    fd, name = tempfile.mkstemp(dir=out.parent if str(out.parent) else ".", prefix=f".{out.name}.", suffix=".merging")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # as an ordinary new file (mkstemp's is private)
    tmp = Path(name)
    try:
        dest = ResultsStore(tmp)
        try:
            runs = _runs(sources)
            insert_cell = f"INSERT INTO cells ({', '.join(_ROW_COLUMNS)}) VALUES ({', '.join('?' for _ in _ROW_COLUMNS)})"
            with dest.transaction() as cur:
                cur.executemany(f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in _RUN_COLUMNS)})",
                                [tuple(r[c] for c in _RUN_COLUMNS) for r in runs])
                for source, ids in zip(sources, chosen):
                    for row, history in _rows(source, sorted(ids)):
                        cur.execute(insert_cell, tuple(row[c] for c in _ROW_COLUMNS))
                        if history is not None:
                            cur.execute("INSERT INTO cell_history (cell_id, history) VALUES (?, ?)", (cur.lastrowid, history))
                    summary.kept[source.name] = len(ids)
            summary.runs = len(runs)
            dest.conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file to rename
        finally:
            dest.close()
        if out.exists():
            raise SculptbenchError(f"{out} appeared while merging; nothing was written: pass another -o path")
        os.replace(tmp, out)
    except sqlite3.Error as exc:
        raise SculptbenchError(f"cannot write {out} ({exc}); nothing was written: free some space or pass another -o path") from None
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)


def _runs(sources: list[_Source]) -> list[dict[str, Any]]:
    """Every run of every source, once; a run in several sources (a copied database) keeps its
    record that finished last."""
    runs: dict[str, dict[str, Any]] = {}
    for source in sources:
        for row in source.store.conn.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs"):
            record = dict(row)
            seen = runs.get(record["run_id"])
            if seen is None or (record["finished"] or 0.0) > (seen["finished"] or 0.0):
                runs[record["run_id"]] = record
    return sorted(runs.values(), key=lambda r: (r["started"], r["run_id"]))


def _rows(source: _Source, ids: list[int]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """The rows ``ids`` of a source with their pruning histories, a few hundred at a time."""
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        histories = dict(source.store.conn.execute(f"SELECT cell_id, history FROM cell_history WHERE cell_id IN ({marks})", chunk))
        for row in source.store.conn.execute(f"SELECT * FROM cells WHERE id IN ({marks}) ORDER BY id", chunk):
            yield dict(row), histories.get(row["id"])
