"""Scale out and survive: executors, the stage cache, resume after SIGKILL, failure isolation,
concurrent runs on one database, and a real dask cluster on loopback.

Subprocess runs use ``python -m sculptbench.cli``; ``SCULPTBENCH_STAGE_LOG`` makes every process
append one JSON line per executed stage (prune, detect, score), which the tests count.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from sculptbench.api import hookimpl
from sculptbench.run import execution
from sculptbench.run import planning
from sculptbench.run import running
from sculptbench.engine import torch_import
from sculptbench.run.cache import StageCache
from sculptbench.cli import main
from sculptbench.contracts.components import Executor
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.types import SculptedNetwork
from sculptbench.run.execution import UnitTracker, threads_per_worker
from sculptbench.plugin.registry import load_registry
from sculptbench.results.store import SCHEMA_VERSION, ResultsStore

HERE = Path(__file__).resolve().parents[1]  # tests/
TASK = "bool/input-separable"
#: Dense networks of 24 units learn the task in 30 epochs, and take no pruning time.
FAST = ["--tasks", TASK, "--arch", "24", "--epochs", "30", "--pruners", "dense"]


# --------------------------------------------------------------------------- helpers
def stage_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stage_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in stage_lines(path):
        counts[line["stage"]] = counts.get(line["stage"], 0) + 1
    return counts


def base_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SCULPTBENCH_STRICT_PLUGINS", None)
    env.pop("SCULPTBENCH_STAGE_LOG", None)
    env.update(COLUMNS="400", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sculptbench.cli", *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def rows(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM cells ORDER BY id")]
    finally:
        conn.close()


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


# --------------------------------------------------------------------------- in-process components
def _demo_plugin():
    """The demo test plugin's module, loaded from its source (no install needed)."""
    source = Path(__file__).parents[1] / "plugins" / "sculptbench-demo-plugin" / "sculptbench_demo_plugin" / "__init__.py"
    spec = importlib.util.spec_from_file_location("sculptbench_demo_plugin_source", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEMO = _demo_plugin()


class SerialExecutor(Executor):
    """A third-party executor: runs units in this process, in reverse order, and counts them."""

    name = "serial"
    version = "0.1"

    def __init__(self):
        self.units = 0

    def run(self, units, options, deliver):
        for unit in reversed(list(units)):
            self.units += 1
            running.run_unit(unit, options.registry, lambda event: deliver(event[1]) if event[0] == "cell" else None)


class LazyExecutor(Executor):
    """Delivers nothing: the run must still write a row per cell."""

    name = "lazy"

    def run(self, units, options, deliver):
        pass


@pytest.fixture(scope="module")
def extra_registry():
    serial = SerialExecutor()
    plugin = SimpleNamespace(
        __name__="extra_pkg",
        register_detectors=DEMO.register_detectors,
        register_scorers=DEMO.register_scorers,
        register_executors=hookimpl(lambda register: [register(serial), register(LazyExecutor())]),
    )
    reg = load_registry(entry_points=False, extra=[("extra", plugin)])
    assert reg.failed() == []
    return reg


def spec_for(registry, detectors, scorers, cache_dir, seeds=(0, 1), **kw):
    return planning.RunSpec(
        tasks=[registry.tasks[TASK]], pruners=["dense"], detectors=list(detectors), scorers=list(scorers),
        seeds=list(seeds), archs=[(24,)], training_overrides={"epochs": 30}, cache_dir=str(cache_dir) if cache_dir else None, **kw,
    )


def execute(registry, spec, db, skip=None, only=None):
    store = ResultsStore(db)
    try:
        run_id = store.start_run("test", {}, {}, executor=spec.executor)
        cells = execution.execute(registry, spec, planning.plan(registry, spec), store, run_id, skip=store.finished_keys() if skip is None else skip, only=only)
        store.finish_run(run_id, "done")
        return cells
    finally:
        store.close()


# --------------------------------------------------------------------------- the stage cache
def test_cache_reuses_pruned_networks_detections_and_scores(extra_registry, tmp_path, monkeypatch):
    log = tmp_path / "stages.log"
    monkeypatch.setenv("SCULPTBENCH_STAGE_LOG", str(log))
    db, cache = tmp_path / "r.db", tmp_path / "cache"
    reg = extra_registry

    first = execute(reg, spec_for(reg, ["louvain"], ["structure"], cache), db)
    assert [c.status for c in first] == ["ok", "ok"]
    assert stage_counts(log) == {"prune": 2, "detect": 2, "score": 2}

    # Adding a detector reuses the pruned networks: only the new detections and their scores run.
    log.unlink()
    second = execute(reg, spec_for(reg, ["louvain", "demo-layers"], ["structure"], cache), db)
    assert sorted(c.detector for c in second) == ["demo-layers", "demo-layers"]
    assert stage_counts(log) == {"detect": 2, "score": 2}
    assert all(c.config["cache"]["prune"] == "hit" for c in second)

    # Adding a scorer changes every cell's key, but reuses the detections and the old scores.
    log.unlink()
    third = execute(reg, spec_for(reg, ["louvain", "demo-layers"], ["structure", "demo-count"], cache), db)
    assert len(third) == 4 and all(c.status == "ok" for c in third)
    assert stage_counts(log) == {"score": 4}
    assert {c.config["cache"]["score"]["structure"] for c in third} == {"hit"}
    assert all(isinstance(c.metrics["demo-count.modules"], int) for c in third)

    # Cached and fresh results are identical.
    fresh = execute(reg, spec_for(reg, ["louvain", "demo-layers"], ["structure", "demo-count"], None), tmp_path / "fresh.db")
    assert {(c.detector, c.seed): c.metrics for c in fresh} == {(c.detector, c.seed): c.metrics for c in third}
    assert {(c.detector, c.seed): c.config["modules"] for c in fresh} == {(c.detector, c.seed): c.config["modules"] for c in third}

    # A group whose seeds are partly cached prunes only the missing seed.
    log.unlink()
    execute(reg, spec_for(reg, ["louvain"], ["structure"], cache, seeds=(0, 1, 2)), db)
    assert stage_counts(log) == {"prune": 1, "detect": 1, "score": 1}

    # --force detect recomputes detections and scores, not the pruned networks.
    log.unlink()
    execute(reg, spec_for(reg, ["louvain"], ["structure"], cache, force="detect"), db, skip=set())
    assert stage_counts(log) == {"detect": 2, "score": 2}
    log.unlink()
    execute(reg, spec_for(reg, ["louvain"], ["structure"], cache, force="prune"), db, skip=set())
    assert stage_counts(log) == {"prune": 2, "detect": 2, "score": 2}

    # --no-cache neither reads nor writes.
    log.unlink()
    before = sorted(p.relative_to(cache) for p in cache.rglob("*"))
    execute(reg, spec_for(reg, ["louvain"], ["structure"], None), db, skip=set())
    assert stage_counts(log) == {"prune": 2, "detect": 2, "score": 2}
    assert sorted(p.relative_to(cache) for p in cache.rglob("*")) == before


def test_a_cache_serves_networks_only_to_the_kernels_that_computed_them(extra_registry, tmp_path, monkeypatch):
    # Another CPU instruction set (or torch release) gives other bits for the same seed, so a
    # cache shared between machines must not serve one machine's networks to another.
    log = tmp_path / "stages.log"
    monkeypatch.setenv("SCULPTBENCH_STAGE_LOG", str(log))
    cache = tmp_path / "cache"
    first = execute(extra_registry, spec_for(extra_registry, ["louvain"], ["structure"], cache), tmp_path / "a.db")
    here = torch.backends.cpu.get_cpu_capability()
    assert {c.versions["kernels"]["cpu_capability"] for c in first} == {here}
    other = "AVX2" if here != "AVX2" else "DEFAULT"
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: other)
    log.unlink()
    second = execute(extra_registry, spec_for(extra_registry, ["louvain"], ["structure"], cache), tmp_path / "b.db")
    assert stage_counts(log)["prune"] == 2
    assert {c.versions["kernels"]["cpu_capability"] for c in second} == {other}
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    log.unlink()
    execute(extra_registry, spec_for(extra_registry, ["louvain"], ["structure"], cache), tmp_path / "c.db")
    assert stage_counts(log)["prune"] == 2
    monkeypatch.undo()
    monkeypatch.setenv("SCULPTBENCH_STAGE_LOG", str(log))
    monkeypatch.setattr(torch_import, "cpu_model", lambda: "another CPU")  # MKL's choice of kernels follows it
    log.unlink()
    execute(extra_registry, spec_for(extra_registry, ["louvain"], ["structure"], cache), tmp_path / "d.db")
    assert stage_counts(log)["prune"] == 2
    monkeypatch.undo()
    monkeypatch.setenv("SCULPTBENCH_STAGE_LOG", str(log))
    log.unlink()
    execute(extra_registry, spec_for(extra_registry, ["louvain"], ["structure"], cache), tmp_path / "e.db")
    assert "prune" not in stage_counts(log)


