"""Declared options: what a component accepts, checked and resolved once, when a run is planned.

A component (pruner, detector, scorer, task) lists its options as :class:`Option` fields: name,
type, accepted values or range, default, a one-line description, whether a task may set its
default, and when it applies (:class:`When`, :class:`Check`). :func:`resolve_options` turns what
the user gave (``--param NAME.KEY=VALUE``) and what the task sets into a frozen :class:`Options`
mapping: every applicable option with its value, in declaration order. The component receives
that object and never re-validates it.

The rules, in order:

1. a name the component does not declare is refused, naming the valid ones;
2. each option takes the user's value, else the task's (only where ``task=True``), else its
   default (a :class:`Default` may derive it from an option declared before it);
3. each value is checked against its type, choices and range, and normalised (an integral
   ``9.0`` becomes ``9``; a single value of a list option becomes a one-item tuple);
4. an option whose ``applies`` condition is false is left out; if the user gave it, the run is
   refused with one line that says when it applies and what to pass instead (a task's value
   that does not apply is dropped quietly: a task's defaults serve every component).

Resolving the resolved options again gives them back unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.hashing import canonical_json


# --------------------------------------------------------------------------- conditions
class Condition:
    """When an option applies, as a test of the options resolved before it (``holds``) and a phrase
    for messages and docs (``describe``: "hparams is auto or authors")."""

    def holds(self, values: Mapping[str, Any]) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def options(self) -> set[str]:
        """The options this condition reads."""
        return set()

    def __and__(self, other: Condition) -> Condition:
        return _Combined((self, other), "and")

    def __or__(self, other: Condition) -> Condition:
        return _Combined((self, other), "or")


@dataclass(frozen=True)
class When(Condition):
    """Holds when option ``option`` has one of ``values``."""

    option: str
    values: tuple[Any, ...]

    def __init__(self, option: str, *values: Any):
        object.__setattr__(self, "option", option)
        object.__setattr__(self, "values", tuple(values))

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the option's resolved value is one of :attr:`values`."""
        return self.option in values and values[self.option] in self.values

    def describe(self) -> str:
        """``"hparams is auto or authors"``."""
        return f"{self.option} is {' or '.join(shown(v) for v in self.values)}"

    def options(self) -> set[str]:
        """The option this condition reads."""
        return {self.option}


@dataclass(frozen=True)
class Check(Condition):
    """Holds when ``test(values)`` is true; ``text`` describes it ("restarts > 1")."""

    test: Callable[[Mapping[str, Any]], bool]
    text: str
    reads: tuple[str, ...] = ()

    def holds(self, values: Mapping[str, Any]) -> bool:
        """The test's verdict on the options resolved so far."""
        return bool(self.test(values))

    def describe(self) -> str:
        """The condition's text."""
        return self.text

    def options(self) -> set[str]:
        """The options the test reads (for ordering checks)."""
        return set(self.reads)


@dataclass(frozen=True)
class _Combined(Condition):
    """``parts`` joined by ``word``: ``"and"`` (all hold) or ``"or"`` (any holds)."""

    parts: tuple[Condition, ...]
    word: str

    def holds(self, values: Mapping[str, Any]) -> bool:
        test = all if self.word == "and" else any
        return test(p.holds(values) for p in self.parts)

    def describe(self) -> str:
        return f" {self.word} ".join(p.describe() for p in self.parts)

    def options(self) -> set[str]:
        return set().union(*(p.options() for p in self.parts))


