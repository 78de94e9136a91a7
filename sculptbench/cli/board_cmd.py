"""``sculptbench merge`` (one results database from several: docs/reporting.md, "Put your method on
the board"), and what ``report`` needs for its HTML page, its throughput view and ``-o``."""

from __future__ import annotations

from typing import Any

import click

from sculptbench.cli.common import echo, main, user_errors
from sculptbench.contracts.errors import SculptbenchError


@main.command()
@click.argument("databases", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="The merged database to write (must not exist).")
@user_errors
def merge(databases, output):
    """Merge results databases (from other machines or people) into a new one: every run, and each
    cell once; a cell with different results in two databases is refused and nothing is written."""
    from sculptbench.results.merge import merge as merge_databases

    echo(merge_databases(databases, output).line())


#: ``report`` options that a form of the report has no use for (refused when given).
_NOT_FOR = {
    "html": {"group_by": "--group-by", "columns": "--columns", "show_secondary": "--secondary/--no-secondary", "show_manifest": "--manifest"},
    "throughput": {"metric": "--metric", "columns": "--columns", "show_secondary": "--secondary/--no-secondary", "show_manifest": "--manifest"},
}
_WHY = {
    "html": "the page's table is by family, metric, pruner and detector and shows every headline metric",
    "throughput": "--throughput reports compute time per row",
}


def check_report_options(fmt: str, given: set[str], output: str | None) -> None:
    """Refuse a ``report`` format that does not exist and options that would change nothing."""
    from sculptbench.results import report as report_mod
    from sculptbench.results.throughput import FORMATS as THROUGHPUT_FORMATS

    if fmt not in (*report_mod.FORMATS, "html"):
        raise SculptbenchError(f"invalid --format {fmt!r}; valid: {', '.join((*report_mod.FORMATS, 'html'))}")
    form = "throughput" if "throughput" in given else fmt
    if form == "throughput" and fmt not in THROUGHPUT_FORMATS:
        raise SculptbenchError(f"--throughput prints {', '.join(THROUGHPUT_FORMATS)}; not --format {fmt}")
    for name, flag in _NOT_FOR.get(form, {}).items():
        if name in given:
            raise SculptbenchError(f"{flag} would change nothing with {'--throughput' if form == 'throughput' else '--format html'} "
                                   f"({_WHY[form]}); leave it out")
    if fmt == "html" and output is None:
        raise SculptbenchError("--format html writes a web page: pass -o FILE.html")
    if "cache_dir" in given and fmt != "html":
        raise SculptbenchError("--cache applies only to --format html (where the network drawings come from); leave it out")


def write_output(path: str, text: str) -> None:
    """Write ``text`` (and a final newline) to ``path`` through a temporary file beside it, so a
    failed write leaves nothing half-written."""
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise SculptbenchError(f"cannot write {path}: directory {parent} does not exist; create it or pass another -o path")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise SculptbenchError(f"cannot write {path} ({exc.strerror}); pass another -o path") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file (mkstemp's is private)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SculptbenchError(f"cannot write {path} ({exc.strerror}); pass another -o path") from None


def html_page(store: Any, cells: list, runs: list, results: str, metric: str, untrainable: str, cache_dir: str | None) -> str:
    """The HTML leaderboard of ``cells``: boards, method cards (from the installed plugins'
    declarations) and one network per group from the stage cache."""
    from pathlib import Path

    from sculptbench import __version__
    from sculptbench.cli.common import _registry
    from sculptbench.cli.describe import describe_component
    from sculptbench.results import html_report
    from sculptbench.results.html_networks import network_figures

    boards, selected = html_report.boards_for(cells, metric, runs, untrainable)
    registry = _registry()
    cards = html_report.cards_for(cells, lambda kind, name: describe_component(registry, kind, name))
    from sculptbench.run.cache import cache_root

    cache = Path(cache_root(cache_dir))
    shown = cache_dir or str(cache)
    networks = network_figures(store, cells, registry, cache, shown_as=shown)
    return html_report.render(html_report.Page(boards, selected, cards, networks, source=str(results), version=__version__))
