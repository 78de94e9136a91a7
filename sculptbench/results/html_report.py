"""``sculptbench report --format html -o FILE``: the leaderboard as one self-contained web page.

The page holds, for the headline metrics (:data:`HTML_METRICS`, those the database records, and
``--metric``): a table with one row per family x metric x pruner x detector (mean, 95% interval,
n, untrainable and errored cells, and the paired comparison with the family's best row), sortable
by any column and filtered by family, metric, pruner and detector; a bar chart per family and
metric; a card per pruner and detector (description, citation, options, from their declarations);
and per family x pruner x detector one of its networks, drawn from the stage cache. Style,
script and drawings are inline (a Content-Security-Policy forbids loading anything else), so the
page opens offline. The same database gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any, Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.work import Cell
from sculptbench.results import paired as paired_mod
from sculptbench.results import report
from sculptbench.results.cells import natural_key, resolve_metric
from sculptbench.results.html_assets import SCRIPT, STYLE
from sculptbench.results.html_networks import NetworkFigure
from sculptbench.results.html_svg import bar_chart

#: The metrics a page shows (those recorded), after ``--metric``.
HTML_METRICS = ("success", "input_ari", "output_ari", "ged", "density", "accuracy", "time")
GROUP_BY = "pruner,detector:family"
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
FILTERS = ("family", "metric", "pruner", "detector")
#: The table's columns: (header, data type, CSS class).
COLUMNS = (("family", "text", ""), ("metric", "text", ""), ("pruner", "text", ""), ("detector", "text", ""),
           ("mean", "number", "num"), ("95% interval", "number", "num"), ("n", "number", "num"),
           ("untrainable", "number", "num"), ("errors", "number", "num"), ("paired vs the family's best", "text", ""))


@dataclass
class Page:
    """What a page shows: a leaderboard per metric (rows pruner x detector, columns families), the
    metric selected at first, the method cards and the network drawings."""

    boards: list[report.Leaderboard]
    selected: str
    cards: list[dict[str, Any]]
    networks: dict[tuple, NetworkFigure]
    source: str
    version: str


def boards_for(cells: Sequence[Cell], metric: str, runs: Sequence[dict[str, Any]] | None, untrainable: str) -> tuple[list[report.Leaderboard], str]:
    """The page's leaderboards: ``metric`` first, then each of :data:`HTML_METRICS` the cells
    record; and the resolved name of ``metric``."""
    if not cells:
        raise SculptbenchError("no results to report; run `sculptbench run` first or pass another --results database")
    selected = resolve_metric(metric, cells)
    names = [selected]
    for name in HTML_METRICS:
        try:
            resolved = resolve_metric(name, cells)
        except SculptbenchError:
            continue
        if resolved not in names:
            names.append(resolved)
    return [report.build(cells, metric=m, group_by=GROUP_BY, runs=runs, untrainable=untrainable) for m in names], selected


def short(metric: str) -> str:
    """``structure.success`` -> ``success``."""
    return metric.split(".", 1)[-1]


# --------------------------------------------------------------------------- paired wording
_FROM_THE_ROW = {
    "beats": "below the best", "loses": "above the best on shared cells", "tie": "tie with the best",
    "not_significant": "not separated from the best", "no_shared_cells": "no cell shared with the best",
}


def paired_cell(board: report.Leaderboard, family: str, row: tuple) -> tuple[str, str, str]:
    """(text, verdict, details) of ``row``'s paired comparison with ``family``'s best row."""
    for fam in board.paired:
        if fam.family != family:
            continue
        if row == fam.best:
            return "best", "best", f"the best row of {family} by mean ({fam.mean:.3g} over {fam.n} cells)"
        for c in fam.comparisons:
            if c.row == row:
                text = _FROM_THE_ROW[c.verdict] + (f" (p={paired_mod.p_text(c.p)})" if c.p is not None and c.verdict != "tie" else "")
                details = (f"{paired_mod.row_label(fam.best)} against this row over {c.shared} shared cells: W-L-T {c.wins}-{c.losses}-{c.ties}, "
                           f"difference {paired_mod.diff_text(c)}, sign test p={paired_mod.p_text(c.p)}; verdict {c.verdict}")
                return text, c.verdict, details
    return "-", "", "no other row in this family"


# --------------------------------------------------------------------------- the page
def render(page: Page) -> str:
    """The whole page as text."""
    first = next(b for b in page.boards if b.metric == page.selected)
    statuses = ", ".join(f"{k} {v}" for k, v in first.statuses.items())
    head = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>sculptbench leaderboard: {escape(page.source)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n")
    meta = (f'<header><h1>sculptbench leaderboard</h1><p class="meta">database <code>{escape(page.source)}</code>; cells: {escape(statuses)}; '
            f"sculptbench {escape(page.version)}"
            + (f"; manifest sha256 <code>{first.manifest_sha256}</code>" if first.manifest_sha256 else "") + "</p>"
            '<nav><a href="#leaderboard">table</a><a href="#charts">charts</a><a href="#methods">methods</a>'
            '<a href="#networks">networks</a></nav></header>\n')
    body = [_table_section(page), _charts_section(page), _cards_section(page.cards), _networks_section(page.networks)]
    return head + meta + "\n".join(body) + f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n"


def _options(values: Sequence[str], selected: str = "") -> str:
    return '<option value="">all</option>' + "".join(
        f'<option value="{escape(v)}"{" selected" if v == selected else ""}>{escape(v)}</option>' for v in values)


def _table_rows(page: Page) -> list[tuple[dict[str, str], str]]:
    """(filter values, row HTML) of every entry of every board."""
    out = []
    for board in page.boards:
        for family in board.columns:
            for row in board.rows:
                entry = board.entry(row, family)
                if entry is None:
                    continue
                keys = {"family": family, "metric": board.metric, "pruner": str(row[0]), "detector": str(row[1])}
                text, verdict, details = paired_cell(board, family, row)
                mean, ci = entry["mean"], entry["ci"]
                cells = [f"<td>{escape(keys['family'])}</td>", f'<td data-value="{escape(board.metric)}">{escape(short(board.metric))}</td>',
                         f"<td>{escape(keys['pruner'])}</td>", f"<td>{escape(keys['detector'])}</td>",
                         f'<td class="num mean" data-value="{"" if mean is None else repr(mean)}">{"-" if mean is None else f"{mean:.2f}"}</td>',
                         f'<td class="num" data-value="{"" if ci is None else repr(ci[0])}">{"-" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"}</td>',
                         f'<td class="num">{entry["n"]}</td>', f'<td class="num">{entry["untrainable"]}</td>', f'<td class="num">{entry["errors"]}</td>',
                         f'<td class="verdict-{verdict}" title="{escape(details)}">{escape(text)}</td>']
                attrs = " ".join(f'data-{k}="{escape(v)}"' for k, v in keys.items())
                best = ' class="best"' if entry["best"] else ""
                out.append((keys, f"<tr {attrs}{best}>{''.join(cells)}</tr>"))
    return out


def _table_section(page: Page) -> str:
    rows = _table_rows(page)
    values = {f: sorted({k[f] for k, _ in rows}, key=natural_key) for f in FILTERS}
    selects = "".join(f'<label>{f}<select id="filter-{f}" data-filter="{f}">{_options(values[f], page.selected if f == "metric" else "")}</select></label>'
                      for f in FILTERS)
    header = "".join(f'<th data-type="{kind}"{f" class={css}" if css else ""}><button type="button">{escape(name)}</button></th>'
                     for name, kind, css in COLUMNS)
    first = next(b for b in page.boards if b.metric == page.selected)
    legend = report.caption(first).replace("bold = best per column", "bold = best in its family")
    return (f'<section id="leaderboard"><h2>Leaderboard</h2><div class="filters">{selects}<span id="shown" class="small"></span></div>'
            "<noscript><p class=\"note\">Sorting and filtering need JavaScript; every row is shown.</p></noscript>"
            f'<table id="board"><thead><tr>{header}</tr></thead><tbody>{"".join(html for _, html in rows)}</tbody></table>'
            f'<p class="note">{escape(legend)}</p>'
            f'<p class="note">{escape(paired_mod.legend(first.metric, first.row_fields, first.higher_is_better))}</p></section>')


def _charts_section(page: Page) -> str:
    figures = []
    for board in page.boards:
        for family in board.columns:
            bars = []
            for row in board.rows:
                entry = board.entry(row, family)
                if entry is None or entry["mean"] is None:
                    continue
                _, verdict, _ = paired_cell(board, family, row)
                bars.append({"label": paired_mod.row_label(row), "mean": entry["mean"], "ci": entry["ci"], "n": entry["n"],
                             "best": entry["best"], "note": {"best": "best", "beats": "beaten"}.get(verdict, ""), "row": row})
            if not bars:
                continue
            sign = 1.0 if board.higher_is_better else -1.0
            bars.sort(key=lambda b: (-sign * b["mean"], report.tuple_sort_key(b["row"])))
            svg = bar_chart(f"{family}: {short(board.metric)}", board.metric, bars, board.higher_is_better)
            figures.append(f'<figure class="chart" data-filtered data-family="{escape(family)}" data-metric="{escape(board.metric)}">{svg}'
                           f"<figcaption>mean and 95% interval per pruner / detector over the family's cells; dark: best; "
                           f"beaten: the best row beats it in the paired comparison</figcaption></figure>")
    return f'<section id="charts"><h2>Charts by family</h2><div class="charts">{"".join(figures)}</div></section>'


def _card(card: dict[str, Any]) -> str:
    kind, name = card["kind"], card["name"]
    title = f'<h3>{escape(name)} <span class="small">{escape(kind)}</span></h3>'
    if card.get("missing"):
        return f'<article class="card" id="{kind}-{escape(name)}">{title}<p class="note">{escape(card["missing"])}</p></article>'
    meta = f'<p class="small">version {escape(card.get("version", ""))}, package {escape(card.get("package", ""))}</p>'
    parts = [title, meta, f"<p>{escape(card.get('description') or '')}</p>"]
    if card.get("citation"):
        parts.append(f'<p class="small">cites: {escape(card["citation"])}</p>')
    own = [o for o in card.get("options", []) if not o.get("protocol")]
    protocol = [o["name"] for o in card.get("options", []) if o.get("protocol")]
    if own:
        rows = "".join(f"<tr><td><code>{escape(o['name'])}</code></td><td>{escape(str(o.get('type', '')))}</td>"
                       f"<td><code>{escape(str(o.get('default_text', '')))}</code></td><td>{escape(str(o.get('applies', '')))}</td>"
                       f"<td>{escape(str(o.get('help', '')))}</td></tr>" for o in own)
        parts.append("<table><thead><tr><th>option</th><th>accepts</th><th>default</th><th>applies when</th><th>description</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
    else:
        parts.append('<p class="small">No options of its own.</p>')
    if protocol:
        parts.append(f'<p class="small">Protocol options (every pruner): {escape(", ".join(protocol))}.</p>')
    return f'<article class="card" id="{kind}-{escape(name)}">{"".join(parts)}</article>'


def _cards_section(cards: Sequence[dict[str, Any]]) -> str:
    return f'<section id="methods"><h2>Methods</h2><div class="cards">{"".join(_card(c) for c in cards)}</div></section>'


def _networks_section(networks: dict[tuple, NetworkFigure]) -> str:
    figures = []
    for (family, pruner, detector), figure in networks.items():
        attrs = f'data-filtered data-family="{escape(family)}" data-pruner="{escape(pruner)}" data-detector="{escape(detector)}"'
        content = figure.svg if figure.svg is not None else f'<p class="note missing">{escape(figure.note)}</p>'
        figures.append(f'<figure class="network" {attrs}>{content}<figcaption>{escape(figure.caption)}</figcaption></figure>')
    return (f'<section id="networks"><h2>One network per family, pruner and detector</h2>'
            f'<p class="note">From the stage cache; units by layer, grouped and shaded by the detected modules; blue edges positive, '
            f'red negative.</p><div class="networks">{"".join(figures)}</div></section>')


def cards_for(cells: Sequence[Cell], describe: Any) -> list[dict[str, Any]]:
    """A card per pruner and detector of ``cells``: ``describe(kind, name)`` (a description as
    ``sculptbench list pruners NAME --json`` prints it), or a note when it is not installed."""
    out = []
    for kind, names in (("pruner", {c.pruner.split("[", 1)[0] for c in cells}), ("detector", {c.detector for c in cells})):
        for name in sorted(names, key=natural_key):
            try:
                out.append({"kind": kind, **describe(kind, name)})
            except (KeyError, SculptbenchError):
                out.append({"kind": kind, "name": name, "missing": f"{kind} {name} is not installed here: no description"})
    return out