@dataclass(frozen=True)
class Default:
    """A default that depends on an option declared earlier: ``cases[value]`` when ``option`` has
    that value, else ``otherwise``."""

    option: str
    cases: tuple[tuple[Any, Any], ...]
    otherwise: Any

    def __init__(self, option: str, cases: Mapping[Any, Any], otherwise: Any):
        object.__setattr__(self, "option", option)
        object.__setattr__(self, "cases", tuple(cases.items()))
        object.__setattr__(self, "otherwise", otherwise)

    def pick(self, values: Mapping[str, Any]) -> Any:
        """The default for the options resolved so far."""
        for value, default in self.cases:
            if values.get(self.option) == value:
                return default
        return self.otherwise

    def describe(self) -> str:
        """``"sparsest_modularity if hparams is auto, else sparsest"``."""
        cases = ", ".join(f"{shown(d)} if {self.option} is {shown(v)}" for v, d in self.cases)
        return f"{cases}, else {shown(self.otherwise)}"


# --------------------------------------------------------------------------- options
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


@dataclass(frozen=True)
class Option:
    """One declared option of a component.

    ``type`` is ``bool``, ``int``, ``float`` or ``str``; ``many`` makes it a list of such values
    (one value is taken as a list of one). ``choices`` lists the accepted values; ``low`` and
    ``high`` bound numbers (exclusive where ``low_open``/``high_open``). ``nullable``: ``None``
    (``null``) is a value too, with the meaning ``help`` gives. ``task``: a task may set the
    default (``Task.pruning_defaults`` for pruners, ``Task.detector_defaults`` for detectors).
    ``applies``: when the option has an effect (``None``: always). ``instead``: what to pass
    when the option is refused for not applying (``{component}`` and ``{value}`` are filled in).
    ``parse``: a function that checks and normalises a value itself (raising ``ValueError``
    with the reason), described by ``type_text``.
    """

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    many: bool = False
    nullable: bool = False
    task: bool = False
    applies: Condition | None = None
    instead: str = ""
    parse: Callable[[Any], Any] | None = None
    type_text: str = ""

    def describe_type(self) -> str:
        """What the option accepts, in words: ``"a number in (0, 100)"``, ``"one of task, auto"``."""
        if self.type_text:
            text = self.type_text
        elif self.choices is not None:
            text = "one of " + ", ".join(shown(c) for c in self.choices)
        else:
            text = _TYPE_NAMES[self.type]
            if self.low is not None or self.high is not None:
                lo = "-inf" if self.low is None else shown(self.low)
                hi = "inf" if self.high is None else shown(self.high)
                text += f" in {'(' if self.low_open or self.low is None else '['}{lo}, {hi}{')' if self.high_open or self.high is None else ']'}"
        if self.many:
            text = f"a list, each {text}"
        return text + (", or null" if self.nullable else "")

    def describe_default(self) -> str:
        """The default in words (a derived default says what it depends on)."""
        if isinstance(self.default, Default):
            return self.default.describe()
        return shown(self.default)

    def check(self, value: Any, who: str) -> Any:
        """``value`` checked and normalised; a :class:`SculptbenchError` names the accepted values."""
        if value is None and self.nullable:
            return None
        if self.many:
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            if not items:
                raise SculptbenchError(f"invalid {who}.{self.name} []: give at least one value ({self.describe_type()})")
            return tuple(self._one(v, value, who) for v in items)
        return self._one(value, value, who)

    def _one(self, value: Any, whole: Any, who: str) -> Any:
        def bad(reason: str = "") -> SculptbenchError:
            return SculptbenchError(f"invalid {who}.{self.name} {shown(whole)}; it must be {self.describe_type()}{reason}")

        if self.parse is not None:
            try:
                return self.parse(value)
            except (ValueError, TypeError) as exc:
                raise bad(f" ({exc})" if str(exc) else "") from None
        if self.type is bool:
            if not isinstance(value, bool):
                raise bad()
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
                raise bad()
            value = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise bad()
            value = float(value)
        elif self.type is str:
            if not isinstance(value, str):
                raise bad()
        if self.choices is not None and value not in self.choices:
            raise bad()
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise bad()
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise bad()
        return value

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (``sculptbench list ... --json`` and the generated docs)."""
        return {
            "name": self.name, "type": self.describe_type(), "default": _jsonable(self.default) if not isinstance(self.default, Default) else None,
            "default_text": self.describe_default(), "help": self.help, "task_may_set": self.task,
            "applies": self.applies.describe() if self.applies is not None else "always",
            "choices": list(self.choices) if self.choices is not None else None,
        }


def shown(value: Any) -> str:
    """A value as a user writes it on the command line (``30``, ``[30, 50]``, ``null``)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


