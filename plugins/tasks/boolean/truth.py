"""A circuit's truth table: what evaluating it costs, checked before any array is built, and the
evaluation itself (numpy, one boolean column per wire)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from sculptbench.plugins.tasks.boolean.spec import CircuitSpec, Gate


# --------------------------------------------------------------------------- evaluation
_GATE_UFUNCS = {"and": np.logical_and, "nand": np.logical_and, "or": np.logical_or, "nor": np.logical_or,
                "xor": np.logical_xor, "xnor": np.logical_xor}


def _last_readers(gates: Sequence[Gate]) -> dict[str, int]:
    """Wire -> index of the last gate that reads it."""
    last: dict[str, int] = {}
    for i, gate in enumerate(gates):
        for wire in gate.inputs:
            last[wire] = i
    return last


def evaluation_cost(inputs: Sequence[str], gates: Sequence[Gate], outputs: Mapping[str, str] | Sequence[tuple[str, str]]) -> int:
    """Peak bytes :func:`_evaluate` and :meth:`BooleanTask.truth_table` hold for this circuit.

    A gate's boolean array (one byte a row) lives until its last reader has run, or to the end
    when it is an output; inputs live throughout. On top come the int64 row numbers (and a
    table gate's int64 index), the stacked boolean ``X``/``Y`` and their float32 copies. So the
    cost follows 2^inputs x the wires alive at once, not 2^inputs x the gate count.
    """
    wires = set(dict(outputs).values()) if isinstance(outputs, Mapping) else {w for _, w in outputs}
    last = _last_readers(gates)
    live = peak = len(inputs)
    for i, gate in enumerate(gates):
        live += 1
        peak = max(peak, live)
        live -= sum(1 for w in set(gate.inputs) if last.get(w) == i and w not in inputs and w not in wires)
        if gate.name not in last and gate.name not in wires:
            live -= 1
    width = len(inputs) + len(wires)
    extra = 8 + (8 if any(g.op == "table" for g in gates) else 0)
    return 2 ** len(inputs) * (peak + extra + 5 * width)


def _evaluate(spec: CircuitSpec) -> tuple[np.ndarray, np.ndarray]:
    """All ``2**n`` rows (x1 most significant) and the outputs, as boolean arrays.

    A gate's array is dropped as soon as its last reader has run (unless it is an output), so
    memory follows the wires alive at once (:func:`evaluation_cost`), not the gate count.
    """
    n = len(spec.inputs)
    rows = np.arange(2**n, dtype=np.int64)
    values: dict[str, np.ndarray] = {
        x: ((rows >> (n - 1 - j)) & 1).astype(bool) for j, x in enumerate(spec.inputs)
    }
    keep = set(spec.inputs) | {wire for _, wire in spec.outputs}
    last = _last_readers(spec.gates)
    for i, gate in enumerate(spec.gates):
        args = [values[w] for w in gate.inputs]
        op = gate.op
        if op in ("and", "nand", "or", "nor", "xor", "xnor"):
            # Pairwise, in place: ufunc.reduce over a list would first stack all the arguments.
            ufunc = _GATE_UFUNCS[op]
            out = ufunc(args[0], args[1])
            for a in args[2:]:
                ufunc(out, a, out=out)
        elif op == "not":
            out = np.logical_not(args[0])
        elif op == "buf":
            out = args[0].copy()
        elif op == "table":
            k = len(args)
            index = np.zeros(rows.shape, dtype=np.int64)
            for i, a in enumerate(args):
                index |= a.astype(np.int64) << (k - 1 - i)
            lut = np.zeros(2**k, dtype=bool)
            lut[[int(p, 2) for p in gate.ones]] = True
            out = lut[index]
        else:  # pragma: no cover - rejected by the parser
            raise AssertionError(op)
        if op in ("nand", "nor", "xnor"):
            np.logical_not(out, out=out)
        for wire in set(gate.inputs):
            if last[wire] == i and wire not in keep:
                del values[wire]
        if gate.name in last or gate.name in keep:
            values[gate.name] = out
        del args, out
    x = np.stack([values[name] for name in spec.inputs], axis=1)
    y = np.stack([values[wire] for _, wire in spec.outputs], axis=1)
    return x, y
