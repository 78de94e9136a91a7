"""Random hierarchical circuits with exact ground truth, from a few parameters (docs/tasks.md).

A circuit has ``levels`` levels of ``modules`` modules each. A level-1 module reads a window of
``fanin`` inputs, adjacent windows sharing ``overlap`` inputs, so the circuit has
``modules x fanin - (modules - 1) x overlap`` inputs. A module of a higher level combines
``fanin`` modules (or all there are below it): one of the level just below, the others of any
lower level, drawn at random. Each module is one gate whose operator is drawn from the gate set
(``table``: a random truth table that depends on all its wires). Each top-level module drives ``1 + reuse`` outputs
(the paper's reuse: one sub-function read by several outputs), outputs alternating over the top
modules as in the paper's families.

A draw is kept only if its ground truth is exact: every module below the top is used; every
module's function depends on exactly the inputs it reaches and on each module it uses (it is no
function of the others alone); no two modules compute the same function or its negation (a module
equal to another would be one module, not two). Otherwise the next draw is taken, up to
:data:`MAX_DRAWS`.

Every random choice comes from SHA-256 of the circuit's canonical name, the draw and a counter,
and the YAML is written out by hand, so the same parameters give the same bytes on any machine,
Python or numpy.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from sculptbench.api import SculptbenchError
from sculptbench.plugins.tasks.boolean.check import functional_support
from sculptbench.plugins.tasks.boolean.spec import CircuitSpec, Gate
from sculptbench.plugins.tasks.boolean.truth import _evaluate

#: Bumped whenever the same parameters would draw another circuit (it is in every file's parameters).
GENERATOR_VERSION = 1
#: Draws tried before a parameter set is refused.
MAX_DRAWS = 2000
#: The most inputs a generated circuit may have (its truth table, the training data, has 2^n rows).
MAX_INPUTS = 12
#: The most outputs a generated circuit may have.
MAX_OUTPUTS = 32
#: Gate-set letters and the operator each stands for.
GATE_LETTERS = {"a": "and", "o": "or", "x": "xor", "n": "nand", "r": "nor", "e": "xnor", "t": "table"}
#: Selector keys, in canonical order, with each parameter's name.
KEYS = (("l", "levels"), ("m", "modules"), ("f", "fanin"), ("r", "reuse"), ("o", "overlap"), ("g", "gates"), ("s", "seed"))
PREFIX = "gen/"
_TOKEN = re.compile(r"^([a-z])(.*)$")


@dataclass(frozen=True)
class GeneratorParams:
    """The parameters of one generated circuit (see the module docstring)."""

    levels: int = 2
    modules: int = 2
    fanin: int = 2
    reuse: int = 0
    overlap: int = 0
    gates: str = "aoxt"
    seed: int = 0

    @property
    def n_inputs(self) -> int:
        """Inputs: the level-1 windows, adjacent ones sharing ``overlap``."""
        return self.modules * self.fanin - (self.modules - 1) * self.overlap

    def name(self) -> str:
        """The canonical selector, e.g. ``gen/l3-m2-f2-r0-o0-s7`` (``g`` only when not the default)."""
        parts = [f"{key}{getattr(self, attr)}" for key, attr in KEYS if not (key == "g" and self.gates == GeneratorParams.gates)]
        return PREFIX + "-".join(parts)

    def check(self) -> "GeneratorParams":
        """This, or a :class:`SculptbenchError` naming the first value out of range."""
        bounds = {"levels": (1, 5), "modules": (1, 8), "fanin": (2, 6), "reuse": (0, 15), "seed": (0, 2**63 - 1)}
        for attr, (low, high) in bounds.items():
            value = getattr(self, attr)
            if not low <= value <= high:
                raise SculptbenchError(f"invalid generator {attr} {value} in {self.name()}; it must be in {low}..{high}")
        if not 0 <= self.overlap < self.fanin:
            raise SculptbenchError(f"invalid generator overlap {self.overlap} in {self.name()}; it must be in 0..fanin-1 ({self.fanin - 1})")
        if not self.gates or set(self.gates) - set(GATE_LETTERS) or len(set(self.gates)) != len(self.gates):
            raise SculptbenchError(f"invalid generator gate set {self.gates!r} in {self.name()}; give distinct letters of "
                                   + ", ".join(f"{k} ({v})" for k, v in GATE_LETTERS.items()))
        if self.levels > 1 and self.modules < 2:
            raise SculptbenchError(f"{self.name()}: a circuit of {self.levels} levels needs at least 2 modules per level "
                                   "(a module above one module would compute the same function); use m2 or l1")
        if self.n_inputs > MAX_INPUTS:
            raise SculptbenchError(f"{self.name()} has {self.n_inputs} inputs (modules x fanin - (modules - 1) x overlap); at most "
                                   f"{MAX_INPUTS} are allowed (the truth table has 2^n rows): use fewer modules, a smaller fanin or more overlap")
        if self.modules * (1 + self.reuse) > MAX_OUTPUTS:
            raise SculptbenchError(f"{self.name()} has {self.modules * (1 + self.reuse)} outputs (modules x (1 + reuse)); at most {MAX_OUTPUTS}")
        return self


def parse_selector(selector: str) -> GeneratorParams:
    """The parameters a ``gen/...`` selector names; keys left out take their defaults.

    Grammar: ``gen/`` then ``-``-separated tokens ``<key><value>`` in any order, each key at most
    once: ``l`` levels, ``m`` modules per level, ``f`` fan-in, ``r`` reuse, ``o`` input overlap,
    ``s`` seed (integers), ``g`` the gate set (letters, :data:`GATE_LETTERS`).
    """
    if not selector.startswith(PREFIX):
        raise SculptbenchError(f"not a generated circuit: {selector!r}; write gen/l2-m2-f2-r0-o0-s0")
    body = selector[len(PREFIX):]
    values: dict[str, Any] = {}
    by_key = dict(KEYS)
    for token in body.split("-") if body else []:
        match = _TOKEN.match(token)
        if not match or match.group(1) not in by_key:
            raise SculptbenchError(f"bad token {token!r} in {selector}; write gen/ then tokens like l3-m2-f2-r0-o0-s7 "
                                   f"(keys: {', '.join(f'{k} {v}' for k, v in KEYS)})")
        key, text = match.groups()
        attr = by_key[key]
        if attr in values:
            raise SculptbenchError(f"{selector} gives {attr} twice ({key})")
        if attr == "gates":
            values[attr] = text
        elif text.isdigit():
            values[attr] = int(text)
        else:
            raise SculptbenchError(f"bad {attr} {text!r} in {selector}; it must be a whole number, e.g. {key}2")
    return GeneratorParams(**values).check()


class _Stream:
    """Random integers from SHA-256 of a key and a counter: the same on every machine."""

    def __init__(self, key: str):
        self.key = key.encode()
        self.count = 0

    def bits64(self) -> int:
        self.count += 1
        return int.from_bytes(hashlib.sha256(self.key + b"/" + str(self.count).encode()).digest()[:8], "big")

    def below(self, k: int) -> int:
        """A uniform integer in ``0..k-1`` (rejection sampling, no modulo bias)."""
        limit = (2**64 // k) * k
        while True:
            value = self.bits64()
            if value < limit:
                return value % k

    def sample(self, items: list[Any], k: int) -> list[Any]:
        """``k`` distinct items, in the order drawn (a partial Fisher-Yates shuffle)."""
        pool = list(items)
        for i in range(k):
            j = i + self.below(len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]


@dataclass(frozen=True)
class _Module:
    name: str
    level: int
    op: str
    wires: tuple[str, ...]
    ones: tuple[str, ...] = ()


def _table_ones(stream: _Stream, k: int) -> tuple[str, ...]:
    """A random truth table over ``k`` wires that depends on every one of them (so is not constant)."""
    while True:
        values = np.array([stream.below(2) for _ in range(2**k)], dtype=bool)
        if len(functional_support(values.reshape(-1, 1), k)[0]) == k:
            return tuple(format(row, f"0{k}b") for row in range(2**k) if values[row])


def _draw(params: GeneratorParams, stream: _Stream) -> list[list[_Module]]:
    """One random circuit: its modules, level by level. A module above level 1 combines
    ``min(fanin, modules below it)`` modules: one of the level just below, the others of any
    lower level."""
    ops = [GATE_LETTERS[letter] for letter in params.gates]
    stride = params.fanin - params.overlap
    levels: list[list[_Module]] = []
    for level in range(1, params.levels + 1):
        if level == 1:
            wiring = [tuple(f"x{stride * i + j + 1}" for j in range(params.fanin)) for i in range(params.modules)]
        else:
            earlier = [m.name for row in levels for m in row]
            wiring = []
            for _ in range(params.modules):
                first = levels[-1][stream.below(len(levels[-1]))].name
                rest = stream.sample([w for w in earlier if w != first], min(params.fanin, len(earlier)) - 1)
                wiring.append(tuple(sorted([first, *rest], key=earlier.index)))
        row = []
        for i, wires in enumerate(wiring):
            op = ops[stream.below(len(ops))]
            ones = _table_ones(stream, len(wires)) if op == "table" else ()
            row.append(_Module(f"m{level}_{i + 1}", level, op, wires, ones))
        levels.append(row)
    return levels


def _columns(params: GeneratorParams, levels: list[list[_Module]]) -> np.ndarray:
    """Every module's truth-table column, in module order (rows in binary order, x1 most
    significant), evaluated by the circuit format's own evaluator."""
    modules = [m for row in levels for m in row]
    spec = CircuitSpec(name="draw", family="generated", inputs=tuple(f"x{j + 1}" for j in range(params.n_inputs)),
                       gates=tuple(Gate(m.name, m.op, m.wires, m.ones) for m in modules),
                       outputs=tuple((m.name, m.name) for m in modules), modules=())
    return _evaluate(spec)[1]


