"""The ground truth checked against the function: which inputs each output depends on, read from
the truth table, must be exactly the inputs its declared modules read (directly or through the
modules they use).

An output depends on input ``x`` when flipping ``x`` changes it on at least one row. That is the
function's own support: a gate that reads ``x`` but cancels it (``x XOR x``, a table whose
``ones`` ignore a column) does not count, so a module graph drawn from the wiring alone cannot
pass for a function it does not compute. Every Boolean task is checked when it loads: the
shipped ones, generated ones and any file a user writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np

from sculptbench.plugins.tasks.boolean.source import CircuitSpecError, _join

if TYPE_CHECKING:
    from sculptbench.api import GroundTruthModule


def functional_support(y: np.ndarray, n_inputs: int) -> list[frozenset[int]]:
    """Per output column of ``y`` (all ``2**n`` rows in binary order, input 0 most significant),
    the indices of the inputs it depends on: those whose flip changes it on some row."""
    rows, m = y.shape
    if rows != 2**n_inputs:
        raise ValueError(f"expected {2**n_inputs} rows for {n_inputs} inputs, got {rows}")
    depends = np.zeros((n_inputs, m), dtype=bool)
    for j in range(n_inputs):
        # Rows split by bit j: the halves of each block differ in input j alone (views, no copies).
        blocks = y.reshape(2**j, 2, 2 ** (n_inputs - 1 - j), m)
        depends[j] = (blocks[:, 0] != blocks[:, 1]).any(axis=(0, 1))
    return [frozenset(np.flatnonzero(depends[:, k]).tolist()) for k in range(m)]


def module_reach(modules: Iterable[GroundTruthModule]) -> dict[str, frozenset[str]]:
    """Per module, the inputs it reads directly or through the modules it uses (transitively)."""
    by_name = {m.name: m for m in modules}
    reach: dict[str, frozenset[str]] = {}

    def visit(name: str) -> frozenset[str]:
        if name not in reach:
            module = by_name[name]
            reach[name] = frozenset(module.reads).union(*(visit(u) for u in module.uses))
        return reach[name]

    for name in by_name:
        visit(name)
    return reach


def name_set(names: Iterable[str], order: Sequence[str]) -> str:
    """``{x1, x3}``: names in the order of ``order``."""
    rank = {x: i for i, x in enumerate(order)}
    return "{" + ", ".join(sorted(names, key=rank.__getitem__)) + "}"


def check_against_function(source: str, inputs: Sequence[str], outputs: Sequence[str], modules: Sequence[GroundTruthModule],
                           y: np.ndarray) -> None:
    """Refuse a module graph that contradicts the truth table ``y`` (one column per output).

    Raises :class:`CircuitSpecError` naming the first output whose support (from the truth
    table) differs from what its driving modules read, with the inputs missing or extra; or the
    first input that changes no output. (An input some output depends on is then read by a module:
    the output's modules read it.)
    """
    support = dict(zip(outputs, (frozenset(inputs[j] for j in s) for s in functional_support(y, len(inputs)))))
    reach = module_reach(modules)
    drivers: Mapping[str, list[str]] = {out: [m.name for m in modules if out in m.drives] for out in outputs}
    for out in outputs:
        needed = support[out]
        read = frozenset().union(*(reach[d] for d in drivers[out]))
        if needed == read:
            continue
        parts = []
        if needed - read:
            parts.append(f"missing {name_set(needed - read, inputs)}")
        if read - needed:
            parts.append(f"extra {name_set(read - needed, inputs)}: {out} does not change with them")
        raise CircuitSpecError(
            source, _join("outputs", out),
            f"module DAG contradicts the function: by its truth table {out} depends on inputs {name_set(needed, inputs)} "
            f"but its modules ({', '.join(drivers[out])}) read {name_set(read, inputs)} directly or through uses ({'; '.join(parts)})",
        )
    used = frozenset().union(*support.values())
    for i, x in enumerate(inputs):
        if x not in used:  # no module reads it, or the check above had found an output with it extra
            raise CircuitSpecError(source, _join("inputs", i),
                                   f"input {x!r} changes no output (by the truth table): remove it, or wire it into the function")
