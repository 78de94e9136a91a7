"""The Boolean circuit format: its YAML loading, its parser and the checks behind each error message.

A circuit file names its inputs, its gates (wired by name), its ordered outputs and the
ground-truth module DAG of the task; see ``docs/circuits.md`` for the full reference. Every
problem in a file is reported as a :class:`CircuitSpecError` whose one-line message reads
``<file>: <key.path>: <why>``. :data:`PAPER_ARCHS` is the paper's 9-architecture grid;
:data:`GATE_OPS` the gate operators.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from sculptbench.api import GroundTruthModule, SculptbenchError, TrainingConfig, parse_shape, width_problem
from sculptbench.plugins.tasks.boolean.check import module_reach, name_set
from sculptbench.plugins.tasks.boolean.source import CircuitSpecError, _join
from sculptbench.plugins.tasks.boolean.truth import evaluation_cost


#: The paper's Boolean architecture grid: 1, 2 or 3 hidden layers of width 24, 36 or 48,
#: ordered by depth, then width.
PAPER_ARCHS: tuple[tuple[int, ...], ...] = tuple(
    (width,) * depth for depth in (1, 2, 3) for width in (24, 36, 48)
)


#: Hidden-layer shapes used when a spec has no ``archs`` key.
DEFAULT_ARCHS: tuple[tuple[int, ...], ...] = ((24,), (24, 24), (24, 24, 24))


#: Gate operators with their arity as ``(minimum, maximum)``; ``None`` means unbounded.
GATE_OPS: Mapping[str, tuple[int, int | None]] = {
    "and": (2, None),
    "or": (2, None),
    "xor": (2, None),
    "nand": (2, None),
    "nor": (2, None),
    "xnor": (2, None),
    "not": (1, 1),
    "buf": (1, 1),
    "table": (1, None),
}


#: Training recipe of each family before a spec's ``training`` key is merged over it.
#: Families not listed use :class:`sculptbench.api.TrainingConfig`'s defaults.
FAMILY_TRAINING: dict[str, TrainingConfig] = {
    "exemplars": TrainingConfig(),
    "reuse": TrainingConfig(),
    "overlap": TrainingConfig(),
    "levels": TrainingConfig(),
}


#: Largest number of inputs a circuit may have (its truth table has ``2**n`` rows).
MAX_INPUTS = 20


#: Largest number of inputs of one ``table`` gate.
MAX_TABLE_INPUTS = 16


#: Bytes the truth-table evaluation may hold at once (checked from the circuit before any array
#: is built; see :func:`evaluation_cost`).
EVAL_MEMORY_BUDGET = 2 * 2**30


#: Gate evaluations x truth-table rows a circuit may cost (about a minute of numpy at most).
EVAL_WORK_BUDGET = 2**35


_TOP_KEYS = (
    "name", "family", "description", "paper_name", "parameters", "inputs", "gates", "outputs",
    "modules", "training", "archs", "pruning", "detector",
)


_REQUIRED_KEYS = ("name", "family", "inputs", "gates", "outputs", "modules")


_GATE_KEYS = ("op", "in", "ones")


_MODULE_KEYS = ("reads", "uses", "drives", "gates")


_TRAINING_KEYS = {"lr": float, "batch_size": int, "epochs": int, "weight_decay": float, "noise_std": float}


_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


# --------------------------------------------------------------------------- the normalised spec
@dataclass(frozen=True)
class Gate:
    """One gate: ``op`` applied to the wires ``inputs``; ``ones`` lists a ``table`` gate's 1-rows."""

    name: str
    op: str
    inputs: tuple[str, ...]
    ones: tuple[str, ...] = ()


