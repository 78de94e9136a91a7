"""Figures from a results database (matplotlib, Agg backend): success bars like the paper's,
parameter sweeps, pruning curves, and the drawing of one sculpted network (the methods'
accuracy-versus-density trade-off is :mod:`sculptbench.results.tradeoff`).

Every function writes one file whose format follows its suffix (.png, .pdf or .svg) and
returns its path; user errors raise :class:`SculptbenchError` with a one-line message.
See ``docs/reporting.md``.
"""

from __future__ import annotations

import fnmatch
import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.work import Cell
from sculptbench.results import report
from sculptbench.results.store import ResultsStore

KINDS = ("bars", "sweep", "curve", "network", "tradeoff")
FORMATS = (".png", ".pdf", ".svg")
DPI = 150


# --------------------------------------------------------------------------- selection
def check_output(path: str | Path) -> Path:
    """``path`` as a Path, or an error if its suffix or directory is wrong."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise SculptbenchError(f"cannot plot to {path}: use a .png, .pdf or .svg file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise SculptbenchError(f"cannot plot to {path}: directory {parent} does not exist")
    return path


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _task_matches(task: str, selectors: Sequence[str]) -> bool:
    short = task.split("/", 1)[-1]
    return any(task == s or short == s or fnmatch.fnmatchcase(task, s) or fnmatch.fnmatchcase(short, s) for s in selectors)


def select(cells: Sequence[Cell], task: str | None = None, arch: str | None = None, pruner: str | None = None,
           detector: str | None = None, seed: int | None = None) -> list[Cell]:
    """The cells matching every given filter.

    ``task``, ``pruner``, ``detector`` and ``arch`` take comma-separated lists; a task matches
    by full name, short name (``none`` for ``bool/none``) or glob.
    """
    tasks, archs, pruners, detectors = _split(task), _split(arch), _split(pruner), _split(detector)
    return [
        c for c in cells
        if (not tasks or _task_matches(c.task, tasks)) and (not archs or c.arch in archs)
        and (not pruners or c.pruner in pruners) and (not detectors or c.detector in detectors)
        and (seed is None or c.seed == seed)
    ]


def describe_filters(**filters: Any) -> str:
    given = [f"--{k.replace('_', '-')} {v}" for k, v in filters.items() if v is not None]
    return " ".join(given) if given else "no filter"


def cell_id(store: ResultsStore, cell: Cell) -> int | None:
    """The database row id of ``cell`` (what ``--cell-id`` takes)."""
    row = store.conn.execute("SELECT id FROM cells WHERE run_id = ? AND cell_key = ?", (cell.run_id, cell.cell_key)).fetchone()
    return None if row is None else int(row[0])


def cell_by_id(store: ResultsStore, ident: int) -> Cell:
    """The cell stored in row ``ident`` of the cells table."""
    row = store.conn.execute("SELECT * FROM cells WHERE id = ?", (ident,)).fetchone()
    if row is None:
        top = store.conn.execute("SELECT MAX(id) FROM cells").fetchone()[0]
        raise SculptbenchError(f"no cell with id {ident} in {store.path}; ids run from 1 to {top or 0}")
    item = dict(row)
    item.pop("id")
    return store.cell_from_row(ident, item)


def one_network(store: ResultsStore, cells: Sequence[Cell], cell_ident: int | None = None, **filters: Any) -> Cell:
    """The single pruned network (task, arch, pruner, seed) that ``--cell-id`` or the filters name.

    Cells that differ only in their detector share the pruned network; the first is returned
    unless ``detector`` is given.
    """
    if cell_ident is not None:
        return cell_by_id(store, cell_ident)
    matched = select(cells, **filters)
    if not matched:
        raise SculptbenchError(f"no cells match {describe_filters(**filters)}; see `sculptbench report` for what the database holds")
    networks: dict[tuple, Cell] = {}
    for c in matched:
        networks.setdefault((c.task, c.arch, c.pruner, c.seed), c)
    if len(networks) > 1:
        listed = ", ".join(f"{c.task} {c.arch} {c.pruner} seed {c.seed} (id {cell_id(store, c)})" for c in list(networks.values())[:6])
        more = f", ... ({len(networks)} in all)" if len(networks) > 6 else ""
        given = describe_filters(**filters)
        lead = f"{given} matches {len(networks)} networks" if given != "no filter" else f"the results hold {len(networks)} networks"
        raise SculptbenchError(f"{lead}; pick one with --task/--arch/--pruner/--seed or --cell-id: {listed}{more}")
    return next(iter(networks.values()))


# --------------------------------------------------------------------------- helpers
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    fig.savefig(path, dpi=DPI, metadata=_metadata(path))
    plt.close(fig)
    return path


def _metadata(path: Path) -> dict[str, Any]:
    # No creation dates or software versions: the same data give the same file.
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}
    if suffix == ".svg":
        return {"Date": None, "Creator": None}
    return {"Software": None}


def _stats(cells: Sequence[Cell], metric: str) -> tuple[float, float, float, int] | None:
    """(mean, ci low, ci high, n) of ``metric`` over ``cells``, or ``None`` with no value."""
    vals = [v for v in (report.metric_value(c, metric) for c in cells) if v is not None]
    if not vals:
        return None
    lo, hi = report.bootstrap_ci(vals)
    return (sum(vals) / len(vals), lo, hi, len(vals))


def _panels(cells: Sequence[Cell]) -> list[tuple[str, str]]:
    return sorted({(c.pruner, c.detector) for c in cells}, key=report.tuple_sort_key)


def _metric_label(metric: str) -> str:
    short = metric.split(".", 1)[-1]
    return f"{short} ({'lower' if report.lower_is_better(metric) else 'higher'} is better)"


def _ylim(metric: str, ax: Any) -> None:
    if metric.split(".", 1)[-1] in ("success", "input_ari", "output_ari", "ged", "density", "accuracy", "test_accuracy",
                                    "input_separability", "hidden_separability", "output_grouping"):
        lo = min(0.0, ax.get_ylim()[0])
        ax.set_ylim(lo, max(1.05, ax.get_ylim()[1]))


# --------------------------------------------------------------------------- bars
def plot_bars(cells: Sequence[Cell], output: str | Path, metric: str = report.DEFAULT_METRIC) -> Path:
    """Mean ``metric`` per task (x), one bar per number of hidden layers, one panel per
    pruner x detector; error bars are the 95% bootstrap CI over seeds and architectures."""
    path = check_output(output)
    if not cells:
        raise SculptbenchError("no cells to plot; check the filters or run `sculptbench run` first")
    metric = report.resolve_metric(metric, cells)
    plt = _pyplot()
    labels = report.task_labels(cells)
    tasks = sorted({labels[c.task] for c in cells}, key=report.natural_key)
    depths = sorted({c.depth for c in cells})
    panels = _panels(cells)
    width = min(40.0, max(6.0, 1.5 + len(tasks) * (0.35 + 0.22 * len(depths))))
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 2.8 * len(panels) + 1.2), squeeze=False, sharex=True)
    cmap = plt.get_cmap("viridis")
    bar_w = 0.8 / len(depths)
    for ax, (pruner, detector) in zip(axes[:, 0], panels):
        in_panel = [c for c in cells if (c.pruner, c.detector) == (pruner, detector)]
        for j, depth in enumerate(depths):
            xs, heights, errs = [], [], [[], []]
            for i, task in enumerate(tasks):
                stats = _stats([c for c in in_panel if labels[c.task] == task and c.depth == depth], metric)
                if stats is None:
                    continue
                mean, lo, hi, _ = stats
                xs.append(i - 0.4 + bar_w * (j + 0.5))
                heights.append(mean)
                errs[0].append(max(mean - lo, 0.0))
                errs[1].append(max(hi - mean, 0.0))
            color = cmap(0.15 + 0.7 * j / max(len(depths) - 1, 1))
            ax.bar(xs, heights, bar_w * 0.95, yerr=errs, capsize=2, color=color, ecolor="black",
                   error_kw={"elinewidth": 0.8}, label=f"{depth} hidden layer{'s' if depth != 1 else ''}")
        ax.set_title(f"{pruner} / {detector}", fontsize=10)
        ax.set_ylabel(_metric_label(metric), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        _ylim(metric, ax)
    axes[0, 0].legend(fontsize=8, ncols=len(depths), loc="lower left", bbox_to_anchor=(0, 1.12), frameon=False)
    last = axes[-1, 0]
    last.set_xticks(range(len(tasks)))
    last.set_xticklabels(tasks, rotation=45 if len(tasks) > 4 else 0, ha="right" if len(tasks) > 4 else "center", fontsize=8)
    last.set_xlim(-0.6, len(tasks) - 0.4)
    fig.suptitle(f"{metric}: mean and 95% bootstrap CI", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- sweep
def _param(cell: Cell, name: str) -> Any:
    return (cell.config.get("task_parameters") or {}).get(name)


def default_lines(cells: Sequence[Cell], param: str) -> str:
    """The field that splits a sweep of ``param`` into lines: another task parameter that varies
    independently of ``param`` (e.g. ``o`` for ``u``), else ``depth``."""
    others = sorted({k for c in cells for k in (c.config.get("task_parameters") or {})} - {param})
    for other in others:
        by_value: dict[Any, set] = {}
        for c in cells:
            if other in (c.config.get("task_parameters") or {}):
                by_value.setdefault(json.dumps(_param(c, param)), set()).add(json.dumps(_param(c, other)))
        if any(len(v) > 1 for v in by_value.values()):
            return other
    return "depth"


def plot_sweep(cells: Sequence[Cell], output: str | Path, param: str, metric: str = report.DEFAULT_METRIC,
               lines: str | None = None) -> Path:
    """Mean ``metric`` (with 95% bootstrap CI) against task parameter ``param``, one line per
    value of ``lines`` (default: :func:`default_lines`), one panel per pruner x detector."""
    path = check_output(output)
    if not param:
        raise SculptbenchError("--kind sweep needs --param NAME, a task parameter such as u, o or m")
    if not cells:
        raise SculptbenchError("no cells to plot; check the filters or run `sculptbench run` first")
    swept = [c for c in cells if param in (c.config.get("task_parameters") or {})]
    if not swept:
        names = report.task_parameter_names(cells)
        raise SculptbenchError(f"no cell has task parameter {param!r}; parameters in these cells: {', '.join(names) or 'none'}")
    metric = report.resolve_metric(metric, cells)
    lines = lines or default_lines(swept, param)
    valid = [f for f in report.valid_fields(swept) if f != param]
    if lines not in valid:
        raise SculptbenchError(f"invalid --lines {lines!r}; valid fields: {', '.join(valid)}")
    labels = report.task_labels(swept)
    swept = [c for c in swept if report.field_value(c, lines, labels) is not report.MISSING]
    families = sorted({c.family for c in swept})
    xs_all = sorted({_param(c, param) for c in swept}, key=report.natural_key)
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs_all)
    position = {x: (float(x) if numeric else float(i)) for i, x in enumerate(xs_all)}
    plt = _pyplot()
    panels = _panels(swept)
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.5, 3.2 * len(panels) + 0.6), squeeze=False, sharex=True)
    line_keys = sorted({(c.family if len(families) > 1 else "", report.field_value(c, lines, labels)) for c in swept},
                       key=report.tuple_sort_key)
    cmap = plt.get_cmap("tab10")
    span = (max(position.values()) - min(position.values())) or 1.0
    dodge = 0.06 * span / max(len(line_keys), 1) if len(line_keys) > 1 else 0.0
    for ax, (pruner, detector) in zip(axes[:, 0], panels):
        in_panel = [c for c in swept if (c.pruner, c.detector) == (pruner, detector)]
        for k, (family, value) in enumerate(line_keys):
            members = [c for c in in_panel if (c.family if family else "") == family and report.field_value(c, lines, labels) == value]
            pts = []
            for x in xs_all:
                stats = _stats([c for c in members if _param(c, param) == x], metric)
                if stats is not None:
                    pts.append((position[x], *stats))
            if not pts:
                continue
            label = report.column_label([lines], [value])
            label = f"{family} {label}" if family else label
            shift = dodge * (k - (len(line_keys) - 1) / 2)  # keep overlapping error bars apart
            px, mean, lo, hi = [p[0] + shift for p in pts], [p[1] for p in pts], [p[2] for p in pts], [p[3] for p in pts]
            err = [[max(m - l, 0.0) for m, l in zip(mean, lo)], [max(h - m, 0.0) for m, h in zip(mean, hi)]]
            ax.errorbar(px, mean, yerr=err, marker="o", ms=4, capsize=3, lw=1.2, color=cmap(k % 10), label=label)
        ax.set_title(f"{pruner} / {detector}", fontsize=10)
        ax.set_ylabel(_metric_label(metric), fontsize=8)
        ax.grid(alpha=0.3)
        _ylim(metric, ax)
        ax.legend(fontsize=7, title=lines, title_fontsize=7, loc="best")
    last = axes[-1, 0]
    last.set_xticks([position[x] for x in xs_all])
    last.set_xticklabels([str(x) for x in xs_all])
    last.set_xlabel(f"task parameter {param}")
    fig.suptitle(f"{metric} against {param}: mean and 95% bootstrap CI", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- curve
def plot_curve(cell: Cell, output: str | Path, ident: int | None = None) -> Path:
    """The pruning curve of one run: accuracy against density over the iterations in
    ``cell.config["history"]``; accepted steps are dots joined in order, rejected ones crosses."""
    path = check_output(output)
    history = cell.config.get("history") or []
    name = f"cell {ident} " if ident is not None else "cell "
    where = f"{name}({cell.task} {cell.arch} {cell.pruner} seed {cell.seed}, status {cell.status})"
    if not history:
        raise SculptbenchError(f"{where} has no pruning history; it was written without one (an error before pruning, or an older sculptbench)")
    try:
        steps = [(str(h.get("phase", "?")), float(h["density"]), float(h["accuracy"]), bool(h.get("accepted"))) for h in history]
    except (KeyError, TypeError, ValueError):
        raise SculptbenchError(f"{where} has a malformed pruning history; each step needs density and accuracy") from None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    accepted = [(d, a) for _, d, a, ok in steps if ok]
    rejected = [(d, a) for _, d, a, ok in steps if not ok]
    if accepted:
        ax.plot([d for d, _ in accepted], [a for _, a in accepted], "-", color="0.6", lw=0.8, zorder=1)
    phases = list(dict.fromkeys(p for p, _, _, ok in steps if ok))
    cmap = plt.get_cmap("tab10")
    for k, phase in enumerate(phases):
        pts = [(d, a) for p, d, a, ok in steps if ok and p == phase]
        ax.scatter([d for d, _ in pts], [a for _, a in pts], s=22, color=cmap(k % 10), zorder=3, label=f"accepted ({phase})")
    if rejected:
        ax.scatter([d for d, _ in rejected], [a for _, a in rejected], s=26, marker="x", color="#c53030", zorder=2, label="rejected")
    threshold = (cell.config.get("pruner_info") or {}).get("threshold")
    if isinstance(threshold, (int, float)) and math.isfinite(threshold):
        ax.axhline(threshold, ls="--", lw=0.8, color="black", label=f"acceptance threshold {threshold:.3f}")
    log = min(d for _, d, _, _ in steps) > 0
    if log:
        ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel(f"density{' (log scale)' if log else ''}; pruning proceeds to the right")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower left")
    final = f", final density {cell.density:.3f}" if cell.density is not None else ""
    ax.set_title(f"{cell.task}  {cell.arch}  {cell.pruner}  seed {cell.seed}: {len(accepted)} accepted, {len(rejected)} rejected{final}", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- network
def network_group(cell: Cell, registry: Any, task: Any = None, device: str | None = None,
                  warn: Callable[[str], None] = lambda message: None) -> Any:
    """The one-seed :class:`sculptbench.run.planning.Group` that recomputes ``cell`` as its run did.

    Its task, architecture, pruner, detector and scorers with their stored parameters, training,
    device and seed; ``task`` is the cell's task when it came from a YAML file (``--task PATH.yaml``).
    Its prune key is the run's, so the stage cache serves the network the run scored.
    """
    from sculptbench.contracts.types import TrainingConfig
    from sculptbench.run import planning

    if task is None:
        if cell.task in registry.tasks:
            task = registry.tasks[cell.task]
        else:  # a task a source makes from its name, e.g. a generated circuit
            source = registry.task_source_for(cell.task)
            if source is None:
                raise SculptbenchError(f"task {cell.task!r} of the cell is not registered; if it came from a circuit file, pass it with --task PATH.yaml")
            task = source.load(cell.task)
    if cell.config.get("task_hash") and task.definition_hash() != cell.config["task_hash"]:
        warn(f"task {cell.task} has changed since the cell was computed; the drawing shows the current definition")
    try:
        hidden = tuple(int(w) for w in cell.arch.split("x")) if cell.arch not in ("", "-") else ()
    except ValueError:
        raise SculptbenchError(f"cannot read the cell's architecture {cell.arch!r}") from None
    training = cell.config.get("training") or task.training.__dict__
    TrainingConfig(**training).validate()
    scorers = sorted({name.split(".")[0] for name in cell.metrics if "." in name and name.split(".")[0] in registry.scorers}) or ["structure"]
    # A pruner's label may carry its selection rule, e.g. iterative[oracle] (Pruner.label).
    pruner = cell.pruner.split("[", 1)[0]
    spec = planning.RunSpec(
        tasks=[task], pruners=[pruner], detectors=[cell.detector], scorers=scorers, seeds=[cell.seed], archs=[hidden],
        params={pruner: dict(cell.config.get("pruner_params") or {}), cell.detector: dict(cell.config.get("detector_params") or {}),
                **{name: dict(options) for name, options in (cell.config.get("scorer_params") or {}).items() if name in scorers}},
        training_overrides=dict(training), device=planning.resolve_device(device or cell.config.get("device") or "cpu"),
    )
    (group,) = planning.plan(registry, spec)
    return group
