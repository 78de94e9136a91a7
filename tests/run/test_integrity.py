"""Results that cannot be wrong: plugin outputs are checked at the boundary of the run, and the
stage cache verifies an entry before it trusts it (issue 13, findings 3 and 5)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import assert_user_error

from sculptbench.api import Option, hookimpl
from sculptbench.contracts import checks
from sculptbench.run import planning
from sculptbench.run import running
from sculptbench.run.cache import StageCache
from sculptbench.cli import main
from sculptbench.contracts.types import Detection, OverlappingDetection, ScoreRecord, SculptedNetwork
from sculptbench.contracts.components import Detector, Pruner, Scorer
from sculptbench.plugin.registry import load_registry
from sculptbench.plugin.testing import check_detection as contract_check_detection

TASK = "bool/input-separable"  # 4 inputs, 4 outputs


# --------------------------------------------------------------------------- tiny, fast components
class FixedPruner(Pruner):
    """A 'pruner' without training: a seeded random mask of the job's sizes (or of ``bad`` sizes)."""

    name = "fixed"
    options = (Option("damage", str, "none", choices=("none", "sizes", "float-mask", "masked-weight")),)

    def prune(self, job):
        gen = torch.Generator().manual_seed(job.seed)
        sizes = job.sizes
        if job.params["damage"] == "sizes":
            sizes = [sizes[0], sizes[1] + 1, *sizes[2:]]
        masks = [torch.rand(b, a, generator=gen) < 0.6 for a, b in zip(sizes[:-1], sizes[1:])]
        net = SculptedNetwork.from_masks(masks)
        net.accuracy = net.test_accuracy = net.dense_accuracy = 1.0
        if job.params["damage"] == "float-mask":
            net.weight_masks[0] = net.weight_masks[0].float()
        if job.params["damage"] == "masked-weight":
            net.weights[0] = torch.ones_like(net.weights[0])
        return net


class ScriptedDetector(Detector):
    """Returns whatever ``OUTPUTS[options['output']]`` builds from the network."""

    name = "scripted"
    options = (Option("output", str, "layers", choices=("layers", "unit-out-of-range", "layer-out-of-range", "overlap",
                                                        "declared-overlap", "empty-module", "string-module", "not-a-detection")),)

    def detect(self, network, task, options, seed):
        return OUTPUTS[options["output"]](network)


def _layers(network):
    g = network.unit_graph()
    by_layer = {}
    for u in g.nodes:
        if g.degree(u):
            by_layer.setdefault(u[0], set()).add(u)
    return [frozenset(v) for _, v in sorted(by_layer.items())]


OUTPUTS = {
    "layers": lambda net: Detection(modules=_layers(net)),
    "unit-out-of-range": lambda net: Detection(modules=[frozenset({(1, 999)})]),
    "layer-out-of-range": lambda net: Detection(modules=[frozenset({(42, 0)})]),
    "overlap": lambda net: Detection(modules=[frozenset({(1, 0), (1, 1)}), frozenset({(1, 1), (1, 2)})]),
    "declared-overlap": lambda net: OverlappingDetection(modules=[frozenset({(1, 0), (1, 1)}), frozenset({(1, 1), (1, 2)})]),
    "empty-module": lambda net: Detection(modules=[frozenset({(1, 0)}), frozenset()]),
    "string-module": lambda net: Detection(modules=["abc"]),
    "not-a-detection": lambda net: [frozenset({(1, 0)})],
}


class CountScorer(Scorer):
    """``n``: the number of modules it was given (so a row's modules and score can be compared)."""

    name = "count"
    metrics = {"n": "number of modules"}
    damage = "none"

    def score(self, detection, network, task, options, seed):
        if self.damage == "undeclared":
            return ScoreRecord(self.name, {"n": len(detection.modules), "bogus": 1})
        if self.damage == "numpy":
            return ScoreRecord(self.name, {"n": np.int64(len(detection.modules))})
        return ScoreRecord(self.name, {"n": len(detection.modules)})


