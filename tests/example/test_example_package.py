"""The example plugin package (``examples/sculptbench-example``) installed for real and used.

The package is pip-installed from a copy into a temporary directory put on ``PYTHONPATH`` of
subprocesses, so it is found only through its ``sculptbench`` entry point, exactly as a user's
plugin would be. Its own contract tests (``sculptbench.plugin.testing``) run in a subprocess too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pip_install_env, run_sculptbench

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sculptbench-example"


@pytest.fixture(scope="module")
def example_env(tmp_path_factory):
    """Environment for a subprocess that sees the installed example package."""
    return pip_install_env(tmp_path_factory.mktemp("example_package"), [EXAMPLE])


sculptbench = run_sculptbench


def table_rows(stdout):
    """The body rows of a GitHub-style table, as lists of stripped cells (header excluded)."""
    lines = [line for line in stdout.splitlines() if line.startswith("|") and not line.startswith("|--")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:]]


def test_plugins_lists_the_example(example_env):
    proc = sculptbench(example_env, "plugins")
    assert proc.returncode == 0, proc.stderr
    rows = {row[0]: row for row in table_rows(proc.stdout)}
    example = rows["example"]
    assert example[1:3] == ["sculptbench-example", "0.2.0"], example
    assert "gradual" in example[3] and "greedy" in example[3], example
    assert example[4] == "ok", example


@pytest.mark.slow
def test_run_with_gradual_and_greedy(example_env, tmp_path):
    db = tmp_path / "r.db"
    # 16 hidden units: at 8 the dense network is untrainable in 20 epochs and no detector would run.
    proc = sculptbench(
        example_env, "run", "--tasks", "bool/input-separable", "--arch", "16", "--seeds", "1", "--epochs", "20",
        "--pruners", "gradual,magnitude", "--detectors", "sculpting,greedy", "--param", "gradual.restarts=1",
        "--param", "gradual.steps=2", "--results", str(db), "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    rows = {(r[0], r[1]) for r in table_rows(proc.stdout)}
    assert rows == {(p, d) for p in ("gradual", "magnitude[sparsest_modularity]") for d in ("sculpting", "greedy")}, proc.stdout
    from sculptbench.results.store import ResultsStore

    store = ResultsStore(db, create=False)
    try:
        cells = {(c.pruner, c.detector): c for c in store.cells()}
    finally:
        store.close()
    for key, cell in cells.items():
        assert cell.status == "ok", (key, cell.status, cell.error)
        assert "structure.success" in cell.metrics
    gradual = cells[("gradual", "greedy")]
    assert gradual.density < 0.5 and len(gradual.config["history"]) >= 5
    assert gradual.versions["pruner"] == {"package": "sculptbench-example", "package_version": "0.2.0", "version": "0.2.0"}
    assert gradual.versions["detectors"]["greedy"]["package"] == "sculptbench-example"


@pytest.mark.slow
def test_example_contract_tests_pass(example_env, tmp_path):
    tests = tmp_path / "tests"
    shutil.copytree(EXAMPLE / "tests", tests, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tests), "-q", "-p", "no:cacheprovider"],
        capture_output=True, text=True, env=example_env, cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 20, summary  # the inherited contract tests ran
