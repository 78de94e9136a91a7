"""Paired comparisons: in each task family, does the best row beat each other row on the cells
both have (the same task, architecture and seed)?

A row's cells are paired with another row's by everything that is not a row field among task,
architecture, seed, pruner and detector (with the default rows pruner x detector: task,
architecture and seed). Over the shared pairs the difference best - other (other - best for the
lower-is-better metrics, so that a positive difference always favours the best row) gets a paired
percentile bootstrap interval of its mean (:func:`sculptbench.results.cells.bootstrap_ci`, seeded)
and an exact two-sided sign test. The verdict rule is :func:`verdict`; ``docs/reporting.md``
("Paired comparisons") explains it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sculptbench.contracts.work import Cell
from sculptbench.results.cells import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    CI_LEVEL,
    TIE_TOLERANCE,
    bootstrap_ci,
    metric_value,
    natural_key,
    tuple_sort_key,
)

#: The fields that identify a cell apart from its row; those that are row fields are left out.
PAIR_FIELDS = ("task", "arch", "seed", "pruner", "detector")
#: The sign test's level: ``beats`` needs p below it (and the interval above zero).
ALPHA = 0.05
VERDICTS = ("beats", "loses", "tie", "not_significant", "no_shared_cells")
RULE = (f"beats when the sign test's p < {ALPHA:g} and the difference's interval lies above 0, loses when p < {ALPHA:g} and it "
        "lies below 0, tie when every shared cell is equal, no shared cells when there is none, else not significant")


@dataclass(frozen=True)
class Comparison:
    """The best row of a family against one other row, over the cells both have a value for.

    ``diff`` is the mean of best - other (other - best when lower is better), ``ci`` its paired
    bootstrap interval; ``wins``, ``losses`` and ``ties`` count the shared cells where the best
    row is better, worse or equal (within :data:`TIE_TOLERANCE`); ``p`` is the exact two-sided
    sign test over wins and losses (``None`` without shared cells).
    """

    row: tuple
    mean: float
    n: int
    shared: int
    wins: int
    losses: int
    ties: int
    diff: float | None
    ci: tuple[float, float] | None
    p: float | None
    verdict: str

    def to_json(self, row_fields: Sequence[str]) -> dict[str, Any]:
        """The JSON form (``paired.families[].comparisons[]`` in docs/report-json.md)."""
        return {"key": dict(zip(row_fields, self.row)), "mean": self.mean, "n": self.n, "shared": self.shared, "wins": self.wins,
                "losses": self.losses, "ties": self.ties, "diff": self.diff, "diff_ci": None if self.ci is None else list(self.ci),
                "p": self.p, "verdict": self.verdict}


@dataclass(frozen=True)
class FamilyComparisons:
    """One family's best row (highest mean, or lowest when lower is better; the first row in
    order among ties), its mean and n over the family, and its comparison with every other row
    that has a value there (one at least), best first."""

    family: str
    best: tuple
    mean: float
    n: int
    comparisons: tuple[Comparison, ...]

    def to_json(self, row_fields: Sequence[str]) -> dict[str, Any]:
        """The JSON form (``paired.families[]`` in docs/report-json.md)."""
        return {"family": self.family, "best": {"key": dict(zip(row_fields, self.best)), "mean": self.mean, "n": self.n},
                "comparisons": [c.to_json(row_fields) for c in self.comparisons]}


def sign_test(wins: int, losses: int) -> float:
    """The exact two-sided sign test: the probability, if wins and losses were equally likely, of
    a split at least as uneven as ``wins``:``losses`` (ties are left out before). 1.0 for 0:0."""
    n = wins + losses
    if n == 0:
        return 1.0
    term = tail = 1  # C(n, 0); then C(n, i + 1) = C(n, i) (n - i) / (i + 1), exactly in integers
    for i in range(min(wins, losses)):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, 2 * tail / 2 ** n)


def verdict(shared: int, wins: int, losses: int, p: float | None, ci: tuple[float, float] | None) -> str:
    """The verdict rule (:data:`RULE`): the sign test decides whether the rows differ, the
    bootstrap interval must agree on the direction; ``tie`` when no shared cell differs."""
    if shared == 0:
        return "no_shared_cells"
    if wins == 0 and losses == 0:
        return "tie"
    if p is not None and ci is not None and p < ALPHA:
        if ci[0] > 0:
            return "beats"
        if ci[1] < 0:
            return "loses"
    return "not_significant"


def _pair_values(by_row: Mapping[tuple, Sequence[Cell]], metric: str, row_fields: Sequence[str],
                 untrainable: str) -> dict[str, dict[tuple, dict[tuple, list[float]]]]:
    """family -> row -> pair key -> the row's values there, for the families with two rows or more."""
    pair_fields = [f for f in PAIR_FIELDS if f not in row_fields]
    rows_of: dict[str, set[tuple]] = {}
    for row, cells in by_row.items():
        for family in {cell.family for cell in cells}:
            rows_of.setdefault(family, set()).add(row)
    out: dict[str, dict[tuple, dict[tuple, list[float]]]] = {family: {} for family in rows_of}
    for row, cells in by_row.items():
        for cell in cells:
            if len(rows_of[cell.family]) < 2:
                continue
            value = metric_value(cell, metric, untrainable)
            if value is not None:
                key = tuple(getattr(cell, f) for f in pair_fields)
                out[cell.family].setdefault(row, {}).setdefault(key, []).append(value)
    return out


def _mean(values: Sequence[float]) -> float:
    return math.fsum(sorted(values)) / len(values)


