"""The contract of a results database's rows: every field read from one is checked before it is
used (a database is data from disk: damaged, edited or someone else's, not the program's memory).

A bad field is one line naming the database, the row (a run's id; a cell's run and key) and the
field, raised as :class:`~sculptbench.contracts.errors.SculptbenchError` (exit status 2), never a
traceback. JSON fields must decode to the type their column holds (metrics: an object of score
values; timings: an object of seconds; config, versions, manifests: objects; a pruning history:
an array), nested at most :data:`MAX_JSON_DEPTH` levels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Iterable

from sculptbench.contracts.errors import SculptbenchError

#: Deepest nesting of arrays and objects accepted in a JSON field (real rows nest about 5 deep).
MAX_JSON_DEPTH = 32
#: The statuses a cell row may have.
CELL_STATUSES = frozenset({"ok", "untrainable", "error", "timeout"})
#: Text columns of a cell row, and those that may be NULL.
CELL_TEXT = ("run_id", "cell_key", "task", "family", "arch", "pruner", "detector", "status")
CELL_OPTIONAL_TEXT = ("error", "data_source", "task_parameters")
CELL_INTS = ("depth", "seed")
CELL_NUMBERS = ("density", "accuracy", "test_accuracy", "dense_accuracy")

_NUMBER = (int, float)
#: The columns a leaderboard reads of each cell row (after its ``id``), and the Python types SQLite
#: may return for each in a sound row (the JSON columns are checked when decoded).
SUMMARY_COLUMNS = ("run_id", "cell_key", "task", "family", "arch", "depth", "pruner", "detector", "seed", "status", "error",
                   "density", "accuracy", "test_accuracy", "dense_accuracy", "metrics", "timings", "versions", "created")
_TEXT, _MAYBE_TEXT, _MAYBE_NUMBER = (str,), (str, type(None)), (int, float, type(None))
_SUMMARY_TYPES = ((int,), _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, (int,), _TEXT, _TEXT, (int,), _TEXT, _MAYBE_TEXT,
                  _MAYBE_NUMBER, _MAYBE_NUMBER, _MAYBE_NUMBER, _MAYBE_NUMBER, _TEXT, _TEXT, _TEXT, _NUMBER)


class FieldProblem(Exception):
    """What is wrong with one field (the caller names the row; ``field``: which, when the check
    covers several)."""

    def __init__(self, why: str, field: str | None = None):
        super().__init__(why)
        self.field = field


def where_cell(path: Path | str, run_id: Any, cell_key: Any) -> str:
    """How a message names a cell row."""
    return f"results database {path}: run {_shown(run_id)}, cell {_shown(cell_key)}"


def where_run(path: Path | str, run_id: Any) -> str:
    """How a message names a run row."""
    return f"results database {path}: run {_shown(run_id)}"


def bad_field(where: str, field: str, why: str) -> SculptbenchError:
    """The one line for a bad field of the row ``where`` names."""
    return SculptbenchError(
        f"{where}: field {field} {why}; the database is damaged or was edited: restore a copy, or delete that row "
        "(`sculptbench runs --check` checks the whole file)"
    )


def checked(where: Callable[[], str], field: str, check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, with a :class:`FieldProblem` turned into :func:`bad_field`'s line."""
    try:
        return check(*args)
    except FieldProblem as exc:
        raise bad_field(where(), field, str(exc)) from None


# --------------------------------------------------------------------------- JSON fields
def decode(text: Any, kind: type, depth: int = MAX_JSON_DEPTH) -> Any:
    """``text`` decoded as JSON, which must be a ``kind`` (``dict`` or ``list``) nested at most
    ``depth`` levels; a :class:`FieldProblem` otherwise."""
    if not isinstance(text, str):
        raise FieldProblem(f"is {_kind_of(text)}, not JSON text")
    try:
        value = json.loads(text)
    except RecursionError:
        raise FieldProblem(f"is nested deeper than {depth} levels") from None
    except ValueError as exc:
        raise FieldProblem(f"is not valid JSON ({exc})") from None
    if not isinstance(value, kind):
        raise FieldProblem(f"is a JSON {_json_kind(value)}, not a JSON {_json_kind(kind())}")
    if too_deep(value, depth):
        raise FieldProblem(f"is nested deeper than {depth} levels")
    return value


