"""The user pages (README.md and docs/*.md; docs/results/ quotes what ran, and is left out) name only
what exists: every repository path, every link, every ``sculptbench.*`` module or attribute, and
every ``sculptbench`` command line parses with the CLI, with options that the named built-ins
declare. Fast: no command runs, click parses them."""

from __future__ import annotations

import glob
import importlib
import re
import shlex
import warnings
from pathlib import Path

import click
import pytest

from sculptbench.cli import main as cli_main
from sculptbench.cli.common import plugin_registry

ROOT = Path(__file__).resolve().parents[2]
USER_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Top-level folders of the repository: a path that starts with one names a file of ours.
TOP = ("sculptbench", "plugins", "tests", "bench", "docs", "tasks", "examples")
#: Fences whose text is the reader's own code (a plugin author's files), not this repository's.
FOREIGN_FENCES = ("python", "yaml", "toml", "json")
SHELL_FENCES = ("bash", "sh", "shell", "console")
REPO_PATH = re.compile(r"(?<![\w./~-])((?:%s)/[\w./*{},-]*)" % "|".join(TOP))
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOTTED = re.compile(r"`[^`]*?\b(sculptbench(?:\.[A-Za-z_]\w*)+)(?![\w/])")
OUTSIDE = re.compile(r"(?<![\w.])(\.\./[\w./-]+|/tmp/[\w./-]*)")


def page_parts(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str, str]]]:
    """The page's prose lines and its fenced lines as (line number, fence language, text)."""
    prose, fenced, fence = [], [], None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fence = None if fence is not None else line.strip()[3:].strip().lower()
            continue
        if fence is None:
            prose.append((number, line))
        else:
            fenced.append((number, fence, line))
    return prose, fenced


def inline_code(line: str) -> list[str]:
    return re.findall(r"`([^`]+)`", line)


def exists(path: str) -> bool:
    path = path.rstrip(".,:;")
    if any(c in path for c in "*{"):
        pattern = re.sub(r"\{[^}]*\}", "*", path)
        return bool(glob.glob(str(ROOT / pattern), recursive=True))
    return (ROOT / path).exists()