def compare(by_row: Mapping[tuple, Sequence[Cell]], metric: str, row_fields: Sequence[str], higher_is_better: bool,
            untrainable: str = "count") -> list[FamilyComparisons]:
    """Each family's paired comparisons of ``metric`` (a resolved name), families in natural order.

    ``by_row`` holds the leaderboard's cells by row. A row with several cells at one pair key
    (e.g. two option settings of a pruner) enters with their mean there. A family with fewer than
    two rows with values is left out (nothing to compare).
    """
    by_family = _pair_values(by_row, metric, row_fields, untrainable)
    sign = 1.0 if higher_is_better else -1.0
    out = []
    for family in sorted(by_family, key=natural_key):
        per_row = {row: {key: _mean(vals) for key, vals in keys.items()} for row, keys in by_family[family].items()}
        if len(per_row) < 2:
            continue
        stats = {row: (_mean([v for vals in by_family[family][row].values() for v in vals]),
                       sum(len(vals) for vals in by_family[family][row].values())) for row in per_row}
        # Best first, then by mean (better first), rows in order among equal means.
        order = sorted(per_row, key=lambda r: (-sign * stats[r][0], tuple_sort_key(r)))
        best = order[0]
        comparisons = []
        for other in order[1:]:
            shared = sorted(set(per_row[best]) & set(per_row[other]))
            diffs = [sign * (per_row[best][k] - per_row[other][k]) for k in shared]
            wins = sum(d > TIE_TOLERANCE for d in diffs)
            losses = sum(d < -TIE_TOLERANCE for d in diffs)
            p = sign_test(wins, losses) if diffs else None
            ci = bootstrap_ci(diffs)
            comparisons.append(Comparison(
                row=other, mean=stats[other][0], n=stats[other][1], shared=len(diffs), wins=wins, losses=losses,
                ties=len(diffs) - wins - losses, diff=_mean(diffs) if diffs else None, ci=ci, p=p,
                verdict=verdict(len(diffs), wins, losses, p, ci),
            ))
        out.append(FamilyComparisons(family, best, stats[best][0], stats[best][1], tuple(comparisons)))
    return out


def method_json(row_fields: Sequence[str]) -> dict[str, Any]:
    """How the comparisons were made (``paired.method`` in the JSON form)."""
    return {"pairs": [f for f in PAIR_FIELDS if f not in row_fields], "difference": "best - other, sign flipped when lower is better",
            "ci": {"method": "paired percentile bootstrap of the mean difference", "level": CI_LEVEL,
                   "resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED},
            "test": "exact two-sided sign test over the shared cells that differ", "alpha": ALPHA, "rule": RULE}


# --------------------------------------------------------------------------- text forms
def row_label(row: tuple) -> str:
    """A row as one label: its field values joined by ``/`` (``all`` for the single row)."""
    return " / ".join(str(v) for v in row) or "all"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def p_text(p: float | None) -> str:
    """A sign-test p-value with three significant digits (``-`` without shared cells)."""
    return "-" if p is None else f"{p:.3g}"


def diff_text(c: Comparison) -> str:
    """``0.58 [0.25, 0.83]``: the mean difference and its interval (``-`` without shared cells)."""
    if c.diff is None or c.ci is None:
        return "-"
    return f"{_num(c.diff)} [{_num(c.ci[0])}, {_num(c.ci[1])}]"


TABLE_HEADERS = ("family", "best (mean)", "other (mean)", "shared", "W-L-T", "difference [95% CI]", "sign p", "verdict")


def table_rows(families: Sequence[FamilyComparisons]) -> list[list[str]]:
    """One text row per comparison, under :data:`TABLE_HEADERS`."""
    rows = []
    for fam in families:
        for c in fam.comparisons:
            rows.append([fam.family, f"{row_label(fam.best)} ({_num(fam.mean)})", f"{row_label(c.row)} ({_num(c.mean)})",
                         str(c.shared), f"{c.wins}-{c.losses}-{c.ties}", diff_text(c), p_text(c.p), c.verdict.replace("_", " ")])
    return rows


def legend(metric: str, row_fields: Sequence[str], higher_is_better: bool) -> str:
    """The one-line legend under the comparisons' table."""
    pairs = ", ".join(f for f in PAIR_FIELDS if f not in row_fields)
    direction = "best - other" if higher_is_better else "other - best (lower is better)"
    return (f"paired comparisons of {metric}: in each family the best row (by mean) against every other row, over the cells both have "
            f"(same {pairs}); W-L-T = shared cells where the best row is better, worse, equal; difference = {direction}: mean and "
            f"{int(CI_LEVEL * 100)}% paired percentile bootstrap CI ({BOOTSTRAP_RESAMPLES} resamples); sign p = exact two-sided sign test "
            f"over W+L; verdict: {RULE}")


def csv_fields(families: Sequence[FamilyComparisons], family: str | None, row: tuple) -> dict[str, Any]:
    """The paired columns of a CSV entry of ``row`` whose cells all belong to ``family`` (empty
    when ``family`` is ``None`` or has no comparisons): ``best`` for the family's best row."""
    for fam in families:
        if fam.family != family:
            continue
        if row == fam.best:
            return {"paired_family": family, "paired_verdict": "best"}
        for c in fam.comparisons:
            if c.row == row:
                return {"paired_family": family, "paired_vs": row_label(fam.best), "paired_shared": c.shared, "paired_wins": c.wins,
                        "paired_losses": c.losses, "paired_ties": c.ties, "paired_diff": c.diff,
                        "paired_diff_low": c.ci[0] if c.ci else None, "paired_diff_high": c.ci[1] if c.ci else None,
                        "paired_p": c.p, "paired_verdict": c.verdict}
    return {}


CSV_COLUMNS = ("paired_family", "paired_vs", "paired_shared", "paired_wins", "paired_losses", "paired_ties", "paired_diff",
               "paired_diff_low", "paired_diff_high", "paired_p", "paired_verdict")
