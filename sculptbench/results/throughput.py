"""``sculptbench report --throughput``: cells per minute of compute per pruner (or per ``--group-by``
rows), from the timings each cell records.

A cell records the seconds its network took to prune (``prune``: training and pruning, as first
computed, even when a later run read the network from the stage cache), to detect and to score.
The cells of one network (its detectors) share its pruning, so a network's pruning time is split
evenly among the reported cells that share it: rows by pruner count each network once, and rows
by pruner x detector add up to the same total. ``cells per minute`` is 60 x cells / seconds, the
rate of one worker process (one thread); ``--jobs N`` runs about N times as many per minute of wall time.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Sequence

from tabulate import tabulate

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.hashing import canonical_json
from sculptbench.contracts.work import Cell
from sculptbench.results.cells import field_value, task_labels, tuple_sort_key, valid_fields
from sculptbench.results.store import ResultsStore

SCHEMA = "sculptbench.throughput/1"
FORMATS = ("github", "markdown", "plain", "csv", "json")
HEADERS = ("cells", "networks", "prune s", "detect s", "score s", "total s", "cells/min", "prune s/network")


@dataclass(frozen=True)
class Row:
    """One row's compute: its cells and networks, the seconds by stage (pruning shared out), and
    the mean pruning time of its networks (each in full)."""

    key: tuple
    cells: int
    networks: int
    prune: float
    detect: float
    score: float
    per_network: float

    @property
    def total(self) -> float:
        """Seconds of compute in all."""
        return self.prune + self.detect + self.score

    @property
    def per_minute(self) -> float | None:
        """Cells per minute of compute (``None`` when no time was recorded)."""
        return 60.0 * self.cells / self.total if self.total > 0 else None


@dataclass(frozen=True)
class Throughput:
    """The throughput view: one :class:`Row` per row key, and the cells left out (no timings)."""

    row_fields: list[str]
    rows: list[Row]
    untimed: int


def _network_identities(store: ResultsStore, keys: set[str]) -> dict[str, str]:
    """Cell key -> what identifies its pruned network apart from task, architecture, pruner and
    seed: the pruner's options, the training and the device (from the cell's configuration)."""
    out: dict[str, str] = {}
    for key, config in store.conn.execute("SELECT cell_key, config FROM cells"):
        if key in keys and key not in out:
            data = json.loads(config)
            out[key] = canonical_json([data.get("pruner_params"), data.get("training"), data.get("device")])
    return out


def build(store: ResultsStore, cells: Sequence[Cell], group_by: str | None = None, untrainable: str = "count") -> Throughput:
    """The throughput of ``cells`` (read from ``store``) by the rows of ``group_by`` (default ``pruner``)."""
    if not cells:
        raise SculptbenchError("no results to report; run `sculptbench run` first or pass another --results database")
    if group_by is not None and ":" in group_by:
        raise SculptbenchError(f"--throughput takes rows only: --group-by {group_by.split(':', 1)[0] or 'pruner'} (no ':COLUMNS')")
    row_fields = [f.strip() for f in (group_by or "pruner").split(",") if f.strip()]
    valid = valid_fields(cells)
    for name in row_fields:
        if name not in valid:
            raise SculptbenchError(f"invalid --group-by field {name!r}; valid fields: {', '.join(valid)}")
    timed = [c for c in cells if c.timings and not (untrainable == "exclude" and c.status == "untrainable")]
    identity = _network_identities(store, {c.cell_key for c in timed})
    labels = task_labels(timed)

    def network(cell: Cell) -> tuple:
        return (cell.task, cell.arch, cell.pruner, cell.seed, identity.get(cell.cell_key, cell.cell_key))

    sharing: dict[tuple, int] = {}
    for cell in timed:
        sharing[network(cell)] = sharing.get(network(cell), 0) + 1
    totals: dict[tuple, dict[str, Any]] = {}
    for cell in timed:
        key = tuple(field_value(cell, f, labels) for f in row_fields)
        row = totals.setdefault(key, {"cells": 0, "networks": {}, "prune": 0.0, "detect": 0.0, "score": 0.0})
        row["cells"] += 1
        row["networks"][network(cell)] = float(cell.timings.get("prune", 0.0))
        row["prune"] += float(cell.timings.get("prune", 0.0)) / sharing[network(cell)]
        row["detect"] += float(cell.timings.get("detect", 0.0))
        row["score"] += float(cell.timings.get("score", 0.0))
    rows = [Row(key, t["cells"], len(t["networks"]), t["prune"], t["detect"], t["score"], sum(t["networks"].values()) / len(t["networks"]))
            for key, t in sorted(totals.items(), key=lambda item: tuple_sort_key(item[0]))]
    return Throughput(row_fields, rows, len(cells) - len(timed))


def legend(view: Throughput) -> str:
    """The one-line legend under the table."""
    text = ("compute seconds recorded by the cells: a network's pruning (training included; its first computation, also when a run "
            "read it from the stage cache) split evenly among the cells that share it, plus each cell's detection and scoring; "
            "prune s/network: a network's pruning time in full, averaged over the row's networks; "
            "cells/min = 60 x cells / total s, for one worker process (--jobs N: about N times as many per minute of wall time)")
    if view.untimed:
        text += f"; {view.untimed} cells without timings (or untrainable, with --untrainable exclude) left out"
    return text


def _values(row: Row) -> list[Any]:
    return [row.cells, row.networks, row.prune, row.detect, row.score, row.total, row.per_minute, row.per_network]


def render(view: Throughput, fmt: str = "github") -> str:
    """The view as a text table (``github``, ``markdown``, ``plain``), ``csv`` or ``json``."""
    if fmt not in FORMATS:
        raise SculptbenchError(f"--throughput prints {', '.join(FORMATS)}; not --format {fmt}")
    if fmt == "json":
        return json.dumps({"schema": SCHEMA, "row_fields": view.row_fields, "untimed": view.untimed, "rows": [
            {"key": dict(zip(view.row_fields, r.key)), "cells": r.cells, "networks": r.networks,
             "seconds": {"prune": r.prune, "detect": r.detect, "score": r.score, "total": r.total},
             "cells_per_minute": r.per_minute, "prune_seconds_per_network": r.per_network} for r in view.rows]}, indent=2, sort_keys=True)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([*view.row_fields, "cells", "networks", "prune_s", "detect_s", "score_s", "total_s", "cells_per_minute",
                         "prune_s_per_network"])
        for r in view.rows:
            writer.writerow([*r.key, *("" if v is None else repr(v) if isinstance(v, float) else v for v in _values(r))])
        return buf.getvalue()
    table = [[*map(str, r.key), *(_text(v) for v in _values(r))] for r in view.rows]
    tablefmt = {"github": "github", "markdown": "pipe", "plain": "simple"}[fmt]
    body = tabulate(table, headers=[*view.row_fields, *HEADERS], tablefmt=tablefmt, disable_numparse=True)
    return f"{body}\n\n{legend(view)}"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}" if value >= 0.01 or value == 0 else f"{value:.2g}"
