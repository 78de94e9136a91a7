"""Score the paper's own published Boolean networks and compare every figure cell with the paper.

The Neural Sculpting reference repository publishes the 1,499 pruned Boolean networks behind the
paper's figures, and one module-detection command per network (``shell/*/*.sh``). This bench reads a
user's checkout of it (never shipped with sculptbench: it has no licence), and for every command:

1. finds the network's files and our task (through the task's ``paper_name``), loads the weights and
   masks on the CPU (``sculptbench.plugins.pruners.published``);
2. checks the network's accuracy on our truth table;
3. runs our ``sculpting`` detector with the command's detection settings and our ``structure`` scorer;

then aggregates per figure cell as the paper does (exemplars: task x hidden layers; reuse: depth x m;
overlap: o x u for each of the three aspects; levels: depth x m), over the widths the paper's figures
use and the first command of each (task, architecture, seed), and prints paper vs ours per figure.

    python bench/paper_networks.py --reference-root DIR [--json PATH] [--jobs N] [--allow-missing] [--ours LABEL=DB ...]

``--ours LABEL=DB`` (repeatable) puts sculptbench results databases beside the paper's networks: per
figure cell, the paper's value / our scorer on the paper's networks / each database's rate (cells
of the same task and architecture, untrainable counted as failures), a count of the cells within
0.15 of the paper's networks, and per (task, arch) the median surviving hidden units per layer
(units in detected modules) and weights kept.

The last line is ``figure cells within 0.02 of the paper: N/114``. Exit status 2, with one error line,
for a missing or wrong DIR, missing files (unless ``--allow-missing``, which scores the rest and lists
them) or a corrupt ``.pth`` or mask.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Sequence

import torch
from tabulate import tabulate

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.plugin.registry import load_registry
from sculptbench.plugins.pruners.published import (
    ReferenceCommand, first_commands, load_network, read_commands, truth_table_accuracy,
)

#: Within this distance of the paper's value a figure cell counts as reproduced.
TOLERANCE = 0.02
#: ``--ours``: within this distance of our scorer on the paper's own networks a cell counts as matched.
OURS_TOLERANCE = 0.15
#: The paper's reported values (read from the published figures).
PAPER: dict[str, dict[Any, dict[Any, float]]] = {
    "exemplars": {
        1: {"bool/input-separable": 1.00, "bool/reused": 0.00, "bool/both": 1.00, "bool/none": 1.00},
        2: {"bool/input-separable": 1.00, "bool/reused": 1.00, "bool/both": 1.00, "bool/none": 1.00},
        3: {"bool/input-separable": 1.00, "bool/reused": 0.92, "bool/both": 1.00, "bool/none": 1.00},
    },
    "reuse": {
        1: {2: 0.00, 4: 0.00, 8: 0.00, 12: 0.00, 16: 0.00},
        2: {2: 0.58, 4: 0.92, 8: 1.00, 12: 1.00, 16: 1.00},
        3: {2: 0.67, 4: 0.75, 8: 0.83, 12: 0.83, 16: 0.92},
    },
    "overlap-input": {
        0: {1: 1.00, 2: 1.00, 4: 1.00, 6: 1.00, 8: 1.00},
        1: {1: 0.97, 2: 1.00, 4: 1.00, 6: 1.00, 8: 1.00},
        2: {1: 0.92, 2: 1.00, 4: 1.00, 6: 1.00, 8: 1.00},
        3: {1: 0.64, 2: 0.72, 4: 0.78, 6: 0.89, 8: 0.86},
        4: {1: 0.94, 2: 0.94, 4: 1.00, 6: 1.00, 8: 0.89},
    },
    "overlap-hidden": {
        0: {1: 1.00, 2: 1.00, 4: 1.00, 6: 1.00, 8: 1.00},
        1: {1: 1.00, 2: 1.00, 4: 1.00, 6: 1.00, 8: 1.00},
        2: {1: 1.00, 2: 1.00, 4: 1.00, 6: 1.00, 8: 1.00},
        3: {1: 0.00, 2: 0.00, 4: 0.03, 6: 0.06, 8: 0.06},
        4: {1: 0.00, 2: 0.00, 4: 0.06, 6: 0.17, 8: 0.17},
    },
    "overlap-output": {
        0: {1: 1.00, 2: 1.00, 4: 1.00, 6: 1.00, 8: 1.00},
        1: {1: 1.00, 2: 1.00, 4: 1.00, 6: 1.00, 8: 1.00},
        2: {1: 0.97, 2: 1.00, 4: 1.00, 6: 1.00, 8: 1.00},
        3: {1: 0.58, 2: 0.58, 4: 0.69, 6: 0.67, 8: 0.72},
        4: {1: 0.25, 2: 0.31, 4: 0.44, 6: 0.53, 8: 0.61},
    },
    "levels": {
        2: {4: 1.00, 8: 1.00, 12: 1.00, 16: 0.83},
        3: {4: 0.50, 8: 0.83, 12: 1.00, 16: 1.00},
        4: {4: 0.75, 8: 0.92, 12: 1.00, 16: 1.00},
    },
}
#: Per figure: (title, rows label, columns label, structure metric it reads, widths it pools).
FIGURES: dict[str, tuple[str, str, str, str, tuple[int, ...]]] = {
    "exemplars": ("Exemplars: success", "hidden layers", "task", "success", (24, 36, 48)),
    "reuse": ("Non-separable, increasing reuse: success", "hidden layers", "m", "success", (24, 36, 48)),
    "overlap-input": ("Input overlap: input separability, judged like the paper's drawings", "o", "u", "input_group_sizes", (24, 36, 48)),
    "overlap-hidden": ("Input overlap: hidden-unit separability", "o", "u", "hidden_separability", (24, 36, 48)),
    "overlap-output": ("Input overlap: output sub-function", "o", "u", "output_grouping", (24, 36, 48)),
    "levels": ("Increasing hierarchical levels: all modules found at the network's depth", "hidden layers", "m", "success_at_depth", (36, 48, 60)),
}
#: Secondary views printed beside a figure (not counted): (figure, title, metric).
ALSO = [("overlap-input", "Input overlap: input separability, strict (sculptbench's default)", "input_separability"),
        ("levels", "Increasing hierarchical levels: success against the whole hierarchy", "success")]


def figure_cells(family: str, hidden: Sequence[int], task: Any) -> list[tuple[str, Any, Any]]:
    """The (figure, row, column) cells a network of ``task`` at ``hidden`` counts in (none for widths
    a figure does not use); ``family`` is the published command's (the task's own for our cells)."""
    depth, width = len(hidden), hidden[0]
    params = dict(getattr(task, "task_parameters", {}))
    cells = []
    if family == "exemplars" and width in FIGURES["exemplars"][4]:
        cells.append(("exemplars", depth, task.name))
    if task.name in ("bool/reused",) or task.family == "reuse":
        m = params.get("m", 16)
        if width in FIGURES["reuse"][4]:
            cells.append(("reuse", depth, m))
    if task.family == "overlap" and width in FIGURES["overlap-input"][4]:
        cells += [(fig, params["o"], params["u"]) for fig in ("overlap-input", "overlap-hidden", "overlap-output")]
    if task.family == "levels" and width in FIGURES["levels"][4]:
        cells.append(("levels", depth, params["m"]))
    return [(fig, row, col) for fig, row, col in cells if col in PAPER[fig].get(row, {})]


def task_for(cmd: ReferenceCommand, tasks: dict[str, Any]) -> Any:
    """Our task for a command: same ``paper_name``, preferring the command's family."""
    matches = [t for t in tasks.values() if getattr(t, "paper_name", None) == cmd.paper_name]
    if not matches:
        raise SculptbenchError(f"no sculptbench task has paper_name {cmd.paper_name} ({cmd.script} line {cmd.line})")
    same = [t for t in matches if t.family == cmd.family]
    return (same or matches)[0]


