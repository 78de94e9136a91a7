"""Trust nothing on disk (issue 32): a stage-cache entry is bound to the key it was written for and
to its producer, so a copied entry is a logged miss and is recomputed, never a hit; nothing is
written for a run whose coordinator is gone; a cache that cannot be written warns once per run;
the default cache lives outside the working tree."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from sculptbench.api import hookimpl
from sculptbench.contracts.components import Detector, Pruner, Scorer
from sculptbench.contracts.types import Detection, ScoreRecord, SculptedNetwork
from sculptbench.plugin.registry import load_registry
from sculptbench.run import cache as cache_mod
from sculptbench.run import planning, running
from sculptbench.run.cache import CoordinatorGone, StageCache, default_cache_dir, producer

TASK = "bool/input-separable"  # 4 inputs, 4 outputs


# --------------------------------------------------------------------------- tiny components whose every seed differs
class SeedPruner(Pruner):
    """No training: a random mask drawn from the job's seed, so every seed has its own network."""

    name = "seedmask"
    version = "1"

    def prune(self, job):
        gen = torch.Generator().manual_seed(1000 + job.seed)
        masks = [torch.rand(b, a, generator=gen) < 0.5 for a, b in zip(job.sizes[:-1], job.sizes[1:])]
        net = SculptedNetwork.from_masks(masks)
        net.accuracy = net.test_accuracy = net.dense_accuracy = 1.0
        net.info = {"drawn_for_seed": job.seed}
        return net


class LayerDetector(Detector):
    """One module per layer of the units that keep an edge (so it differs with the network)."""

    name = "by-layer"
    version = "1"

    def detect(self, network, task, options, seed):
        masks = network.weight_masks
        used = [masks[0].any(dim=0)] + [masks[i - 1].any(dim=1) | masks[i].any(dim=0) for i in range(1, len(masks))]
        used.append(masks[-1].any(dim=1))
        modules = [frozenset((layer, int(i)) for i in torch.nonzero(alive).flatten()) for layer, alive in enumerate(used)]
        return Detection(modules=[m for m in modules if m])


class EdgeScorer(Scorer):
    """``edges``: surviving edges of the network; ``units``: units in the detection's modules."""

    name = "edges"
    version = "1"
    metrics = {"edges": "surviving edges", "units": "units in modules"}

    def score(self, detection, network, task, options=None, seed=0):
        edges = int(sum(int(m.sum()) for m in network.weight_masks))
        return ScoreRecord(self.name, {"edges": edges, "units": sum(len(m) for m in detection.modules)})


@pytest.fixture
def reg():
    plugin = SimpleNamespace(
        __name__="trust_pkg",
        register_pruners=hookimpl(lambda register: register(SeedPruner())),
        register_detectors=hookimpl(lambda register: register(LayerDetector())),
        register_scorers=hookimpl(lambda register: register(EdgeScorer())),
    )
    registry = load_registry(entry_points=False, extra=[("trust", plugin)])
    assert registry.failed() == []
    return registry


def run_grid(reg, cache_dir, seeds=(0, 1, 2)):
    """Run the grid in this process, as a run's units; the cells by seed."""
    spec = planning.RunSpec(tasks=[reg.tasks[TASK]], pruners=["seedmask"], detectors=["by-layer"], scorers=["edges"],
                            seeds=list(seeds), archs=[(24,)], cache_dir=str(cache_dir))
    cells = []
    for unit in planning.make_units(spec, planning.plan(reg, spec)):
        running.run_unit(unit, reg, lambda event: cells.append(event[1]) if event[0] == "cell" else None)
    return {cell.seed: cell for cell in cells}


def row(cell):
    """What a row says of its network, detection and scores."""
    return (cell.status, cell.density, cell.accuracy, cell.metrics, cell.config["modules"], cell.config["pruner_info"])


def executed(log: Path) -> list[tuple[str, str]]:
    return [(e["stage"], e["key"]) for e in map(json.loads, log.read_text().splitlines())] if log.exists() else []