@pytest.fixture
def reg():
    scorer = CountScorer()
    plugin = SimpleNamespace(
        __name__="integrity_pkg",
        register_pruners=hookimpl(lambda register: register(FixedPruner())),
        register_detectors=hookimpl(lambda register: register(ScriptedDetector())),
        register_scorers=hookimpl(lambda register: register(scorer)),
    )
    registry = load_registry(entry_points=False, extra=[("integrity", plugin)])
    assert registry.failed() == []
    return registry


def run(reg, cache_dir=None, output="layers", damage="none", seeds=(0,), detectors=("scripted",), scorers=("count",)):
    """Run the grid in this process; return the cells.

    One start per cell (the task sets nine, for every pruner): the fixed pruner's one network is the cell's.
    """
    params = {"scripted": {"output": output}, "fixed": {"damage": damage, "restarts": 1}}
    spec = planning.RunSpec(tasks=[reg.tasks[TASK]], pruners=["fixed"], detectors=list(detectors), scorers=list(scorers),
                           seeds=list(seeds), archs=[(24,)], params={k: v for k, v in params.items() if k in (*detectors, "fixed")},
                           cache_dir=None if cache_dir is None else str(cache_dir))
    cells = []
    for unit in planning.make_units(spec, planning.plan(reg, spec)):
        running.run_unit(unit, reg, lambda event: cells.append(event[1]) if event[0] == "cell" else None)
    return cells


# --------------------------------------------------------------------------- finding 3: outputs checked at the boundary
@pytest.mark.parametrize("output, rule", [
    ("unit-out-of-range", "holds (1, 999), which is not a unit of a network of sizes [4, 24, 4]"),
    ("layer-out-of-range", "holds (42, 0), which is not a unit"),
    ("overlap", "unit (1, 1) is in modules 0 and 1; modules must be disjoint"),
    ("empty-module", "module 1 is empty"),
    ("string-module", "module 0 is a str, not a frozenset"),
    ("not-a-detection", "returned list, not a Detection"),
])
def test_an_invalid_detection_is_an_error_row_naming_the_plugin_and_the_rule(reg, output, rule):
    (cell,) = run(reg, output=output)
    assert cell.status == "error", (cell.status, cell.metrics)
    assert cell.error.startswith("invalid output: detector 'scripted' (package integrity_pkg)"), cell.error
    assert rule in cell.error, cell.error
    assert not cell.metrics


def test_declared_overlaps_are_accepted_and_survive_the_cache(reg, tmp_path):
    (cell,) = run(reg, tmp_path, output="declared-overlap")
    assert cell.status == "ok", cell.error
    assert cell.metrics["count.n"] == 2
    (again,) = run(reg, tmp_path, output="declared-overlap")
    assert again.status == "ok" and again.config["cache"]["detect"] == "hit"


@pytest.mark.parametrize("damage, rule", [
    ("sizes", "returned sizes [4, 25, 4]; expected [4, 24, 4]"),
    ("float-mask", "masks of layer 0 must be bool tensors"),
    ("masked-weight", "layer 0 has non-zero weights where its weight mask is False"),
])
def test_an_invalid_network_is_an_error_row_and_is_not_cached(reg, tmp_path, damage, rule):
    (cell,) = run(reg, tmp_path, damage=damage)
    assert cell.status == "error"
    assert cell.error.startswith("invalid output: pruner 'fixed' (package integrity_pkg)") and rule in cell.error, cell.error
    assert not list((tmp_path / "prune").rglob("*.pt")) if (tmp_path / "prune").exists() else True


@pytest.mark.parametrize("damage, rule", [
    ("undeclared", "reported metric 'bogus', which is not declared in `metrics`"),
    ("numpy", "metric 'n' is np.int64(3) of type int64; use None, bool, int or float"),
])
def test_an_invalid_score_is_an_error_row(reg, damage, rule):
    reg.scorers["count"].damage = damage
    (cell,) = run(reg)
    assert cell.status == "error"
    assert cell.error.startswith("invalid output: scorer 'count' (package integrity_pkg)") and rule in cell.error, cell.error


