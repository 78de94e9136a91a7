"""What a leaderboard reads from cells: metric values (short names resolved, untrainable cells
counted or left out), bootstrap intervals, and the fields cells are grouped by."""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.work import Cell

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
LOWER_IS_BETTER = frozenset({"ged", "ged_raw", "density", "time", "ncut", "ncut_z", "ncut_percentile"})
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
