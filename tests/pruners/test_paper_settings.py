"""Pruning the way the paper did: hparams=paper and --arch paper, hparams=authors, the reference's
loop points (loop=...), and the labelled oracle (select=oracle)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sqlite3
from importlib.resources import files

import numpy
import pytest
import torch
from click.testing import CliRunner

from conftest import assert_user_error
from sculptbench import paper
from sculptbench.engine import training as engine
from sculptbench.run import parsing
from sculptbench.run import planning
from sculptbench.run import selection
from sculptbench.run.selection import choose, prune_cells
from sculptbench.cli import main
from sculptbench.contracts.types import PruneJob, SculptedNetwork, TrainingConfig
from sculptbench.contracts.errors import SculptbenchError
from sculptbench.plugins.pruners.iterative import EdgePruner, IterativePruner
from sculptbench.plugins.pruners.iterative.pruner import AUTHORS_EDGE_STEPS, AUTHORS_UNIT_STEPS
from sculptbench.plugins.pruners.iterative.selection import authors_choice
from sculptbench.plugins.pruners.iterative.loop import LOOP_POINTS, mask_biases_without_inputs, sculpt, select_percentile


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def quick_run(db, *extra):
    return ["run", "--tasks", "bool/reused", "--pruners", "iterative", "--detectors", "sculpting", "--seeds", 1,
            "--epochs", 2, "--quiet", "--no-cache", "--results", db, *extra]


# --------------------------------------------------------------------------- the published table
def test_table_rows_map_our_seeds_to_the_reference_seeds(registry):
    reused = registry.tasks["bool/reused"]
    first = paper.lookup(reused, (24, 24), 0)
    assert (first.lr, first.batch_size, first.epochs, first.unit_step, first.edge_step) == (0.1, 8, 40, 70.0, 2.5)
    assert first.detector_hints() == {"feature_step": 3, "clusterability_step": 3}
    rows = list(csv.DictReader(io.StringIO(files("sculptbench.tasks").joinpath("paper-hparams.csv").read_text())))
    seed5 = [r for r in rows if r["modularity"] == "[4, 1, 2, 16]" and r["arch"] == "[4, 24, 24, 16]" and r["seed"] == "5"][0]
    last = paper.lookup(reused, (24, 24), 3)  # our seed 3 is the reference's seed 5
    assert (last.unit_step, last.edge_step) == (float(seed5["unit_step"]), float(seed5["edge_step"]))


def test_a_key_listed_twice_takes_the_first_line():
    rows = list(csv.DictReader(io.StringIO(files("sculptbench.tasks").joinpath("paper-hparams.csv").read_text())))
    seen, duplicate = {}, None
    for r in rows:
        key = (r["modularity"], r["arch"], r["seed"])
        if key in seen and (seen[key]["unit_step"], seen[key]["edge_step"]) != (r["unit_step"], r["edge_step"]):
            duplicate = (key, seen[key])
            break
        seen.setdefault(key, r)
    assert duplicate is not None
    (mod, arch, seed), first = duplicate
    widths = tuple(int(w) for w in arch.strip("[]").split(","))
    row = paper.table()[(tuple(int(w) for w in mod.strip("[]").split(",")), widths, int(seed))]
    assert (row.unit_step, row.edge_step) == (float(first["unit_step"]), float(first["edge_step"]))


def test_every_boolean_task_has_its_published_grid(registry):
    for task in registry.tasks.values():
        if task.name.startswith("bool/") and task.family != "classic":  # the classic family is not the paper's
            for hidden in paper.paper_archs(task):
                assert all(paper.lookup(task, hidden, seed) for seed in range(4))


def test_lookups_outside_the_grid_name_the_grid(registry):
    both = registry.tasks["bool/both"]
    with pytest.raises(SculptbenchError, match="grid for this task: architectures 24, 36, 48, 24x24"):
        paper.lookup(both, (30, 30), 0)
    with pytest.raises(SculptbenchError, match="seeds 0-3"):
        paper.lookup(both, (24, 24), 4)
    with pytest.raises(SculptbenchError, match="published no networks"):
        paper.paper_archs(registry.tasks["mnist/xor"])


def test_plan_resolves_the_paper_settings_into_the_recorded_params(registry):
    spec = planning.RunSpec(tasks=[registry.tasks["bool/both"]], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"],
                           seeds=[0, 1], archs=parsing.parse_archs("paper"), params={"iterative": {"hparams": "paper"}})
    groups = planning.plan(registry, spec)
    assert [g.hidden for g in groups] == paper.paper_archs(registry.tasks["bool/both"])
    deep = [g for g in groups if g.hidden == (24, 24, 24)][0]
    assert (deep.training.lr, deep.training.batch_size, deep.training.epochs) == (0.05, 32, 15)
    assert dict(deep.detectors)["sculpting"]["feature_step"] == 4
    # The user's own detector settings and training overrides still win.
    spec.params["sculpting"] = {"feature_step": 2}
    spec.training_overrides = {"epochs": 3}
    deep = [g for g in planning.plan(registry, spec) if g.hidden == (24, 24, 24)][0]
    assert dict(deep.detectors)["sculpting"]["feature_step"] == 2 and deep.training.epochs == 3


def test_options_that_do_not_apply_are_left_out_and_defaults_given_change_no_key(registry):
    resolved = IterativePruner().resolve({})
    # one start, one variant: nothing to choose from, so no select rule and none of its components
    assert not {"select", "select_detector", "oracle_scorer", "oracle_metric"} & set(resolved)
    assert resolved["loop"] == "ours" and resolved["restarts"] == 1 and not resolved.given
    # an option given at its default resolves to the same options: the same keys
    assert IterativePruner().resolve({"loop": "ours"}) == resolved
    assert IterativePruner().resolve({"loop": list(LOOP_POINTS)})["loop"] == "reference"
    task = registry.tasks["bool/reused"]

    def key(params):
        spec = planning.RunSpec(tasks=[task], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"], seeds=[0],
                                archs=[(8,)], params={"iterative": params})
        return planning.plan(registry, spec)[0].keys[(0, "sculpting")]

    assert key({"hparams": "task"}) == key({"hparams": "task", "loop": "ours"}) != key({"hparams": "task", "loop": "reference"})
    # the select rule given by the user wins over the task's, even at the protocol's default
    chosen = IterativePruner().resolve({"select": "sparsest"}, task.pruning_defaults_for((8,), 0))
    assert chosen["select"] == "sparsest" and task.pruning_defaults_for((8,), 0)["select"] == "sparsest_modularity"


def test_the_authors_rule_takes_the_reference_loop_unless_told_otherwise():
    assert IterativePruner().resolve({"hparams": "authors"})["loop"] == "reference"
    explicit = IterativePruner().resolve({"hparams": "authors", "loop": "ours"})
    assert explicit["loop"] == "ours" and IterativePruner().resolve(explicit.as_dict()) == explicit
    again = IterativePruner().resolve({"hparams": "authors"})
    assert IterativePruner().resolve(again.as_dict()) == again



def test_the_automatic_rule_takes_the_reference_loop_for_iterative_only_unless_told_otherwise(registry):
    """``hparams=auto``: iterative prunes by the reference loop (it measured better); ``loop=ours``
    given, or a task that sets ``hparams=auto`` by default, behave the same way through the planner."""
    from sculptbench.plugins.pruners.iterative import MagnitudePruner

    auto = IterativePruner().resolve({"hparams": "auto"})
    assert auto["loop"] == "reference" and IterativePruner().resolve(auto.as_dict()) == auto
    assert IterativePruner().resolve({"hparams": "auto", "loop": "ours"})["loop"] == "ours"
    assert EdgePruner().resolve({"hparams": "auto"})["loop"] == "ours"  # the ablation keeps ours under auto
    assert MagnitudePruner().resolve({})["loop"] == "ours"  # no hparams rule at all
    assert IterativePruner().resolve({"hparams": "task"})["loop"] == "ours"
    task = registry.tasks["bool/both"]
    assert task.pruning_defaults_for((24,), 0).get("hparams") == "auto"

    def planned(params):
        spec = planning.RunSpec(tasks=[task], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"], seeds=[0],
                                archs=[(24,)], params={"iterative": params})
        return planning.plan(registry, spec)[0].pruner_params

    assert planned({})["loop"] == "reference" and planned({"loop": "ours"})["loop"] == "ours"
    # a task may name its loop (the MNIST two-digits profile was tuned with ours); the user's wins
    two_digits = registry.tasks["mnist/two-digits"]

    def planned_mnist(params):
        spec = planning.RunSpec(tasks=[two_digits], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"], seeds=[0],
                                archs=[(64, 64)], params={"iterative": params})
        return planning.plan(registry, spec)[0].pruner_params

    assert planned_mnist({})["hparams"] == "auto" and planned_mnist({})["loop"] == "ours"
    assert planned_mnist({"loop": "reference"})["loop"] == "reference"


def test_paper_cells_batched_match_one_at_a_time(registry):
    task = registry.tasks["bool/reused"]
    pruner = IterativePruner()
    params = pruner.resolve({"hparams": "paper"})
    training = TrainingConfig(lr=0.1, batch_size=8, epochs=2)
    jobs = [PruneJob(task, (8, 8), seed, params, training) for seed in (0, 1)]
    assert pruner.variants(params, jobs[0]) != pruner.variants(params, jobs[1])
    together = pruner.prune_many(jobs)
    for job, net in zip(jobs, together):
        alone = pruner.prune(job)
        assert alone.info["variant"] == net.info["variant"] == pruner.variants(params, job)[0]
        assert torch.equal(alone.weight_masks[0], net.weight_masks[0]) and alone.history == net.history
        assert net.info["hparam_rule"] == "paper-published"


def test_run_with_paper_settings_records_them(tmp_path, registry):
    db = tmp_path / "r.db"
    result = invoke(*quick_run(db, "--arch", "8x8", "--param", "iterative.hparams=paper"))
    assert result.exit_code == 0, result.output
    config = json.loads(sqlite3.connect(db).execute("select config from cells").fetchone()[0])
    row = paper.lookup(registry.tasks["bool/reused"], (8, 8), 0)
    assert config["training"]["lr"] == row.lr and config["training"]["batch_size"] == row.batch_size
    assert config["training"]["epochs"] == 2  # --epochs wins over the table
    assert config["detector_params"]["feature_step"] == row.feature_step == 3
    assert config["pruner_info"]["variant"] == {"unit_step": row.unit_step, "edge_step": row.edge_step}


# --------------------------------------------------------------------------- each network's own recipe
def with_recipe(monkeypatch, task, hidden, seed, **fields):
    """The published table, with our ``seed``'s row of ``task`` at ``hidden`` changed to ``fields``."""
    rows = dict(paper.table())
    key = (paper.task_id(task), (task.n_inputs, *hidden, task.n_outputs), paper.REFERENCE_SEEDS[seed])
    rows[key] = dataclasses.replace(rows[key], **fields)
    monkeypatch.setattr(paper, "table", lambda: rows)


