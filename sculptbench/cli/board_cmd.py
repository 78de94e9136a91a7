"""``sculptbench merge``: one results database from several (docs/reporting.md, "Put your method on
the board")."""

from __future__ import annotations

import click

from sculptbench.cli.common import main, user_errors


@main.command()
@click.argument("databases", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="The merged database to write (must not exist).")
@user_errors
def merge(databases, output):
    """Merge results databases (from other machines or people) into a new one: every run, and each
    cell once; a cell with different results in two databases is refused and nothing is written."""
    from sculptbench.results.merge import merge as merge_databases

    click.echo(merge_databases(databases, output).line())
