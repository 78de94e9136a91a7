"""Plugin loading: the hook specs, the built-ins and the ``sculptbench`` entry points.

Every plugin, built-in or third-party, goes through :func:`load_registry` the same way: its
module is imported, registered with pluggy, and each of its registration hooks is called with a
``register`` callback that validates what it receives. A plugin is committed only when all of
this succeeds; otherwise it is recorded as failed (with its name, package and error) and
skipped, and nothing it registered is kept.

Component names have owners. A built-in's name cannot be taken: a plugin registering it is
refused that one component. A name that two plugins claim is refused for both (whichever
loaded first), and stays refused for any later claimant, so load order never decides who runs.
Such a plugin keeps its other components; its status is ``clash`` and its ``error`` names the
clashing packages. ``SCULPTBENCH_STRICT_PLUGINS=1`` turns a failure or a clash into an error.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import traceback
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Generic, Iterable, TypeVar

import pluggy

from sculptbench.contracts.cli import CliCommand, CliOption
from sculptbench.contracts.components import Detector, Executor, Pruner, Scorer, Task, TaskSource
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.plugin import hookspecs

C = TypeVar("C")
ENTRY_POINT_GROUP = "sculptbench"
STRICT_ENV = "SCULPTBENCH_STRICT_PLUGINS"
#: A plugin module may list in this attribute the modules its components import on first use
#: (e.g. ``WORKER_IMPORTS = ("sklearn.metrics",)``). Worker processes import them before they take
#: work, so a cell's ``--timeout`` budget measures the cell, not a library's import.
WORKER_IMPORTS = "WORKER_IMPORTS"

#: Built-in plugin modules, loaded exactly like third-party ones.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "sculptbench.plugins.tasks.boolean",
    "sculptbench.plugins.tasks.mnist",
    "sculptbench.plugins.pruners.iterative",
    "sculptbench.plugins.pruners.at_init",
    "sculptbench.plugins.pruners.published",
    "sculptbench.plugins.pruners.sparse_training",
    "sculptbench.plugins.detectors.sculpting",
    "sculptbench.plugins.detectors.louvain",
    "sculptbench.plugins.detectors.spectral",
    "sculptbench.plugins.detectors.leiden",
    "sculptbench.plugins.detectors.paris",
    "sculptbench.plugins.detectors.infomap",
    "sculptbench.plugins.detectors.activation",
    "sculptbench.plugins.detectors.controls",
    "sculptbench.plugins.scorers.structure",
    "sculptbench.plugins.scorers.clusterability",
    "sculptbench.plugins.executors.local",
    "sculptbench.plugins.executors.dask",
)

#: kind -> (hook name, required base class)
COMPONENT_KINDS: dict[str, tuple[str, type]] = {
    "task": ("register_tasks", Task),
    "pruner": ("register_pruners", Pruner),
    "detector": ("register_detectors", Detector),
    "scorer": ("register_scorers", Scorer),
    "executor": ("register_executors", Executor),
    "task_source": ("register_task_sources", TaskSource),
    "cli_option": ("register_cli_options", CliOption),
    "command": ("register_commands", CliCommand),
}


class _Components(Generic[C]):
    """A :class:`Registry` attribute: the registered components of one kind, by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __get__(self, registry: Registry | None, owner: type | None = None) -> dict[str, C]:
        return registry.components[self.kind] if registry is not None else self  # type: ignore[return-value]