def test_cached_network_is_tensors_only_and_exact(tmp_path):
    net = SculptedNetwork.from_masks([torch.rand(5, 4) > 0.5, torch.rand(2, 5) > 0.3])
    net.weights = [torch.randn_like(w) * m for w, m in zip(net.weights, net.weight_masks)]
    net.accuracy, net.test_accuracy, net.dense_accuracy = 1.0, 0.75, float("nan")
    net.history = [{"phase": "dense", "density": 1.0}]
    net.info = {"variant": {"edge_step": 1.5}}
    cache = StageCache(str(tmp_path))
    cache.save_network("ab" + "0" * 30, net, 1.25)
    files = sorted(p.name for p in (tmp_path / "prune" / "ab").iterdir())
    assert files == ["ab" + "0" * 30 + ".json", "ab" + "0" * 30 + ".pt"]  # no temporary files left
    state = torch.load(tmp_path / "prune" / "ab" / files[1], weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    loaded, seconds = cache.load_network("ab" + "0" * 30)
    assert seconds == 1.25
    for a, b in zip(net.weights + net.biases + net.weight_masks + net.bias_masks, loaded.weights + loaded.biases + loaded.weight_masks + loaded.bias_masks):
        assert a.dtype == b.dtype and torch.equal(a, b)
    assert loaded.sizes == net.sizes and loaded.history == net.history and loaded.info == net.info
    assert loaded.test_accuracy == 0.75 and loaded.dense_accuracy != loaded.dense_accuracy  # NaN survives
    assert StageCache(str(tmp_path), force="prune").load_network("ab" + "0" * 30) is None
    assert StageCache(None).load_network("ab" + "0" * 30) is None


# --------------------------------------------------------------------------- executors as plugins
def test_register_executors_hook_and_a_third_party_executor(extra_registry, tmp_path):
    reg = extra_registry
    assert {"local", "dask", "serial", "lazy"} <= set(reg.components["executor"])
    assert reg.owner[("executor", "local")].package == "sculptbench"
    cells = execute(reg, spec_for(reg, ["louvain", "demo-layers"], ["structure"], None, executor="serial"), tmp_path / "s.db")
    assert len(cells) == 4 and {c.status for c in cells} == {"ok"}
    assert reg.components["executor"]["serial"].units == 1
    # An executor that delivers nothing still leaves one row per cell.
    lazy = execute(reg, spec_for(reg, ["louvain"], ["structure"], None, executor="lazy"), tmp_path / "l.db")
    assert [c.status for c in lazy] == ["error", "error"]
    assert "executor 'lazy' delivered no result" in lazy[0].error
    with pytest.raises(SculptbenchError, match="unknown executor 'nope'; available: .*dask.*local"):
        planning.plan(reg, spec_for(reg, ["louvain"], ["structure"], None, executor="nope"))


def test_threads_per_worker_never_oversubscribes():
    assert threads_per_worker(1, 2, cores=2) == 1
    assert threads_per_worker(8, 2, cores=8) == 4
    assert threads_per_worker(4, 16, cores=8) == 1
    assert threads_per_worker(2, 1, cores=8) == 2


def test_tracker_blames_only_the_running_cell(registry):
    spec = spec_for(registry, ["louvain", "sculpting"], ["structure"], None)
    (group,) = planning.plan(registry, spec)
    unit = planning.WorkUnit(group, list(group.keys.values()))
    delivered = []
    tracker = UnitTracker(unit)
    k = unit.keys
    tracker.observe(("begin", None, "pruner 'dense'"), delivered.append)
    tracker.observe(("begin", k[0], "detector 'louvain'"), delivered.append)
    tracker.observe(("cell", running.failure_cell(unit, k[0], "ok", None)), delivered.append)
    tracker.observe(("begin", k[1], "detector 'sculpting'"), delivered.append)
    rest = tracker.fail("error", "worker died (exit code 3)", delivered.append)
    assert [c.cell_key for c in delivered] == k[:2]
    assert delivered[1].error == "worker died (exit code 3) while running detector 'sculpting'"
    assert rest.keys == k[2:]
    # A failure in the prune stage fails every unfinished cell.
    tracker = UnitTracker(unit)
    tracker.observe(("begin", None, "pruner 'dense'"), delivered.append)
    assert tracker.fail("timeout", "timed out", delivered.append) is None
    assert [c.status for c in delivered[2:]] == ["timeout"] * 4


def test_each_cell_is_granted_one_timeout_and_the_prune_stage_one_per_cell(registry):
    """A hanging cell costs --timeout, wherever it sits in its group (not its share of N x --timeout)."""
    spec = spec_for(registry, ["louvain", "sculpting"], ["structure"], None)
    (group,) = planning.plan(registry, spec)
    unit = planning.WorkUnit(group, list(group.keys.values()))
    now = [100.0]
    tracker = UnitTracker(unit, timeout=5.0, clock=lambda: now[0])
    k = unit.keys
    assert len(k) == 4 and tracker.deadline == 105.0
    tracker.observe(("begin", None, "pruner 'dense'"), lambda c: None)
    assert tracker.deadline == 120.0  # the prune stage serves the 4 cells
    now[0] = 101.0
    tracker.observe(("begin", k[0], "detector 'louvain'"), lambda c: None)
    tracker.observe(("begin", k[0], "scorer 'structure'"), lambda c: None)  # same cell: no new budget
    assert tracker.deadline == 106.0 and not tracker.expired()
    now[0] = 106.0
    assert tracker.expired()
    assert tracker.grants == [(None, 5.0), (None, 20.0), (k[0], 5.0)]
    assert tracker.timeout_detail() == " (budget 5 s: --timeout 5 s per cell)"


@pytest.mark.slow
def test_hanging_cells_of_one_group_each_cost_one_timeout(faulty_env, tmp_path):
    db = tmp_path / "r.db"
    env = dict(faulty_env, SCULPTBENCH_FAULTY_SEEDS="0,1,2")
    # Before, the three hanging cells took 3T + 2T + T; a 600 s hang ends in subprocess.TimeoutExpired.
    proc = cli(env, "run", *FAST, "--seeds", 3, "--detectors", "faulty-sleep", "--jobs", 1, "--timeout", 3, "--quiet", "--results", db)
    assert proc.returncode == 0, proc.stderr
    got = sorted(rows(db), key=lambda r: r["seed"])
    assert [r["status"] for r in got] == ["timeout"] * 3
    for r in got:
        assert r["error"] == "timed out while running detector 'faulty-sleep' (budget 3 s: --timeout 3 s per cell)", r["error"]
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- CLI options and bad input
@pytest.mark.parametrize("args, fragment", [
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler tcp://127.0.0.1:1 needs --executor dask"),
    (["--executor", "nope"], "unknown executor 'nope'; available: dask, local"),
    (["--timeout", "0"], "invalid --timeout 0.0; it must be > 0 seconds"),
    (["--force", "train"], "invalid --force 'train'; valid: prune, detect, score"),
])
def test_run_option_errors(tmp_path, args, fragment):
    db = tmp_path / "r.db"
    res = invoke("run", *FAST, "--detectors", "louvain", "--seeds", 1, "--quiet", "--results", db, *args)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], res.stderr
    assert not db.exists()