def _exact(params: GeneratorParams, levels: list[list[_Module]]) -> bool:
    """Whether the draw's ground truth is exact: every module below the top is used; every
    module depends on exactly the inputs it reaches, and on each module it uses (it is no
    function of the others alone, on the rows that occur); no two modules compute the same
    function or its negation."""
    modules = [m for row in levels for m in row]
    used = {w for m in modules for w in m.wires}
    if any(m.name not in used for m in modules if m.level < params.levels):
        return False
    columns = _columns(params, levels)
    index = {m.name: k for k, m in enumerate(modules)}
    supports = functional_support(columns, params.n_inputs)
    reach: dict[str, set[str]] = {}
    seen: set[bytes] = set()
    for k, module in enumerate(modules):
        reach[module.name] = set(module.wires) if module.level == 1 else set().union(*(reach[w] for w in module.wires))
        if {f"x{j + 1}" for j in supports[k]} != reach[module.name]:
            return False
        if module.level > 1 and not all(_needs(columns[:, k], [columns[:, index[w]] for w in module.wires if w != child])
                                        for child in module.wires):
            return False
        column = columns[:, k]
        key, negated = np.packbits(column).tobytes(), np.packbits(~column).tobytes()
        if key in seen or negated in seen:
            return False
        seen.add(key)
    return True


