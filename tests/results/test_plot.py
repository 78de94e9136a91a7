"""`sculptbench plot`: every kind writes a real image; every user error is one line, exit 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sculptbench.cli import main
from sculptbench.results.store import ResultsStore
from sculptbench.contracts.work import Cell
from conftest import assert_user_error

HISTORY = [
    {"phase": "dense", "target": 0.0, "density": 1.0, "accuracy": 1.0, "accepted": True},
    {"phase": "unit", "target": 30.0, "density": 0.7, "accuracy": 1.0, "accepted": True},
    {"phase": "unit", "target": 60.0, "density": 0.4, "accuracy": 0.8, "accepted": False},
    {"phase": "edge", "target": 2.0, "density": 0.5, "accuracy": 1.0, "accepted": True},
    {"phase": "edge", "target": 4.0, "density": 0.3, "accuracy": 0.9, "accepted": False},
]


def cells():
    out = []
    for task, params in (("bool/a", {}), ("bool/overlap-o0-u1", {"o": 0, "u": 1}), ("bool/overlap-o0-u2", {"o": 0, "u": 2}),
                         ("bool/overlap-o1-u1", {"o": 1, "u": 1}), ("bool/overlap-o1-u2", {"o": 1, "u": 2})):
        for pruner in ("iterative", "magnitude"):
            for depth in (1, 2):
                for seed in range(3):
                    ok = (seed + depth + params.get("u", 0)) % 3 != 0
                    out.append(Cell(
                        cell_key=f"{task}-{pruner}-{depth}-{seed}", task=task, family="overlap" if params else "exemplars",
                        arch="x".join(["24"] * depth), depth=depth, pruner=pruner, detector="louvain", seed=seed, status="ok",
                        density=0.5, accuracy=1.0, metrics={"structure.success": float(ok), "structure.input_ari": 0.5},
                        config={"task_parameters": params, "history": HISTORY, "pruner_info": {"threshold": 0.95}},
                    ))
    out.append(Cell(cell_key="nohist", task="bool/nohist", family="x", arch="24", depth=1, pruner="iterative",
                    detector="louvain", seed=0, status="error", config={}))
    return out


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "r.db"
    store = ResultsStore(path)
    run_id = store.start_run("test", {}, {})
    for cell in cells():
        store.write_cell(run_id, cell)
    store.finish_run(run_id, "done")
    store.close()
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_image(path):
    import matplotlib.image

    assert path.exists() and path.stat().st_size > 0
    height, width = matplotlib.image.imread(path).shape[:2]
    assert height > 100 and width > 100, (height, width)


@pytest.mark.parametrize("args", [
    ["--kind", "bars"],
    ["--kind", "bars", "--pruner", "iterative", "--metric", "input_ari"],
    ["--kind", "sweep", "--param", "u"],
    ["--kind", "sweep", "--param", "o", "--lines", "depth", "--detector", "louvain"],
    ["--kind", "curve", "--cell-id", 1],
    ["--kind", "curve", "--task", "overlap-o1-u2", "--arch", "24x24", "--pruner", "magnitude", "--seed", 2],
])
def test_each_kind_writes_a_png(db, tmp_path, args):
    out = tmp_path / "fig.png"
    res = invoke("plot", "--results", db, "-o", out, *args)
    assert res.exit_code == 0, (res.output, res.exception)
    assert f"wrote {out}" in res.stdout
    assert_image(out)


@pytest.mark.parametrize("suffix", [".pdf", ".svg"])
def test_other_formats(db, tmp_path, suffix):
    out = tmp_path / f"fig{suffix}"
    assert invoke("plot", "--results", db, "-o", out, "--kind", "bars").exit_code == 0
    assert out.stat().st_size > 0


@pytest.mark.parametrize("args, fragments", [
    (["--kind", "pie"], ["unknown --kind 'pie'", "bars, sweep, curve, network"]),
    (["--kind", "bars", "-o", "fig.gif"], ["use a .png, .pdf or .svg"]),
    (["--kind", "bars", "-o", "missing/fig.png"], ["does not exist"]),
    (["--kind", "bars", "--pruner", "nope"], ["no cells match --pruner nope"]),
    (["--kind", "bars", "--metric", "nope"], ["unknown metric 'nope'"]),
    (["--kind", "sweep"], ["--kind sweep needs --param"]),
    (["--kind", "sweep", "--param", "zz"], ["no cell has task parameter 'zz'", "o, u"]),
    (["--kind", "sweep", "--param", "u", "--lines", "zz"], ["invalid --lines 'zz'"]),
    (["--kind", "curve"], ["the results hold", "networks", "--cell-id"]),
    (["--kind", "curve", "--task", "nohist"], ["has no pruning history"]),
    (["--kind", "curve", "--cell-id", 9999], ["no cell with id 9999"]),
    (["--kind", "curve", "--task", "nope"], ["no cells match --task nope"]),
    (["--kind", "network", "--task", "nohist"], ["'bool/nohist'", "not registered", "--task PATH.yaml"]),
])
def test_plot_user_errors(db, tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    if "-o" not in args:
        args = [*args, "-o", "fig.png"]
    assert_user_error(invoke("plot", "--results", db, *args), *fragments)
    assert not (tmp_path / "fig.png").exists()


def test_plot_on_a_missing_or_empty_database(tmp_path):
    assert_user_error(invoke("plot", "--results", tmp_path / "none.db", "--kind", "bars", "-o", tmp_path / "f.png"), "no results database")
    ResultsStore(tmp_path / "empty.db").close()
    assert_user_error(invoke("plot", "--results", tmp_path / "empty.db", "--kind", "bars", "-o", tmp_path / "f.png"), "no results to plot")


def test_network_kind_redraws_a_real_cell(tmp_path):
    db = tmp_path / "real.db"
    res = invoke("run", "--tasks", "bool/input-separable", "--pruners", "dense", "--detectors", "louvain", "--seeds", 1,
                 "--arch", 24, "--epochs", 20, "--quiet", "--results", db)
    assert res.exit_code == 0, res.output
    assert "cells: ok 1" in res.stdout
    out = tmp_path / "net.png"
    drawn = invoke("plot", "--results", db, "--kind", "network", "--cell-id", 1, "-o", out)
    assert drawn.exit_code == 0, (drawn.output, drawn.exception)
    assert "re-sculpted network has density" not in drawn.stderr  # the same network as the stored cell
    assert_image(out)
    curve = invoke("plot", "--results", db, "--kind", "curve", "--task", "input-separable", "-o", tmp_path / "curve.png")
    assert curve.exit_code == 0, curve.output
    assert_image(tmp_path / "curve.png")


SEPARABLE_COPY = """
name: user/separable
family: user
inputs: [x1, x2, x3, x4]
gates:
  a: {op: xor, in: [x1, x2]}
  not_a: {op: not, in: [a]}
  b: {op: xor, in: [x3, x4]}
  not_b: {op: not, in: [b]}