@dataclass
class PluginRecord:
    """What sculptbench knows about one plugin, loaded or not."""

    name: str
    package: str
    version: str
    builtin: bool
    status: str = "ok"
    error: str | None = None
    registers: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (used by ``sculptbench plugins --json``)."""
        return {
            "name": self.name,
            "package": self.package,
            "version": self.version,
            "builtin": self.builtin,
            "status": self.status,
            "error": self.error,
            "registers": self.registers,
        }


class Registry:
    """All loaded components by kind and name, with the plugin each came from."""

    def __init__(self, plugin_manager: pluggy.PluginManager):
        self.plugin_manager = plugin_manager
        self.components: dict[str, dict[str, Any]] = {kind: {} for kind in COMPONENT_KINDS}
        self.owner: dict[tuple[str, str], PluginRecord] = {}
        self.plugins: list[PluginRecord] = []
        #: (kind, name) -> the plugins that claimed a name refused to all of them (no owner).
        self.contested: dict[tuple[str, str], list[PluginRecord]] = {}

    #: Registered tasks, pruners, detectors and scorers, each by name.
    tasks = _Components[Task]("task")
    pruners = _Components[Pruner]("pruner")
    detectors = _Components[Detector]("detector")
    scorers = _Components[Scorer]("scorer")
    task_sources = _Components[TaskSource]("task_source")
    cli_options = _Components[CliOption]("cli_option")
    commands = _Components[CliCommand]("command")

    def task_source_for(self, selector: str) -> TaskSource | None:
        """The first task source (by name) that takes ``selector``, or ``None``."""
        for name in sorted(self.task_sources):
            if self.task_sources[name].matches(selector):
                return self.task_sources[name]
        return None

    def failed(self) -> list[PluginRecord]:
        """Plugins that failed to load or lost a component to a name clash (status ``clash``)."""
        return [p for p in self.plugins if p.status != "ok"]

    def get(self, kind: str, name: str) -> Any:
        """The component ``name`` of ``kind``, or a :class:`SculptbenchError` listing the valid names
        (or naming the packages whose clash left the name without an owner)."""
        try:
            return self.components[kind][name]
        except KeyError:
            if (kind, name) in self.contested:
                raise SculptbenchError(
                    f"{kind} {name!r} is registered by {_packages(self.contested[(kind, name)])}, so none of them is used; "
                    "uninstall all but one (see `sculptbench plugins`)"
                ) from None
            available = ", ".join(sorted(self.components[kind])) or "none"
            raise SculptbenchError(f"unknown {kind} {name!r}; available: {available}") from None

    def version_of(self, kind: str, name: str) -> dict[str, str]:
        """Plugin package and component version of a component, for result records."""
        record = self.owner[(kind, name)]
        component = self.components[kind][name]
        return {"package": record.package, "package_version": record.version, "version": str(getattr(component, "version", ""))}

    def add_plugin(self, plugin: ModuleType | object, name: str, package: str, version: str, builtin: bool = False) -> PluginRecord:
        """Register one plugin object transactionally and return its record.

        Used for built-ins, entry points and tests alike.
        """
        record = PluginRecord(name=name, package=package, version=version, builtin=builtin)
        self.plugins.append(record)
        staged: dict[str, dict[str, Any]] = {kind: {} for kind in COMPONENT_KINDS}
        try:
            self.plugin_manager.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - any plugin error is isolated
            return self._fail(record, exc)
        unknown = [c.name for c in self.plugin_manager.get_hookcallers(plugin) or [] if not c.has_spec()]
        if unknown:
            self.plugin_manager.unregister(name=name)
            return self._fail(record, SculptbenchError(f"unknown hook {unknown[0]!r}; valid hooks: {', '.join(valid_hooks())}"))
        try:
            for kind, (hook_name, base) in COMPONENT_KINDS.items():
                for impl in getattr(self.plugin_manager.hook, hook_name).get_hookimpls():
                    if impl.plugin_name == name:
                        impl.function(register=self._register_callback(kind, base, record, staged))
        except Exception as exc:  # noqa: BLE001
            self.plugin_manager.unregister(name=name)
            return self._fail(record, exc)
        clashes: list[str] = []
        for kind, items in staged.items():
            for comp_name, component in items.items():
                clash = self._claim(kind, comp_name, component, record)
                if clash:
                    clashes.append(clash)
            if self._owned(kind, record):
                record.registers[kind] = self._owned(kind, record)
        if clashes:
            self._clash(record, clashes)
        return record

    def _owned(self, kind: str, record: PluginRecord) -> list[str]:
        return sorted(n for (k, n), owner in self.owner.items() if k == kind and owner is record)

    def _claim(self, kind: str, name: str, component: Any, record: PluginRecord) -> str | None:
        """Give ``name`` to ``record`` unless it is taken; return the clash message otherwise."""
        key = (kind, name)
        if key in self.contested:
            self.contested[key].append(record)
            for other in self.contested[key][:-1]:
                self._clash(other, [f"{kind} {name!r} is also registered by package {record.package!r} (plugin {record.name!r}); refused"])
            return f"{kind} {name!r} is also registered by {_packages(self.contested[key][:-1])}; refused for all of them"
        other = self.owner.get(key)
        if other is None:
            self.components[kind][name] = component
            self.owner[key] = record
            return None
        if other.builtin:
            return f"{kind} {name!r} is a built-in name of package {other.package!r}; the built-in stays and this one is refused"
        # Two third-party claimants: neither gets the name, whichever loaded first.
        del self.components[kind][name]
        del self.owner[key]
        self.contested[key] = [other, record]
        other.registers[kind] = self._owned(kind, other)
        if not other.registers[kind]:
            del other.registers[kind]
        self._clash(other, [f"{kind} {name!r} is also registered by package {record.package!r} (plugin {record.name!r}); refused for both"])
        return f"{kind} {name!r} is also registered by package {other.package!r} (plugin {other.name!r}); refused for both"

    def _clash(self, record: PluginRecord, messages: list[str]) -> None:
        """Mark ``record`` as having lost names to a clash (its other components stay loaded)."""
        if record.status == "failed":
            return
        record.status = "clash"
        text = "; ".join(messages)
        record.error = f"name clash: {text}" if not record.error else f"{record.error}; {text}"
        if strict_plugins():
            raise SculptbenchError(
                f"plugin {record.name!r} from package {record.package!r}: {record.error} ({STRICT_ENV}=1 makes this an error)"
            )

    def _register_callback(self, kind: str, base: type, record: PluginRecord, staged: dict[str, dict[str, Any]]) -> Callable[[Any], None]:
        def register(component: Any) -> None:
            if not isinstance(component, base):
                raise SculptbenchError(
                    f"{COMPONENT_KINDS[kind][0]} got {type(component).__name__!r}; expected an instance of sculptbench.api.{base.__name__}"
                )
            comp_name = getattr(component, "name", None)
            if not isinstance(comp_name, str) or not comp_name.strip():
                raise SculptbenchError(f"a {kind} of type {type(component).__name__!r} has no name; set its `name` attribute")
            if comp_name in staged[kind]:
                raise SculptbenchError(f"duplicate {kind} name {comp_name!r}: registered twice by package {record.package!r}")
            staged[kind][comp_name] = component

        return register

    def _fail(self, record: PluginRecord, exc: BaseException) -> PluginRecord:
        record.status = "failed"
        message = " ".join(str(exc).split())
        record.error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        if strict_plugins():
            raise SculptbenchError(
                f"plugin {record.name!r} from package {record.package!r} failed: {record.error} ({STRICT_ENV}=1 makes this an error)"
            ) from exc
        return record


def _packages(records: list[PluginRecord]) -> str:
    """``packages 'a' (plugin 'x') and 'b' (plugin 'y')`` for clash messages."""
    names = [f"{r.package!r} (plugin {r.name!r})" for r in records]
    return "packages " + (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0])


def valid_hooks() -> list[str]:
    """Names of the hooks a plugin may implement."""
    return sorted(name for name in dir(hookspecs) if name.startswith("register_"))


def strict_plugins() -> bool:
    """Whether plugin failures are errors (``SCULPTBENCH_STRICT_PLUGINS=1``)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def get_plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager with sculptbench's hook specs added (no plugins registered yet)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def _own_version() -> str:
    from sculptbench import __version__

    return __version__


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def load_registry(entry_points: bool = True, extra: Iterable[tuple[str, object]] = ()) -> Registry:
    """Build a registry: the built-ins, then every ``sculptbench`` entry point, then ``extra``.

    ``extra`` is a sequence of ``(name, plugin object)`` pairs, for tests. Each plugin is
    loaded on its own; one that fails is recorded and skipped.
    """
    registry = Registry(get_plugin_manager())
    for module_name in BUILTIN_PLUGINS:
        short = module_name.rsplit(".", 1)[-1]
        _load_module(registry, f"builtin:{short}", lambda m=module_name: importlib.import_module(m), "sculptbench", _own_version(), True)
    if entry_points:
        for ep in _entry_points():
            dist = getattr(ep, "dist", None)
            package = dist.name if dist is not None else ep.value.split(":")[0].split(".")[0]
            version = dist.version if dist is not None else "unknown"
            _load_module(registry, ep.name, ep.load, package, version, False)
    for name, plugin in extra:
        registry.add_plugin(plugin, name=name, package=getattr(plugin, "__name__", name), version="test", builtin=False)
    return registry