def named_paths(path: Path) -> list[tuple[int, str]]:
    """Repository paths a page names: in prose and inline code, and in its shell fences (other
    fences show output, such as an error message about a file of the reader's)."""
    prose, fenced = page_parts(path)
    lines = prose + [(n, text) for n, lang, text in fenced if lang in SHELL_FENCES]
    return [(n, match) for n, line in lines for match in REPO_PATH.findall(line)]


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_repository_path_a_user_page_names_exists(page):
    missing = [f"{page.name}:{n}: {p}" for n, p in named_paths(page) if not exists(p)]
    assert not missing, "stale paths:\n" + "\n".join(missing)


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_of_a_user_page_leads_to_a_file_of_the_repository(page):
    broken = []
    for n, line in page_parts(page)[0]:
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            resolved = (page.parent / target.split("#")[0]).resolve()
            if not resolved.exists() or ROOT not in resolved.parents:
                broken.append(f"{page.name}:{n}: {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_user_page_names_no_temporary_path_or_path_outside_the_repository(page):
    found = [f"{page.name}:{n}: {m}" for n, line in page_parts(page)[0] + [(n, t) for n, _, t in page_parts(page)[1]]
             for m in OUTSIDE.findall(re.sub(r"\]\([^)]*\)", "", line))]
    assert not found, "\n".join(found)


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` is an importable module, or an attribute of the longest importable prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_sculptbench_name_a_user_page_quotes_resolves(page):
    stale = [f"{page.name}:{n}: {name}" for n, line in page_parts(page)[0]
             for name in DOTTED.findall(line) if not resolves(name)]
    assert not stale, "names that do not resolve:\n" + "\n".join(stale)


def command_lines(path: Path) -> list[tuple[int, str, bool]]:
    """``sculptbench ...`` command lines of a page as (line, command, whole): from its fences other
    than the reader's code (continuations joined; ``whole``: a command to copy, so it must be
    complete) and from its inline code (``whole`` false: a mention such as ``sculptbench plot --kind
    network`` may leave out a required option); inline ones with placeholders (``NAME``, ``...``,
    ``[--json]``) are left out. Each is cut at a pipe, redirect, ``&&`` or comment by :func:`argv`."""
    prose, fenced = page_parts(path)
    out, pending = [], None
    for n, lang, text in fenced:
        if lang in FOREIGN_FENCES:
            continue
        text = text.strip()
        if pending is not None:
            (n, text), pending = (pending[0], pending[1] + " " + text), None
        if text.endswith("\\"):
            pending = (n, text[:-1])
            continue
        found = re.search(r"(?:^|\s|\$ |&& )(sculptbench\s.*)$", text)
        if found:
            out.append((n, found.group(1), True))
    for n, line in prose:
        for code in inline_code(line):
            if code.startswith("sculptbench ") and not re.search(r"\.\.\.|\[|\b[A-Z][A-Z_]*[A-Z]\b|\bN\b", code):
                out.append((n, code, False))
    return out


def argv(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = []
    for word in lexer:
        if word and set(word) <= set("|&;<>"):
            break
        words.append(word)
    return words[1:]  # without "sculptbench"


def unparsed(ctx: click.Context) -> list[str]:
    """What a group's context left for its subcommand (Click 8 keeps the command name apart, in
    ``protected_args``; Click 9 keeps everything in ``args``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*getattr(ctx, "protected_args", ()), *ctx.args]


def parse(args: list[str], complete: bool = True) -> click.Context:
    """Parse ``sculptbench ARGS`` as the CLI would, down to the last subcommand; nothing runs.
    ``complete=False`` accepts a mention that leaves out a required option or argument (every
    option it names must still exist and take its value)."""
    ctx = cli_main.make_context("sculptbench", list(args), resilient_parsing=False)
    command = cli_main
    rest = unparsed(ctx)
    while isinstance(command, click.Group) and rest:
        name, rest = rest[0], rest[1:]
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r}"
        try:
            ctx, command = sub.make_context(name, list(rest), parent=ctx), sub
        except click.MissingParameter:
            if complete:
                raise
            ctx, command = sub.make_context(name, list(rest), parent=ctx, resilient_parsing=True), sub
        rest = unparsed(ctx) if isinstance(sub, click.Group) else []
    return ctx


def params_known(ctx: click.Context) -> list[str]:
    """``--param NAME.KEY`` settings of a built-in component whose KEY it does not declare."""
    registry = plugin_registry()
    unknown = []
    for item in ctx.params.get("params") or ():
        name, key = item.split("=", 1)[0].split(".", 1)
        for kind in ("pruner", "detector", "scorer"):
            component = registry.components[kind].get(name)
            if component is not None and key not in {o.name for o in component.declared_options()}:
                unknown.append(item)
    return unknown


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_sculptbench_command_of_a_user_page_parses(page):
    bad = []
    for n, command, whole in command_lines(page):
        try:
            ctx = parse(argv(command), complete=whole)
        except (click.UsageError, AssertionError) as exc:
            bad.append(f"{page.name}:{n}: {command}\n    {exc}")
            continue
        unknown = params_known(ctx)
        if unknown:
            bad.append(f"{page.name}:{n}: {command}\n    undeclared options: {', '.join(unknown)}")
    assert not bad, "commands that do not parse:\n" + "\n".join(bad)


def test_the_checks_find_what_they_look_for(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("See `sculptbench/engine.py` and [x](missing.md), `sculptbench.api.NoSuchThing`.\n"
                    "```bash\nsculptbench run --tasks exemplars \\\n    --param iterative.auto_restarts=3 | tee log\n```\n"
                    "```python\n# tests/test_plugin.py\n```\nInline `sculptbench list pruners NAME` is a template.\n")
    assert named_paths(page) == [(1, "sculptbench/engine.py")] and not exists("sculptbench/engine.py")
    assert exists("tasks/bool/**/*.yaml") and exists("plugins/")
    assert [m for _, line in page_parts(page)[0] for m in LINK.findall(line)] == ["missing.md"]
    assert DOTTED.findall(page.read_text().splitlines()[0]) == ["sculptbench.api.NoSuchThing"]
    assert not resolves("sculptbench.api.NoSuchThing") and resolves("sculptbench.api.Option")
    assert resolves("sculptbench.plugins.tasks.mnist.data.DATA_SEED")
    [(n, command, whole)] = command_lines(page)
    assert n == 3 and whole and argv(command) == ["run", "--tasks", "exemplars", "--param", "iterative.auto_restarts=3"]
    assert params_known(parse(argv(command))) == ["iterative.auto_restarts=3"]
    with pytest.raises(click.UsageError):
        parse(["run", "--no-such-option"])
    with pytest.raises(click.UsageError):
        parse(["report", "--format"])
    with pytest.raises(click.MissingParameter):
        parse(["plot", "--kind", "network"])
    assert parse(["plot", "--kind", "network"], complete=False).params["kind"] == "network"
    with pytest.raises(click.UsageError):
        parse(["plot", "--kind", "network", "--no-such-option"], complete=False)
    assert OUTSIDE.findall("(`../shared/x.md`) and --results /tmp/a.db") == ["../shared/x.md", "/tmp/a.db"]