def plan_seeds(registry, task, seeds, rule="paper", archs=((8, 8),), overrides=None):
    spec = planning.RunSpec(tasks=[task], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"], seeds=list(seeds),
                           archs=[tuple(a) for a in archs], params={"iterative": {"hparams": rule}}, training_overrides=dict(overrides or {}))
    return planning.plan(registry, spec)


def recipe(training):
    return training.lr, training.batch_size, training.epochs


def test_seeds_with_different_published_recipes_are_planned_apart(registry, monkeypatch):
    task = registry.tasks["bool/reused"]
    with_recipe(monkeypatch, task, (8, 8), 1, lr=0.2, batch_size=4, epochs=7, feature_step=2)
    groups = plan_seeds(registry, task, range(4))
    assert [g.seeds for g in groups] == [[0, 2, 3], [1]]  # equal recipes share one group, in seed order
    for group in groups:
        for seed in group.seeds:
            row = paper.lookup(task, (8, 8), seed)
            assert recipe(group.training) == (row.lr, row.batch_size, row.epochs)
            assert dict(group.detectors)["sculpting"]["feature_step"] == row.feature_step
    assert recipe(groups[1].training) == (0.2, 4, 7) and dict(groups[1].detectors)["sculpting"]["feature_step"] == 2
    # Only the recipe splits them: the cell is still (task, arch, pruner, detector), with the same options.
    assert {(g.task.name, g.hidden, g.pruner, g.pruner_label) for g in groups} == {("bool/reused", (8, 8), "iterative", "iterative")}
    assert groups[0].pruner_params == groups[1].pruner_params


