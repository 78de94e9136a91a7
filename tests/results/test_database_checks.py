"""A damaged or garbled results database is caught (issue 32, finding 5): opening one runs SQLite's
quick_check, `runs --check` the full integrity_check; every field read is checked, and a bad one
is one line naming the cell (run, key) and the field, exit status 2, before `run` writes anything;
what a database holds is printed without its terminal control sequences."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import assert_user_error

from sculptbench.cli import main
from sculptbench.cli.common import terminal_safe

TASK = "bool/input-separable"
FAST = ["--tasks", TASK, "--arch", "24", "--epochs", "30", "--pruners", "dense", "--detectors", "louvain", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A real database: two seeds of a fast grid, one run."""
    db = tmp_path_factory.mktemp("finished") / "r.db"
    result = invoke("run", *FAST, "--seeds", 2, "--results", db)
    assert result.exit_code == 0, result.output
    sql(db, "PRAGMA wal_checkpoint(TRUNCATE)")  # every row in the file itself, so that a copy of it holds them
    return db


@pytest.fixture
def db(finished, tmp_path):
    copy = tmp_path / "r.db"
    shutil.copyfile(finished, copy)
    return copy


def sql(db: Path, statement: str, *args) -> list:
    conn = sqlite3.connect(db)
    rows = conn.execute(statement, args).fetchall()
    conn.commit()
    conn.close()
    return rows


def commands(db: Path, tmp_path: Path) -> dict[str, list]:
    """Every command that reads the database, as it would be typed; `run` adds a third seed to
    the finished grid, so it has a cell to write."""
    (run_id,) = sql(db, "SELECT run_id FROM runs")[0]
    return {
        "runs": ["runs", "--results", db],
        "report": ["report", "--results", db],
        "plot": ["plot", "--kind", "bars", "-o", tmp_path / "bars.png", "--results", db],
        "run": ["run", *FAST, "--seeds", 3, "--results", db],
        "resume": ["run", "--resume", run_id, "--seeds", 3, "--results", db],
        "check": ["runs", "--check", "--results", db],
    }


# --------------------------------------------------------------------------- a damaged file
def damage_last_pages(db: Path) -> None:
    """Flip the page-type byte of the last two pages: b-tree pages SQLite no longer recognises."""
    data = bytearray(db.read_bytes())
    size = sql(db, "PRAGMA page_size")[0][0]
    pages = len(data) // size
    for page in (pages - 1, pages):
        data[(page - 1) * size] ^= 0xFF
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("command", ["runs", "report", "plot", "run", "check"])
def test_a_damaged_file_is_refused_before_anything_is_written(db, tmp_path, command):
    """Before, flipped bytes beyond page 1 went unnoticed: `runs`, `report` and `run` exited 0 and
    `run` appended to the damaged file."""
    args = commands(db, tmp_path)[command]
    damage_last_pages(db)
    before = db.read_bytes()
    result = invoke(*args)
    assert_user_error(result, f"results database {db} is damaged", "restore a copy")
    assert db.read_bytes() == before
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0


def test_runs_check_runs_the_full_integrity_check(db, tmp_path):
    """An index that disagrees with its table passes quick_check (opening stays cheap) but not
    `runs --check`."""
    ok = invoke(*commands(db, tmp_path)["check"])
    assert ok.exit_code == 0 and ok.stdout.startswith(f"ok: {db} passed SQLite's integrity_check"), ok.output
    assert "2 cell rows" in ok.stdout
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA writable_schema = ON")  # the index now claims to cover another column: its entries no longer match
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX cells_by_key ON cells (task)' WHERE name = 'cells_by_key'")
    conn.commit()
    conn.close()
    assert invoke(*commands(db, tmp_path)["runs"]).exit_code == 0
    result = invoke(*commands(db, tmp_path)["check"])
    assert_user_error(result, "is damaged (integrity_check: row 1 missing from index cells_by_key")


# --------------------------------------------------------------------------- garbled fields
GARBLED = {
    "metrics not JSON": ("UPDATE cells SET metrics = '{\"structure.success\": tru' WHERE seed = 0", "cell", "field metrics is not valid JSON"),
    "a metric 'yes'": ("UPDATE cells SET metrics = '{\"structure.success\": \"yes\"}' WHERE seed = 0", "cell",
                       "field metrics holds 'structure.success' = 'yes', which is not a score value"),
    "metrics 5000 arrays deep": ("UPDATE cells SET metrics = '" + "[" * 5000 + "]" * 5000 + "' WHERE seed = 0", "cell",
                                 "field metrics is nested deeper than 32 levels"),
    "metrics a number": ("UPDATE cells SET metrics = 7 WHERE seed = 0", "cell", "field metrics is a JSON number, not a JSON object"),
    "metrics a blob": ("UPDATE cells SET metrics = X'00ff' WHERE seed = 0", "cell", "field metrics is a blob of 2 bytes, not JSON text"),
    "a status of its own": ("UPDATE cells SET status = 'won' WHERE seed = 0", "cell", "field status is 'won', not one of"),
    "created as text": ("UPDATE cells SET created = 'yesterday' WHERE seed = 0", "cell", "field created is the text 'yesterday', not a time"),
    "run config [1,2": ("UPDATE runs SET config = '[1,2'", "run", "field config is not valid JSON"),
    "run config an array": ("UPDATE runs SET config = '[1, 2]'", "run", "field config is a JSON array, not a JSON object"),
}
#: Which commands read which damage (`runs` lists runs, not cells; `--check` reads everything).
READS = {"cell": ("report", "plot", "run", "check"), "run": ("runs", "report", "resume", "check")}


