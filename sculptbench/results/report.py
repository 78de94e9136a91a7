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
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from tabulate import tabulate

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.text import terminal_safe
from sculptbench.contracts.work import Cell
from sculptbench.results.cells import (  # noqa: F401 - COLUMN_MODES, natural_key, task_parameter_names: also read as report.*
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    CELL_FIELDS,
    CI_LEVEL,
    COLUMN_MODES,
    DEFAULT_METRIC,
    MISSING,
    SECONDARY,
    TIE_TOLERANCE,
    UNTRAINABLE_MODES,
    UNTRAINABLE_WARN_FRACTION,
    bootstrap_ci,
    column_label,
    field_value,
    lower_is_better,
    metric_value,
    natural_key,
    parse_group_by,
    resolve_metric,
    task_labels,
    task_parameter_names,
    tuple_sort_key,
    valid_fields,
)
from sculptbench.results import paired as paired_mod

JSON_SCHEMA = "sculptbench.leaderboard/3"
MANIFEST_SCHEMA = "sculptbench.manifests/1"
FORMATS = ("github", "latex", "csv", "json", "markdown", "plain")
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
    #: Each family's paired comparisons of the best row with the others (:mod:`.paired`).
    paired: list[paired_mod.FamilyComparisons] = field(default_factory=list)
    #: ``families[row][column]``: the families of the entry's cells (sorted).
    families: dict[tuple, dict[str, list[str]]] = field(default_factory=dict)

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
            "paired": {"method": paired_mod.method_json(self.row_fields), "families": [f.to_json(self.row_fields) for f in self.paired]},
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
    families: dict[tuple, dict[str, list[str]]] = {}
    for row in rows:
        values[row], intervals[row] = {}, {}
        for ckey, group in buckets[row].items():
            col = label_of[ckey]
            vals = [v for v in (metric_value(c, metric_name, untrainable) for c in group) if v is not None]
            entry: dict[str, Any] = {"mean": _mean(vals), "n": len(vals), "errors": sum(c.status in ("error", "timeout") for c in group),
                                     "untrainable": sum(c.status == "untrainable" for c in group)}
            families.setdefault(row, {})[col] = sorted({c.family for c in group})
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
        paired=paired_mod.compare({row: [c for group in buckets[row].values() for c in group] for row in rows}, metric_name, row_fields,
                                  higher, untrainable), families=families,
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


def render(board: Leaderboard, fmt: str = "github", secondary: bool = False, paired: bool = True) -> str:
    """Render a leaderboard as ``github``, ``markdown``, ``plain``, ``latex``, ``csv`` or ``json``;
    ``paired=False`` leaves the paired comparisons' table out of the text and LaTeX forms."""
    if fmt not in FORMATS:
        raise SculptbenchError(f"invalid --format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(board.to_json(), indent=2, sort_keys=True)
    if fmt == "csv":
        return _render_csv(board)
    if fmt == "latex":
        return _render_latex(board, secondary, paired)
    marks = {"github": ("**", "**"), "markdown": ("**", "**"), "plain": ("", "*")}[fmt]
    # Names come from a database: a cell shows them without terminal control sequences or line breaks.
    headers = [terminal_safe(str(h), one_line=True) for h in [*_row_header(board), *board.columns]]
    table = [[terminal_safe(str(v), one_line=True) for v in [*_row_cells(board, row), *(format_entry(board, row, c, marks, secondary) for c in board.columns)]]
             for row in board.rows]
    tablefmt = {"github": "github", "markdown": "pipe", "plain": "simple"}[fmt]
    body = tabulate(table, headers=headers, tablefmt=tablefmt, disable_numparse=True)
    legend = caption(board, secondary)
    if fmt == "plain":
        legend = legend.replace("bold = best", "* = best")
    text = f"{body}\n\n{legend}"
    rows = paired_mod.table_rows(board.paired) if paired else []
    if rows:
        comparisons = tabulate(rows, headers=list(paired_mod.TABLE_HEADERS), tablefmt=tablefmt, disable_numparse=True)
        text += f"\n\n{comparisons}\n\n{paired_mod.legend(board.metric, board.row_fields, board.higher_is_better)}"
    return text


def _render_latex(board: Leaderboard, secondary: bool, paired: bool = True) -> str:
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
    rows = paired_mod.table_rows(board.paired) if paired else []
    if rows:  # a second tabular: the paired comparisons, with their legend as a comment
        lines += ["", "% " + paired_mod.legend(board.metric, board.row_fields, board.higher_is_better),
                  f"\\begin{{tabular}}{{lll{'r' * (len(paired_mod.TABLE_HEADERS) - 4)}l}}", "\\toprule",
                  _latex_line([latex_escape(h) for h in paired_mod.TABLE_HEADERS]), "\\midrule"]
        lines += [_latex_line([latex_escape(c) for c in row]) for row in rows]
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
    writer.writerow([*board.row_fields, *board.column_fields, *CSV_VALUE_COLUMNS, *paired_mod.CSV_COLUMNS])
    for row in board.rows:
        for ckey, col in zip(board.column_keys, board.columns):
            e = board.values[row].get(col)
            if not e:
                continue
            ci = board.intervals[row].get(col)
            writer.writerow([
                *row, *ckey, col, board.metric, _num(e["mean"]), _num(ci[0] if ci else None), _num(ci[1] if ci else None),
                e["n"], e["errors"], e["untrainable"], int((row, col) in board.best), board.secondary or "", _num(e.get("secondary")),
                *_paired_csv(board, row, col),
            ])
    return buf.getvalue()


def _num(value: Any) -> str:
    return "" if value is None else repr(float(value))


def _paired_csv(board: Leaderboard, row: tuple, column: str) -> list[Any]:
    """The paired columns of an entry whose cells are all of one family (empty otherwise)."""
    families = board.families.get(row, {}).get(column, [])
    fields = paired_mod.csv_fields(board.paired, families[0] if len(families) == 1 else None, row)
    numbers = {"paired_diff", "paired_diff_low", "paired_diff_high", "paired_p"}
    return [_num(fields.get(c)) if c in numbers else fields.get(c, "") for c in paired_mod.CSV_COLUMNS]


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