def test_the_contract_kit_and_the_run_share_one_rule_book():
    net = SculptedNetwork.from_masks([torch.ones(3, 2, dtype=torch.bool), torch.ones(2, 3, dtype=torch.bool)])
    bad = Detection(modules=[frozenset({(1, 0)}), frozenset({(1, 0)})])
    with pytest.raises(checks.InvalidOutput) as run_side:
        checks.check_detection(bad, net, "detector 'x'")
    with pytest.raises(AssertionError) as kit_side:
        contract_check_detection(bad, net, "detector 'x'")
    assert str(run_side.value) == str(kit_side.value)
    contract_check_detection(OverlappingDetection(modules=bad.modules), net)  # declared: fine


# --------------------------------------------------------------------------- finding 5: a cache that verifies
def _only(root: Path, stage: str, suffix: str) -> Path:
    (path,) = sorted((root / stage).rglob(f"*{suffix}"))
    return path


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _unpicklable(path: Path) -> None:
    path.write_bytes(b"\x80\x04\x95garbage that is no pickle")


def _sizes_scalar(path: Path) -> None:
    torch.save({"sizes": torch.tensor(7)}, path)


def _no_layers(path: Path) -> None:
    torch.save({"sizes": torch.tensor([4, 24, 4])}, path)


DAMAGES = {
    "pt-unpicklable": ("prune", ".pt", _unpicklable),
    "pt-sizes-not-a-list": ("prune", ".pt", _sizes_scalar),
    "pt-missing-layers": ("prune", ".pt", _no_layers),
    "pt-truncated": ("prune", ".pt", lambda p: p.write_bytes(p.read_bytes()[:50])),
    "prune-seconds-not-a-number": ("prune", ".json", lambda p: _edit_json(p, lambda d: d.update(seconds="soon"))),
    "prune-info-a-list": ("prune", ".json", lambda p: _edit_json(p, lambda d: d.update(info=[1, 2]))),
    "prune-json-a-list": ("prune", ".json", lambda p: p.write_text("[1, 2]")),
    "prune-json-not-json": ("prune", ".json", lambda p: p.write_text("{not json")),
    "detect-module-a-string": ("detect", ".json", lambda p: _edit_json(p, lambda d: d.update(modules=["abc"]))),
    "detect-seconds-not-a-number": ("detect", ".json", lambda p: _edit_json(p, lambda d: d.update(seconds="x"))),
    "score-seconds-not-a-number": ("score", ".json", lambda p: _edit_json(p, lambda d: d.update(seconds="x"))),
    "score-metrics-a-list": ("score", ".json", lambda p: _edit_json(p, lambda d: d.update(metrics=[1]))),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_an_unreadable_entry_is_a_logged_miss_and_is_overwritten(reg, tmp_path, caplog, damage):
    stage, suffix, apply = DAMAGES[damage]
    (first,) = run(reg, tmp_path)
    assert first.status == "ok"
    apply(_only(tmp_path, stage, suffix))
    with caplog.at_level(logging.WARNING, logger="sculptbench.run.cache"):
        (second,) = run(reg, tmp_path)
    assert second.status == "ok", second.error
    assert second.metrics == first.metrics and second.config["modules"] == first.config["modules"]
    assert f"stage cache: {stage} entry" in caplog.text and "rejected" in caplog.text
    # The entry was rewritten: the next run reads every stage from the cache.
    (third,) = run(reg, tmp_path)
    assert third.config["cache"] == {"prune": "hit", "detect": "hit", "score": {"count": "hit"}}


def test_a_network_of_other_sizes_under_a_key_is_rejected(reg, tmp_path, caplog):
    (first,) = run(reg, tmp_path)
    pt = _only(tmp_path, "prune", ".pt")
    key = pt.stem
    deeper = SculptedNetwork.from_masks([torch.ones(24, 4, dtype=torch.bool), torch.ones(24, 24, dtype=torch.bool), torch.ones(4, 24, dtype=torch.bool)])
    deeper.accuracy = deeper.test_accuracy = deeper.dense_accuracy = 1.0
    producer = json.loads(pt.with_suffix(".json").read_text())["entry"]["producer"]
    StageCache(str(tmp_path)).save_network(key, deeper, 0.5, made_by=producer)  # well-formed, bound to its key, with its own valid hash
    with caplog.at_level(logging.WARNING, logger="sculptbench.run.cache"):
        (second,) = run(reg, tmp_path)
    assert second.config["cache"]["prune"] == "miss"
    assert "a network of sizes [4, 24, 24, 4] under a key for sizes [4, 24, 4]" in caplog.text
    assert second.density == first.density


def test_an_edited_score_is_rejected_by_its_hash_or_its_declared_metrics(reg, tmp_path, caplog):
    (first,) = run(reg, tmp_path)
    score = _only(tmp_path, "score", ".json")
    _edit_json(score, lambda d: d["metrics"].update(n=99))
    with caplog.at_level(logging.WARNING, logger="sculptbench.run.cache"):
        (second,) = run(reg, tmp_path)
    assert second.metrics == first.metrics and second.config["cache"]["score"]["count"] == "miss"
    assert "does not match its stored hash" in caplog.text
    # Even with a matching hash, a metric the scorer does not declare is not trusted.
    from sculptbench.run.cache import stage_key

    _edit_json(score, lambda d: d.update(metrics={"n": 1, "bogus": 5}, digest=stage_key({"n": 1, "bogus": 5})))
    (third,) = run(reg, tmp_path)
    assert third.metrics == first.metrics and "bogus" not in json.dumps(third.metrics)
    assert "not declared in `metrics`" in caplog.text


def test_a_cached_score_always_belongs_to_the_cached_detection(reg, tmp_path):
    (first,) = run(reg, tmp_path)
    assert first.metrics["count.n"] == len(first.config["modules"]) == 3
    detect = _only(tmp_path, "detect", ".json")
    # An edited detection, re-stamped with a matching hash: the row shows it, and its score is
    # recomputed for it rather than taken from the original detection's cache entry.
    from sculptbench.run.cache import stage_key

    def merge(d):
        d["modules"] = [d["modules"][0] + d["modules"][1], d["modules"][2]]
        d["digest"] = stage_key({"entry": d["entry"], "content": stage_key({"modules": d["modules"], "info": d["info"]})})

    _edit_json(detect, merge)
    (second,) = run(reg, tmp_path)
    assert len(second.config["modules"]) == 2
    assert second.metrics["count.n"] == 2, "the score of another detection was reused"


def test_a_task_file_cannot_take_a_registered_task_name(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "tasks" / "bool" / "exemplars" / "none.yaml").read_text()
    path = tmp_path / "impostor.yaml"
    path.write_text(text.replace("name: bool/none", "name: bool/input-separable"))
    assert "bool/input-separable" in path.read_text()
    db = tmp_path / "r.db"
    result = CliRunner().invoke(main, ["run", "--tasks", f"{path},bool/input-separable", "--pruners", "dense", "--detectors", "louvain",
                                       "--seeds", "1", "--arch", "4", "--epochs", "1", "--quiet", "--results", str(db)])
    # Any task source's task (here the Boolean plugin's, from a .yaml path) is held to the rule.
    assert_user_error(result, str(path), "'bool/input-separable'", "registered task", "give it another name")
    assert not db.exists()
    # Two files naming one task are refused too.
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(text.replace("name: bool/none", "name: my/one"))
    b.write_text(text.replace("name: bool/none", "name: my/one"))
    result = CliRunner().invoke(main, ["run", "--tasks", f"{a},{b}", "--quiet", "--results", str(db)])
    assert_user_error(result, "both name their task 'my/one'")


def test_a_damaged_cache_entry_never_reaches_the_user_as_a_traceback(tmp_path):
    """Through the CLI, in one process (--jobs 1): the damaged entry is recomputed, the run succeeds."""
    db = tmp_path / "r.db"
    args = ["run", "--tasks", TASK, "--pruners", "dense", "--detectors", "louvain", "--seeds", "1", "--arch", "24",
            "--epochs", "30", "--quiet", "--results", str(db), "--no-resume"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    cache = Path(os.environ["SCULPTBENCH_CACHE"])  # the default stage cache (tests/conftest.py gives each test its own)
    _unpicklable(_only(cache, "prune", ".pt"))
    _edit_json(_only(cache, "detect", ".json"), lambda d: d.update(seconds="x"))
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "Traceback" not in second.output and second.exception is None
    assert [line for line in second.stdout.splitlines() if line.startswith("| dense")] == \
           [line for line in first.stdout.splitlines() if line.startswith("| dense")]
