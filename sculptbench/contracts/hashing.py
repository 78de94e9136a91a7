"""The one hash recipe: canonical JSON (sorted keys), then sha256, cut to a length per use.

Task definitions (16 hex digits), cell keys (20) and stage-cache keys (32) all hash this way, so
a value hashes the same wherever it appears. Values JSON lacks are converted by
:func:`json_default` (numpy/torch scalars to numbers, resolved options to their dict, sets and tuples to lists,
anything else to its ``str``); the results store writes its JSON columns with it too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def json_default(value: Any) -> Any:
    """A JSON stand-in for ``value``: a scalar's ``.item()``, a set's or tuple's list, else ``str``."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "as_dict"):  # resolved options (sculptbench.contracts.options.Options)
        return value.as_dict()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def canonical_json(obj: Any) -> str:
    """``obj`` as JSON with sorted keys (what :func:`digest` hashes)."""
    return json.dumps(obj, sort_keys=True, default=json_default)


def digest(obj: Any, length: int = 64) -> str:
    """The first ``length`` hex digits of the sha256 of ``obj``'s canonical JSON."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]