# --------------------------------------------------------------------------- the cache swap, per stage
@pytest.mark.parametrize("stage", ["prune", "detect", "score"])
def test_an_entry_copied_over_another_keys_entry_is_a_logged_miss_and_recomputed(reg, tmp_path, monkeypatch, caplog, stage):
    """Issue 32, finding 1: copy one seed's complete, valid entry over another seed's (the .pt and
    the .json for prune). Before, the next run served the copy as a hit: the wrong network,
    detection or metrics under the right row. Now the copy is rejected, named in a warning, and
    the stage is recomputed: every row equals the untampered run's."""
    cache = tmp_path / "cache"
    reference = run_grid(reg, cache)
    assert len({json.dumps(row(c), sort_keys=True) for c in reference.values()}) == 3  # every seed differs
    entries = sorted(p.with_suffix("") for p in (cache / stage).rglob("*.json"))
    assert len(entries) == 3
    source, target = entries[0], entries[1]
    for suffix in (".pt", ".json") if stage == "prune" else (".json",):
        shutil.copyfile(source.with_suffix(suffix), target.with_suffix(suffix))
    log = tmp_path / "stages.log"
    monkeypatch.setenv("SCULPTBENCH_STAGE_LOG", str(log))
    with caplog.at_level(logging.WARNING, logger="sculptbench.run.cache"):
        again = run_grid(reg, cache)
    assert {s: row(c) for s, c in again.items()} == {s: row(c) for s, c in reference.items()}
    states = {seed: cell.config["cache"][stage] if stage != "score" else cell.config["cache"]["score"]["edges"] for seed, cell in again.items()}
    assert sorted(states.values()) == ["hit", "hit", "miss"], states
    assert executed(log) == [(stage, target.name)], executed(log)
    (warning,) = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert f"{stage} entry {target.name} rejected" in warning and f"written for {stage} key {source.name}" in warning, warning
    assert "copied or moved" in warning
    # The recomputed entry replaced the copy: a third run reads every entry as a hit.
    caplog.clear()
    third = run_grid(reg, cache)
    assert all(c.config["cache"]["prune"] == c.config["cache"]["detect"] == "hit" for c in third.values())
    assert not [r for r in caplog.records if "rejected" in r.getMessage()]


def test_an_entry_from_another_producer_is_a_miss(tmp_path, caplog):
    """A read names the component that must have produced the entry; another one's is refused."""
    net = SeedPruner().prune(SimpleNamespace(seed=0, sizes=[4, 6, 4]))
    cache = StageCache(str(tmp_path))
    key = "ab" + "1" * 30
    cache.save_network(key, net, 1.0, producer("pruner", "seedmask", {"package": "trust_pkg", "version": "1"}))
    assert cache.load_network(key, made_by=producer("pruner", "seedmask", {"package": "trust_pkg", "version": "1"})) is not None
    with caplog.at_level(logging.WARNING, logger="sculptbench.run.cache"):
        assert cache.load_network(key, made_by=producer("pruner", "seedmask", {"package": "trust_pkg", "version": "2"})) is None
        assert cache.load_network(key, made_by=producer("pruner", "other", {"package": "trust_pkg", "version": "1"})) is None
    messages = [r.getMessage() for r in caplog.records]
    assert "written by pruner 'seedmask' (trust_pkg 1), not by pruner 'seedmask' (trust_pkg 2)" in messages[0], messages
    assert "not by pruner 'other'" in messages[1], messages