def test_a_seeds_cell_key_does_not_depend_on_the_other_seeds_of_the_run(registry, monkeypatch):
    task = registry.tasks["bool/reused"]
    with_recipe(monkeypatch, task, (8, 8), 1, lr=0.2, batch_size=4, epochs=7)
    together = {k: v for g in plan_seeds(registry, task, range(4)) for k, v in g.keys.items()}
    for seeds in ([0], [1], [1, 3], [3, 2, 1, 0]):
        alone = {k: v for g in plan_seeds(registry, task, seeds) for k, v in g.keys.items()}
        assert alone == {(s, "sculpting"): together[(s, "sculpting")] for s in seeds}
    assert together[(0, "sculpting")] != together[(1, "sculpting")]


def test_the_command_line_recipe_still_wins_over_each_seeds(registry, monkeypatch):
    task = registry.tasks["bool/reused"]
    with_recipe(monkeypatch, task, (8, 8), 1, lr=0.2, batch_size=4, epochs=7)
    groups = plan_seeds(registry, task, range(4), overrides={"epochs": 3})
    assert [recipe(g.training) for g in groups] == [(0.1, 16, 3), (0.2, 4, 3)]
    (group,) = plan_seeds(registry, task, range(4), overrides={"lr": 0.01, "batch_size": 2, "epochs": 3})
    assert recipe(group.training) == (0.01, 2, 3) and group.seeds == [0, 1, 2, 3]


