"""``sculptbench report --throughput``: cells per minute of compute, a shared network's pruning split
among its cells, on hand-built cells whose timings give known figures."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from board_cells import timed_cells, write_db
from conftest import assert_user_error
from sculptbench.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture()
def db(tmp_path):
    return write_db(tmp_path / "t.db", timed_cells())


def rows(db, *extra):
    result = invoke("report", "--results", db, "--throughput", "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "sculptbench.throughput/1"
    return data, {tuple(r["key"][f] for f in data["row_fields"]): r for r in data["rows"]}


def test_by_pruner_each_network_counts_once(db):
    data, by = rows(db)
    assert data["row_fields"] == ["pruner"] and data["untimed"] == 1
    iterative = by[("iterative",)]
    # Pruning 6 (seed 0, once) + 4 (seed 1); detection 1 + 2 + 1; scoring 3 x 0.5.
    assert (iterative["cells"], iterative["networks"]) == (3, 2)
    assert iterative["seconds"] == {"prune": 10.0, "detect": 4.0, "score": 1.5, "total": 15.5}
    assert iterative["cells_per_minute"] == pytest.approx(60 * 3 / 15.5)
    assert iterative["prune_seconds_per_network"] == 5.0
    magnitude = by[("magnitude",)]
    assert (magnitude["cells"], magnitude["networks"], magnitude["seconds"]["prune"]) == (2, 2, 8.0)
    assert magnitude["cells_per_minute"] == pytest.approx(60 * 2 / 10.0)


def test_by_pruner_and_detector_a_shared_network_is_split(db):
    _, by = rows(db, "--group-by", "pruner,detector")
    louvain, sculpting = by[("iterative", "louvain")], by[("iterative", "sculpting")]
    # Seed 0's 6 s split in two (3 + 3), seed 1's 4 s to louvain alone.
    assert louvain["seconds"] == {"prune": 7.0, "detect": 2.0, "score": 1.0, "total": 10.0}
    assert sculpting["seconds"] == {"prune": 3.0, "detect": 2.0, "score": 0.5, "total": 5.5}
    assert louvain["seconds"]["prune"] + sculpting["seconds"]["prune"] == 10.0
    assert louvain["cells_per_minute"] == 12.0 and sculpting["prune_seconds_per_network"] == 6.0


def test_text_and_csv(db):
    text = invoke("report", "--results", db, "--throughput").stdout
    assert "| pruner    |   cells |" not in text  # numbers are not re-aligned as numbers
    (line,) = [li for li in text.splitlines() if li.startswith("| iterative")]
    assert [c.strip() for c in line.strip("|").split("|")] == ["iterative", "3", "2", "10.00", "4.00", "1.50", "15.50", "11.61", "5.00"]
    assert "split evenly among the cells that share it" in text and "1 cells without timings" in text
    (row,) = [r for r in csv.DictReader(io.StringIO(invoke("report", "--results", db, "--throughput", "--format", "csv").stdout))
              if r["pruner"] == "iterative"]
    assert float(row["cells_per_minute"]) == 60 * 3 / 15.5 and row["networks"] == "2"


def test_user_errors(db):
    assert_user_error(invoke("report", "--results", db, "--throughput", "--group-by", "pruner:task"), "--throughput takes rows only")
    assert_user_error(invoke("report", "--results", db, "--throughput", "--group-by", "speed"), "invalid --group-by field 'speed'")
    assert_user_error(invoke("report", "--results", db, "--throughput", "--format", "latex"), "--throughput prints github")
    assert_user_error(invoke("report", "--results", db, "--throughput", "--metric", "time"), "--metric would change nothing with --throughput")