def test_unreachable_scheduler_fails_fast_naming_the_address(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    db = tmp_path / "r.db"
    # A hang instead of the 5 s connect limit would end in subprocess.TimeoutExpired.
    proc = cli(base_env(), "run", *FAST, "--detectors", "louvain", "--seeds", 1, "--quiet", "--results", db, "--executor", "dask",
               "--scheduler", address, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert line.startswith("error: cannot reach the dask scheduler at " + address + " within 5 s") and "\n" not in line
    assert "Traceback" not in proc.stderr
    assert not db.exists()


def test_newer_schema_database_is_refused_untouched(tmp_path):
    db = tmp_path / "new.db"
    ResultsStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    names = sorted(p.name for p in tmp_path.iterdir())
    for args in (["run", *FAST, "--detectors", "louvain", "--seeds", 1, "--quiet", "--results", db], ["runs", "--results", db], ["report", "--results", db]):
        res = invoke(*args)
        assert res.exit_code == 2, res.output
        assert f"newer sculptbench (schema 99 > {SCHEMA_VERSION})" in res.stderr
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_resume_run_id_continues_that_run_with_its_options(tmp_path):
    db = tmp_path / "r.db"
    first = invoke("run", *FAST, "--detectors", "louvain", "--seeds", 1, "--quiet", "--results", db)
    assert first.exit_code == 0, first.output
    (run,) = json.loads(invoke("runs", "--results", db, "--json").stdout)
    assert run["executor"] == "local" and run["config"]["cli"]["pruners"] == "dense"
    # Recorded options are restored; an option given again (--seeds) wins.
    again = invoke("run", "--resume", run["run_id"], "--seeds", 2, "--quiet", "--results", db)
    assert again.exit_code == 0, again.output
    assert "1 of 2 cells were already in" in again.stdout
    (after,) = json.loads(invoke("runs", "--results", db, "--json").stdout)
    assert after["run_id"] == run["run_id"] and after["status"] == "done" and after["counts"] == {"ok": 2}
    assert {r["run_id"] for r in rows(db)} == {run["run_id"]} and len(rows(db)) == 2
    res = invoke("run", "--resume", "nope", "--quiet", "--results", db)
    assert res.exit_code == 2 and "no run 'nope'" in res.stderr


# --------------------------------------------------------------------------- failure isolation (real plugin package)
@pytest.fixture(scope="module")
def faulty_env(tmp_path_factory):
    """An environment whose sculptbench sees tests/plugins/sculptbench-faulty-plugin."""
    root = tmp_path_factory.mktemp("faulty")
    src, target = root / "src", root / "site"
    shutil.copytree(HERE / "plugins" / "sculptbench-faulty-plugin", src)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir",
         "--quiet", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = base_env()
    env["PYTHONPATH"] = os.pathsep.join([str(target), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


@pytest.mark.slow
def test_raising_hanging_and_exiting_plugins_each_leave_one_row(faulty_env, tmp_path):
    db, log = tmp_path / "r.db", tmp_path / "stages.log"
    env = dict(faulty_env, SCULPTBENCH_STAGE_LOG=str(log), SCULPTBENCH_CACHE=str(tmp_path / "cache"))  # the fixture's is shared
    args = ["run", *FAST, "--seeds", 2, "--detectors", "louvain,faulty-raise,faulty-exit,faulty-sleep",
            "--jobs", 2, "--timeout", 4, "--quiet", "--results", db]
    proc = cli(env, *args)  # the sleeping plugin would take 600 s; cli() gives up after 300 s
    assert proc.returncode == 0, proc.stderr
    cells = {(r["detector"], r["seed"]): r for r in rows(db)}
    assert len(cells) == 8 and len(rows(db)) == 8
    assert cells[("faulty-raise", 0)]["status"] == "error"
    assert cells[("faulty-raise", 0)]["error"].startswith("detector 'faulty-raise' failed: RuntimeError: faulty-raise refuses seed 0")
    assert cells[("faulty-exit", 0)]["status"] == "error"
    assert cells[("faulty-exit", 0)]["error"] == "worker died (exit code 3) while running detector 'faulty-exit'"
    assert cells[("faulty-sleep", 0)]["status"] == "timeout"
    assert cells[("faulty-sleep", 0)]["error"].startswith("timed out while running detector 'faulty-sleep' (budget ")
    ok = {k for k, r in cells.items() if r["status"] == "ok"}
    assert ok == {("louvain", 0), ("louvain", 1), ("faulty-raise", 1), ("faulty-exit", 1), ("faulty-sleep", 1)}
    assert "timeout in bool/input-separable 24 dense[sparsest_modularity]/faulty-sleep seed 0" in proc.stderr
    # Each network was pruned once, although its group ran in three worker processes.
    assert stage_counts(log)["prune"] == 2

    # --retry-failed reruns only the failed rows (here the plugin is fixed).
    log.unlink()
    env["SCULPTBENCH_FAULTY_FIXED"] = "1"
    retry = cli(env, "run", *FAST, "--seeds", 2, "--detectors", "louvain,faulty-raise", "--retry-failed", "--quiet", "--results", db)
    assert retry.returncode == 0, retry.stderr
    assert "--retry-failed: 1 failed cells rerun" in retry.stdout
    assert stage_counts(log) == {"detect": 1, "score": 1}
    latest = {(c.detector, c.seed): c for c in ResultsStore(db, create=False).cells()}
    assert latest[("faulty-raise", 0)].status == "ok"
    assert latest[("faulty-exit", 0)].status == "error"  # not selected: left as it was
    assert len(rows(db)) == 9


@pytest.mark.slow
def test_a_single_worker_with_timeout_is_isolated_too(faulty_env, tmp_path):
    db = tmp_path / "r.db"
    proc = cli(faulty_env, "run", *FAST, "--seeds", 1, "--detectors", "faulty-exit,louvain", "--jobs", 1, "--timeout", 30, "--quiet", "--results", db)
    assert proc.returncode == 0, proc.stderr
    assert {(r["detector"], r["status"]) for r in rows(db)} == {("faulty-exit", "error"), ("louvain", "ok")}


@pytest.mark.parametrize("threads", [1, 2])
def test_a_plugin_exiting_the_process_with_jobs_1_leaves_an_error_row(faulty_env, tmp_path, threads):
    """Without --timeout, --jobs 1 runs each unit in a forked child: os._exit kills only the child."""
    db = tmp_path / "r.db"
    proc = cli(faulty_env, "--threads", threads, "run", *FAST, "--seeds", 2, "--detectors", "faulty-exit,louvain", "--jobs", 1, "--quiet", "--results", db)
    assert proc.returncode == 0, proc.stderr
    cells = {(r["detector"], r["seed"]): r for r in rows(db)}
    assert len(cells) == 4
    assert cells[("faulty-exit", 0)]["status"] == "error"
    assert cells[("faulty-exit", 0)]["error"] == "worker died (exit code 3) while running detector 'faulty-exit'"
    assert {k for k, r in cells.items() if r["status"] == "ok"} == {("louvain", 0), ("louvain", 1), ("faulty-exit", 1)}
    (run,) = json.loads(invoke("runs", "--results", db, "--json").stdout)
    assert run["status"] == "done" and run["counts"] == {"error": 1, "ok": 3}
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- resume after SIGKILL
GRID = ["--tasks", TASK, "--arch", "24,16", "--epochs", "30", "--pruners", "magnitude,dense", "--detectors", "louvain",
        "--seeds", "2", "--quiet"]


@pytest.mark.slow
def test_sigkill_mid_grid_then_resume_keeps_and_never_recomputes(tmp_path):
    # The reference: one uninterrupted run.
    ref_db, ref_log = tmp_path / "ref" / "r.db", tmp_path / "ref.log"
    ref_db.parent.mkdir()
    ref = cli(base_env(SCULPTBENCH_STAGE_LOG=str(ref_log), SCULPTBENCH_CACHE=str(ref_db.parent / "cache")),  # a cache of its own
              "run", *GRID, "--jobs", 1, "--results", ref_db)
    assert ref.returncode == 0, ref.stderr
    total = len(rows(ref_db))
    assert total == 8

    db, log = tmp_path / "run" / "r.db", tmp_path / "run.log"
    db.parent.mkdir()
    env = base_env(SCULPTBENCH_STAGE_LOG=str(log))
    proc = subprocess.Popen([sys.executable, "-m", "sculptbench.cli", "run", *GRID, "--jobs", "2", "--results", str(db)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if db.exists() and len(rows(db)) >= 2:
                    break
            except sqlite3.OperationalError:  # not created yet
                pass
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = rows(db)
    assert 2 <= len(before) < total, len(before)
    (killed,) = json.loads(invoke("runs", "--results", db, "--json").stdout)
    assert killed["status"] == "running" and killed["finished"] is None
    # The workers die with their coordinator.
    pids = {line["pid"] for line in stage_lines(log)}
    time.sleep(2)
    assert not [pid for pid in pids if _alive(pid)], "worker processes outlived a kill -9 of their coordinator"

    again = cli(env, "run", *GRID, "--jobs", 2, "--results", db)
    assert again.returncode == 0, again.stderr
    after = rows(db)
    # Every finished cell was kept, untouched; the resumed run wrote only the others, once each.
    assert after[: len(before)] == before
    assert len(after) == total and len({r["cell_key"] for r in after}) == total
    assert f"{len(before)} of {total} cells were already in" in again.stdout
    # No stage ran twice, and together the two runs ran exactly the stages of one run.
    executed = [(line["stage"], line["key"]) for line in stage_lines(log)]
    assert len(executed) == len(set(executed))
    assert sorted(executed) == sorted((line["stage"], line["key"]) for line in stage_lines(ref_log))
    # The final table equals the uninterrupted run's.
    mine, theirs = invoke("report", "--results", db), invoke("report", "--results", ref_db)
    assert mine.exit_code == 0 and table_lines(mine.stdout) == table_lines(theirs.stdout)
    metrics = {(r["arch"], r["pruner"], r["seed"]): (r["status"], r["metrics"], r["density"]) for r in after}
    assert metrics == {(r["arch"], r["pruner"], r["seed"]): (r["status"], r["metrics"], r["density"]) for r in rows(ref_db)}


def _alive(pid: int) -> bool:
    from sculptbench.results.store import process_alive

    return process_alive(pid)


# --------------------------------------------------------------------------- concurrent runs on one database
@pytest.mark.slow
def test_two_runs_writing_one_database_at_once(tmp_path):
    db = tmp_path / "r.db"
    env = base_env()
    args = ["run", "--tasks", TASK, "--arch", "24,16", "--epochs", "30", "--pruners", "dense", "--detectors", "louvain,sculpting",
            "--seeds", "2", "--quiet", "--results", str(db)]
    procs = [subprocess.Popen([sys.executable, "-m", "sculptbench.cli", *args, "--seed-start", str(start)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for start in (0, 2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    got = rows(db)
    assert len(got) == 16
    assert {r["seed"] for r in got} == {0, 1, 2, 3}
    runs = json.loads(invoke("runs", "--results", db, "--json").stdout)
    assert sorted(r["status"] for r in runs) == ["done", "done"]
    assert sorted(sum(r["counts"].values()) for r in runs) == [8, 8]


@pytest.mark.slow
def test_two_runs_of_one_grid_compute_each_stage_once(tmp_path):
    """The second run waits for the cells the first has claimed instead of computing them again."""
    db, log = tmp_path / "r.db", tmp_path / "stages.log"
    env = base_env(SCULPTBENCH_STAGE_LOG=str(log))
    args = ["run", "--tasks", TASK, "--arch", "24,16", "--epochs", "30", "--pruners", "dense", "--detectors", "louvain",
            "--seeds", "2", "--quiet", "--results", str(db)]
    procs = [subprocess.Popen([sys.executable, "-m", "sculptbench.cli", *args], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    executed = [(line["stage"], line["key"]) for line in stage_lines(log)]
    assert len(executed) == len(set(executed)) == 12, executed  # 4 cells x (prune, detect, score), once each
    got = rows(db)
    assert len(got) == 4 and len({r["cell_key"] for r in got}) == 4
    # Both leaderboards show all four cells, whichever run computed them.
    for out, _ in outs:
        assert "n=4" in out and "cells: ok 4" in out, out
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_a_dead_runs_claims_are_taken_over(tmp_path):
    db = tmp_path / "r.db"
    store = ResultsStore(db)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.conn.execute("INSERT INTO claims VALUES ('k1', 'gone', ?, ?, 0)", (socket.gethostname(), dead.pid))
    store.conn.execute("INSERT INTO claims VALUES ('k2', 'alive', ?, 1, 0)", (socket.gethostname(),))  # pid 1 never dies
    assert store.claim("mine", ["k1", "k2", "k3"]) == {"k2": "alive"}
    owners = dict(store.conn.execute("SELECT cell_key, run_id FROM claims").fetchall())
    assert owners == {"k1": "mine", "k2": "alive", "k3": "mine"}
    store.close()


def test_store_waits_for_a_writer_that_blocks_the_switch_to_wal(tmp_path):
    """While another process writes, SQLite refuses a journal-mode change at once (no busy wait); the store retries."""
    import threading

    db = tmp_path / "r.db"
    with sqlite3.connect(db) as setup:  # a sculptbench database still in rollback-journal mode
        setup.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        setup.execute("INSERT INTO meta VALUES ('application', 'sculptbench')")
    writer = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # holds the reserved lock, as a run creating the schema does
    with pytest.raises(sqlite3.OperationalError, match="locked"):  # a plain connection gives up
        sqlite3.connect(db, timeout=5.0).execute("PRAGMA journal_mode = WAL")
    releasing = threading.Event()

    def release():
        releasing.set()  # set before COMMIT, so the store cannot open in between unseen
        writer.execute("COMMIT")

    releaser = threading.Timer(0.5, release)
    releaser.start()
    store = ResultsStore(db)
    assert releasing.is_set(), "the store opened although the writer still held the lock"
    releaser.join()
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    writer.close()


# --------------------------------------------------------------------------- a real dask cluster on loopback
@pytest.fixture
def dask_cluster(tmp_path):
    pytest.importorskip("distributed")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = base_env(SCULPTBENCH_STAGE_LOG=str(tmp_path / "dask-stages.log"))
    logs = [open(tmp_path / f"dask-{i}.log", "w") for i in range(3)]
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=logs[0], stderr=subprocess.STDOUT)]
    try:
        for i in (1, 2):
            procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                           "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard"],
                                          env=env, stdout=logs[i], stderr=subprocess.STDOUT))
        from distributed import Client

        deadline = time.monotonic() + 120
        client = None
        while time.monotonic() < deadline:
            try:
                client = client or Client(address, timeout="5s")
                if len(client.scheduler_info()["workers"]) == 2:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the dask cluster did not start: " + "".join((tmp_path / f"dask-{i}.log").read_text()[-2000:] for i in range(3)))
        client.close()
        yield address, env, procs[0]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for fh in logs:
            fh.close()


@pytest.mark.slow
def test_dask_scheduler_and_two_workers_run_a_grid(dask_cluster, tmp_path):
    address, env, _ = dask_cluster
    db = tmp_path / "r.db"
    proc = subprocess.Popen([sys.executable, "-m", "sculptbench.cli", "run", "--tasks", TASK, "--arch", "8", "--seeds", "2", "--epochs", "20",
                             "--pruners", "magnitude,dense", "--detectors", "louvain", "--executor", "dask", "--scheduler", address,
                             "--quiet", "--results", str(db)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    got = rows(db)
    # The exemplar sets restarts 9 and select sparsest_modularity for every pruner: both rows carry the rule.
    assert sorted((r["pruner"], r["seed"]) for r in got) == [("dense[sparsest_modularity]", 0), ("dense[sparsest_modularity]", 1),
                                                           ("magnitude[sparsest_modularity]", 0), ("magnitude[sparsest_modularity]", 1)]
    assert all(r["status"] in ("ok", "untrainable") for r in got)
    # The work ran in the dask workers; the CLI (the coordinator) only wrote the database.
    pids = {line["pid"] for line in stage_lines(Path(env["SCULPTBENCH_STAGE_LOG"]))}
    assert pids and proc.pid not in pids
    (run,) = json.loads(invoke("runs", "--results", db, "--json").stdout)
    assert run["executor"] == "dask" and run["config"]["scheduler"] == address and run["status"] == "done"
    table = invoke("runs", "--results", db)
    assert f"dask {address}" in table.stdout


@pytest.mark.slow
def test_a_lost_scheduler_fails_the_run_and_leaves_its_cells_resumable(dask_cluster, tmp_path):
    address, env, scheduler = dask_cluster
    db = tmp_path / "r.db"
    # Six groups (one work unit each) of magnitude pruning: the scheduler dies after the first cell.
    args = ["run", "--tasks", TASK, "--arch", "24,22,20,18,16,14", "--epochs", "30", "--pruners", "magnitude", "--detectors", "louvain",
            "--seeds", "2", "--quiet", "--results", str(db)]
    proc = subprocess.Popen([sys.executable, "-m", "sculptbench.cli", *args, "--executor", "dask", "--scheduler", address],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if db.exists() and rows(db):
                    break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.05)
        scheduler.kill()
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode not in (0, None), out + err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error: ")]
    assert f"lost the dask scheduler at {address}" in line and "run the same command again" in line, err
    (run,) = json.loads(invoke("runs", "--results", db, "--json").stdout)
    assert run["status"] == "failed"
    written = rows(db)
    assert written and all(r["status"] in ("ok", "untrainable") for r in written) and len(written) < 12, written
    # The unfinished cells are resumable: a local rerun computes exactly those.
    again = cli(base_env(), *args)
    assert again.returncode == 0, again.stderr
    assert f"{len(written)} of 12 cells were already in" in again.stdout
    assert len(rows(db)) == 12


@pytest.mark.slow
def test_dask_without_a_scheduler_starts_a_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    db = tmp_path / "r.db"
    proc = cli(base_env(), "run", *FAST, "--seeds", 2, "--detectors", "louvain", "--executor", "dask", "--jobs", 1, "--quiet", "--results", db)
    assert proc.returncode == 0, proc.stderr
    assert [(r["seed"], r["status"]) for r in sorted(rows(db), key=lambda r: r["seed"])] == [(0, "ok"), (1, "ok")]
    (run,) = json.loads(invoke("runs", "--results", db, "--json").stdout)
    assert run["executor"] == "dask" and run["config"]["scheduler"] is None