def test_the_authors_rule_trains_every_seed_with_its_cells_published_recipe_inside_the_grid_only(registry):
    task = registry.tasks["bool/reused"]
    row = paper.lookup(task, (8, 8), 0)
    assert recipe(task.training_for((8, 8))) != (row.lr, row.batch_size, row.epochs)  # else the test shows nothing
    (inside,) = plan_seeds(registry, task, range(4), rule="authors")
    assert recipe(inside.training) == (row.lr, row.batch_size, row.epochs)
    assert dict(inside.detectors)["sculpting"]["feature_step"] == row.feature_step
    (outside,) = plan_seeds(registry, task, range(4), rule="authors", archs=[(30, 30)])  # a width the paper did not run: no error
    assert outside.training == task.training_for((30, 30))
    assert dict(outside.detectors)["sculpting"] == registry.detectors["sculpting"].resolve({}, task.detector_defaults)
    # Seed 4 is outside the published seeds: it still trains with its cell's published recipe, in the same group.
    (group,) = plan_seeds(registry, task, range(5), rule="authors")
    assert group.seeds == [0, 1, 2, 3, 4] and recipe(group.training) == (row.lr, row.batch_size, row.epochs)
    assert dict(group.detectors)["sculpting"]["feature_step"] == row.feature_step
    (overridden,) = plan_seeds(registry, task, range(5), rule="authors", overrides={"lr": 0.01, "batch_size": 2, "epochs": 3})
    assert recipe(overridden.training) == (0.01, 2, 3) and overridden.seeds == [0, 1, 2, 3, 4]


def test_cell_settings_are_asked_per_seed_under_each_rule(registry):
    task = registry.tasks["bool/reused"]
    pruner = IterativePruner()
    authors = pruner.resolve({"hparams": "authors"})
    published = paper.lookup(task, (8, 8), 0)
    assert pruner.cell_settings(task, (8, 8), 0, authors).training == published.training()
    # under the authors' rule a seed outside the published ones takes its cell's recipe too
    outside = pruner.cell_settings(task, (8, 8), 4, authors)
    assert outside.training == published.training() and outside.detector_hints == published.detector_hints()
    assert pruner.cell_settings(task, (30, 30), 0, authors) is None  # a cell the paper did not run: the task's
    paper_rule = pruner.resolve({"hparams": "paper"})
    assert pruner.cell_settings(task, (8, 8), 3, paper_rule).training == paper.lookup(task, (8, 8), 3).training()
    with pytest.raises(SculptbenchError, match="seeds 0-3"):
        pruner.cell_settings(task, (8, 8), 4, paper_rule)
    for rule in ("task", "auto"):
        assert pruner.cell_settings(task, (8, 8), 0, pruner.resolve({"hparams": rule})) is None


def test_run_under_the_authors_rule_records_the_published_recipe(tmp_path, registry):
    db = tmp_path / "r.db"
    result = invoke(*quick_run(db, "--arch", "8x8", "--epochs", 1, "--param", "iterative.hparams=authors"))
    assert result.exit_code == 0, result.output
    config = json.loads(sqlite3.connect(db).execute("select config from cells").fetchone()[0])
    row = paper.lookup(registry.tasks["bool/reused"], (8, 8), 0)
    assert (config["training"]["lr"], config["training"]["batch_size"], config["training"]["epochs"]) == (row.lr, row.batch_size, 1)
    assert config["detector_params"]["feature_step"] == row.feature_step and config["pruner_info"]["variants_tried"] == 70


