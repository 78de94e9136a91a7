"""Third-party plugins installed for real (pip, entry points) and driven through the CLI.

``tests/plugins/sculptbench-demo-plugin`` adds a detector and a scorer;
``tests/plugins/sculptbench-broken-plugin`` holds four entry points that each fail differently.
Both are pip-installed into a temporary directory that is put on ``PYTHONPATH`` of a
``sculptbench`` subprocess, so the plugins are found exactly as a user's would be.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import pip_install_env, run_sculptbench

HERE = Path(__file__).resolve().parents[1]  # tests/
PACKAGES = ("sculptbench-demo-plugin", "sculptbench-broken-plugin")
BUILTINS = ("builtin:boolean", "builtin:iterative", "builtin:sculpting", "builtin:louvain", "builtin:structure")
BROKEN = {
    "broken-import": "ImportError",
    "broken-register": "RuntimeError",
    "broken-validate": "SculptbenchError",
}
#: The clash of ``duplicate`` (a built-in's name) as ``sculptbench plugins`` reports it.
CLASH = "name clash: pruner 'magnitude' is a built-in name of package 'sculptbench'; the built-in stays and this one is refused"


@pytest.fixture(scope="session")
def plugin_env(tmp_path_factory):
    """Environment for a subprocess that sees both test plugin packages through their entry points."""
    return pip_install_env(tmp_path_factory.mktemp("third_party"), [HERE / "plugins" / name for name in PACKAGES])


sculptbench = run_sculptbench


@pytest.fixture(scope="session")
def plugins_table(plugin_env):
    return sculptbench(plugin_env, "plugins")


@pytest.fixture(scope="session")
def plugins_json(plugin_env):
    return sculptbench(plugin_env, "plugins", "--json")


def table_rows(stdout):
    """The body rows of a GitHub-style table, as lists of stripped cells (header excluded)."""
    lines = [line for line in stdout.splitlines() if line.startswith("|") and not line.startswith("|--")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:]]


def test_plugins_table_lists_builtins_demo_and_failures(plugins_table):
    proc = plugins_table
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    rows = {row[0]: row for row in table_rows(proc.stdout)}
    for name in BUILTINS:
        assert rows[name][1] == "sculptbench" and rows[name][4] == "ok", rows[name]
    demo = rows["demo"]
    assert demo[1] == "sculptbench-demo-plugin"
    assert demo[2] == "0.3.1"
    assert "demo-layers" in demo[3] and "demo-count" in demo[3]
    assert demo[4] == "ok"
    for name, error_type in BROKEN.items():
        row = rows[name]
        assert row[1] == "sculptbench-broken-plugin" and row[2] == "0.0.7", row
        assert row[4].startswith(f"failed: {error_type}"), row
    assert "frobnicator" in rows["broken-import"][4]
    assert "exploded while registering" in rows["broken-register"][4]
    assert "NotADetector" in rows["broken-validate"][4] and "Detector" in rows["broken-validate"][4]
    # A clash with a built-in costs only the clashing name: the plugin's own pruner is listed.
    assert rows["duplicate"][1] == "sculptbench-broken-plugin" and rows["duplicate"][3] == "pruners: shadow-dense"
    assert rows["duplicate"][4] == CLASH


def test_plugins_json_statuses(plugins_json):
    proc = plugins_json
    assert proc.returncode == 0, proc.stderr
    records = {p["name"]: p for p in json.loads(proc.stdout)}
    assert set(BUILTINS) | {"demo"} | set(BROKEN) <= set(records)
    for name in BUILTINS:
        assert records[name]["status"] == "ok" and records[name]["builtin"] is True
    demo = records["demo"]
    assert (demo["status"], demo["package"], demo["version"], demo["builtin"]) == ("ok", "sculptbench-demo-plugin", "0.3.1", False)
    assert demo["registers"] == {"detector": ["demo-layers"], "scorer": ["demo-count"]}
    assert demo["error"] is None
    for name, error_type in BROKEN.items():
        rec = records[name]
        assert rec["status"] == "failed", rec
        assert rec["package"] == "sculptbench-broken-plugin" and rec["version"] == "0.0.7"
        assert rec["error"].startswith(error_type), rec
        assert rec["registers"] == {}
    dup = records["duplicate"]
    assert (dup["status"], dup["error"], dup["registers"]) == ("clash", CLASH, {"pruner": ["shadow-dense"]})


@pytest.mark.slow
def test_run_with_third_party_detector_and_scorer(plugin_env, tmp_path):
    db = tmp_path / "r.db"
    proc = sculptbench(
        plugin_env, "run", "--tasks", "bool/input-separable", "--pruners", "magnitude",
        "--detectors", "sculpting,demo-layers", "--scorers", "structure,demo-count",
        "--seeds", "1", "--arch", "24", "--epochs", "30", "--results", str(db), "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = table_rows(proc.stdout)
    assert {(r[0], r[1]) for r in rows} == {("magnitude[sparsest_modularity]", "sculpting"), ("magnitude[sparsest_modularity]", "demo-layers")}
    # The broken plugins are reported as warnings and skipped; the run is not affected.
    for name in BROKEN:
        assert f"warning: plugin '{name}'" in proc.stderr
    assert "warning: plugin 'duplicate' (package sculptbench-broken-plugin 0.0.7) lost names to a clash" in proc.stderr
    # The demo scorer's metric is recorded, and the cell names the plugin package and version.
    from sculptbench.results.store import ResultsStore

    store = ResultsStore(db, create=False)
    try:
        cells = {c.detector: c for c in store.cells()}
    finally:
        store.close()
    demo = cells["demo-layers"]
    assert demo.status == "ok", demo.error
    assert isinstance(demo.metrics["demo-count.modules"], int) and demo.metrics["demo-count.modules"] >= 1
    assert "structure.success" in demo.metrics
    assert demo.versions["detectors"]["demo-layers"] == {"package": "sculptbench-demo-plugin", "package_version": "0.3.1", "version": "0.3.1"}
    assert demo.versions["scorers"]["demo-count"]["package"] == "sculptbench-demo-plugin"
    assert demo.versions["pruner"]["package"] == "sculptbench"  # the built-in, not the clashing copy


def test_strict_plugins_makes_a_failure_an_error(plugin_env):
    env = dict(plugin_env, SCULPTBENCH_STRICT_PLUGINS="1")
    proc = sculptbench(env, "plugins")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: plugin 'broken-import'")
    assert "sculptbench-broken-plugin" in lines[0]
    assert "Traceback" not in proc.stderr
