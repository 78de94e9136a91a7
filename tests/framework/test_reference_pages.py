"""The reference pages docs/pruners.md, detectors.md and scorers.md are generated from the
built-ins' declarations by bench/reference_pages.py, and are never stale."""

from __future__ import annotations

from pathlib import Path

from conftest import load_source

ROOT = Path(__file__).resolve().parents[2]
PAGES = load_source("reference_pages", ROOT / "bench" / "reference_pages.py")


def test_the_reference_pages_match_the_declarations():
    assert PAGES.main(["--check"]) == 0, "a reference page is stale: run `python bench/reference_pages.py`"


def test_every_built_in_and_every_option_is_on_its_page():
    from sculptbench.plugin.registry import load_registry

    registry = load_registry(entry_points=False)
    for kind, name in PAGES.PAGES.items():
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        for component in registry.components[kind].values():
            assert f"## {component.name}\n" in text
            for option in component.declared_options():
                assert f"| {option.name}" in text, f"{kind} {component.name}: option {option.name} missing from docs/{name}"


def test_a_changed_declaration_makes_the_check_fail(monkeypatch, capsys):
    from sculptbench.cli import describe

    monkeypatch.setitem(describe.PAGES, "scorer", ("Scorers", "Another opening paragraph."))
    assert PAGES.main(["--check"]) == 1
    assert "stale: scorers.md" in capsys.readouterr().err