@pytest.mark.parametrize("edit, reason", [
    (lambda data: data.pop("entry"), "records no key (written by an older sculptbench)"),
    (lambda data: data["entry"].update(key="cd" + "0" * 30), "written for score key cd000"),
    (lambda data: data["entry"].update(stage="detect"), "written for detect key"),
    (lambda data: data["entry"].update(producer={"kind": "scorer", "name": "edges", "version": "9"}), "written by scorer 'edges' (9)"),
])
def test_an_edited_binding_is_rejected(tmp_path, caplog, edit, reason):
    cache = StageCache(str(tmp_path))
    key = "ab" + "2" * 30
    made_by = producer("scorer", "edges", "1")
    cache.save_score(key, {"edges": 3}, 0.5, made_by)
    path = next((tmp_path / "score").rglob("*.json"))
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="sculptbench.run.cache"):
        assert cache.load_score(key, made_by=made_by) is None
    assert reason in caplog.records[0].getMessage(), caplog.records[0].getMessage()


def test_a_binding_moved_with_its_entry_but_its_hash_not_is_rejected(tmp_path, caplog):
    """Rewriting the recorded key to the new place is not enough: the hash covers the binding."""
    cache = StageCache(str(tmp_path))
    made_by = producer("scorer", "edges", "1")
    cache.save_score("ab" + "3" * 30, {"edges": 3}, 0.5, made_by)
    source = next((tmp_path / "score").rglob("*.json"))
    target_key = "ab" + "4" * 30
    data = json.loads(source.read_text())
    data["entry"]["key"] = target_key
    (source.parent / f"{target_key}.json").write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="sculptbench.run.cache"):
        assert cache.load_score(target_key, made_by=made_by) is None
    assert "does not match its stored hash" in caplog.records[0].getMessage()


# --------------------------------------------------------------------------- no writes for a dead coordinator
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_nothing_is_written_for_a_run_whose_coordinator_is_gone(tmp_path):
    import socket

    gone = StageCache(str(tmp_path), owner=(socket.gethostname(), _dead_pid()))
    with pytest.raises(CoordinatorGone):
        gone.save_score("ab" + "5" * 30, {"edges": 1}, 0.1, producer("scorer", "edges", "1"))
    with pytest.raises(CoordinatorGone):
        gone.save_network("ab" + "6" * 30, SeedPruner().prune(SimpleNamespace(seed=0, sizes=[4, 6, 4])), 0.1)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], list(tmp_path.rglob("*"))
    alive = StageCache(str(tmp_path), owner=(socket.gethostname(), os.getppid()))
    alive.save_score("ab" + "5" * 30, {"edges": 1}, 0.1, producer("scorer", "edges", "1"))
    elsewhere = StageCache(str(tmp_path), owner=("another-host.invalid", _dead_pid()))  # cannot be checked: written
    elsewhere.save_score("ab" + "7" * 30, {"edges": 1}, 0.1, producer("scorer", "edges", "1"))
    assert len(list((tmp_path / "score").rglob("*.json"))) == 2


# --------------------------------------------------------------------------- a cache that cannot be written
def test_a_full_disk_leaves_the_stage_unstored_and_says_why(reg, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_mod, "_write_json", full)
    monkeypatch.setattr(cache_mod.torch, "save", full)
    cells = run_grid(reg, tmp_path / "cache", seeds=(0,))
    cell = cells[0]
    assert cell.status == "ok"
    assert cell.config["cache"]["prune"] == "miss (not stored: [Errno 28] No space left on device)"
    assert cell.config["cache"]["detect"].startswith(running.NOT_STORED)


