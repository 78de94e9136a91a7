"""Running cells: error cells, untrainable cells, batch == no-batch, and what each cell records."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import sculptbench
from sculptbench.api import hookimpl
from sculptbench.run import execution
from sculptbench.run import manifest
from sculptbench.run import planning
from sculptbench.results import report
from sculptbench.contracts.types import Detection
from sculptbench.contracts.components import Detector
from sculptbench.plugin.registry import load_registry
from sculptbench.results.store import ResultsStore


class FlakyDetector(Detector):
    """One module per layer, but raises on seed 1."""

    name = "flaky"
    version = "2.5"

    def detect(self, network, task, options, seed):
        if seed == 1:
            raise RuntimeError("flaky detector gave up on seed 1")
        graph = network.unit_graph()
        layers = {}
        for unit in graph.nodes:
            if graph.degree(unit):
                layers.setdefault(unit[0], set()).add(unit)
        return Detection(modules=[frozenset(u) for _, u in sorted(layers.items())])


FLAKY_PLUGIN = SimpleNamespace(__name__="flaky_pkg", register_detectors=hookimpl(lambda register: register(FlakyDetector())))


@pytest.fixture(scope="module")
def flaky_registry():
    reg = load_registry(entry_points=False, extra=[("flaky", FLAKY_PLUGIN)])
    assert reg.failed() == []
    return reg


def execute(registry, spec, path):
    store = ResultsStore(path)
    run_id = store.start_run("test", {}, manifest.manifest(spec, registry))
    groups = planning.plan(registry, spec)
    cells = execution.execute(registry, spec, groups, store, run_id)
    store.finish_run(run_id, "done")
    return store, run_id, cells


@pytest.fixture(scope="module")
def flaky_run(flaky_registry, small_task, tmp_path_factory):
    spec = planning.RunSpec(
        tasks=[small_task], pruners=["magnitude"], detectors=["flaky", "louvain"], scorers=["structure"],
        seeds=[0, 1, 2], archs=[(24,)], training_overrides={"epochs": 30},
    )
    store, run_id, cells = execute(flaky_registry, spec, tmp_path_factory.mktemp("h") / "r.db")
    yield store, run_id, cells
    store.close()


def test_a_failing_cell_is_recorded_and_the_run_goes_on(flaky_run):
    store, run_id, cells = flaky_run
    assert len(cells) == 6
    by = {(c.detector, c.seed): c for c in store.cells(run_id)}
    assert len(by) == 6
    bad = by[("flaky", 1)]
    assert bad.status == "error"
    assert bad.error.startswith("detector 'flaky' failed: RuntimeError: flaky detector gave up on seed 1")
    assert "test_running.py" in bad.error
    assert bad.density is not None and bad.metrics == {}
    for key in [("flaky", 0), ("flaky", 2), ("louvain", 0), ("louvain", 1), ("louvain", 2)]:
        assert by[key].status == "ok", (key, by[key].error)
        assert "structure.success" in by[key].metrics
    assert store.runs()[0]["counts"] == {"error": 1, "ok": 5}


def test_error_cells_are_not_finished_and_count_in_the_leaderboard(flaky_run):
    store, run_id, _ = flaky_run
    keys = {(c.detector, c.seed): c.cell_key for c in store.cells(run_id)}
    finished = store.finished_keys()
    assert keys[("flaky", 1)] not in finished and keys[("flaky", 0)] in finished
    board = report.build(store.cells(run_id))
    entry = board.values[("magnitude[sparsest_modularity]", "flaky")]["input-separable"]
    assert entry["n"] == 2 and entry["errors"] == 1
    assert board.statuses == {"error": 1, "ok": 5}


def test_cell_records_versions_seed_status_and_timings(flaky_run, flaky_registry):
    store, run_id, _ = flaky_run
    cell = next(c for c in store.cells(run_id) if c.detector == "flaky" and c.seed == 2)
    assert cell.run_id == run_id and cell.seed == 2 and cell.status == "ok" and cell.error is None
    assert (cell.task, cell.family, cell.arch, cell.depth, cell.pruner) == ("bool/input-separable", "exemplars", "24", 1, "magnitude[sparsest_modularity]")
    assert 0 < cell.density < 1
    assert cell.accuracy == 1.0 and cell.dense_accuracy == 1.0 and cell.test_accuracy == 1.0
    assert cell.versions["sculptbench"] == sculptbench.__version__
    assert cell.versions["torch"] == torch.__version__
    assert cell.versions["pruner"] == {"package": "sculptbench", "package_version": sculptbench.__version__, "version": "2.0"}
    assert cell.versions["detectors"]["flaky"] == {"package": "flaky_pkg", "package_version": "test", "version": "2.5"}
    assert cell.versions["scorers"]["structure"]["package"] == "sculptbench"
    assert cell.versions["task"]["package"] == "sculptbench"
    assert set(cell.timings) >= {"prune", "detect", "score"}
    assert all(t >= 0 for t in cell.timings.values())
    assert cell.config["pruner_params"]["edge_schedule"] == "lth"
    assert cell.config["training"]["epochs"] == 30
    assert cell.config["history"][0]["phase"] == "dense"
    assert cell.config["modules"]
    manifest = store.runs()[0]["manifest"]
    assert manifest["torch"] == torch.__version__
    assert {p["name"] for p in manifest["plugins"]} >= {"flaky", "builtin:iterative"}


def test_store_is_in_wal_mode(flaky_run):
    store, _, _ = flaky_run
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


def test_untrainable_cell(registry, tmp_path):
    spec = planning.RunSpec(
        tasks=[registry.tasks["bool/reused"]], pruners=["iterative"], detectors=["louvain"], scorers=["structure"],
        seeds=[0, 1], archs=[(24,)], training_overrides={"epochs": 1}, params={"iterative": {"adapt": 0}},  # no retraining
    )
    store, run_id, cells = execute(registry, spec, tmp_path / "r.db")
    try:
        assert [c.status for c in cells] == ["untrainable", "untrainable"]
        for c in store.cells(run_id):
            assert c.status == "untrainable"
            assert "below the threshold" in c.error
            assert c.accuracy == c.dense_accuracy < 1 and c.density == 1.0
            assert c.metrics == {}
        # Untrainable cells are finished (a rerun skips them) ...
        assert {c.cell_key for c in cells} <= store.finished_keys()
        # ... and count as failures in the leaderboard.
        mixed = store.cells(run_id)
        board = report.build(mixed, metric="density")
        assert board.values[("iterative[sparsest_modularity]", "louvain")]["reused"]["n"] == 2
        assert report.metric_value(mixed[0], "structure.success") == 0.0
        assert report.metric_value(mixed[0], "structure.input_ari") is None
    finally:
        store.close()


def test_untrainable_cells_are_not_successes(registry, small_task, tmp_path):
    """Next to a trainable task, an untrainable one scores 0 success (not a missing value)."""
    def spec(task, epochs):
        return planning.RunSpec(tasks=[task], pruners=["dense"], detectors=["louvain"], scorers=["structure"],
                               seeds=[0, 1], archs=[(24,)], training_overrides={"epochs": epochs},
                               params={"dense": {"adapt": 0}})  # no retraining: the untrainable cells stay so

    path = tmp_path / "r.db"
    execute(registry, spec(small_task, 30), path)[0].close()
    store, _, _ = execute(registry, spec(registry.tasks["bool/reused"], 1), path)
    try:
        cells = store.cells()
        assert {(c.task, c.status) for c in cells} == {("bool/input-separable", "ok"), ("bool/reused", "untrainable")}
        board = report.build(cells)
        assert board.metric == "structure.success"
        # Both tasks set restarts 9 and select sparsest_modularity for every pruner: one row, labelled with the rule.
        row = ("dense[sparsest_modularity]", "louvain")
        assert list(board.values) == [row]
        assert board.values[row]["reused"] == {"mean": 0.0, "n": 2, "errors": 0, "untrainable": 2, "secondary": None}
        assert board.values[row]["input-separable"]["n"] == 2
        assert board.statuses == {"ok": 2, "untrainable": 2}
        assert "0.00" in report.render(board)
    finally:
        store.close()


@pytest.mark.slow
def test_no_batch_gives_the_same_metrics_as_batch(registry, small_task, tmp_path):
    def spec(batch):
        return planning.RunSpec(
            tasks=[small_task], pruners=["iterative", "magnitude"], detectors=["louvain"], scorers=["structure"],
            seeds=[0, 1], archs=[(8,)], training_overrides={"epochs": 25}, batch=batch,
        )

    results = {}
    for batch in (True, False):
        store, run_id, _ = execute(registry, spec(batch), tmp_path / f"{batch}.db")
        results[batch] = {
            (c.pruner, c.seed): (c.cell_key, c.status, c.metrics, c.density, c.accuracy, c.test_accuracy, c.dense_accuracy, c.config["modules"] if "modules" in c.config else None)
            for c in store.cells(run_id)
        }
        store.close()
    assert len(results[True]) == 4
    assert results[True] == results[False]


def test_task_detector_defaults_reach_only_the_detectors_that_take_them(registry, tmp_path):
    """A circuit's `detector:` defaults (here a sculpting option) must not break `--detectors louvain`."""
    from sculptbench.plugins.tasks.boolean import load_circuit

    text = (Path(__file__).resolve().parents[2] / "tasks" / "bool" / "exemplars" / "input-separable.yaml").read_text()
    text = text.replace("name: bool/input-separable", "name: my/separable") + "detector: {merge_threshold: 0.8}\n"
    path = tmp_path / "separable.yaml"
    path.write_text(text)
    task = load_circuit(str(path))
    spec = planning.RunSpec(tasks=[task], pruners=["dense"], detectors=["louvain", "sculpting"], scorers=["structure"],
                           seeds=[0], archs=[(8,)])
    (group,) = planning.plan(registry, spec)
    params = dict(group.detectors)
    assert params["louvain"] == {"resolution": 1.0}
    assert params["sculpting"]["merge_threshold"] == 0.8
    # A user's --param still wins over the task's default.
    spec.params = {"sculpting": {"merge_threshold": 0.7}}
    (group,) = planning.plan(registry, spec)
    assert dict(group.detectors)["sculpting"]["merge_threshold"] == 0.7
