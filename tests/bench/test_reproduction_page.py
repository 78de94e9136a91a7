"""bench/reproduction.py owns the marked blocks of docs/reproduction.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "reproduction.py"


def script(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd)


def load():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import reproduction
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return reproduction


def test_every_block_on_the_page_is_a_section_of_the_script_and_back():
    done = script("--check")
    assert done.returncode == 0, done.stderr
    reproduction = load()
    page = reproduction.PAGE.read_text()
    assert reproduction.blocks_on_page(page) and set(reproduction.blocks_on_page(page)) == set(reproduction.SECTIONS)
    for sid in reproduction.SECTIONS:
        assert page.count(reproduction.END.format(sid)) == 1, sid


def test_a_block_is_replaced_between_its_markers_only():
    reproduction = load()
    page = "intro\n<!-- reproduction.py: a -->\nold\ntable\n<!-- end reproduction.py: a -->\nprose after\n"
    new = reproduction.replace_block(page, "a", "fresh")
    assert new == "intro\n<!-- reproduction.py: a -->\nfresh\n<!-- end reproduction.py: a -->\nprose after\n"
    assert reproduction.replace_block(new, "a", "fresh") == new


def test_an_unknown_section_is_one_line_and_status_2(tmp_path):
    done = script("--only", "exemplars-8,bogus", "--workdir", str(tmp_path))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: unknown section bogus; known: " + ", ".join(load().SECTIONS) + " (see --list)"]


def test_a_section_that_reads_another_sections_database_needs_it(tmp_path):
    done = script("--only", "overlap", "--workdir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == "error: overlap read the database of 'every-task'; add it to --only"
    assert not list(tmp_path.iterdir()), "nothing is written for bad input"


def test_dry_run_prints_the_commands_and_runs_nothing(tmp_path):
    done = script("--only", "exemplars-8", "--dry-run", "--workdir", str(tmp_path / "w"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == list(load().SECTIONS["exemplars-8"].commands)
    assert not (tmp_path / "w").exists()


def test_a_section_on_the_reference_networks_needs_a_checkout(tmp_path):
    done = script("--only", "published", "--workdir", str(tmp_path))
    assert done.returncode == 2 and "pass --reference-root DIR" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = script("--only", "published", "--workdir", str(tmp_path), "--reference-root", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: --reference-root {tmp_path} has no results/ folder: point it at a checkout of the reference repository"
    assert not list(tmp_path.iterdir())


def test_the_reference_root_replaces_the_pages_checkout_path(tmp_path, monkeypatch):
    reproduction = load()
    seen = []

    class Done:
        pid = 0

    def fake_popen(argv, **kwargs):
        seen.append(argv)
        return Done()

    monkeypatch.setattr(reproduction.subprocess, "Popen", fake_popen)
    monkeypatch.setattr(reproduction.os, "wait4", lambda pid, options: (pid, 0, type("R", (), {"ru_maxrss": 2048})()))
    out, _, rss = reproduction.run_command("sculptbench run --param published.root=../Neural-Sculpting", tmp_path, tmp_path / "ref dir")
    assert seen == [["sculptbench", "run", "--param", f"published.root={tmp_path / 'ref dir'}"]] and rss == 2


def test_a_benchs_headings_go_two_levels_down():
    reproduction = load()
    assert reproduction.demote_headings("# Title\ntext # not\n## Sub") == "### Title\ntext # not\n#### Sub"
