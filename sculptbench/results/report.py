# Over 500 lines because the leaderboard: grouping, bootstrap statistics and every output format render one Board, and the formats must agree.
"""Leaderboards from result cells: by default rows are pruner x detector and columns tasks or
families; ``--group-by ROWS:COLUMNS`` picks any cell fields or task parameters instead.

Every entry is the mean of a metric over the cells in its group, with a 95% percentile
bootstrap confidence interval and the number of cells, and how many of its cells were
untrainable (their dense network never learned the task). The JSON form
(``schema: sculptbench.leaderboard/3``) is stable; see ``docs/report-json.md`` and
``docs/reporting.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from tabulate import tabulate

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.work import Cell

JSON_SCHEMA = "sculptbench.leaderboard/3"
MANIFEST_SCHEMA = "sculptbench.manifests/1"
FORMATS = ("github", "latex", "csv", "json", "markdown", "plain")
COLUMN_MODES = ("auto", "task", "family", "task-depth", "family-depth", "depth")
#: How untrainable cells enter the entries (``--untrainable``): ``count`` them (as failures, 0, for
#: the boolean metrics; with their values for cell fields such as density), or ``exclude`` them.
UNTRAINABLE_MODES = ("count", "exclude")
#: ``sculptbench run`` warns when more than this fraction of a task's dense networks is untrainable.
UNTRAINABLE_WARN_FRACTION = 0.5
#: The group-by fields every cell has; task parameters (``cell.config["task_parameters"]``) add more.
CELL_FIELDS = ("task", "family", "depth", "arch", "pruner", "detector", "seed")
#: Metrics read from cell columns rather than from scorer metrics.
CELL_METRICS = {"density": "density", "accuracy": "accuracy", "test_accuracy": "test_accuracy", "time": None}
#: Metrics (by short name) for which a lower value is better; every other metric is higher-is-better.
LOWER_IS_BETTER = frozenset({"ged", "ged_raw", "density", "time"})
DEFAULT_METRIC = "success"
SECONDARY = {"success": "input_ari"}
#: Bootstrap settings: percentile interval of the mean, fixed RNG seed (deterministic output).
CI_LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
#: Values drawn per bootstrap block (see :func:`bootstrap_ci`).
_BOOTSTRAP_BLOCK = 1 << 20
#: Means closer than this count as tied for best (all are bold).
TIE_TOLERANCE = 1e-9

_COLUMN_MODE_FIELDS = {
    "task": ["task"], "family": ["family"], "task-depth": ["task", "depth"],
    "family-depth": ["family", "depth"], "depth": ["depth"],
}


# --------------------------------------------------------------------------- metrics
def _declared_metrics(scorer_names: Sequence[str]) -> list[str]:
    """The ``scorer.metric`` names that the installed scorers among ``scorer_names`` declare.

    ``structure`` comes first, so that a short name resolves to its metric.
    """
    from sculptbench.plugin.registry import (
        load_registry,  # only needed when no cell was scored
    )

    scorers = load_registry().scorers
    ordered = sorted(scorer_names, key=lambda n: (n != "structure", n))
    return [f"{n}.{metric}" for n in ordered if n in scorers for metric in scorers[n].metrics]


def resolve_metric(name: str, cells: Sequence[Cell]) -> str:
    """Map a short metric name (``success``) to its recorded name (``structure.success``)."""
    if name in CELL_METRICS:
        return name
    recorded = sorted({m for c in cells for m in c.metrics})
    if not recorded:
        # No cell was scored (all untrainable or errors): what the run's scorers declare stands in
        # for what they recorded; for scorers not installed here, name the metric after one of them.
        scorers = sorted({s for c in cells for s in c.versions.get("scorers", {})})
        recorded = _declared_metrics(scorers)
        if not recorded and scorers and "." not in name:
            return f"{'structure' if 'structure' in scorers else scorers[0]}.{name}"
    if name in recorded:
        return name
    matches = [m for m in recorded if m.split(".", 1)[-1] == name]
    if matches:
        return matches[0]
    valid = sorted(set(CELL_METRICS) | {m.split(".", 1)[-1] for m in recorded}) + recorded
    raise SculptbenchError(f"unknown metric {name!r}; available: {', '.join(valid)}")


def lower_is_better(metric: str) -> bool:
    """Whether a lower value of ``metric`` (short or ``scorer.metric`` name) is better."""
    return metric.split(".", 1)[-1] in LOWER_IS_BETTER


def metric_value(cell: Cell, metric: str, untrainable: str = "count") -> float | None:
    """A cell's value of ``metric`` as a float, or ``None`` when it has none.

    A cell whose dense network was untrainable counts as 0 for boolean metrics (it is not a
    success), unless ``untrainable`` is ``"exclude"`` (then it has no value for any metric);
    errored cells have no value.
    """
    if cell.status == "untrainable" and untrainable == "exclude":
        return None
    if metric == "time":
        return sum(cell.timings.values()) if cell.timings else None
    if metric in CELL_METRICS:
        value = getattr(cell, metric)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    if cell.status == "untrainable":
        return 0.0 if metric.endswith(("success", "separability", "grouping")) else None
    if cell.status != "ok":
        return None
    value = cell.metrics.get(metric)
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def bootstrap_ci(values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, level: float = CI_LEVEL,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """The percentile bootstrap confidence interval of the mean of ``values``.

    ``resamples`` resamples of ``len(values)`` values drawn with replacement, from a fresh
    ``numpy.random.default_rng(seed)`` on every call, so the interval depends only on the
    values (in their order) and never on what else was computed. ``None`` for no values; a
    single value (or all-equal values) gives a zero-width interval. The interval is widened to
    contain the sample mean should floating-point rounding put it a hair outside.
    """
    if len(values) == 0:
        return None
    import numpy as np

    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if len(arr) == 1 or bool(np.all(arr == arr[0])):
        return (float(arr[0]), float(arr[0]))
    rng = np.random.default_rng(seed)
    # Resample in blocks of rows (an even number, so numpy's 32-bit draws never straddle two
    # calls): memory stays about 16 MB whatever the group size, and the draws, hence the
    # interval, are exactly those of one (resamples x n) call.
    block = max(2, _BOOTSTRAP_BLOCK // len(arr))
    block += block % 2
    # 0/1 values (success rates): counting the ones of a boolean copy gives exactly the float
    # means (the sums are exact integers), at a fraction of the memory traffic.
    binary = arr.astype(bool) if bool(np.all((arr == 0) | (arr == 1))) else None

    def block_means(rows: int) -> np.ndarray:
        idx = rng.integers(0, len(arr), size=(rows, len(arr)))
        if binary is not None:
            return np.count_nonzero(binary[idx], axis=1) / len(arr)
        return arr[idx].mean(axis=1)

    means = np.concatenate([block_means(min(block, resamples - start)) for start in range(0, resamples, block)])
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = (float(x) for x in np.percentile(means, [tail, 100.0 - tail]))
    return (min(lo, mean), max(hi, mean))


# --------------------------------------------------------------------------- grouping
def task_parameter_names(cells: Iterable[Cell]) -> list[str]:
    """Every task parameter name stored in ``cells`` (``cell.config["task_parameters"]``), sorted."""
    return sorted({k for c in cells for k in (c.config.get("task_parameters") or {})} - set(CELL_FIELDS))


def valid_fields(cells: Sequence[Cell]) -> list[str]:
    """The group-by fields ``cells`` support: the cell fields, then their task parameters."""
    return [*CELL_FIELDS, *task_parameter_names(cells)]


MISSING = object()


def field_value(cell: Cell, name: str, task_labels: dict[str, str] | None = None) -> Any:
    """The value of group-by field ``name`` for ``cell`` (``MISSING`` if the cell lacks it).

    ``task`` is the task's short name (``bool/none`` -> ``none``) unless ``task_labels`` maps it.
    """
    if name == "task":
        return (task_labels or {}).get(cell.task, cell.task.split("/", 1)[-1])
    if name in CELL_FIELDS:
        return getattr(cell, name)
    return (cell.config.get("task_parameters") or {}).get(name, MISSING)


def task_labels(cells: Iterable[Cell]) -> dict[str, str]:
    """Task name -> label: the short name, or the full name when two tasks share a short name."""
    names = sorted({c.task for c in cells})
    shorts: dict[str, list[str]] = {}
    for n in names:
        shorts.setdefault(n.split("/", 1)[-1], []).append(n)
    return {n: (n.split("/", 1)[-1] if len(shorts[n.split("/", 1)[-1]]) == 1 else n) for n in names}


def parse_group_by(spec: str | None, columns: str, cells: Sequence[Cell]) -> tuple[list[str], list[str]]:
    """``"pruner,detector:task"`` -> (row fields, column fields).

    Without a ``:`` the spec names the row fields only and ``columns`` (a ``--columns`` mode)
    gives the column fields. ``None`` means rows ``pruner,detector``.
    """
    if columns not in COLUMN_MODES:
        raise SculptbenchError(f"invalid --columns {columns!r}; valid: {', '.join(COLUMN_MODES)}")
    if spec is None:
        rows_part, cols_part = "pruner,detector", None
    else:
        if spec.count(":") > 1:
            raise SculptbenchError(f"invalid --group-by {spec!r}; use ROWS:COLUMNS, e.g. pruner,detector:task or o:u")
        rows_part, _, cols_part = spec.partition(":") if ":" in spec else (spec, "", None)
    row_fields = [f.strip() for f in rows_part.split(",") if f.strip()]
    if cols_part is None:
        mode = columns
        if mode == "auto":
            mode = "task" if len({c.task for c in cells}) <= 8 else "family"
        col_fields = list(_COLUMN_MODE_FIELDS[mode])
    else:
        col_fields = [f.strip() for f in cols_part.split(",") if f.strip()]
    valid = valid_fields(cells)
    for f in [*row_fields, *col_fields]:
        if f not in valid:
            raise SculptbenchError(f"invalid --group-by field {f!r}; valid fields: {', '.join(valid)}")
    seen: set[str] = set()
    for f in [*row_fields, *col_fields]:
        if f in seen:
            raise SculptbenchError(f"invalid --group-by {spec!r}: field {f!r} is used twice; each field may appear once")
        seen.add(f)
    return row_fields, col_fields


def natural_key(value: Any) -> tuple:
    """Sort key: numbers numerically before strings; strings with embedded numbers naturally
    (``reuse-m2`` before ``reuse-m12``)."""
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, (int, float)):
        return (0, value, "")
    parts = re.split(r"(\d+)", str(value))
    return (1, 0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))


def tuple_sort_key(values: tuple) -> tuple:
    return tuple(natural_key(v) for v in values)


def column_label(fields: Sequence[str], values: Sequence[Any]) -> str:
    """A column label: values joined by spaces; depth as ``L2``, seed and task parameters as ``k=v``."""
    if not fields:
        return "all"
    parts = []
    for f, v in zip(fields, values):
        if f == "depth":
            parts.append(f"L{v}")
        elif f in CELL_FIELDS and f != "seed":
            parts.append(str(v))
        else:
            parts.append(f"{f}={v}")
    return " ".join(parts)


def column_of(cell: Cell, mode: str) -> str:
    """The leaderboard column a cell falls in under a ``--columns`` mode."""
    if mode not in _COLUMN_MODE_FIELDS:
        raise SculptbenchError(f"invalid --columns {mode!r}; valid: {', '.join(COLUMN_MODES)}")
    fields = _COLUMN_MODE_FIELDS[mode]
    return column_label(fields, [field_value(cell, f) for f in fields])


# --------------------------------------------------------------------------- manifests
def canonical_json(value: Any) -> str:
    """The canonical JSON text used for hashing: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def manifest_entries(cells: Sequence[Cell], runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct ``{"manifest", "config"}`` records of the runs that wrote ``cells``, sorted
    by their canonical JSON (so run ids, timestamps and order do not matter)."""
    involved = {c.run_id for c in cells}
    entries = {canonical_json({"config": r.get("config", {}), "manifest": r.get("manifest", {})})
               for r in runs if r["run_id"] in involved}
    return [json.loads(e) for e in sorted(entries)]


def manifest_hash(entries: Sequence[dict[str, Any]]) -> str:
    """``sha256`` (hex) of the canonical JSON of the manifest entries (a list)."""
    return hashlib.sha256(canonical_json(list(entries)).encode("ascii")).hexdigest()


def manifest_report(cells: Sequence[Cell], runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What ``sculptbench report --manifest`` prints: the hash and each involved run's record."""
    if not cells:
        raise SculptbenchError("no results to report; run `sculptbench run` first or pass another --results database")
    involved = {c.run_id for c in cells}
    counts: dict[str, int] = {}
    for c in cells:
        counts[c.run_id] = counts.get(c.run_id, 0) + 1
    records = [
        {"run_id": r["run_id"], "command": r.get("command"), "status": r.get("status"), "started": r.get("started"),
         "finished": r.get("finished"), "cells_reported": counts[r["run_id"]], "config": r.get("config", {}),
         "manifest": r.get("manifest", {})}
        for r in runs if r["run_id"] in involved
    ]
    entries = manifest_entries(cells, runs)
    return {"schema": MANIFEST_SCHEMA, "sha256": manifest_hash(entries), "runs": records}


# --------------------------------------------------------------------------- the leaderboard
@dataclass
class Leaderboard:
    """A computed leaderboard.

    ``values[row][column]`` holds ``{"mean", "n", "errors", "untrainable"}`` (and ``"secondary"``
    when there is a secondary metric); ``intervals[row][column]`` the bootstrap interval ``(low, high)`` or
    ``None``; ``best`` the (row, column) pairs that are best in their column. ``rows`` are tuples
    of the row fields' values, ``columns`` labels (``column_keys`` their field values).
    """

    metric: str
    secondary: str | None
    columns: list[str]
    rows: list[tuple]
    values: dict[tuple, dict[str, dict[str, Any]]]
    data_sources: list[str]
    statuses: dict[str, int]
    row_fields: list[str] = field(default_factory=lambda: ["pruner", "detector"])
    column_fields: list[str] = field(default_factory=lambda: ["task"])
    column_keys: list[tuple] = field(default_factory=list)
    intervals: dict[tuple, dict[str, tuple[float, float] | None]] = field(default_factory=dict)
    best: set[tuple[tuple, str]] = field(default_factory=set)
    higher_is_better: bool = True
    omitted: int = 0
    manifests: list[dict[str, Any]] | None = None
    untrainable: str = "count"

    @property
    def manifest_sha256(self) -> str | None:
        return None if self.manifests is None else manifest_hash(self.manifests)

    def entry(self, row: tuple, column: str) -> dict[str, Any] | None:
        """One entry with its interval and best flag, in the JSON layout (``None`` if empty)."""
        e = self.values.get(row, {}).get(column)
        if e is None:
            return None
        ci = self.intervals.get(row, {}).get(column)
        out = {"mean": e["mean"], "ci": None if ci is None else [ci[0], ci[1]], "n": e["n"], "errors": e["errors"],
               "untrainable": e["untrainable"], "best": (row, column) in self.best}
        if self.secondary is not None:
            out["secondary"] = e.get("secondary")
        return out

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (schema ``sculptbench.leaderboard/3``)."""
        return {
            "schema": JSON_SCHEMA,
            "metric": self.metric,
            "secondary": self.secondary,
            "higher_is_better": self.higher_is_better,
            "ci": {"method": "percentile bootstrap of the mean", "level": CI_LEVEL, "resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED},
            "row_fields": self.row_fields,
            "column_fields": self.column_fields,
            "columns": self.columns,
            "column_keys": [dict(zip(self.column_fields, k)) for k in self.column_keys],
            "data_sources": self.data_sources,
            "statuses": self.statuses,
            "untrainable": self.untrainable,
            "omitted": self.omitted,
            "manifest_sha256": self.manifest_sha256,
            "rows": [
                {"key": dict(zip(self.row_fields, row)), "cells": {c: self.entry(row, c) for c in self.columns}}
                for row in self.rows
            ],
        }


def build(cells: Sequence[Cell], metric: str = DEFAULT_METRIC, columns: str = "auto", group_by: str | None = None,
          runs: Sequence[dict[str, Any]] | None = None, untrainable: str = "count") -> Leaderboard:
    """Aggregate cells into a leaderboard of ``metric``: mean, bootstrap CI and n per group.

    ``group_by`` is ``"ROWS[:COLUMNS]"`` (comma-separated fields, see :func:`valid_fields`);
    without columns there, ``columns`` (a ``--columns`` mode) picks them. ``runs`` (from
    :meth:`ResultsStore.runs`) supplies the manifests hashed into the LaTeX and JSON forms.
    Cells lacking a task parameter named in ``group_by`` are left out (counted in ``omitted``).
    ``untrainable`` (:data:`UNTRAINABLE_MODES`) says whether untrainable cells enter the means;
    either way each entry counts them.
    """
    if untrainable not in UNTRAINABLE_MODES:
        raise SculptbenchError(f"invalid --untrainable {untrainable!r}; valid: {', '.join(UNTRAINABLE_MODES)}")
    if not cells:
        raise SculptbenchError("no results to report; run `sculptbench run` first or pass another --results database")
    metric_name = resolve_metric(metric, cells)
    secondary = SECONDARY.get(metric_name.split(".", 1)[-1])
    secondary_name = None
    if secondary:
        try:
            secondary_name = resolve_metric(secondary, cells)
        except SculptbenchError:
            secondary_name = None
    row_fields, col_fields = parse_group_by(group_by, columns, cells)
    labels = task_labels(cells)
    buckets: dict[tuple, dict[tuple, list[Cell]]] = {}
    kept: list[Cell] = []
    omitted = 0
    for cell in cells:
        rkey = tuple(field_value(cell, f, labels) for f in row_fields)
        ckey = tuple(field_value(cell, f, labels) for f in col_fields)
        if any(v is MISSING for v in (*rkey, *ckey)):
            omitted += 1
            continue
        kept.append(cell)
        buckets.setdefault(rkey, {}).setdefault(ckey, []).append(cell)
    if not kept:
        raise SculptbenchError(f"no cell has every --group-by field ({', '.join([*row_fields, *col_fields])}); valid fields: {', '.join(valid_fields(cells))}")
    rows = sorted(buckets, key=tuple_sort_key)
    ckeys = sorted({k for by_col in buckets.values() for k in by_col}, key=tuple_sort_key)
    label_of = {k: column_label(col_fields, k) for k in ckeys}
    if len(set(label_of.values())) != len(label_of):  # labels must be unique: fall back to repr-ish labels
        label_of = {k: " ".join(f"{f}={v}" for f, v in zip(col_fields, k)) for k in ckeys}
    values: dict[tuple, dict[str, dict[str, Any]]] = {}
    intervals: dict[tuple, dict[str, tuple[float, float] | None]] = {}
    for row in rows:
        values[row], intervals[row] = {}, {}
        for ckey, group in buckets[row].items():
            col = label_of[ckey]
            vals = [v for v in (metric_value(c, metric_name, untrainable) for c in group) if v is not None]
            entry: dict[str, Any] = {"mean": _mean(vals), "n": len(vals), "errors": sum(c.status in ("error", "timeout") for c in group),
                                     "untrainable": sum(c.status == "untrainable" for c in group)}
            if secondary_name:
                entry["secondary"] = _mean([v for v in (metric_value(c, secondary_name, untrainable) for c in group) if v is not None])
            values[row][col] = entry
            intervals[row][col] = bootstrap_ci(vals)
    higher = not lower_is_better(metric_name)
    best: set[tuple[tuple, str]] = set()
    for ckey in ckeys:
        col = label_of[ckey]
        scored = [(row, values[row][col]["mean"]) for row in rows if col in values[row] and values[row][col]["mean"] is not None]
        if len(scored) < 2:
            continue
        target = max(m for _, m in scored) if higher else min(m for _, m in scored)
        best |= {(row, col) for row, m in scored if abs(m - target) <= TIE_TOLERANCE}
    statuses: dict[str, int] = {}
    for cell in kept:
        statuses[cell.status] = statuses.get(cell.status, 0) + 1
    sources = sorted({str(c.config.get("data_source", "")) for c in kept} - {""})
    return Leaderboard(
        metric=metric_name, secondary=secondary_name, columns=[label_of[k] for k in ckeys], rows=rows, values=values,
        data_sources=sources, statuses=dict(sorted(statuses.items())), row_fields=row_fields, column_fields=col_fields,
        column_keys=ckeys, intervals=intervals, best=best, higher_is_better=higher, omitted=omitted,
        manifests=None if runs is None else manifest_entries(kept, runs), untrainable=untrainable,
    )


def _mean(values: Sequence[float]) -> float | None:
    if not values:
        return None
    import numpy as np

    return float(np.mean(np.asarray(values, dtype=float)))


# --------------------------------------------------------------------------- rendering
def _fmt_num(value: float) -> str:
    return f"{value:.2f}"


def format_entry(board: Leaderboard, row: tuple, column: str, bold: tuple[str, str] = ("", ""),
                 secondary: bool = False) -> str:
    """An entry as text: ``0.83 [0.58, 1.00] n=12`` (``-`` when it has no value), with
    ``(2 untrainable)`` after ``n`` when some of its cells were untrainable.

    ``bold`` wraps the mean of a best entry (e.g. ``("**", "**")``); ``secondary`` appends the
    secondary metric's mean, e.g. ``; input_ari 0.81``.
    """
    e = board.values.get(row, {}).get(column)
    if not e or e["mean"] is None:
        notes = [f"{e[k]} {k}" for k in ("errors", "untrainable") if e and e.get(k)]
        return "-" + (f" ({', '.join(notes)})" if notes else "")
    mean = _fmt_num(e["mean"])
    if (row, column) in board.best:
        mean = f"{bold[0]}{mean}{bold[1]}"
    ci = board.intervals.get(row, {}).get(column)
    text = f"{mean} [{_fmt_num(ci[0])}, {_fmt_num(ci[1])}] n={e['n']}" if ci else f"{mean} n={e['n']}"
    if e.get("untrainable"):
        text += f" ({e['untrainable']} untrainable)"
    if secondary and board.secondary and e.get("secondary") is not None:
        text += f"; {board.secondary.split('.', 1)[-1]} {_fmt_num(e['secondary'])}"
    return text


def caption(board: Leaderboard, secondary: bool = False) -> str:
    """The one-line legend printed under (or, for LaTeX, above) the table."""
    grouped = set(board.row_fields) | set(board.column_fields)
    pooled = [f for f in ("seed", "arch", "task", "pruner", "detector") if f not in grouped]
    text = (f"{board.metric}: mean [{int(CI_LEVEL * 100)}% percentile bootstrap CI, {BOOTSTRAP_RESAMPLES} resamples] "
            f"n=cells with a value, pooled over {', '.join(pooled) or 'nothing'}; "
            f"bold = best per column ({'higher' if board.higher_is_better else 'lower'} is better)")
    if secondary and board.secondary:
        text += f"; after ';' mean {board.secondary}"
    if board.statuses.get("untrainable"):
        if board.untrainable == "exclude":
            text += "; (k untrainable): cells whose dense network never learned the task, left out of n and the mean (--untrainable exclude)"
        else:
            text += ("; (k untrainable): cells whose dense network never learned the task, in n as failures (0) for success and its aspects"
                     " (--untrainable exclude leaves them out)")
    if board.omitted:
        text += f"; {board.omitted} cells without {'/'.join(f for f in (*board.row_fields, *board.column_fields) if f not in CELL_FIELDS)} left out"
    if board.data_sources:
        text += f"; data: {', '.join(board.data_sources)}"
    text += "; cells: " + ", ".join(f"{k} {v}" for k, v in board.statuses.items())
    return text


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))


def latex_escape(text: Any) -> str:
    """Escape LaTeX's special characters (``\\ & % $ # _ { } ~ ^``) for text mode."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], str(text))


def _row_header(board: Leaderboard) -> list[str]:
    return list(board.row_fields) or [""]


def _row_cells(board: Leaderboard, row: tuple) -> list[str]:
    return [str(v) for v in row] or ["all"]


def render(board: Leaderboard, fmt: str = "github", secondary: bool = False) -> str:
    """Render a leaderboard as ``github``, ``markdown``, ``plain``, ``latex``, ``csv`` or ``json``."""
    if fmt not in FORMATS:
        raise SculptbenchError(f"invalid --format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(board.to_json(), indent=2, sort_keys=True)
    if fmt == "csv":
        return _render_csv(board)
    if fmt == "latex":
        return _render_latex(board, secondary)
    marks = {"github": ("**", "**"), "markdown": ("**", "**"), "plain": ("", "*")}[fmt]
    headers = [*_row_header(board), *board.columns]
    table = [[*_row_cells(board, row), *(format_entry(board, row, c, marks, secondary) for c in board.columns)] for row in board.rows]
    tablefmt = {"github": "github", "markdown": "pipe", "plain": "simple"}[fmt]
    body = tabulate(table, headers=headers, tablefmt=tablefmt, disable_numparse=True)
    legend = caption(board, secondary)
    if fmt == "plain":
        legend = legend.replace("bold = best", "* = best")
    return f"{body}\n\n{legend}"


def _render_latex(board: Leaderboard, secondary: bool) -> str:
    lines = []
    if board.manifests is not None:
        lines.append(f"% sculptbench manifest sha256:{board.manifest_sha256}")
    lines.append("% " + caption(board, secondary).replace("bold = best", "\\textbf = best"))
    header = [latex_escape(h) for h in _row_header(board)] + [latex_escape(c) for c in board.columns]
    spec = "l" * len(_row_header(board)) + "r" * len(board.columns)
    lines += [f"\\begin{{tabular}}{{{spec}}}", "\\toprule", _latex_line(header), "\\midrule"]
    for row in board.rows:
        cells = [latex_escape(v) for v in _row_cells(board, row)]
        for col in board.columns:
            text = format_entry(board, row, col, ("\x00", "\x01"), secondary)
            cells.append(latex_escape(text).replace("\x00", "\\textbf{").replace("\x01", "}"))
        lines.append(_latex_line(cells))
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines)


def _latex_line(cells: list[str]) -> str:
    # A line starting with [ or * would be read as an argument of the previous line's \\.
    if cells and cells[0].startswith(("[", "*")):
        cells = ["{}" + cells[0], *cells[1:]]
    return " & ".join(cells) + " \\\\"


CSV_VALUE_COLUMNS = ("column", "metric", "mean", "ci_low", "ci_high", "n", "errors", "untrainable", "best", "secondary", "secondary_mean")


def _render_csv(board: Leaderboard) -> str:
    """Long form: one line per non-empty entry; numbers in full precision (``repr``), so
    ``float(text)`` gives back exactly the computed value; empty text means no value."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*board.row_fields, *board.column_fields, *CSV_VALUE_COLUMNS])
    for row in board.rows:
        for ckey, col in zip(board.column_keys, board.columns):
            e = board.values[row].get(col)
            if not e:
                continue
            ci = board.intervals[row].get(col)
            writer.writerow([
                *row, *ckey, col, board.metric, _num(e["mean"]), _num(ci[0] if ci else None), _num(ci[1] if ci else None),
                e["n"], e["errors"], e["untrainable"], int((row, col) in board.best), board.secondary or "", _num(e.get("secondary")),
            ])
    return buf.getvalue()


def _num(value: Any) -> str:
    return "" if value is None else repr(float(value))


def untrainable_warnings(cells: Sequence[Cell], planned_epochs: Mapping[str, Iterable[int]] | None = None) -> list[str]:
    """One warning per task most of whose dense networks were untrainable, with the fix.

    A network is one (arch, pruner, seed) of the task; it counts when its cells are ``ok`` or
    ``untrainable`` (errors say nothing about training). The epochs quoted in the fix come from
    the cells' configs, or from ``planned_epochs`` (task -> epochs of its planned groups) for
    cells read without their configs (:meth:`ResultsStore.summary_cells`).
    """
    nets: dict[str, dict[tuple, bool]] = {}
    epochs: dict[str, set[int]] = {task: set(values) for task, values in (planned_epochs or {}).items()}
    for c in cells:
        if c.status in ("ok", "untrainable"):
            nets.setdefault(c.task, {})[(c.arch, c.pruner, c.seed)] = c.status == "untrainable"
            value = (c.config.get("training") or {}).get("epochs")
            if isinstance(value, int):
                epochs.setdefault(c.task, set()).add(value)
    out = []
    for task, by_net in sorted(nets.items()):
        bad = sum(by_net.values())
        if bad and bad > UNTRAINABLE_WARN_FRACTION * len(by_net):
            now = max(epochs.get(task, set()), default=None)
            fix = f"train longer, e.g. --epochs {2 * now} (now {now})" if now else "train longer with --epochs"
            out.append(f"{bad} of {len(by_net)} dense networks of task {task} are untrainable (they never reached the accuracy threshold), "
                       f"so its cells count as failures, not as results of the method; {fix}, or use wider --arch")
    return out


def filter_tasks(cells: Sequence[Cell], selectors: Sequence[str]) -> list[Cell]:
    """Cells whose task matches a selector: a family, a task name, its short name or a glob."""
    import fnmatch

    def matches(cell: Cell, sel: str) -> bool:
        short = cell.task.split("/", 1)[-1]
        return sel in (cell.family, cell.task, short) or fnmatch.fnmatchcase(cell.task, sel) or fnmatch.fnmatchcase(short, sel)

    kept = [c for c in cells if any(matches(c, sel) for sel in selectors)]
    if not kept:
        raise SculptbenchError(f"--tasks {','.join(selectors)} matches no reported cell; families here: {', '.join(sorted({c.family for c in cells}))}")
    return kept