def too_deep(value: Any, depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests arrays and objects more than ``depth`` levels (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > depth:
            return True
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return False


def metrics(text: Any) -> dict[str, Any]:
    """A cell's metrics: a JSON object of score values (``None``, a bool, an int or a float)."""
    value = decode(text, dict)
    for name, item in value.items():
        if not is_score_value(item):
            raise FieldProblem(f"holds {_shown(name)} = {_shown(item)}, which is not a score value (null, a bool or a number)")
    return value


def timings(text: Any) -> dict[str, Any]:
    """A cell's timings: a JSON object of seconds (numbers or null)."""
    value = decode(text, dict)
    for name, item in value.items():
        if item is not None and (isinstance(item, bool) or not isinstance(item, _NUMBER)):
            raise FieldProblem(f"holds {_shown(name)} = {_shown(item)}, which is not a number of seconds")
    return value


def is_score_value(value: Any) -> bool:
    """Whether ``value`` is what a metric may hold: ``None``, a bool, an int or a float."""
    return value is None or isinstance(value, (bool, int, float))


# --------------------------------------------------------------------------- rows
def summary_types_ok(row: tuple) -> bool:
    """Whether a leaderboard row (``id``, :data:`SUMMARY_COLUMNS`, then ``task_parameters`` and
    ``data_source``, or a legacy ``config``) has sound column types and status: the fast check of
    every row; :func:`check_cell_columns` then names what is wrong."""
    for value, kinds in zip(row, _SUMMARY_TYPES):
        if not isinstance(value, kinds):
            return False
    return row[10] in CELL_STATUSES and all(isinstance(value, _MAYBE_TEXT) for value in row[len(_SUMMARY_TYPES):])


def cell_columns(item: dict[str, Any]) -> None:
    """Check a cell row's plain columns (text, integers, numbers); a :class:`FieldProblem` names
    the first bad one."""
    for name in CELL_TEXT:
        if name in item and not isinstance(item[name], str):
            raise FieldProblem(f"is {_kind_of(item[name])}, not text", name)
    if "status" in item and item["status"] not in CELL_STATUSES:
        raise FieldProblem(f"is {_shown(item['status'])}, not one of {', '.join(sorted(CELL_STATUSES))}", "status")
    for name in CELL_OPTIONAL_TEXT:
        if item.get(name) is not None and not isinstance(item[name], str):
            raise FieldProblem(f"is {_kind_of(item[name])}, not text", name)
    for name in CELL_INTS:
        if name in item and (isinstance(item[name], bool) or not isinstance(item[name], int)):
            raise FieldProblem(f"is {_kind_of(item[name])}, not an integer", name)
    for name in CELL_NUMBERS:
        if item.get(name) is not None and not isinstance(item[name], _NUMBER):
            raise FieldProblem(f"is {_kind_of(item[name])}, not a number", name)
    if "created" in item and not isinstance(item["created"], _NUMBER):
        raise FieldProblem(f"is {_kind_of(item['created'])}, not a time", "created")


def check_cell_columns(path: Path | str, item: dict[str, Any]) -> None:
    """:func:`cell_columns`, raising the one line that names the cell and the field."""
    try:
        cell_columns(item)
    except FieldProblem as exc:
        raise bad_field(where_cell(path, item.get("run_id"), item.get("cell_key")), exc.field or "?", str(exc)) from None


def run_record(path: Path | str, item: dict[str, Any]) -> dict[str, Any]:
    """A run row with its JSON columns decoded and every field checked."""
    run_id = item.get("run_id")

    def where() -> str:
        return where_run(path, run_id)

    if not isinstance(run_id, str):
        raise bad_field(where(), "run_id", f"is {_kind_of(run_id)}, not text")
    for name, optional in (("command", False), ("status", False), ("executor", True)):
        if not (isinstance(item.get(name), str) or (optional and item.get(name) is None)):
            raise bad_field(where(), name, f"is {_kind_of(item.get(name))}, not text")
    for name, optional in (("started", False), ("finished", True)):
        value = item.get(name)
        if not ((isinstance(value, _NUMBER) and not isinstance(value, bool)) or (optional and value is None)):
            raise bad_field(where(), name, f"is {_kind_of(value)}, not a time")
    item["config"] = checked(where, "config", decode, item.get("config"), dict)
    item["manifest"] = checked(where, "manifest", decode, item.get("manifest"), dict)
    cli = item["config"].get("cli")
    if cli is not None and not isinstance(cli, dict):
        raise bad_field(where(), "config.cli", f"is a JSON {_json_kind(cli)}, not a JSON object")
    return item


def claim_row(path: Path | str, row: Any) -> None:
    """Check a row of the claims table (a claim names a process that may be signalled)."""
    key = row["cell_key"]
    for name, kind, what in (("cell_key", str, "text"), ("run_id", str, "text"), ("host", str, "text"), ("pid", int, "an integer")):
        value = row[name]
        if isinstance(value, bool) or not isinstance(value, kind) or (name == "pid" and value <= 0):
            raise bad_field(f"results database {path}: claim of cell {_shown(key)}", name, f"is {_kind_of(value)}, not {what}")


# --------------------------------------------------------------------------- wording
def _kind_of(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"a blob of {len(value)} bytes"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {_shown(value)}"
    return f"a {type(value).__name__}"


def _json_kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shown(value: Any) -> str:
    """A value from a database inside a message: quoted, shortened, control characters escaped."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > 60:
        text = text[:57] + "..."
    escaped = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return f"'{escaped}'" if isinstance(value, str) else escaped