# --------------------------------------------------------------------------- per network
_REGISTRY = None


def _registry():
    global _REGISTRY
    if _REGISTRY is None:
        torch.set_num_threads(1)
        _REGISTRY = load_registry(entry_points=False)
    return _REGISTRY


def open_network(cmd: ReferenceCommand, root: str) -> tuple[Any, Any, dict[str, Any], Any]:
    """(registry, our task, the record begun for ``cmd``, its network, or None when the files cannot
    be read: then ``record["error"]`` says why)."""
    registry = _registry()
    task = task_for(cmd, registry.tasks)
    record: dict[str, Any] = {"command": cmd.to_dict(), "task": task.name}
    try:
        return registry, task, record, load_network(cmd, root)
    except SculptbenchError as exc:
        record["error"] = str(exc)
        return registry, task, record, None


def score_network(cmd: ReferenceCommand, root: str) -> dict[str, Any]:
    """Load, check, detect and score one published network (in a worker)."""
    registry, task, record, net = open_network(cmd, root)
    if net is None:
        return record
    detector, scorer = registry.detectors["sculpting"], registry.scorers["structure"]
    t0 = time.perf_counter()
    detection = detector.detect(net, task, detector.resolve(cmd.detector_params()), cmd.seed)
    metrics = scorer.score(detection, net, task).metrics
    record.update(
        accuracy=truth_table_accuracy(net, task), density=net.density(), seconds=time.perf_counter() - t0,
        modules=[sorted(map(list, m)) for m in detection.modules], metrics=metrics,
        weights_kept=int(sum(int(m.sum()) for m in net.weight_masks)),
    )
    return record


