"""Descriptions of registered components from their declarations: what ``sculptbench list`` prints
and what the generated reference pages (``docs/pruners.md``, ``docs/detectors.md``,
``docs/scorers.md``; ``bench/reference_pages.py``) hold."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

#: Page title and opening paragraph of each generated reference page.
PAGES = {
    "pruner": ("Pruners", "Every built-in pruner with its options, generated from their declarations by "
               "`python bench/reference_pages.py` (a test fails when this page is stale). The protocol's options "
               "(`restarts`, `select` and the components the rule uses) are every pruner's but `published`'s; "
               "`docs/protocol.md` explains them, `docs/options.md` how options resolve."),
    "detector": ("Detectors", "Every built-in detector with its options, generated from their declarations by "
                 "`python bench/reference_pages.py` (a test fails when this page is stale)."),
    "scorer": ("Scorers", "Every built-in scorer with its metrics and options, generated from their declarations by "
               "`python bench/reference_pages.py` (a test fails when this page is stale). `docs/scoring.md` explains the metrics."),
}


def describe_component(registry: Any, kind: str, name: str) -> dict[str, Any]:
    """A JSON-friendly description of component ``name`` of ``kind``: name, package, version,
    description, citation, and per kind its options (each with type, default, help and when it
    applies), metrics, or a task's shape."""
    component = registry.get(kind, name)
    owner = registry.owner[(kind, name)]
    item: dict[str, Any] = {"name": name, "package": owner.package, "plugin": owner.name,
                            "version": str(getattr(component, "version", "")), "description": _summary(component)}
    if kind == "task":
        item.update(family=component.family, inputs=component.n_inputs, outputs=component.n_outputs,
                    modules=len(component.ground_truth.modules), archs=["x".join(map(str, a)) for a in component.default_archs],
                    data=component.data_source)
        return item
    item["citation"] = getattr(component, "citation", "")
    if kind == "scorer":
        item["metrics"] = sorted(component.metrics)
    protocol = set(getattr(component, "options", ())) if kind == "pruner" else None
    item["options"] = [{**option.to_dict(), "protocol": protocol is not None and option not in protocol}
                       for option in component.declared_options()]
    return item


def _summary(component: Any) -> str:
    if hasattr(component, "summary"):
        return component.summary()
    doc = (type(component).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def options_table(options: list[dict[str, Any]], fmt: str = "github") -> str:
    """A table of options: name, what it accepts, default, when it applies, description."""
    rows = [[f"{o['name']}{' (protocol)' if o.get('protocol') else ''}", o["type"], o["default_text"],
             o["applies"] + ("; a task may set it" if o["task_may_set"] else ""), o["help"]] for o in options]
    return tabulate(rows, headers=["option", "accepts", "default", "applies when", "description"], tablefmt=fmt, disable_numparse=True)


def reference_page(registry: Any, kind: str) -> str:
    """The markdown reference page of the built-in components of ``kind`` (``pruner``, ``detector``, ``scorer``)."""
    title, intro = PAGES[kind]
    lines = [f"# {title}", "", intro, ""]
    builtin = sorted(n for n in registry.components[kind] if registry.owner[(kind, n)].builtin)
    lines += [f"- [`{n}`](#{n}): {_summary(registry.components[kind][n])}" for n in builtin] + [""]
    for name in builtin:
        item = describe_component(registry, kind, name)
        lines += [f"## {name}", "", item["description"], ""]
        lines += [f"Version {item['version']}." + (f" Cites: {item['citation']}." if item.get("citation") else ""), ""]
        if kind == "scorer":
            metrics = registry.components[kind][name].metrics
            lines += [tabulate([[m, metrics[m]] for m in sorted(metrics)], headers=["metric", "meaning"], tablefmt="github"), ""]
        lines += [options_table(item["options"]) if item["options"] else "No options.", ""]
    return "\n".join(lines)
