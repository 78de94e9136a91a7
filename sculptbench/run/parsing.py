"""Command-line text to values: ``--arch`` shapes, comma-separated names and ``--param`` items."""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.limits import ARCH_LIMIT, DEPTH_LIMIT

#: ``--arch paper``: the architectures the paper ran for each task (``sculptbench.paper``).
PAPER_ARCHS = "paper"
_SHAPE_RE = re.compile(r"^\s*\d+(\s*x\s*\d+)*\s*$")


def parse_shape(text: str) -> tuple[int, ...]:
    """``"24x24"`` -> ``(24, 24)``: widths joined by ``x``, the form of ``--arch`` and of a circuit
    file's ``archs``. :class:`ValueError` for other text; widths are checked by :func:`width_problem`."""
    if not _SHAPE_RE.match(text.lower()):
        raise ValueError(f"{text!r} is not widths joined by 'x'")
    return tuple(int(w) for w in text.lower().split("x"))


def width_problem(shape: Sequence[int]) -> str | None:
    """Why ``shape`` is not a valid hidden shape (every width in 1..ARCH_LIMIT, at most
    DEPTH_LIMIT hidden layers), or ``None``."""
    if len(shape) > DEPTH_LIMIT:
        return f"a network may have at most {DEPTH_LIMIT} hidden layers (this one has {len(shape):,})"
    if not shape or any(w < 1 or w > ARCH_LIMIT for w in shape):
        return f"every width must be between 1 and {ARCH_LIMIT}"
    return None


def parse_archs(text: str | None) -> list[tuple[int, ...]] | str | None:
    """Parse ``"24,24x24,36x36x36"`` into hidden shapes; ``None`` means the tasks' defaults and
    ``"paper"`` (:data:`PAPER_ARCHS`) the architectures the paper ran for each task."""
    if text is None:
        return None
    if not text.strip():
        raise SculptbenchError("invalid --arch ''; give hidden shapes like 24,24x24, or leave --arch out for each task's own")
    if text.strip().lower() == PAPER_ARCHS:
        return PAPER_ARCHS
    archs = []
    for part in text.split(","):
        part = part.strip()
        try:
            shape = parse_shape(part)
        except ValueError:
            raise SculptbenchError(f"invalid --arch {_short(part)}; use widths joined by 'x', e.g. 24x24, and commas between nets") from None
        problem = width_problem(shape)
        if problem:
            raise SculptbenchError(f"invalid --arch {_short(part)}; {problem}")
        archs.append(shape)
    return archs


def _short(text: str) -> str:
    """``text`` quoted for a one-line message, shortened when long."""
    return repr(text) if len(text) <= 60 else repr(text[:40]) + f"... ({len(text):,} characters)"


def split_names(text: str | Sequence[str] | None) -> list[str]:
    """Split a comma-separated option into names, dropping blanks and duplicates (order kept)."""
    if text is None:
        return []
    parts = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    out: list[str] = []
    for p in (p.strip() for p in parts):
        if p and p not in out:
            out.append(p)
    return out


def parse_params(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Parse ``--param COMPONENT.KEY=VALUE`` items into ``{component: {key: value}}`` (values as YAML)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise SculptbenchError(f"invalid --param {item!r}; use COMPONENT.KEY=VALUE, e.g. iterative.unit_step=30")
        lhs, value = item.split("=", 1)
        component, key = lhs.split(".", 1)
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            parsed = value
        parsed = _number(parsed)
        out.setdefault(component.strip(), {})[key.strip()] = parsed
    return out


_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _number(value: Any) -> Any:
    """``1e-3`` as a number: YAML 1.1 (PyYAML) reads an exponent without a dot as a string."""
    if isinstance(value, str) and _FLOAT_RE.match(value.strip()):
        return float(value)
    if isinstance(value, list):
        return [_number(v) for v in value]
    return value