def worker_imports(plugins: Iterable[object]) -> list[str]:
    """The module names that ``plugins`` list in their :data:`WORKER_IMPORTS` attribute, in order."""
    names: list[str] = []
    for plugin in plugins:
        listed = getattr(plugin, WORKER_IMPORTS, ())
        if isinstance(listed, (list, tuple)):
            names.extend(n for n in listed if isinstance(n, str) and n not in names)
    return names


def worker_preload() -> list[str]:
    """The modules a worker process should import before it takes work: the run's machinery, the
    built-in plugins and the :data:`WORKER_IMPORTS` of those already loaded here (for a fork server)."""
    import sys

    builtins = [sys.modules[name] for name in BUILTIN_PLUGINS if name in sys.modules]
    return ["sculptbench.run.running", *BUILTIN_PLUGINS, *worker_imports(builtins)]


def warm_up(registry: Registry) -> list[str]:
    """Import the :data:`WORKER_IMPORTS` of every loaded plugin; return the names that failed.

    A module that fails to import is skipped: the component that needs it fails in its own cell.
    """
    failed = []
    for name in worker_imports(registry.plugin_manager.get_plugins()):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a broken plugin must not take a worker down
            failed.append(name)
    return failed


def _load_module(registry: Registry, name: str, loader: Callable[[], object], package: str, version: str, builtin: bool) -> None:
    try:
        plugin = loader()
    except Exception as exc:  # noqa: BLE001 - an import error must not take the CLI down
        record = PluginRecord(name=name, package=package, version=version, builtin=builtin)
        registry.plugins.append(record)
        registry._fail(record, exc)
        record.error = (record.error or "") + f" (at import: {traceback.extract_tb(exc.__traceback__)[-1].filename})"
        return
    registry.add_plugin(plugin, name=name, package=package, version=version, builtin=builtin)