# --------------------------------------------------------------------------- where the cache lives by default
def test_the_default_cache_is_outside_the_working_tree(monkeypatch, tmp_path):
    monkeypatch.delenv("SCULPTBENCH_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == (tmp_path / "home" / ".cache" / "sculptbench").resolve()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == (tmp_path / "xdg" / "sculptbench").resolve()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # not absolute: ignored, as the XDG spec says
    assert default_cache_dir() == (tmp_path / "home" / ".cache" / "sculptbench").resolve()
    monkeypatch.setenv("SCULPTBENCH_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == (tmp_path / "mine").resolve()


# --------------------------------------------------------------------------- a forked child dies with its coordinator
class SlowLayerDetector(LayerDetector):
    """:class:`LayerDetector` that first writes its process id to ``$TRUST_PID_FILE`` and sleeps
    ``$TRUST_SLEEP`` seconds (a long stage, to kill the coordinator in)."""

    name = "slow-layers"

    def detect(self, network, task, options, seed):
        import time

        Path(os.environ["TRUST_PID_FILE"]).write_text(str(os.getpid()))
        time.sleep(float(os.environ["TRUST_SLEEP"]))
        return super().detect(network, task, options, seed)


COORDINATOR = """
import sys
from types import SimpleNamespace
sys.path.insert(0, sys.argv[1])
import test_trust as t
from sculptbench.api import ExecutionOptions, hookimpl
from sculptbench.plugin.registry import load_registry
from sculptbench.run import planning
plugin = SimpleNamespace(__name__="trust_pkg", register_pruners=hookimpl(lambda register: register(t.SeedPruner())),
                         register_detectors=hookimpl(lambda register: register(t.SlowLayerDetector())),
                         register_scorers=hookimpl(lambda register: register(t.EdgeScorer())))
reg = load_registry(entry_points=False, extra=[("trust", plugin)])
spec = planning.RunSpec(tasks=[reg.tasks[t.TASK]], pruners=["seedmask"], detectors=["slow-layers"], scorers=["edges"],
                        seeds=[0], archs=[(24,)], cache_dir=sys.argv[2])
units = planning.make_units(spec, planning.plan(reg, spec))
reg.get("executor", "local").run(units, ExecutionOptions(jobs=1, registry=reg), print)
"""


def test_a_forked_child_dies_with_its_killed_coordinator_and_writes_nothing_after(tmp_path):
    """Issue 32, finding 6: with --jobs 1 each unit runs in a child forked from the coordinator.
    Killed with SIGKILL mid-stage, the coordinator took its child along only 1.5-3 s later, after
    the child had written more cache entries. Now the child dies with it (PR_SET_PDEATHSIG on
    Linux) and the stage it was running is never stored."""
    import signal
    import time

    from sculptbench.contracts.processes import process_alive

    pid_file, cache = tmp_path / "child.pid", tmp_path / "cache"
    env = dict(os.environ, TRUST_PID_FILE=str(pid_file), TRUST_SLEEP="30", OMP_NUM_THREADS="1")
    coordinator = subprocess.Popen([sys.executable, "-c", COORDINATOR, str(Path(__file__).parent), str(cache)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not pid_file.exists() and coordinator.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid_file.exists(), coordinator.stderr.read().decode() if coordinator.poll() is not None else "no child started"
        time.sleep(0.1)
        child = int(pid_file.read_text())
        assert child != coordinator.pid
        coordinator.send_signal(signal.SIGKILL)
        coordinator.wait()
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
            coordinator.wait()
    for _ in range(40):  # SIGKILL from the kernel: gone at once (2 s allow for a loaded machine; its stage takes 30 s)
        if not process_alive(child):
            break
        time.sleep(0.05)
    assert not process_alive(child), "the forked child outlived its coordinator"
    assert list((cache / "prune").rglob("*.json")), "the prune stage before the kill was stored"
    assert not (cache / "detect").exists() or not list((cache / "detect").rglob("*.json"))


FAST = ["--tasks", TASK, "--arch", "24", "--epochs", "30", "--pruners", "dense", "--detectors", "louvain"]


def test_a_full_disk_under_the_cache_warns_once_per_run(tmp_path, monkeypatch):
    """Issue 32, finding 6: cache writes that failed on a full disk were silent."""
    from click.testing import CliRunner

    from sculptbench.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_mod, "_write_json", full)
    monkeypatch.setattr(cache_mod.torch, "save", full)
    db = tmp_path / "r.db"
    result = CliRunner().invoke(main, ["run", *FAST, "--seeds", "2", "--results", str(db), "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: cannot write the stage cache")]
    assert len(warnings) == 1, result.stderr
    assert "[Errno 28] No space left on device" in warnings[0] and str(tmp_path / "c") in warnings[0]
    assert "2 cells written" in result.stderr