@pytest.mark.parametrize("extra, fragments", [
    (["--arch", "30x30", "--param", "iterative.hparams=paper"], ["no published network", "24x24", "--arch paper"]),
    (["--seeds", 5, "--arch", "24x24", "--param", "iterative.hparams=paper"], ["seed 4", "seeds 0-3"]),
    (["--tasks", "mnist/xor", "--arch", "paper"], ["published no networks", "mnist/xor"]),
    (["--param", "iterative.hparams=sometimes"], ["invalid iterative.hparams sometimes", "paper", "authors"]),
    (["--param", "iterative.select=best"], ["invalid iterative.select best", "sparsest, consensus, modularity, sparsest_modularity, oracle"]),
    (["--param", "iterative.select=oracle", "--param", "iterative.oracle_scorer=null"], ["invalid iterative.oracle_scorer null", "a string"]),
    (["--param", "iterative.select=oracle", "--param", "iterative.oracle_scorer=judge"], ["unknown scorer 'judge'", "structure"]),
    (["--param", "iterative.select=oracle", "--param", "iterative.oracle_metric=luck"], ["invalid iterative.oracle_metric luck", "success"]),
    (["--param", "iterative.loop=[percentile,sideways]"], ["unknown loop point 'sideways'", "mask_bias"]),
    (["--param", "iterative.loop=5"], ["invalid iterative.loop 5", "reference"]),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, extra, fragments):
    db = tmp_path / "r.db"
    assert_user_error(invoke(*quick_run(db, *extra)), *fragments)
    assert not db.exists() or sqlite3.connect(db).execute("select count(*) from cells").fetchone()[0] == 0


# --------------------------------------------------------------------------- the authors' rule
def test_authors_grid_in_their_loop_order(small_task):
    params = IterativePruner().resolve({"hparams": "authors"})
    job = PruneJob(small_task, (8,), 0, params, small_task.training)
    variants = IterativePruner().variants(params, job)
    assert len(variants) == 70 == len(AUTHORS_UNIT_STEPS) * len(AUTHORS_EDGE_STEPS) == IterativePruner().candidates_per_start(params)
    assert variants[0] == {"unit_step": 70.0, "edge_step": 2.5} and variants[1] == {"unit_step": 65.0, "edge_step": 2.5}
    assert variants[-1] == {"unit_step": 5.0, "edge_step": 0.5}
    edge_params = EdgePruner().resolve({"hparams": "authors"})
    edge_job = PruneJob(small_task, (8,), 0, edge_params, small_task.training)
    assert [v["edge_step"] for v in EdgePruner().variants(edge_params, edge_job)] == list(AUTHORS_EDGE_STEPS)
    # the paper's procedure: one start, the sparsest kept
    assert (params["restarts"], params["select"]) == (1, "sparsest")


def test_authors_choice_keeps_the_sparsest_and_the_first_on_ties():
    def net(kept, status="ok"):
        mask = torch.zeros(1, 10, dtype=torch.bool)
        mask[0, :kept] = True
        n = SculptedNetwork.from_masks([mask.int()])
        n.status = status
        return n

    nets = [net(5), net(3), net(3), net(1, "untrainable")]
    assert authors_choice(nets) is nets[1]


def test_authors_rule_runs_its_variants_batched(registry, small_task):
    pruner = IterativePruner()
    (group,) = planning.plan(registry, planning.RunSpec(
        tasks=[small_task], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"], seeds=[0, 1], archs=[(6,)],
        params={"iterative": {"hparams": "authors"}}, training_overrides={"lr": 0.05, "batch_size": 8, "epochs": 2}))
    nets = prune_cells(pruner, group, [0, 1], registry)
    assert [n.info["variants_tried"] for n in nets] == [70, 70]
    assert pruner.last_stats.trainings >= 140
    assert all(n.info["hparam_rule"] == "authors-grid" for n in nets)
    # every variant of a job comes back from one batched call, in the authors' order
    jobs = [PruneJob(small_task, (6,), seed, group.pruner_params, group.training) for seed in (0, 1)]
    candidates = pruner.candidates(jobs)
    assert [len(c) for c in candidates] == [70, 70]
    assert [n.info["variant"] for n in candidates[0]] == pruner.variants(group.pruner_params, jobs[0])
    for net, nets_of_job in zip(nets, candidates):
        assert net.density() == authors_choice(nets_of_job).density()


# --------------------------------------------------------------------------- the reference's loop points
def test_percentile_cut_matches_numpy_and_counts_pruned_items():
    scores = torch.tensor([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4])
    alive = torch.tensor([True, False, True, True, True, True, True, True])
    kept = select_percentile(scores, alive, 30.0)
    values = numpy.where(alive.numpy(), scores.numpy(), 0.0)
    assert kept.tolist() == list(values > numpy.percentile(values, 30.0))
    assert not kept[1] and int(kept.sum()) == 5
    assert not select_percentile(scores, alive, 100.0).any()


def test_mask_bias_of_a_unit_without_inputs():
    layout = engine.Layout((2, 2, 1))
    mask = torch.ones(1, layout.n_params)
    mask[0, layout.weight_slice(0)] = torch.tensor([1.0, 0.0, 1.0, 0.0])  # (in, out): unit 1 keeps no input
    out = mask_biases_without_inputs(layout, mask)
    assert layout.biases(out, 0)[0, 0].tolist() == [1.0, 0.0]
    assert layout.biases(out, 1)[0, 0].tolist() == [1.0]


def test_best_epoch_ties_go_to_the_later_epoch_only_with_later_epoch():
    acc, loss = torch.tensor([1.0, 1.0]), torch.tensor([0.2, 0.3])
    best_acc, best_loss = torch.tensor([1.0, 1.0]), torch.tensor([0.2, 0.2])
    assert engine.better_epoch(acc, loss, best_acc, best_loss).tolist() == [False, False]
    assert engine.better_epoch(acc, loss, best_acc, best_loss, prefer_later=True).tolist() == [True, False]


def test_keep_pruning_prunes_a_network_that_missed_the_threshold(small_task):
    pruner = IterativePruner()
    training = TrainingConfig(lr=0.05, batch_size=8, epochs=1)
    params = pruner.resolve({"hparams": "task"})
    job = PruneJob(small_task, (6,), 0, params, training)
    variants = [(v, pruner.phases(params, v)) for v in pruner.variants(params, job)]
    ours = sculpt([job], variants)[0][0][0]
    assert ours.status == "untrainable" and len(ours.history) == 1
    theirs = sculpt([job], variants, loop=["keep_pruning"])[0][0][0]
    assert len(theirs.history) > 1
    assert theirs.status == ("ok" if any(h["accepted"] for h in theirs.history[1:]) else "untrainable")


def test_each_loop_point_alone_is_accepted_and_changes_only_its_cells(registry):
    task = registry.tasks["bool/none"]
    pruner = IterativePruner()
    # the recorded params are the resolved ones: the user's, the task's defaults, then the pruner's
    base = pruner.resolve({}, task.pruning_defaults_for((8,), 0))
    keys = {}
    for loop in ["ours", "reference", *LOOP_POINTS]:
        spec = planning.RunSpec(tasks=[task], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"], seeds=[0],
                               archs=[(8,)], params={"iterative": {"loop": loop}})
        keys[loop] = planning.plan(registry, spec)[0].keys[(0, "sculpting")]
    assert len(set(keys.values())) == len(keys)
    plain = planning.plan(registry, planning.RunSpec(tasks=[task], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"],
                                                   seeds=[0], archs=[(8,)]))[0]
    # the default (hparams=auto, from the task) is the reference loop
    assert plain.keys[(0, "sculpting")] == keys["reference"] and plain.pruner_params == base
    assert base["loop"] == "reference"


# --------------------------------------------------------------------------- the oracle
def test_oracle_rows_are_labelled_in_every_format(tmp_path):
    db = tmp_path / "r.db"
    # trained long enough to meet the threshold: the rule runs (and records itself) only where a candidate did
    result = invoke("run", "--tasks", "bool/none", "--pruners", "iterative", "--detectors", "sculpting", "--seeds", 1, "--arch", 8,
                    "--epochs", 15, "--quiet", "--no-cache", "--results", db, "--param", "iterative.select=oracle",
                    "--param", "iterative.hparams=auto", "--param", "iterative.restarts=2")
    assert result.exit_code == 0, result.output
    assert "iterative[oracle]" in result.stdout
    for fmt in ("github", "csv", "json"):
        out = invoke("report", "--results", db, "--format", fmt)
        assert out.exit_code == 0 and "iterative[oracle]" in out.stdout, (fmt, out.output)
    status, config = sqlite3.connect(db).execute("select status, config from cells").fetchone()
    info = json.loads(config)["pruner_info"]
    assert status == "ok" and info["selection"] == "oracle" and info["variants_tried"] == 2 and 0 <= info["oracle_successes"] <= 2


def planned_group(registry, task, params, hidden=(6,)):
    """The one group a run of ``task`` at ``hidden`` plans for iterative with ``params`` (seed 0)."""
    spec = planning.RunSpec(tasks=[task], pruners=["iterative"], detectors=["sculpting"], scorers=["structure"], seeds=[0],
                            archs=[hidden], params={"iterative": params})
    (group,) = planning.plan(registry, spec)
    return group


def kept(nets, group, registry):
    """The network the protocol's ``select`` rule of ``group`` keeps of ``nets`` (cell seed 0)."""
    return choose(nets, registry.pruners["iterative"], group, 0, registry)


def test_oracle_keeps_a_successful_variant_when_the_sparsest_fails(registry, small_task, monkeypatch):
    group = planned_group(registry, small_task, {"select": "oracle", "hparams": "auto", "restarts": 3})
    assert dict((kind, name) for kind, name, _ in group.protocol) == {"detector": "sculpting", "scorer": "structure"}
    nets = []
    for count in (2, 4, 6):
        mask = torch.zeros(1, 10, dtype=torch.bool)
        mask[0, :count] = True
        nets.append(SculptedNetwork.from_masks([mask.int()]))
    judged = []
    monkeypatch.setattr(selection._Detections, "oracle_success", lambda self, net: judged.append(net) or net is not nets[0])
    best = kept(nets, group, registry)
    assert best is nets[1] and best.info["oracle_successes"] == 2 and best.info["selection"] == "oracle" and len(judged) == 3
    monkeypatch.setattr(selection._Detections, "oracle_success", lambda self, net: False)
    assert kept(nets, group, registry) is nets[0]


def test_consensus_keeps_the_sparsest_of_the_most_frequent_structure(registry, small_task, monkeypatch):
    from sculptbench.contracts.types import Detection

    group = planned_group(registry, small_task, {"select": "consensus", "hparams": "auto", "restarts": 4})
    params = group.pruner_params
    assert IterativePruner().label(params) == "iterative[consensus]" == group.pruner_label and params["select_detector"] == "sculpting"
    nets = []
    for count in (2, 3, 5, 6):
        mask = torch.zeros(1, 10, dtype=torch.bool)
        mask[0, :count] = True
        nets.append(SculptedNetwork.from_masks([mask.int()]))
    one = Detection([frozenset({(0, 0), (1, 0)})])
    two = Detection([frozenset({(0, 0)}), frozenset({(0, 1), (1, 0)})])
    chosen = {id(nets[0]): one, id(nets[1]): two, id(nets[2]): two, id(nets[3]): one}
    monkeypatch.setattr(selection._Detections, "of", lambda self, net: chosen[id(net)])
    best = kept(nets, group, registry)
    assert best is nets[0] and best.info["consensus_share"] == 0.5  # a tie in frequency: the first structure seen
    chosen[id(nets[3])] = two
    best = kept(nets, group, registry)
    assert best is nets[1] and best.info["selection"] == "consensus" and best.info["consensus_share"] == 0.75


def test_consensus_needs_a_registered_detector(tmp_path):
    assert_user_error(invoke(*quick_run(tmp_path / "r.db", "--param", "iterative.select=consensus", "--param", "iterative.select_detector=nope")),
                      "unknown detector 'nope'")


def test_list_pruners_shows_the_declared_options():
    out = invoke("list", "pruners", "--json")
    assert out.exit_code == 0, out.output
    options = {i["name"]: {o["name"]: o for o in i["options"]} for i in json.loads(out.stdout)}
    iterative = options["iterative"]
    assert "reference if hparams is auto" in iterative["loop"]["default_text"] and iterative["loop"]["default_text"].endswith("else ours")
    assert iterative["select"]["default"] == "sparsest" and iterative["select"]["protocol"] and iterative["select"]["task_may_set"]
    assert "more than one candidate" in iterative["select"]["applies"]
    assert iterative["oracle_scorer"]["default"] == "structure" and iterative["oracle_scorer"]["applies"] == "select is oracle"
    assert iterative["edge_score"]["default"] == "magnitude" and iterative["edge_score"]["task_may_set"]
    assert not iterative["edge_score"]["protocol"] and iterative["unit_step"]["applies"] == "hparams is task"
    # magnitude and random: their own schedule, no hparams; random ranks weights at random, not by an option
    assert "hparams" not in options["magnitude"] and "hparams" not in options["random"] and "edge_score" not in options["random"]
    assert options["magnitude"]["edge_score"]["default"] == "magnitude"
    # dense: the protocol's options only; published: its checkout, no protocol
    assert all(o["protocol"] for o in options["dense"].values()) and "restarts" in options["dense"]
    assert set(options["published"]) == {"root"}


# --------------------------------------------------------------------------- the modularity rule
def _two_chains(cross: bool) -> SculptedNetwork:
    """2-2-2: input i -> hidden i -> output i, plus (``cross``) hidden 0 -> output 1."""
    hidden_to_out = [[1, 0], [1 if cross else 0, 1]]
    return SculptedNetwork.from_masks([[[1, 0], [0, 1]], hidden_to_out])


def test_partition_modularity_on_hand_built_networks():
    from sculptbench.contracts.types import Detection
    from sculptbench.run.selection import partition_modularity

    halves = Detection([frozenset({(0, 0), (1, 0), (2, 0)}), frozenset({(0, 1), (1, 1), (2, 1)})])
    # two disjoint chains of 2 edges each: Q = 2 x (2/4 - (4/8)^2) = 0.5
    assert partition_modularity(_two_chains(False), halves) == pytest.approx(0.5)
    # one edge between the halves: Q = (2/5 - (5/10)^2) + (2/5 - (5/10)^2) = 0.3
    assert partition_modularity(_two_chains(True), halves) == pytest.approx(0.3)
    # units outside every module are modules of their own; no edges at all scores 0
    assert partition_modularity(_two_chains(False), Detection([])) < 0.5
    assert partition_modularity(SculptedNetwork.from_masks([[[0, 0], [0, 0]]]), Detection([])) == 0.0


def _stub_modularity(monkeypatch, scores):
    """Give each network its modularity from ``scores`` (by ``id``), with no detection run."""
    monkeypatch.setattr(selection, "partition_modularity", lambda net, detection: scores[id(net)])
    monkeypatch.setattr(selection._Detections, "of", lambda self, net: None)


def test_modularity_keeps_the_most_modular_variant_then_the_sparsest(registry, small_task, monkeypatch):
    pruner = IterativePruner()
    group = planned_group(registry, small_task, {"select": "modularity", "hparams": "auto", "restarts": 3})
    params = group.pruner_params
    assert pruner.label(params) == "iterative[modularity]" and params["select_detector"] == "sculpting"
    mixed, clean, clean_denser = _two_chains(True), _two_chains(False), _two_chains(False)
    clean_denser.weight_masks[0] = torch.ones(2, 2, dtype=torch.bool)
    scores = {id(mixed): 0.3, id(clean): 0.5, id(clean_denser): 0.5}
    _stub_modularity(monkeypatch, scores)
    best = kept([mixed, clean_denser, clean], group, registry)
    assert best is clean and best.info["selection"] == "modularity" and best.info["modularity"] == 0.5
    # without the rule, the sparsest: the mixed network has fewer edges than the denser clean one
    plain = planned_group(registry, small_task, {"hparams": "auto", "restarts": 3, "select": "sparsest"})
    assert kept([clean_denser, mixed], plain, registry) is mixed


def test_sparsest_modularity_breaks_ties_among_the_sparsest_only(registry, small_task, monkeypatch):
    pruner = IterativePruner()
    group = planned_group(registry, small_task, {"select": "sparsest_modularity", "hparams": "auto", "restarts": 3})
    params = group.pruner_params
    assert pruner.label(params) == "iterative[sparsest_modularity]" and params["select_detector"] == "sculpting"
    # two equally sparse networks (4 weights each), one with an edge across the halves instead of
    # a second input edge; and a denser, cleaner one
    mixed = SculptedNetwork.from_masks([[[1, 0], [0, 0]], [[1, 0], [1, 1]]])
    clean, clean_denser = _two_chains(False), _two_chains(False)
    clean_denser.weight_masks[0] = torch.ones(2, 2, dtype=torch.bool)
    assert mixed.density() == clean.density() < clean_denser.density()
    scores = {id(mixed): 0.3, id(clean): 0.5, id(clean_denser): 0.9}
    _stub_modularity(monkeypatch, scores)
    best = kept([mixed, clean_denser, clean], group, registry)
    # the denser network is more modular, but only the sparsest compete
    assert best is clean and best.info["selection"] == "sparsest_modularity" and best.info["modularity"] == 0.5
    # plain sparsest keeps the first of the two equally sparse networks
    plain = planned_group(registry, small_task, {"hparams": "auto", "restarts": 3, "select": "sparsest"})
    assert kept([mixed, clean_denser, clean], plain, registry) is mixed and pruner.label(plain.pruner_params) == "iterative"
    # the auto rule's default select is sparsest_modularity, written into the parameters and the label
    default = pruner.resolve({"hparams": "auto", "restarts": 3})
    assert default["select"] == "sparsest_modularity" and pruner.label(default) == "iterative[sparsest_modularity]"
    assert kept([mixed, clean_denser, clean], planned_group(registry, small_task, {"hparams": "auto", "restarts": 3}), registry) is clean
    # under the authors' rule sparsity is their rounded percentage; the tie-break is the same
    authors = planned_group(registry, small_task, {"hparams": "authors", "select": "sparsest_modularity"})
    assert kept([mixed, clean_denser, clean], authors, registry) is clean


# --------------------------------------------------------------------------- options a task may set
def test_a_task_sets_the_options_the_user_leaves_and_the_defaults_fill_the_rest(small_task, monkeypatch):
    pruner = IterativePruner()
    alone = pruner.resolve({})
    assert alone["edge_score"] == "magnitude" and alone["restarts"] == 1 and "select" not in alone
    # hparams=auto implies nine starts and the most modular of the sparsest, unless the task says otherwise
    auto = pruner.resolve({"hparams": "auto"})
    assert auto["restarts"] == 9 and auto["select"] == "sparsest_modularity"
    plain = pruner.resolve({}, small_task.pruning_defaults_for((6,), 0))
    assert plain["edge_score"] == "magnitude" and plain["restarts"] == 9 and plain["select"] == "sparsest_modularity"
    assert plain == pruner.resolve(plain.as_dict()) and not plain.given
    monkeypatch.setattr(small_task, "pruning_defaults", {**small_task.pruning_defaults, "edge_score": "lamp", "select": "modularity",
                                                         "restarts": 3})
    merged = pruner.resolve({}, small_task.pruning_defaults_for((6,), 0))
    assert merged["edge_score"] == "lamp" and merged["select"] == "modularity" and merged["restarts"] == 3
    assert merged["select_detector"] == "sculpting" and pruner.label(merged) == "iterative[modularity]"
    # the user's choice wins over the task's
    kept_ = pruner.resolve({"edge_score": "magnitude", "select": "sparsest"}, small_task.pruning_defaults_for((6,), 0))
    assert kept_["edge_score"] == "magnitude" and kept_["select"] == "sparsest" and pruner.label(kept_) == "iterative"
    assert kept_.given == {"edge_score", "select"}
    # the paper's procedure fixes one start over the task's (one variant: nothing to choose, so no select); the user may still set it
    paper_rule = pruner.resolve({"hparams": "paper"}, small_task.pruning_defaults_for((6,), 0))
    assert paper_rule["restarts"] == 1 and "select" not in paper_rule and pruner.label(paper_rule) == "iterative"
    assert pruner.resolve({"hparams": "paper", "restarts": 2}, small_task.pruning_defaults_for((6,), 0))["select"] == "sparsest"
