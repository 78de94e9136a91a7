"""`sculptbench plot --kind tradeoff`: accuracy against density per method row, from the cells'
operating points, on a hand-built results store."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import assert_user_error, write_results
from sculptbench.cli import main
from sculptbench.contracts.work import Cell
from sculptbench.results.tradeoff import Curve, operating_points


def search_history(scale: float) -> list[dict]:
    """A density search's points: dense, a halving ladder and two bisection steps."""
    points = [(1.0, 1.0, True), (0.5, 1.0, True), (0.25, 1.0, True), (0.125, 0.9 * scale, False),
              (0.177, 1.0, True), (0.149, 0.95 * scale, False)]
    return [{"phase": "dense" if d == 1 else "snip", "target": 100 * (1 - d), "density": d, "accuracy": a, "accepted": ok}
            for d, a, ok in points]


def cells():
    out = []
    for task in ("bool/a", "bool/b"):
        for seed in range(2):
            for detector in ("sculpting", "louvain"):  # two cells, one network
                out.append(Cell(cell_key=f"{task}-snip-{seed}-{detector}", task=task, family="f", arch="24", depth=1,
                                pruner="snip[sparsest_modularity]", detector=detector, seed=seed, status="ok", density=0.177,
                                accuracy=1.0, config={"history": search_history(1.0 - 0.1 * seed)}))
            out.append(Cell(cell_key=f"{task}-dense-{seed}", task=task, family="f", arch="24", depth=1, pruner="dense",
                            detector="sculpting", seed=seed, status="ok", density=1.0, accuracy=1.0,
                            config={"history": [{"phase": "dense", "target": 0.0, "density": 1.0, "accuracy": 1.0, "accepted": True}]}))
    out.append(Cell(cell_key="old", task="bool/a", family="f", arch="24", depth=1, pruner="published", detector="sculpting",
                    seed=0, status="ok", density=0.1, accuracy=1.0, config={}))
    return out


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("tradeoff") / "r.db", cells())


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_operating_points_pool_each_network_once_per_task_and_row():
    curves = operating_points(cells())
    assert sorted(curves) == ["a", "b"] and sorted(curves["a"]) == ["dense", "snip[sparsest_modularity]"]
    snip = curves["a"]["snip[sparsest_modularity]"]
    assert len(snip.points) == 12 and len(snip.kept) == 2, "two seeds x six points; the louvain cells share the network"
    # Half-octave bins: 1, 0.5, 0.25, 0.177 and 0.149 (both round(-2 log2 d) = 5), 0.125.
    # Seed 0 scores (1, 1, 1, 0.9, 1, 0.95), seed 1 the failures x 0.9: (0.81, 0.855).
    binned = snip.binned()
    assert [round(b[0], 4) for b in binned] == [1.0, 0.5, 0.25, 0.163, 0.125]
    # Bin 0.163: accuracies 1, 0.95, 1, 0.855 -> median 0.975, quartiles 0.92625 and 1.
    assert binned[3][1:] == pytest.approx((0.975, 0.92625, 1.0))
    assert binned[4][1:] == pytest.approx((0.855, 0.8325, 0.8775))
    assert "published" not in curves["a"], "a cell without a history has no operating points"


def test_a_curve_bins_by_half_octaves():
    curve = Curve(points=[(1.0, 1.0), (0.7, 0.5), (0.72, 0.7), (0.3, 0.2)])
    binned = curve.binned()
    assert len(binned) == 3 and binned[0] == (1.0, 1.0, 1.0, 1.0) and binned[2] == (0.3, 0.2, 0.2, 0.2)
    assert binned[1] == pytest.approx((0.71, 0.6, 0.55, 0.65)), "0.7 and 0.72 share a bin: -2 log2 d = 1.03 and 0.95"


def test_the_tradeoff_figure_is_written_and_short_curves_are_named(db, tmp_path):
    import matplotlib.image

    out = tmp_path / "tradeoff.png"
    res = invoke("plot", "--results", db, "--kind", "tradeoff", "-o", out)
    assert res.exit_code == 0, (res.output, res.exception)
    assert f"wrote {out}" in res.stdout
    height, width = matplotlib.image.imread(out).shape[:2]
    assert height > 300 and width > 600
    assert res.stderr.strip() == "warning: fewer than 5 operating points: dense on a (1), dense on b (1)"
    only = tmp_path / "snip.svg"
    res = invoke("plot", "--results", db, "--kind", "tradeoff", "-o", only, "--pruner", "snip[sparsest_modularity]", "--task", "a")
    assert res.exit_code == 0 and res.stderr == "" and only.stat().st_size > 0


@pytest.mark.parametrize("args, fragments", [
    (["--pruner", "published"], ["no cell has operating points"]),
    (["--pruner", "nope"], ["no cells match --pruner nope"]),
    (["-o", "fig.gif"], ["use a .png, .pdf or .svg"]),
])
def test_tradeoff_user_errors(db, tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    if "-o" not in args:
        args = [*args, "-o", "fig.png"]
    assert_user_error(invoke("plot", "--results", db, "--kind", "tradeoff", *args), *fragments)
    assert not (tmp_path / "fig.png").exists()


def test_the_kind_is_listed_when_unknown(db, tmp_path):
    assert_user_error(invoke("plot", "--results", db, "--kind", "pie", "-o", tmp_path / "f.png"), "network, tradeoff")