# --------------------------------------------------------------------------- resolved options
class Options(Mapping[str, Any]):
    """A component's resolved options: a frozen mapping from option name to value.

    ``given`` holds the names the user set. Equal to a plain ``dict`` with the same items;
    hashable; picklable. :meth:`as_dict` gives the JSON-friendly form that cells record and
    keys hash.
    """

    __slots__ = ("_values", "given")

    def __init__(self, values: Mapping[str, Any] | None = None, given: Sequence[str] = ()):
        object.__setattr__(self, "_values", dict(values or {}))
        object.__setattr__(self, "given", frozenset(given))

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(canonical_json(self.as_dict()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._values == dict(other)
        return NotImplemented

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Options are frozen")

    def __reduce__(self) -> tuple:
        return (Options, (self._values, tuple(sorted(self.given))))

    def __repr__(self) -> str:
        return f"Options({self._values!r})"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (tuples as lists)."""
        return {k: _jsonable(v) for k, v in self._values.items()}


def option_names(declared: Sequence[Option]) -> list[str]:
    """The names of ``declared``, checked: unique, and every condition or derived default reads
    only options declared before it (so one pass resolves them)."""
    names: list[str] = []
    for option in declared:
        if option.name in names:
            raise ValueError(f"option {option.name!r} is declared twice")
        reads = set(option.applies.options()) if option.applies is not None else set()
        if isinstance(option.default, Default):
            reads.add(option.default.option)
        late = sorted(reads - set(names))
        if late:
            raise ValueError(f"option {option.name!r} depends on {late}, which must be declared before it")
        names.append(option.name)
    return names


def resolve_options(declared: Sequence[Option], user: Mapping[str, Any] | None = None, task: Mapping[str, Any] | None = None,
                    who: str = "component") -> Options:
    """Resolve ``user`` (the ``--param`` values) and ``task`` (the task's defaults) against
    ``declared``; ``who`` names the component in messages (``"iterative"``). See the module's rules."""
    user = dict(user or {})
    task = dict(task or {})
    names = option_names(declared)
    unknown = sorted(set(user) - set(names))
    if unknown:
        valid = ", ".join(names) if names else "none (it takes no options)"
        raise SculptbenchError(f"unknown option {who}.{unknown[0]}; valid: {valid}")
    values: dict[str, Any] = {}
    for option in declared:
        if option.name in user:
            value, source = user[option.name], "user"
        elif option.task and option.name in task:
            value, source = task[option.name], "task"
        else:
            default = option.default
            value, source = (default.pick(values) if isinstance(default, Default) else default), "default"
        checked = option.check(value, who) if source == "user" else None
        if option.applies is not None and not option.applies.holds(values):
            if source == "user":
                raise SculptbenchError(_refusal(option, user[option.name], values, who))
            continue
        values[option.name] = checked if source == "user" else option.check(value, who)
    return Options(values, given=[n for n in names if n in user and n in values])


def _refusal(option: Option, value: Any, values: Mapping[str, Any], who: str) -> str:
    """One line: the option would have no effect, when it would, and what to pass instead."""
    condition = option.applies
    assert condition is not None
    here = ", ".join(f"{name} is {shown(values[name])}" if name in values else f"{name} is not in effect"
                     for name in sorted(condition.options()))
    line = f"option {who}.{option.name}={shown(value)} would have no effect: it applies only when {condition.describe()}"
    if here:
        line += f" (here {here})"
    if option.instead:
        line += "; " + option.instead.format(component=who, value=shown(value))
    return line