def score_all(commands: Sequence[ReferenceCommand], root: str, jobs: int) -> list[dict[str, Any]]:
    """Every command's record, in command order."""
    if jobs <= 1:
        return [score_network(cmd, root) for cmd in commands]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(score_network, commands, [root] * len(commands), chunksize=16))


# --------------------------------------------------------------------------- aggregation
def aggregate(records: Sequence[dict[str, Any]], commands: Sequence[ReferenceCommand], tasks: dict[str, Any],
              metric_of: dict[str, str]) -> dict[str, dict[Any, dict[Any, list[bool]]]]:
    """Figure -> row -> column -> the verdicts of the networks in that cell (first command per key)."""
    chosen = {id(cmd) for cmd in first_commands(commands).values()}
    cells: dict[str, dict[Any, dict[Any, list[bool]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for cmd, rec in zip(commands, records):
        if id(cmd) not in chosen or "metrics" not in rec:
            continue
        for fig, row, col in figure_cells(cmd.family, cmd.hidden, tasks[rec["task"]]):
            cells[fig][row][col].append(bool(rec["metrics"].get(metric_of[fig])))
    return cells


def hidden_units_in_modules(modules: Sequence[Sequence[Sequence[int]]], depth: int) -> list[int]:
    """Units of each hidden layer that belong to a detected module: the surviving units."""
    counts = [0] * depth
    for module in modules:
        for layer, _ in module:
            if 1 <= layer <= depth:
                counts[layer - 1] += 1
    return counts


def our_cells(db: str, tasks: dict[str, Any], metric_of: dict[str, str]) -> tuple[dict, dict]:
    """Figure cells and network sizes of a sculptbench results database.

    Returns (figure -> row -> column -> verdicts, (task, arch) -> [(units per hidden layer,
    weights kept)]). Untrainable cells count as failures, as every published network counts in
    the paper; error and timeout cells are left out.
    """
    from sculptbench.results.store import ResultsStore

    cells: dict[str, dict[Any, dict[Any, list[bool]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    sizes: dict[tuple[str, str], list[tuple[list[int], int]]] = defaultdict(list)
    for cell in ResultsStore(db, create=False).cells():
        task = tasks.get(cell.task)
        if task is None or cell.status not in ("ok", "untrainable"):
            continue
        hidden = tuple(int(w) for w in cell.arch.split("x"))
        for fig, row, col in figure_cells(task.family, hidden, task):
            cells[fig][row][col].append(cell.status == "ok" and bool(cell.metrics.get(f"structure.{metric_of[fig]}")))
        if cell.status == "ok" and cell.density is not None:
            widths = (task.n_inputs, *hidden, task.n_outputs)
            n_weights = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
            units = hidden_units_in_modules(cell.config.get("modules", []), len(hidden))
            sizes[(cell.task, cell.arch)].append((units, round(cell.density * n_weights)))
    return cells, sizes


def paper_sizes(records: Sequence[dict[str, Any]], commands: Sequence[ReferenceCommand]) -> dict:
    """(task, arch) -> [(units per hidden layer, weights kept)] of the paper's networks (first command per key)."""
    chosen = {id(cmd) for cmd in first_commands(commands).values()}
    sizes: dict[tuple[str, str], list[tuple[list[int], int]]] = defaultdict(list)
    for cmd, rec in zip(commands, records):
        if id(cmd) in chosen and "metrics" in rec:
            arch = "x".join(map(str, cmd.hidden))
            sizes[(rec["task"], arch)].append((hidden_units_in_modules(rec["modules"], len(cmd.hidden)), rec["weights_kept"]))
    return sizes


def median_size(networks: Sequence[tuple[list[int], int]]) -> str:
    """``units per hidden layer / weights kept``, each the median over the networks."""
    if not networks:
        return "-"
    layers = len(networks[0][0])
    units = [statistics.median(n[0][i] for n in networks) for i in range(layers)]
    return "-".join(f"{u:g}" for u in units) + f" / {statistics.median(n[1] for n in networks):g}"


def chance_within(n_theirs: int, n_ours: int, rate: float, tolerance: float = OURS_TOLERANCE) -> float:
    """The chance that two cells of ``n_theirs`` and ``n_ours`` networks, each network a success
    with probability ``rate``, give rates within ``tolerance`` of each other (exact binomials)."""
    def pmf(n: int) -> list[float]:
        return [math.comb(n, k) * rate**k * (1 - rate) ** (n - k) for k in range(n + 1)]

    theirs, ours = pmf(n_theirs), pmf(n_ours)
    return sum(a * b for i, a in enumerate(theirs) for j, b in enumerate(ours)
               if abs(i / n_theirs - j / n_ours) <= tolerance + 1e-9)


@dataclasses.dataclass
class Agreement:
    """How one of ours compares with the paper's networks over figure cells."""

    within: int = 0  #: cells within OURS_TOLERANCE
    cells: int = 0  #: cells both have
    expected: float = 0.0  #: cells expected within, were ours drawn at the paper's networks' rates
    below: int = 0  #: cells outside the tolerance with ours below
    above: int = 0  #: cells outside the tolerance with ours above

    def add(self, other: "Agreement") -> None:
        """Add another figure's counts to these."""
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def resampled_agreement(cells: dict[str, dict[Any, dict[Any, list[bool]]]]) -> tuple[float, int]:
    """(expected cells, cells) over the family figures (reuse, overlap, levels): how many cells a
    second draw of as many networks, each a success at its cell's rate here, would put within
    :data:`OURS_TOLERANCE` of these rates. The ceiling chance leaves a faithful rerun."""
    expected, count = 0.0, 0
    for fig, rows in cells.items():
        if fig == "exemplars":
            continue
        for verdicts in (v for cols in rows.values() for v in cols.values() if v):
            expected += chance_within(len(verdicts), len(verdicts), sum(verdicts) / len(verdicts))
            count += 1
    return expected, count


def compare_ours(paper_nets: dict, ours: dict[str, dict], fig: str) -> tuple[list[list[str]], list[str], dict[str, Agreement]]:
    """Per cell: paper / our scorer on the paper's networks / each of ours; and per label, how
    its cells agree with the paper's networks (of the cells both have)."""
    cols = list(next(iter(PAPER[fig].values())))
    rows, counts = [], {label: Agreement() for label in ours}

    def verdicts(cells: dict, row: Any, col: Any) -> list[bool]:
        return cells.get(fig, {}).get(row, {}).get(col, [])

    for row, paper_row in PAPER[fig].items():
        line = [str(row)]
        for col in cols:
            their_verdicts = verdicts(paper_nets, row, col)
            theirs = sum(their_verdicts) / len(their_verdicts) if their_verdicts else None
            parts = [f"{paper_row[col]:.2f}", "-" if theirs is None else f"{theirs:.2f}"]
            for label, cells in ours.items():
                mine_verdicts = verdicts(cells, row, col)
                n = len(mine_verdicts)
                if not n:
                    parts.append("-")
                    continue
                mine = sum(mine_verdicts) / n
                off = theirs is not None and abs(mine - theirs) > OURS_TOLERANCE + 1e-9
                if theirs is not None:
                    agreement = counts[label]
                    agreement.within += not off
                    agreement.cells += 1
                    agreement.expected += chance_within(len(their_verdicts), n, theirs)
                    agreement.below += off and mine < theirs
                    agreement.above += off and mine > theirs
                parts.append(f"{mine:.2f} (n={n})" + (" *" if off else ""))
            line.append(" / ".join(parts))
        rows.append(line)
    return rows, [FIGURES[fig][1]] + [str(c) for c in cols], counts


def print_ours(records, commands, tasks, cells, ours_dbs: dict[str, str], metric_of: dict[str, str]) -> None:
    """The ``--ours`` section: per figure cell four (or more) values, then network sizes."""
    ours = {}
    sizes = {"paper's networks": paper_sizes(records, commands)}
    for label, db in ours_dbs.items():
        ours[label], sizes[label] = our_cells(db, tasks, metric_of)
    labels = " / ".join(ours)
    print(f"\n# Ours beside the paper's networks ({', '.join(f'{k}: {v}' for k, v in ours_dbs.items())})")
    print(f"paper / our scorer on the paper's networks / {labels}; * = more than {OURS_TOLERANCE} from the paper's networks")
    totals = {label: Agreement() for label in ours}
    families = {label: Agreement() for label in ours}
    for fig, (title, _, cols_label, metric, widths) in FIGURES.items():
        rows, headers, counts = compare_ours(cells, ours, fig)
        print(f"\n## {title} (`structure.{metric}`; columns: {cols_label})\n")
        print(tabulate(rows, headers=headers, tablefmt="github"))
        for label, agreement in counts.items():
            totals[label].add(agreement)
            if fig != "exemplars":
                families[label].add(agreement)
    print("\n## Median surviving units per hidden layer / weights kept, per (task, arch)\n")
    keys = sorted({key for label in ours for key in sizes[label]})
    print(tabulate([[task, arch, *(median_size(sizes[label].get((task, arch), [])) for label in sizes)] for task, arch in keys],
                   headers=["task", "arch", *sizes], tablefmt="github", disable_numparse=True))
    print()
    for label, total in totals.items():
        family = families[label]
        if family.cells:
            print(f"{label}: family cells (reuse, overlap, levels) within {OURS_TOLERANCE}: {family.within}/{family.cells} "
                  f"({family.within / family.cells:.0%}); expected {family.expected:.1f} ({family.expected / family.cells:.0%}) "
                  f"were ours drawn at the paper's networks' rates; outside: {family.below} below, {family.above} above")
        share = f" ({total.within / total.cells:.0%})" if total.cells else ""
        print(f"{label}: figure cells within {OURS_TOLERANCE} of our scorer on the paper's networks: {total.within}/{total.cells}{share}")


def compare(cells: dict[str, dict[Any, dict[Any, list[bool]]]], fig: str) -> tuple[list[list[str]], list[str], int, int]:
    """(table rows, headers, cells within tolerance, cells) of one figure."""
    cols = list(next(iter(PAPER[fig].values())))
    rows, good, total = [], 0, 0
    for row, paper_row in PAPER[fig].items():
        line = [str(row)]
        for col in cols:
            verdicts = cells.get(fig, {}).get(row, {}).get(col, [])
            paper = paper_row[col]
            if not verdicts:
                line.append(f"{paper:.2f} / - (n=0) *")
                total += 1
                continue
            ours = sum(verdicts) / len(verdicts)
            ok = abs(ours - paper) <= TOLERANCE + 1e-9
            good, total = good + ok, total + 1
            line.append(f"{paper:.2f} / {ours:.2f} (n={len(verdicts)})" + ("" if ok else " *"))
        rows.append(line)
    return rows, [FIGURES[fig][1]] + [str(c) for c in cols], good, total


def parse_ours(items: Sequence[str]) -> dict[str, str]:
    """``LABEL=DB`` options as {label: path}; each DB must be a sculptbench results database."""
    from sculptbench.results.store import ResultsStore

    out: dict[str, str] = {}
    for item in items:
        label, sep, db = item.partition("=")
        if not sep or not label or not db:
            raise SculptbenchError(f"invalid --ours {item!r}; write it as LABEL=DB, e.g. authors=grid.db")
        if label in out:
            raise SculptbenchError(f"--ours label {label!r} is given twice; give each database its own label")
        if not os.path.isfile(db):
            raise SculptbenchError(f"--ours {label}: no results database at {db}; run `sculptbench run --results {db} ...` first")
        ResultsStore(db, create=False)  # refuses a file that is not a results database, in one line
        out[label] = db
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference-root", required=True, help="a checkout of GitHub ShreyasMalakarjunPatil/Neural-Sculpting")
    ap.add_argument("--json", help="write the per-network and per-cell results to this file")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--allow-missing", action="store_true", help="score the networks whose files are there and list the rest")
    ap.add_argument("--ours", action="append", default=[], metavar="LABEL=DB",
                    help="also put a sculptbench results database beside every figure cell (repeatable), e.g. authors=grid.db")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        if args.jobs < 1:
            raise SculptbenchError(f"invalid --jobs {args.jobs}; it must be >= 1")
        ours_dbs = parse_ours(args.ours)
        root = args.reference_root
        commands = read_commands(root)
        tasks = _registry().tasks
        for cmd in commands:
            task_for(cmd, tasks)
        missing = [cmd for cmd in commands if not all(p.is_file() for p in cmd.files(root).values())]
        if missing and not args.allow_missing:
            first = next(p for p in missing[0].files(root).values() if not p.is_file())
            raise SculptbenchError(
                f"{len(missing)} of {len(commands)} published networks have missing files (first: {first}); "
                "complete the checkout, or pass --allow-missing to score the rest and list them"
            )
        records = score_all(commands, root, args.jobs)
        unreadable = [(cmd, rec["error"]) for cmd, rec in zip(commands, records) if "error" in rec]
        corrupt = [(cmd, err) for cmd, err in unreadable if not err.startswith("missing reference file")]
        if corrupt and not args.allow_missing:
            raise SculptbenchError(f"{len(corrupt)} published networks could not be read; first: {corrupt[0][1]}")
    except SculptbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    scored = [rec for rec in records if "metrics" in rec]
    print(f"# The paper's own networks: {len(commands)} Boolean detection commands in {root}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
          f"--jobs {args.jobs}")
    print(f"networks scored: {len(scored)}; missing or unreadable: {len(unreadable)}")
    for cmd, err in unreadable:
        print(f"  not scored: {cmd.script} line {cmd.line}: {err}")
    perfect = [rec for rec in scored if rec["accuracy"] >= 1.0]
    print(f"networks at 100% on our truth tables: {len(perfect)}/{len(scored)}")
    below = Counter((rec["task"], "x".join(map(str, rec["command"]["arch"][1:-1]))) for rec in scored if rec["accuracy"] < 1.0)
    for (task, arch), n in sorted(below.items()):
        print(f"  below 100%: {task} {arch}: {n}")
    metric_of = {fig: spec[3] for fig, spec in FIGURES.items()}
    cells = aggregate(records, commands, tasks, metric_of)
    good = total = 0
    per_cell: dict[str, Any] = {}
    for fig, (title, _, cols_label, metric, widths) in FIGURES.items():
        rows, headers, g, t = compare(cells, fig)
        good, total = good + g, total + t
        print(f"\n## {title} (`structure.{metric}`; columns: {cols_label}; widths {', '.join(map(str, widths))})")
        print("paper / ours (n networks); * = more than 0.02 off\n")
        print(tabulate(rows, headers=headers, tablefmt="github"))
        print(f"\n{fig}: {g}/{t} cells within {TOLERANCE}")
        per_cell[fig] = {str(r): {str(c): v for c, v in cols.items()} for r, cols in cells.get(fig, {}).items()}
    for fig, title, metric in ALSO:
        extra = aggregate(records, commands, tasks, {**metric_of, fig: metric})
        rows, headers, g, t = compare(extra, fig)
        print(f"\n## {title} (`structure.{metric}`; not counted)\n")
        print(tabulate(rows, headers=headers, tablefmt="github"))
        print(f"\n{fig} with {metric}: {g}/{t} cells within {TOLERANCE}")
    expected, family_cells = resampled_agreement(cells)
    if family_cells:
        print(f"\nfamily cells (reuse, overlap, levels) that a second draw of as many networks at these rates would put within "
              f"{OURS_TOLERANCE} of them: {expected:.1f}/{family_cells} expected ({expected / family_cells:.0%})")
    if ours_dbs:
        print_ours(records, commands, tasks, cells, ours_dbs, metric_of)
    elapsed = time.perf_counter() - t0
    print(f"\ntime: {elapsed:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"reference_root": str(root), "networks": records, "cells": per_cell,
                       "within": good, "cells_total": total, "seconds": elapsed}, fh, indent=1, default=str)
    print(f"figure cells within {TOLERANCE} of the paper: {good}/{total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
