"""The accuracy-versus-density trade-off of pruning methods (``sculptbench plot --kind tradeoff``).

Every pruned network keeps its operating points: each network its pruner trained on the way, with
its density and validation accuracy (``config["history"]``: the density search records every
network it tried, the iterative loop every step it took, accepted or not). This figure pools them
per method row (the pruner's label, e.g. ``snip[sparsest_modularity]``) and per task, over seeds
and architectures: the points fall in half-octave bins of density (density 1, 0.71, 0.5, 0.35,
...), and each curve joins the median density and median accuracy of its bins, with the
interquartile range of the accuracy shaded. Hollow markers are the networks the rows kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.work import Cell
from sculptbench.results import report
from sculptbench.results.plot import _pyplot, _save, check_output

#: Bins per halving of the density.
BINS_PER_OCTAVE = 2
#: The fewest operating points a curve should have (Blalock et al. 2020 ask for at least five).
MIN_POINTS = 5


@dataclass
class Curve:
    """One method's operating points on one task: every (density, accuracy) and the kept networks'."""

    points: list[tuple[float, float]] = field(default_factory=list)
    kept: list[tuple[float, float]] = field(default_factory=list)

    def binned(self) -> list[tuple[float, float, float, float]]:
        """Per non-empty half-octave bin, densest first: median density, median accuracy and the
        accuracy's lower and upper quartiles."""
        bins: dict[int, list[tuple[float, float]]] = {}
        for density, accuracy in self.points:
            bins.setdefault(round(-BINS_PER_OCTAVE * math.log2(density)), []).append((density, accuracy))
        out = []
        for _, members in sorted(bins.items()):
            accuracies = sorted(a for _, a in members)
            out.append((median(d for d, _ in members), median(accuracies), _quantile(accuracies, 0.25), _quantile(accuracies, 0.75)))
        return out


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values, linear between neighbours."""
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def operating_points(cells: Sequence[Cell]) -> dict[str, dict[str, Curve]]:
    """Task label -> method row -> its :class:`Curve`, from each pruned network once (cells that
    differ only in their detector share one network and its history)."""
    labels = report.task_labels(cells)
    seen: set[tuple] = set()
    curves: dict[str, dict[str, Curve]] = {}
    for cell in cells:
        network = (cell.task, cell.arch, cell.pruner, cell.seed, cell.run_id)
        if network in seen:
            continue
        seen.add(network)
        curve = curves.setdefault(labels[cell.task], {}).setdefault(cell.pruner, Curve())
        for step in cell.config.get("history") or []:
            point = _point(step.get("density"), step.get("accuracy")) if isinstance(step, dict) else None
            if point is not None:
                curve.points.append(point)
        if cell.status == "ok":
            kept = _point(cell.density, cell.accuracy)
            if kept is not None:
                curve.kept.append(kept)
    return {task: {row: c for row, c in rows.items() if c.points} for task, rows in curves.items() if any(c.points for c in rows.values())}


def _point(density: object, accuracy: object) -> tuple[float, float] | None:
    """``(density, accuracy)`` when both are finite numbers and the density is in (0, 1]."""
    try:
        d, a = float(density), float(accuracy)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return (d, a) if math.isfinite(d) and math.isfinite(a) and 0 < d <= 1 else None


def short_curves(curves: dict[str, dict[str, Curve]]) -> list[str]:
    """``"row on task (n points)"`` for each curve with fewer than :data:`MIN_POINTS` bins."""
    return [f"{row} on {task} ({len(curve.binned())})" for task, rows in curves.items() for row, curve in rows.items()
            if len(curve.binned()) < MIN_POINTS]


def plot_tradeoff(cells: Sequence[Cell], output: str | Path) -> tuple[Path, list[str]]:
    """Accuracy against density per method row, one panel per task (see the module docstring).

    Returns the file written and :func:`short_curves` (rows with fewer than five points, for a warning).
    """
    path = check_output(output)
    if not cells:
        raise SculptbenchError("no cells to plot; check the filters or run `sculptbench run` first")
    curves = operating_points(cells)
    if not curves:
        raise SculptbenchError("no cell has operating points (a pruning history with density and accuracy); "
                               "they are written by sculptbench 0.2 and later for every pruner but published")
    plt = _pyplot()
    tasks = sorted(curves, key=report.natural_key)
    rows = sorted({row for task in tasks for row in curves[task]}, key=report.natural_key)
    cols = 1 if len(tasks) == 1 else 2
    nrows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(6.2 * cols, 3.9 * nrows + 0.8), squeeze=False)
    cmap = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20")
    colors = {row: cmap(i % cmap.N) for i, row in enumerate(rows)}
    for ax, task in zip(axes.flat, tasks):
        for row, curve in sorted(curves[task].items(), key=lambda item: report.natural_key(item[0])):
            binned = curve.binned()
            xs, ys, lo, hi = ([b[i] for b in binned] for i in range(4))
            ax.plot(xs, ys, "-o", ms=3.5, lw=1.3, color=colors[row], label=f"{row} ({len(binned)} pts)")
            ax.fill_between(xs, lo, hi, color=colors[row], alpha=0.12, lw=0)
            if curve.kept:
                ax.scatter([d for d, _ in curve.kept], [a for _, a in curve.kept], s=28, facecolors="none",
                           edgecolors=[colors[row]], linewidths=0.9, zorder=3)
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_title(task, fontsize=10)
        ax.set_xlabel("density (log scale; sparser to the right)", fontsize=8)
        ax.set_ylabel("validation accuracy", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6.5, loc="lower left")
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    fig.suptitle("accuracy against density: median per half-octave bin over seeds and architectures\n"
                 "band: interquartile range; hollow markers: the networks kept", fontsize=9)
    fig.tight_layout()
    return _save(fig, path), short_curves(curves)
