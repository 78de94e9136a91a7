"""Leaderboards from result cells: rows are pruner x detector, columns tasks or families.

The JSON form (``schema: sculptbench.leaderboard/1``) is stable; see ``docs/report-json.md``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

from tabulate import tabulate

from sculptbench.core import SculptbenchError
from sculptbench.store import Cell

JSON_SCHEMA = "sculptbench.leaderboard/1"
FORMATS = ("github", "latex", "csv", "json", "markdown", "plain")
COLUMN_MODES = ("auto", "task", "family", "task-depth", "family-depth", "depth")
#: Metrics read from cell columns rather than from scorer metrics.
CELL_METRICS = {"density": "density", "accuracy": "accuracy", "test_accuracy": "test_accuracy", "time": None}
DEFAULT_METRIC = "success"
SECONDARY = {"success": "input_ari"}


def resolve_metric(name: str, cells: Sequence[Cell]) -> str:
    """Map a short metric name (``success``) to its recorded name (``structure.success``)."""
    if name in CELL_METRICS:
        return name
    recorded = sorted({m for c in cells for m in c.metrics})
    if name in recorded:
        return name
    matches = [m for m in recorded if m.split(".", 1)[-1] == name]
    if matches:
        return matches[0]
    if not recorded:
        # No cell was scored (all untrainable or errors): name the metric after a recorded scorer.
        scorers = sorted({s for c in cells for s in c.versions.get("scorers", {})})
        if scorers and "." not in name:
            return f"{'structure' if 'structure' in scorers else scorers[0]}.{name}"
    valid = sorted(set(CELL_METRICS) | {m.split(".", 1)[-1] for m in recorded})
    raise SculptbenchError(f"unknown metric {name!r}; available: {', '.join(valid)}")


def metric_value(cell: Cell, metric: str) -> float | None:
    """A cell's value of ``metric`` as a float, or ``None`` when it has none.

    A cell whose dense network was untrainable counts as 0 for boolean metrics (it is not a
    success); errored cells have no value.
    """
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
    return float(value)


def column_of(cell: Cell, mode: str) -> str:
    """The leaderboard column a cell falls in."""
    short = cell.task.split("/", 1)[-1]
    if mode == "task":
        return short
    if mode == "family":
        return cell.family
    if mode == "task-depth":
        return f"{short} L{cell.depth}"
    if mode == "family-depth":
        return f"{cell.family} L{cell.depth}"
    if mode == "depth":
        return f"L{cell.depth}"
    raise SculptbenchError(f"invalid --columns {mode!r}; valid: {', '.join(COLUMN_MODES)}")


@dataclass
class Leaderboard:
    """A computed leaderboard: ``values[row][column]`` holds ``{"mean", "n", "secondary"}``."""

    metric: str
    secondary: str | None
    columns: list[str]
    rows: list[tuple[str, str]]
    values: dict[tuple[str, str], dict[str, dict[str, Any]]]
    data_sources: list[str]
    statuses: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form."""
        return {
            "schema": JSON_SCHEMA,
            "metric": self.metric,
            "secondary": self.secondary,
            "columns": self.columns,
            "data_sources": self.data_sources,
            "statuses": self.statuses,
            "rows": [
                {"pruner": p, "detector": d, "cells": {c: self.values[(p, d)].get(c) for c in self.columns}}
                for p, d in self.rows
            ],
        }


def build(cells: Sequence[Cell], metric: str = DEFAULT_METRIC, columns: str = "auto") -> Leaderboard:
    """Aggregate cells into a leaderboard of mean ``metric`` over seeds and architectures."""
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
    if columns == "auto":
        columns = "task" if len({c.task for c in cells}) <= 8 else "family"
    cols: list[str] = []
    rows: list[tuple[str, str]] = []
    buckets: dict[tuple[str, str], dict[str, list[Cell]]] = {}
    for cell in cells:
        col = column_of(cell, columns)
        row = (cell.pruner, cell.detector)
        if col not in cols:
            cols.append(col)
        if row not in rows:
            rows.append(row)
        buckets.setdefault(row, {}).setdefault(col, []).append(cell)
    values: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row, by_col in buckets.items():
        values[row] = {}
        for col, group in by_col.items():
            vals = [v for v in (metric_value(c, metric_name) for c in group) if v is not None]
            entry: dict[str, Any] = {"mean": sum(vals) / len(vals) if vals else None, "n": len(vals), "errors": sum(c.status == "error" for c in group)}
            if secondary_name:
                sec = [v for v in (metric_value(c, secondary_name) for c in group) if v is not None]
                entry["secondary"] = sum(sec) / len(sec) if sec else None
            values[row][col] = entry
    statuses: dict[str, int] = {}
    for cell in cells:
        statuses[cell.status] = statuses.get(cell.status, 0) + 1
    sources = sorted({str(c.config.get("data_source", "")) for c in cells} - {""})
    return Leaderboard(metric_name, secondary_name, sorted(cols, key=cols.index), sorted(rows), values, sources, dict(sorted(statuses.items())))


def _fmt(entry: dict[str, Any] | None) -> str:
    if not entry or entry["mean"] is None:
        return "-"
    text = f"{entry['mean']:.2f}"
    if entry.get("secondary") is not None:
        text += f" ({entry['secondary']:.2f})"
    return text


def render(board: Leaderboard, fmt: str = "github") -> str:
    """Render a leaderboard as ``github``, ``markdown``, ``plain``, ``latex``, ``csv`` or ``json``."""
    if fmt not in FORMATS:
        raise SculptbenchError(f"invalid --format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(board.to_json(), indent=2, sort_keys=True)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["pruner", "detector", "column", "metric", "mean", "n", "secondary", "secondary_mean"])
        for p, d in board.rows:
            for col in board.columns:
                e = board.values[(p, d)].get(col)
                if e:
                    writer.writerow([p, d, col, board.metric, _num(e["mean"]), e["n"], board.secondary or "", _num(e.get("secondary"))])
        return buf.getvalue()
    headers = ["pruner", "detector", *board.columns]
    table = [[p, d, *(_fmt(board.values[(p, d)].get(c)) for c in board.columns)] for p, d in board.rows]
    tablefmt = {"github": "github", "markdown": "pipe", "plain": "simple", "latex": "latex_booktabs"}[fmt]
    body = tabulate(table, headers=headers, tablefmt=tablefmt, disable_numparse=True)
    caption = f"{board.metric} (mean over seeds and architectures)"
    if board.secondary:
        caption += f", in parentheses mean {board.secondary}"
    n_values = sorted({e["n"] for r in board.values.values() for e in r.values()})
    caption += f"; n per cell: {', '.join(map(str, n_values))}"
    if board.data_sources:
        caption += f"; data: {', '.join(board.data_sources)}"
    caption += "; cells: " + ", ".join(f"{k} {v}" for k, v in board.statuses.items())
    if fmt == "latex":
        return f"% {caption}\n{body}"
    return f"{body}\n\n{caption}"


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.6g}"