@dataclass(frozen=True)
class CircuitSpec:
    """A validated circuit spec. ``gates`` is in topological order; ``outputs`` maps output to wire."""

    name: str
    family: str
    inputs: tuple[str, ...]
    gates: tuple[Gate, ...]
    outputs: tuple[tuple[str, str], ...]
    modules: tuple[GroundTruthModule, ...]
    description: str = ""
    paper_name: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    archs: tuple[tuple[int, ...], ...] | None = None
    pruning: Mapping[str, Any] = field(default_factory=dict)
    detector: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The normalised spec as a JSON-friendly mapping (the ``description`` is left out)."""
        return {
            "name": self.name,
            "family": self.family,
            "paper_name": self.paper_name,
            "parameters": dict(self.parameters),
            "inputs": list(self.inputs),
            "gates": {
                g.name: {"op": g.op, "in": list(g.inputs), **({"ones": sorted(g.ones)} if g.op == "table" else {})}
                for g in sorted(self.gates, key=lambda g: g.name)
            },
            "outputs": [[y, w] for y, w in self.outputs],
            "modules": [
                {"name": m.name, "reads": list(m.reads), "uses": list(m.uses), "drives": list(m.drives), "gates": list(m.gates)}
                for m in self.modules
            ],
            "training": dict(self.training),
            "archs": [list(a) for a in self.archs] if self.archs is not None else None,
            "pruning": dict(self.pruning),
            "detector": dict(self.detector),
        }


class _Parser:
    """Validates a raw mapping into a :class:`CircuitSpec`, failing with a located message."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, why: str) -> CircuitSpecError:
        return CircuitSpecError(self.source, path, why)

    # ----------------------------------------------------------- small typed readers
    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"expected a non-empty string, got {_describe(value)}")
        if "\n" in value:
            raise self.fail(path, "expected a single-line string")
        return value

    def ident(self, value: Any, path: str, what: str) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected a {what} name (a string), got {_describe(value)}")
        if not _NAME_RE.match(value):
            raise self.fail(path, f"invalid {what} name {value!r}: use letters, digits, '_' or '-', starting with a letter or '_'")
        return value

    def new_wire(self, section: str, name: Any, what: str, inputs: tuple[str, ...]) -> str:
        """The path of entry ``name`` of ``section``, a valid ``what`` name that no input has."""
        path = _join(section, name)
        self.ident(name, path, what)
        if name in inputs:
            raise self.fail(path, f"duplicate name: {name!r} is already an input")
        return path

    def mapping(self, value: Any, path: str, what: str = "a mapping") -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected {what}, got {_describe(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(path, f"keys must be strings, got {_describe(key)}")
        return value

    def name_list(self, value: Any, path: str, what: str, *, allow_empty: bool = True) -> tuple[str, ...]:
        if value is None and allow_empty:
            return ()
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list of {what} names, got {_describe(value)}")
        if not value and not allow_empty:
            raise self.fail(path, f"expected at least one {what}")
        names: list[str] = []
        for i, item in enumerate(value):
            name = self.ident(item, _join(path, i), what)
            if name in names:
                raise self.fail(_join(path, i), f"duplicate name {name!r}")
            names.append(name)
        return tuple(names)

    def json_value(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, (str, bool, int)):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(path, f"expected a finite number, got {value}")
            return value
        if isinstance(value, list):
            return [self.json_value(v, _join(path, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.json_value(v, _join(path, k)) for k, v in self.mapping(value, path).items()}
        raise self.fail(path, f"unsupported value {_describe(value)}")

    def options(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        return self.json_value(self.mapping(value, path), path)

    # ----------------------------------------------------------- the whole spec
    def parse(self, data: Any) -> CircuitSpec:
        if data is None:
            raise self.fail("(document)", "the file is empty; expected a mapping with keys " + ", ".join(_REQUIRED_KEYS))
        if not isinstance(data, dict):
            raise self.fail("(document)", f"expected a mapping with keys {', '.join(_REQUIRED_KEYS)}, got {_describe(data)}")
        for key in data:
            if key not in _TOP_KEYS:
                raise self.fail(str(key), f"unknown key {key!r}; valid keys: {', '.join(_TOP_KEYS)}")
        for key in _REQUIRED_KEYS:
            if key not in data:
                raise self.fail(key, "missing required key")

        name = self.string(data["name"], "name")
        family = self.string(data["family"], "family")
        description = data.get("description") or ""
        if not isinstance(description, str):
            raise self.fail("description", f"expected a string, got {_describe(description)}")
        paper_name = data.get("paper_name")
        if paper_name is not None:
            paper_name = self.string(paper_name, "paper_name")
        parameters = self.options(data.get("parameters"), "parameters")

        inputs = self.name_list(data["inputs"], "inputs", "input", allow_empty=False)
        if len(inputs) > MAX_INPUTS:
            raise self.fail("inputs", f"{len(inputs)} inputs; at most {MAX_INPUTS} are supported (the truth table has 2^n rows)")
        gates = self.parse_gates(data["gates"], inputs)
        order = self.topological_order(gates)
        outputs = self.parse_outputs(data["outputs"], inputs, gates)
        modules = self.parse_modules(data["modules"], inputs, outputs, gates)

        support = self.supports(inputs, gates, order)
        self.check_unused_inputs(inputs, outputs, support)
        self.check_modules_against_circuit(inputs, outputs, modules, support)

        self.check_evaluation_cost(inputs, [gates[g] for g in order], outputs)
        training = self.parse_training(data.get("training"))
        archs = self.parse_arch_list(data.get("archs"))
        pruning = self.options(data.get("pruning"), "pruning")
        detector = self.options(data.get("detector"), "detector")
        return CircuitSpec(
            name=name,
            family=family,
            inputs=inputs,
            gates=tuple(gates[g] for g in order),
            outputs=tuple(outputs.items()),
            modules=tuple(modules.values()),
            description=description.strip(),
            paper_name=paper_name,
            parameters=parameters,
            training=training,
            archs=archs,
            pruning=pruning,
            detector=detector,
        )

    # ----------------------------------------------------------- gates
    def parse_gates(self, raw: Any, inputs: tuple[str, ...]) -> dict[str, Gate]:
        if raw is None:
            raw = {}
        self.mapping(raw, "gates", "a mapping of gate name -> {op, in}")
        gates: dict[str, Gate] = {}
        for name, body in raw.items():
            path = self.new_wire("gates", name, "gate", inputs)
            self.mapping(body, path, "a mapping with keys op and in")
            for key in body:
                if key not in _GATE_KEYS:
                    raise self.fail(_join(path, key), f"unknown key {key!r}; valid keys: {', '.join(_GATE_KEYS)}")
            if "op" not in body:
                raise self.fail(_join(path, "op"), "missing required key")
            op = body["op"]
            if not isinstance(op, str) or op not in GATE_OPS:
                raise self.fail(_join(path, "op"), f"unknown gate op {op!r}; valid ops: {', '.join(GATE_OPS)}")
            if "in" not in body:
                raise self.fail(_join(path, "in"), "missing required key")
            wires = body["in"]
            if not isinstance(wires, list):
                raise self.fail(_join(path, "in"), f"expected a list of wire names, got {_describe(wires)}")
            for i, wire in enumerate(wires):
                self.ident(wire, _join(path, "in", i), "wire")
            lo, hi = GATE_OPS[op]
            if len(wires) < lo or (hi is not None and len(wires) > hi):
                need = f"exactly {lo}" if lo == hi else f"at least {lo}"
                raise self.fail(_join(path, "in"), f"wrong arity: op {op!r} takes {need} input{'s' if need != 'exactly 1' else ''}, got {len(wires)}")
            ones: tuple[str, ...] = ()
            if op == "table":
                ones = self.parse_ones(body.get("ones"), _join(path, "ones"), len(wires))
            elif "ones" in body:
                raise self.fail(_join(path, "ones"), f"'ones' is only valid for op 'table', not {op!r}")
            gates[name] = Gate(name=name, op=op, inputs=tuple(wires), ones=ones)
        for name, gate in gates.items():
            for i, wire in enumerate(gate.inputs):
                if wire not in gates and wire not in inputs:
                    raise self.fail(_join("gates", name, "in", i), f"undefined wire {wire!r}: not an input or a gate")
        return gates

    def parse_ones(self, raw: Any, path: str, k: int) -> tuple[str, ...]:
        if k > MAX_TABLE_INPUTS:
            raise self.fail(path, f"a table gate takes at most {MAX_TABLE_INPUTS} inputs, got {k}")
        if raw is None:
            raise self.fail(path, "missing required key for op 'table' (use [] for a constant 0)")
        if not isinstance(raw, list):
            raise self.fail(path, f"expected a list of {k}-character 0/1 strings, got {_describe(raw)}")
        seen: set[str] = set()
        for i, pattern in enumerate(raw):
            where = _join(path, i)
            if not isinstance(pattern, str):
                raise self.fail(where, f"bad table pattern {pattern!r}: expected a quoted string of {k} characters 0/1 (unquoted digits are read as a number)")
            if len(pattern) != k or set(pattern) - {"0", "1"}:
                raise self.fail(where, f"bad table pattern {pattern!r}: expected {k} characters, each 0 or 1 (one per input wire)")
            if pattern in seen:
                raise self.fail(where, f"duplicate table pattern {pattern!r}")
            seen.add(pattern)
        return tuple(raw)

    def topological_order(self, gates: dict[str, Gate]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        for root in gates:
            if state.get(root):
                continue
            stack: list[tuple[str, int]] = [(root, 0)]
            state[root] = 1
            while stack:
                node, i = stack[-1]
                deps = [w for w in gates[node].inputs if w in gates]
                if i < len(deps):
                    stack[-1] = (node, i + 1)
                    dep = deps[i]
                    if state.get(dep) == 1:
                        names = [n for n, _ in stack]
                        cycle = names[names.index(dep):] + [dep]
                        # report in data-flow order: each gate feeds the next
                        cycle = cycle[::-1]
                        raise self.fail(_join("gates", cycle[0], "in"), "cycle " + " -> ".join(cycle))
                    if not state.get(dep):
                        state[dep] = 1
                        stack.append((dep, 0))
                else:
                    state[node] = 2
                    order.append(node)
                    stack.pop()
        return order

    def check_evaluation_cost(self, inputs: tuple[str, ...], gates: list[Gate], outputs: dict[str, str]) -> None:
        """Refuse, before any array exists, a circuit whose truth table would exceed
        :data:`EVAL_MEMORY_BUDGET` bytes or :data:`EVAL_WORK_BUDGET` gate-rows."""
        rows = 2 ** len(inputs)
        work = len(gates) * rows
        if work > EVAL_WORK_BUDGET:
            raise self.fail("gates", f"{len(gates):,} gates x 2^{len(inputs)} = {rows:,} rows is {work:,} gate evaluations, "
                                     f"more than the budget of {EVAL_WORK_BUDGET:,}; use fewer gates or inputs")
        need = evaluation_cost(inputs, gates, outputs)
        if need > EVAL_MEMORY_BUDGET:
            raise self.fail("gates", f"evaluating {len(gates):,} gates on 2^{len(inputs)} = {rows:,} rows needs about {need / 2**20:,.0f} MiB "
                                     f"at once, more than the budget of {EVAL_MEMORY_BUDGET / 2**20:,.0f} MiB; use fewer inputs, or fewer "
                                     "gates whose results are needed at the same time")

    def supports(self, inputs: tuple[str, ...], gates: dict[str, Gate], order: list[str]) -> dict[str, frozenset[str]]:
        support: dict[str, frozenset[str]] = {x: frozenset([x]) for x in inputs}
        for name in order:
            support[name] = frozenset().union(*(support[w] for w in gates[name].inputs))
        return support

    # ----------------------------------------------------------- outputs
    def parse_outputs(self, raw: Any, inputs: tuple[str, ...], gates: dict[str, Gate]) -> dict[str, str]:
        self.mapping(raw, "outputs", "an ordered mapping of output name -> wire name")
        if not raw:
            raise self.fail("outputs", "expected at least one output")
        outputs: dict[str, str] = {}
        for name, wire in raw.items():
            path = self.new_wire("outputs", name, "output", inputs)
            self.ident(wire, path, "wire")
            if wire not in inputs and wire not in gates:
                raise self.fail(path, f"undefined wire {wire!r}: not an input or a gate")
            outputs[name] = wire
        return outputs

    # ----------------------------------------------------------- modules
    def parse_modules(self, raw: Any, inputs: tuple[str, ...], outputs: dict[str, str], gates: dict[str, Gate]) -> dict[str, GroundTruthModule]:
        self.mapping(raw, "modules", "a mapping of module name -> {reads, uses, drives}")
        if not raw:
            raise self.fail("modules", "expected at least one module")
        for name in raw:
            self.ident(name, _join("modules", name), "module")
        modules: dict[str, GroundTruthModule] = {}
        for name, body in raw.items():
            path = _join("modules", name)
            if body is None:
                body = {}
            self.mapping(body, path, "a mapping with keys reads, uses, drives")
            for key in body:
                if key not in _MODULE_KEYS:
                    raise self.fail(_join(path, key), f"unknown key {key!r}; valid keys: {', '.join(_MODULE_KEYS)}")
            reads = self.name_list(body.get("reads"), _join(path, "reads"), "input")
            uses = self.name_list(body.get("uses"), _join(path, "uses"), "module")
            drives = self.name_list(body.get("drives"), _join(path, "drives"), "output")
            own_gates = self.name_list(body.get("gates"), _join(path, "gates"), "gate")
            for key, names, known, what in (("reads", reads, inputs, "input"), ("uses", uses, raw, "module"),
                                             ("drives", drives, outputs, "output"), ("gates", own_gates, gates, "gate")):
                for i, x in enumerate(names):
                    if x not in known:
                        raise self.fail(_join(path, key, i), f"unknown {what} {x!r}")
            if not reads and not uses:
                raise self.fail(path, "module reads no input and uses no module")
            modules[name] = GroundTruthModule(name=name, reads=reads, uses=uses, drives=drives, gates=own_gates)
        self.check_module_cycles(modules)
        used = {u for m in modules.values() for u in m.uses}
        for name, module in modules.items():
            if not module.drives and name not in used:
                raise self.fail(_join("modules", name), "module drives no output and is used by no other module")
        return modules

    def check_module_cycles(self, modules: dict[str, GroundTruthModule]) -> None:
        state: dict[str, int] = {}

        def visit(name: str, stack: list[str]) -> None:
            state[name] = 1
            stack.append(name)
            for u in modules[name].uses:
                if state.get(u) == 1:
                    cycle = stack[stack.index(u):] + [u]
                    raise self.fail(_join("modules", cycle[0], "uses"), "cycle in the module DAG: " + " uses ".join(cycle))
                if not state.get(u):
                    visit(u, stack)
            stack.pop()
            state[name] = 2

        for name in modules:
            if not state.get(name):
                visit(name, [])

    # ----------------------------------------------------------- consistency
    def check_unused_inputs(self, inputs: tuple[str, ...], outputs: dict[str, str], support: dict[str, frozenset[str]]) -> None:
        used = frozenset().union(*(support[w] for w in outputs.values()))
        for i, x in enumerate(inputs):
            if x not in used:
                raise self.fail(_join("inputs", i), f"input {x!r} does not reach any output")

    def check_modules_against_circuit(
        self,
        inputs: tuple[str, ...],
        outputs: dict[str, str],
        modules: dict[str, GroundTruthModule],
        support: dict[str, frozenset[str]],
    ) -> None:
        """Every output is driven by a module, and a module's listed gates depend (through the
        wiring) only on inputs the module reaches. That the outputs' modules read exactly what
        each output depends on is checked against the truth table (:mod:`.check`)."""
        drivers: dict[str, list[str]] = {y: [] for y in outputs}
        for m in modules.values():
            for y in m.drives:
                drivers[y].append(m.name)
        for y, ds in drivers.items():
            if not ds:
                raise self.fail(_join("outputs", y), f"output {y!r} is not driven by any module")
        reach = module_reach(modules.values())
        for m in modules.values():
            if not m.gates:
                continue
            needed = frozenset().union(*(support[g] for g in m.gates))
            extra = needed - reach[m.name]
            if extra:
                raise self.fail(
                    _join("modules", m.name, "gates"),
                    f"module DAG contradicts the circuit: gates {', '.join(m.gates)} depend on {name_set(extra, inputs)}, "
                    f"which module {m.name!r} does not read directly or through uses",
                )

    # ----------------------------------------------------------- defaults
    def parse_training(self, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        self.mapping(raw, "training", "a mapping with keys " + ", ".join(_TRAINING_KEYS))
        out: dict[str, Any] = {}
        for key, value in raw.items():
            path = _join("training", key)
            if key not in _TRAINING_KEYS:
                raise self.fail(path, f"unknown key {key!r}; valid keys: {', '.join(_TRAINING_KEYS)}")
            kind = _TRAINING_KEYS[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
                raise self.fail(path, f"expected {'an integer' if kind is int else 'a number'}, got {_describe(value)}")
            out[key] = kind(value)
        for key, value in out.items():
            try:
                TrainingConfig(**{key: value}).validate()
            except SculptbenchError as exc:
                raise self.fail(_join("training", key), str(exc)) from None
        return out

    def parse_arch_list(self, raw: Any) -> tuple[tuple[int, ...], ...] | None:
        """The ``archs`` key: hidden shapes as ``"24x24"`` strings, single widths or lists of widths."""
        if raw is None:
            return None
        if not isinstance(raw, list) or not raw:
            raise self.fail("archs", f"expected a non-empty list of hidden-layer shapes like [24, 24] or \"24x24\", got {_describe(raw)}")
        archs: list[tuple[int, ...]] = []
        for i, item in enumerate(raw):
            path = _join("archs", i)
            if isinstance(item, str):
                try:
                    shape = parse_shape(item)
                except ValueError:
                    raise self.fail(path, f"bad architecture {item!r}: expected widths joined by 'x', like \"24x24\"") from None
            elif isinstance(item, int) and not isinstance(item, bool):
                shape = (item,)
            elif isinstance(item, list) and item and all(isinstance(w, int) and not isinstance(w, bool) for w in item):
                shape = tuple(item)
            else:
                raise self.fail(path, f"bad architecture {item!r}: expected a list of layer widths like [24, 24] or a string like \"24x24\"")
            problem = width_problem(shape)
            if problem:
                raise self.fail(path, f"bad architecture {_describe(item)}: {problem} (as for --arch)")
            archs.append(shape)
        return tuple(archs)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"