outputs: {y1: a, y2: not_a, y3: b, y4: not_b}
modules:
  A: {reads: [x1, x2], drives: [y1, y2]}
  B: {reads: [x3, x4], drives: [y3, y4]}
pruning: {unit_step: 30, edge_step: 5}
"""


def test_draw_and_plot_show_the_scored_network_of_a_yaml_task(tmp_path, monkeypatch):
    """Without a cache, draw recomputes each cell by the run's path; with one, plot reads the stored network."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sep.yaml").write_text(SEPARABLE_COPY)
    common = ["--arch", "24", "--epochs", "30", "--detector", "louvain"]
    res = invoke("run", "--tasks", "sep.yaml", "--pruners", "iterative", "--detectors", "louvain", "--seeds", 2, "--arch", 24,
                 "--epochs", 30, "--quiet", "--results", "r.db")
    assert res.exit_code == 0, res.output
    cells = ResultsStore(tmp_path / "r.db", create=False).cells()
    assert sorted(c.status for c in cells) == ["ok", "ok"]
    for cell in cells:
        verdict = f"structure.success {cell.metrics['structure.success']}"
        drawn = invoke("draw", "--task", "sep.yaml", *common, "--seed", cell.seed, "--no-cache", "-o", f"d{cell.seed}.png")
        assert drawn.exit_code == 0, (drawn.output, drawn.exception)
        assert f"seed {cell.seed}: density {cell.density:.6f}, " in drawn.stdout and verdict in drawn.stdout, drawn.stdout
        assert "(network: computed)" in drawn.stdout
        assert_image(tmp_path / f"d{cell.seed}.png")
        plotted = invoke("plot", "--results", "r.db", "--kind", "network", "--task", "sep.yaml", "--seed", cell.seed, "-o", f"p{cell.seed}.png")
        assert plotted.exit_code == 0, (plotted.output, plotted.exception)
        assert f"density {cell.density:.6f}, " in plotted.stdout and verdict in plotted.stdout and "(network: from the stage cache)" in plotted.stdout
        assert "warning" not in plotted.stderr
        assert_image(tmp_path / f"p{cell.seed}.png")


def test_the_network_of_a_generated_task_is_drawn_from_the_cache(tmp_path):
    """A generated circuit is made from its name by a task source, not registered: the plot and the
    HTML page find its cell's network all the same (they once said it was not registered)."""
    db = tmp_path / "gen.db"
    res = invoke("run", "--tasks", "gen/l1-m2-f2-r0-o0-s1", "--pruners", "dense", "--detectors", "louvain", "--seeds", 1,
                 "--arch", 12, "--quiet", "--results", db)
    assert "cells: ok 1" in res.stdout, res.stdout
    assert res.exit_code == 0, res.output
    drawn = invoke("plot", "--results", db, "--kind", "network", "--cell-id", 1, "-o", tmp_path / "net.png")
    assert drawn.exit_code == 0, (drawn.output, drawn.exception)
    assert "(network: from the stage cache)" in drawn.stdout
    assert_image(tmp_path / "net.png")
    page = tmp_path / "p.html"
    assert invoke("report", "--results", db, "--format", "html", "-o", page).exit_code == 0
    text = page.read_text()
    assert "gen/l1-m2-f2-r0-o0-s1 12 seed 0" in text and "not registered" not in text and "not in the stage cache" not in text


def test_draw_refuses_a_cache_it_would_not_read(tmp_path):
    out = tmp_path / "d.png"
    result = invoke("draw", "--task", "bool/input-separable", "--arch", "4", "--cache", tmp_path / "c", "--no-cache", "-o", out)
    assert_user_error(result, "and --no-cache contradict each other", "drop one of them")
    assert not out.exists()