@pytest.mark.parametrize("damage", sorted(GARBLED))
def test_a_garbled_field_is_one_line_naming_the_row_and_the_field(db, tmp_path, damage):
    """Before, each of these gave a traceback and exit status 1; a later `run` wrote all its cells
    and then failed."""
    statement, row, fragment = GARBLED[damage]
    (run_id, key) = sql(db, "SELECT run_id, cell_key FROM cells WHERE seed = 0")[0]
    sql(db, statement)
    rows = sql(db, "SELECT id, run_id, cell_key FROM cells ORDER BY id")
    named = f"run '{run_id}', cell '{key}'" if row == "cell" else f"run '{run_id}'"
    for name, args in commands(db, tmp_path).items():
        if name not in READS[row]:
            continue
        line = assert_user_error(invoke(*args), named, fragment)
        assert "the database is damaged or was edited" in line, (name, line)
        assert sql(db, "SELECT id, run_id, cell_key FROM cells ORDER BY id") == rows, f"{name} wrote to a damaged database"


def test_config_nested_beyond_the_bound_is_refused_where_it_is_read(db, tmp_path):
    """`plot --kind curve` decodes a cell's whole config."""
    sql(db, "UPDATE cells SET config = ? WHERE seed = 0", '{"a": ' * 5000 + "1" + "}" * 5000)
    key = sql(db, "SELECT cell_key FROM cells WHERE seed = 0")[0][0]
    result = invoke("plot", "--kind", "curve", "--seed", 0, "-o", tmp_path / "c.png", "--results", db)
    assert_user_error(result, f"cell '{key}': field config is nested deeper than 32 levels")


def test_a_garbled_claim_is_refused_before_a_process_is_signalled(db, tmp_path):
    key = sql(db, "SELECT cell_key FROM cells WHERE seed = 0")[0][0]
    sql(db, "DELETE FROM cells WHERE seed = 0")
    sql(db, "INSERT INTO claims (cell_key, run_id, host, pid, claimed) VALUES (?, 'x', 'h', 'not a pid', 0)", key)
    result = invoke("run", *FAST, "--seeds", 2, "--results", db)
    assert_user_error(result, f"claim of cell '{key}': field pid is the text 'not a pid', not an integer")


# --------------------------------------------------------------------------- control sequences
OSC52 = "\x1b]52;c;aGFja2Vk\x07"  # writes "hacked" to the reader's clipboard
DCS = "\x1bP1$qm\x1b\\"
C1_CSI = "\x9b2J"  # the 8-bit form of "clear the screen"
BELL_AND_CR = "\x07\r"


def no_controls(text: str) -> bool:
    return not any(ch in text for ch in "\x1b\x07\r\x9b\x9d\x90\x9c\x00")


def test_what_a_database_holds_reaches_the_terminal_without_control_sequences(db, tmp_path):
    """Before, `sculptbench runs` printed a recorded command's OSC, DCS and C1 sequences raw."""
    sql(db, "UPDATE runs SET command = ?", f"sculptbench run {OSC52}--seeds 2{DCS} {C1_CSI}{BELL_AND_CR}end")
    sql(db, "UPDATE cells SET pruner = ?", f"dense{OSC52}")
    listed = invoke("runs", "--results", db)
    assert listed.exit_code == 0, listed.output
    assert no_controls(listed.output) and "sculptbench run --seeds 2 end" in listed.stdout, repr(listed.stdout)
    as_json = invoke("runs", "--json", "--results", db)
    assert no_controls(as_json.output)
    assert json.loads(as_json.stdout)[0]["command"].startswith(f"sculptbench run {OSC52}")  # JSON keeps the data, escaped
    for args in (["report", "--results", db], ["report", "--format", "csv", "--results", db], ["run", *FAST, "--seeds", 2, "--results", db]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert no_controls(result.output) and "dense" in result.stdout, (args, repr(result.output))


def test_a_one_line_error_is_stripped_too(tmp_path):
    result = invoke("report", "--run", f"x{OSC52}", "--results", tmp_path / f"missing{C1_CSI}.db")
    line = assert_user_error(result)
    assert no_controls(result.stderr), repr(line)


@pytest.mark.parametrize("text, shown", [
    ("plain é × text\twith tab\nand newline", "plain é × text\twith tab\nand newline"),
    (f"a{OSC52}b", "ab"),
    ("a\x1b]0;title\x1b\\b", "ab"),
    (f"a{DCS}b", "ab"),
    ("a\x1b[31mred\x1b[0mb", "aredb"),
    ("a\x9d52;c;x\x9cb", "ab"),
    ("a\x90dcs\x9cb", "ab"),
    ("a\x1b_apc\x1b\\b\x1b^pm\x1b\\c\x1bXsos\x1b\\d", "abcd"),
    ("a\x1b(Bb\x1b7c", "abc"),
    ("a\x00\x08\x7f\x85b", "ab"),
    ("a\x1b]52;c;unterminated", "a"),
])
def test_terminal_safe_strips_every_control_sequence(text, shown):
    assert terminal_safe(text) == shown
