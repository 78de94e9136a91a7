"""One drawn network per (family, pruner, detector) of the HTML leaderboard, read from the stage
cache and never recomputed: a page of a large database must not train anything.

For each group, its finished (``ok``) cells are tried in order (task, depth, architecture, seed):
the cell's run is planned again (:func:`sculptbench.results.plot.network_group`, as ``plot --kind
network`` does), its prune key computed with the kernels the cell recorded, and the first network
the cache holds is drawn with the modules the cell recorded. When none is there, the page says so
and names the command that draws one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.work import Cell
from sculptbench.results.cells import natural_key
from sculptbench.results.store import ResultsStore

#: How many cells of a group are looked up in the cache before the group is declared missing.
TRIES_PER_GROUP = 4


@dataclass(frozen=True)
class NetworkFigure:
    """A group's drawing: ``svg`` and its ``caption``, or ``None`` and ``note`` saying why."""

    caption: str
    svg: str | None
    note: str = ""


def _group_key(cell: Cell) -> tuple[str, str, str]:
    return (cell.family, cell.pruner, cell.detector)


def _cell_order(cell: Cell) -> tuple:
    return (natural_key(cell.task), cell.depth, natural_key(cell.arch), cell.seed)


def full_cells(store: ResultsStore, keys: Sequence[str]) -> dict[str, tuple[int, Cell]]:
    """The latest row of each of ``keys``, complete (configuration and history), with its row id."""
    found: dict[str, tuple[tuple[float, int], dict[str, Any]]] = {}
    for start in range(0, len(keys), 500):
        chunk = list(keys[start:start + 500])
        query = f"SELECT * FROM cells WHERE cell_key IN ({', '.join('?' for _ in chunk)})"
        for row in store.conn.execute(query, chunk):
            item = dict(row)
            order = (item["created"], item["id"])
            if item["cell_key"] not in found or found[item["cell_key"]][0] < order:
                found[item["cell_key"]] = (order, item)
    out = {}
    for key, ((_, ident), item) in found.items():
        item = dict(item)
        item.pop("id")
        out[key] = (ident, store.cell_from_row(ident, item))
    return out


def network_figures(store: ResultsStore, cells: Sequence[Cell], registry: Any, cache_dir: str | Path,
                    shown_as: str | None = None) -> dict[tuple, NetworkFigure]:
    """(family, pruner, detector) -> its :class:`NetworkFigure`, for every group of ``cells``;
    ``shown_as`` names the cache in the page (default: ``cache_dir``)."""
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(_group_key(cell), []).append(cell)
    cache_root = Path(cache_dir)
    shown = shown_as or str(cache_root)
    out: dict[tuple, NetworkFigure] = {}
    ordered = sorted(groups, key=lambda k: tuple(natural_key(v) for v in k))
    if not cache_root.is_dir():
        for key in ordered:
            out[key] = NetworkFigure(_label(key), None, f"no stage cache at {shown}, so no network is drawn (nothing is recomputed)")
        return out
    from sculptbench.run.cache import StageCache

    cache = StageCache(str(cache_root))
    tried = {key: sorted((c for c in group if c.status == "ok"), key=_cell_order)[:TRIES_PER_GROUP] for key, group in groups.items()}
    full = full_cells(store, [c.cell_key for group in tried.values() for c in group])
    for key in ordered:
        out[key] = _figure(key, [full[c.cell_key] for c in tried[key] if c.cell_key in full], registry, cache, shown)
    return out


def _label(key: tuple) -> str:
    family, pruner, detector = key
    return f"{family}: {pruner} / {detector}"


def _figure(key: tuple, candidates: list[tuple[int, Cell]], registry: Any, cache: Any, shown: str) -> NetworkFigure:
    from sculptbench.contracts.types import Detection
    from sculptbench.results.html_svg import network_svg
    from sculptbench.results.plot import network_group
    from sculptbench.run import keys
    from sculptbench.run.cache import pruner_producer

    if not candidates:
        return NetworkFigure(_label(key), None, "no finished cell (all untrainable or failed): nothing to draw")
    problems: list[str] = []
    redefined = False  # a cell's task is registered now with another definition than its run's
    for ident, cell in candidates:
        try:
            group = network_group(cell, registry, warn=problems.append)
        except SculptbenchError as exc:
            problems.append(str(exc))
            continue
        redefined |= bool(cell.config.get("task_hash")) and group.task.definition_hash() != cell.config["task_hash"]
        pkey = keys.prune_key(group, cell.seed, cell.versions.get("kernels"))
        hit = cache.load_network(pkey, [group.task.n_inputs, *group.hidden, group.task.n_outputs],
                                 made_by=pruner_producer(group))
        if hit is None:
            continue
        network = hit[0]
        modules = cell.config.get("modules") or []
        detection = Detection(modules=[frozenset((int(u[0]), int(u[1])) for u in module) for module in modules])
        verdicts = ", ".join(f"{name.split('.', 1)[-1]} {_value(value)}" for name, value in sorted(cell.metrics.items())
                             if name.endswith(("success", "input_ari")))
        caption = (f"{_label(key)}: {cell.task} {cell.arch} seed {cell.seed} (cell {ident}); density {network.density():.3f}, "
                   f"{len(detection.modules)} modules" + (f"; {verdicts}" if verdicts else ""))
        return NetworkFigure(caption, network_svg(network, detection, group.task.input_names, group.task.output_names))
    first_id = candidates[0][0]
    note = (f"not in the stage cache at {shown} (looked up {len(candidates)} of its networks); nothing is recomputed here: "
            f"`sculptbench plot --kind network --cell-id {first_id} -o network.png` draws one")
    if problems:
        note += f" ({problems[0]})"
    if redefined:
        note += ("; a task registered differently from its run's (another MNIST profile?) is planned anew: set the run's task "
                 "options through their environment variables, e.g. SCULPTBENCH_MNIST_PROFILE=board, when writing the page")
    return NetworkFigure(_label(key), None, note)


def _value(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else json.dumps(value)
