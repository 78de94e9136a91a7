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
    assert example[1:3] == ["sculptbench-example", "0.1.0"], example
    assert "synflow" in example[3] and "spectral" in example[3], example
    assert example[4] == "ok", example


def test_run_with_synflow_and_spectral(example_env, tmp_path):
    db = tmp_path / "r.db"
    # 16 hidden units: at 8 the dense network is untrainable in 20 epochs and no detector would run.
    proc = sculptbench(
        example_env, "run", "--tasks", "bool/input-separable", "--arch", "16", "--seeds", "1", "--epochs", "20",
        "--pruners", "synflow,magnitude", "--detectors", "sculpting,spectral", "--results", str(db), "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    rows = {(r[0], r[1]) for r in table_rows(proc.stdout)}
    # The exemplars set the protocol for every pruner, a plugin's too: nine starts, the most modular of the sparsest.
    labels = ("synflow[sparsest_modularity]", "magnitude[sparsest_modularity]")
    assert rows == {(p, d) for p in labels for d in ("sculpting", "spectral")}, proc.stdout
    from sculptbench.results.store import ResultsStore

    store = ResultsStore(db, create=False)
    try:
        cells = {(c.pruner, c.detector): c for c in store.cells()}
    finally:
        store.close()
    for key, cell in cells.items():
        assert cell.status == "ok", (key, cell.status, cell.error)
        assert "structure.success" in cell.metrics
    synflow = cells[("synflow[sparsest_modularity]", "spectral")]
    assert synflow.density < 0.25
    # The cell records the options the components received, resolved from their declarations.
    assert synflow.config["pruner_params"] == {"densities": [0.05, 0.1, 0.2], "rounds": 100, "restarts": 9,
                                               "select": "sparsest_modularity", "select_detector": "sculpting"}
    assert synflow.config["detector_params"] == {"n_clusters": "auto", "k_max": 8}
    assert synflow.versions["pruner"] == {"package": "sculptbench-example", "package_version": "0.1.0", "version": "0.1.0"}
    assert synflow.versions["detectors"]["spectral"]["package"] == "sculptbench-example"


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