def _needs(value: np.ndarray, others: list[np.ndarray]) -> bool:
    """Whether ``value`` is no function of ``others`` alone: some rows agree on all of them and
    differ in ``value``."""
    key = np.zeros(len(value), dtype=np.int64)
    for column in others:
        key = key * 2 + column
    return len(np.unique(key * 2 + value)) > len(np.unique(key))


def generate(params: GeneratorParams) -> str:
    """The circuit YAML of ``params`` (the first exact draw), as text."""
    params.check()
    name = params.name()
    for draw in range(MAX_DRAWS):
        levels = _draw(params, _Stream(f"sculptbench-generator-{GENERATOR_VERSION}|{name}|{draw}"))
        if _exact(params, levels):
            return _yaml(params, levels, draw)
    raise SculptbenchError(f"{name}: none of {MAX_DRAWS} draws gave every module a function of its own that needs all it reads "
                           "(few functions exist above a narrow level); use more modules per level (m), fewer levels (l), "
                           "a smaller fanin (f) or a larger gate set (g)")


def training_for(params: GeneratorParams) -> dict[str, Any]:
    """The training recipe of a generated circuit: Adam at lr 0.02 for 120 epochs, a batch size
    that grows with the truth table (about 16 minibatches an epoch, 8 to 64 rows each); chosen on
    a sample of generated circuits (docs/results/tasks.md)."""
    rows = 2**params.n_inputs
    return {"lr": 0.02, "batch_size": int(min(64, max(8, rows // 16))), "epochs": 120}


def _yaml(params: GeneratorParams, levels: list[list[_Module]], draw: int) -> str:
    """The circuit file, written field by field so its bytes depend on nothing but the circuit."""
    name = params.name()
    top = levels[-1]
    outputs = [(f"y{k * len(top) + i + 1}", m.name) for k in range(1 + params.reuse) for i, m in enumerate(top)]
    lines = [
        f"# Generated by `sculptbench generate {name}` (generator {GENERATOR_VERSION}, draw {draw}); docs/tasks.md.",
        f"name: {name}",
        "family: generated",
        "description: >-",
        f"  {params.levels} levels of {params.modules} modules. A level-1 module reads {params.fanin} inputs, sharing {params.overlap} with",
        f"  the next; a higher module combines up to {params.fanin} lower modules, one of them of the level just below.",
        f"  Each top module drives {1 + params.reuse} output{'s' if params.reuse else ''}. Gate set {params.gates}, seed {params.seed}.",
        # The gate set is quoted: unquoted, YAML reads a set such as "on" or "no" as a boolean.
        "parameters: {" + ", ".join(f'{f.name}: "{params.gates}"' if f.name == "gates" else f"{f.name}: {getattr(params, f.name)}"
                                    for f in fields(params))
        + f", inputs: {params.n_inputs}, generator: {GENERATOR_VERSION}}}",
        "inputs: [" + ", ".join(f"x{j + 1}" for j in range(params.n_inputs)) + "]",
        "gates:",
    ]
    for module in (m for row in levels for m in row):
        ones = ", ones: [" + ", ".join(f'"{p}"' for p in module.ones) + "]" if module.op == "table" else ""
        lines.append(f"  {module.name}: {{op: {module.op}, in: [{', '.join(module.wires)}]{ones}}}")
    lines.append("outputs:")
    lines += [f"  {y}: {wire}" for y, wire in outputs]
    lines.append("modules:")
    for module in (m for row in levels for m in row):
        link = f"reads: [{', '.join(module.wires)}]" if module.level == 1 else f"uses: [{', '.join(module.wires)}]"
        driven = [y for y, wire in outputs if wire == module.name]
        drives = f", drives: [{', '.join(driven)}]" if driven else ""
        lines.append(f"  {module.name}: {{{link}{drives}, gates: [{module.name}]}}")
    recipe = training_for(params)
    lines.append("training: {" + ", ".join(f"{k}: {v}" for k, v in recipe.items()) + "}")
    return "\n".join(lines) + "\n"
