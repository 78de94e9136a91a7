"""Paired comparisons (issue 31): the best row of each family against every other row over their
shared cells, on a hand-built store where every answer is known (``board_cells.known_cells``),
in every report format."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from click.testing import CliRunner

from board_cells import cell, known_cells, write_db
from sculptbench.cli import main
from sculptbench.results import paired, report


def comparisons_of(board, family="fam"):
    (fam,) = [f for f in board.paired if f.family == family]
    return fam, {c.row[0]: c for c in fam.comparisons}


def test_the_sign_test_is_exact():
    # By hand: P(X <= k) for X ~ Binomial(n, 1/2), doubled, at most 1.
    assert paired.sign_test(8, 0) == 2 / 256  # 2 * C(8,0) / 2^8
    assert paired.sign_test(0, 8) == 2 / 256
    assert paired.sign_test(6, 0) == 2 / 64  # the fewest wins that can reach p < 0.05 without a loss
    assert paired.sign_test(5, 0) == 2 / 32  # 0.0625: five wins of five cannot
    assert paired.sign_test(7, 1) == 2 * (1 + 8) / 256  # C(8,0) + C(8,1)
    assert paired.sign_test(4, 4) == 1.0 and paired.sign_test(0, 0) == 1.0
    assert paired.sign_test(60, 40) == pytest.approx(0.056887, abs=1e-6)  # scipy.stats.binomtest(60, 100).pvalue


def test_the_verdict_rule():
    assert paired.verdict(0, 0, 0, None, None) == "no_shared_cells"
    assert paired.verdict(5, 0, 0, 1.0, (0.0, 0.0)) == "tie"
    assert paired.verdict(8, 8, 0, 0.0078, (0.7, 0.7)) == "beats"
    assert paired.verdict(8, 0, 8, 0.0078, (-0.7, -0.7)) == "loses"
    # Three wins of three: the bootstrap interval is [1, 1], but the sign test's p is 0.25.
    assert paired.verdict(3, 3, 0, paired.sign_test(3, 0), (1.0, 1.0)) == "not_significant"
    # Many small wins, a large mean loss: the sign test alone would say beats; the interval disagrees.
    assert paired.verdict(20, 18, 2, paired.sign_test(18, 2), (-0.2, 0.1)) == "not_significant"


def test_known_store_gives_known_verdicts():
    board = report.build(known_cells(), metric="input_ari")
    fam, by_row = comparisons_of(board)
    assert fam.best == ("iterative", "louvain") and fam.mean == pytest.approx(0.91) and fam.n == 10
    assert set(by_row) == {"magnitude", "random", "edge", "dense"}
    beaten = by_row["magnitude"]
    # The best's own seeds 4 and 5 are not shared: 8 pairs, all won by 0.9 - 0.2.
    assert (beaten.shared, beaten.wins, beaten.losses, beaten.ties) == (8, 8, 0, 0)
    assert beaten.p == 2 / 256 and beaten.diff == pytest.approx(0.7) and beaten.ci == pytest.approx((0.7, 0.7))
    assert beaten.verdict == "beats" and beaten.mean == pytest.approx(0.2) and beaten.n == 8
    tied = by_row["random"]
    assert (tied.shared, tied.wins, tied.losses, tied.ties, tied.p, tied.diff, tied.verdict) == (8, 0, 0, 8, 1.0, 0.0, "tie")
    mixed = by_row["edge"]
    assert (mixed.shared, mixed.wins, mixed.losses, mixed.ties, mixed.p) == (8, 4, 4, 0, 1.0)
    assert mixed.verdict == "not_significant" and abs(mixed.diff) < 1e-12 and mixed.ci[0] < 0 < mixed.ci[1]
    alone = by_row["dense"]
    assert (alone.shared, alone.p, alone.diff, alone.ci, alone.verdict) == (0, None, None, None, "no_shared_cells")
    # Comparisons come best first: by mean, then row order among equal means.
    assert [c.row[0] for c in fam.comparisons][-2:] == ["dense", "magnitude"]
    assert [f.family for f in board.paired] == ["fam"]  # family other has a single row: nothing to compare


def test_lower_is_better_flips_the_difference():
    board = report.build(known_cells(), metric="ged")  # ged = 1 - input_ari: the same order, lower is better
    fam, by_row = comparisons_of(board)
    assert fam.best == ("iterative", "louvain") and fam.mean == pytest.approx(0.09)
    assert by_row["magnitude"].diff == pytest.approx(0.7) and by_row["magnitude"].verdict == "beats"
    assert by_row["magnitude"].wins == 8


def test_a_row_that_wins_the_shared_cells_makes_the_best_lose():
    # The best by mean over the family (its own task z is easy) loses every one of 6 shared cells.
    cells = [cell(pruner="iterative", task="bool/a", seed=s, ari=0.5) for s in range(6)]
    cells += [cell(pruner="iterative", task="bool/z", seed=s, ari=1.0) for s in range(20)]
    cells += [cell(pruner="magnitude", task="bool/a", seed=s, ari=0.6) for s in range(6)]
    fam, by_row = comparisons_of(report.build(cells, metric="input_ari"))
    assert fam.best[0] == "iterative"
    loser = by_row["magnitude"]
    assert (loser.wins, loser.losses, loser.p, loser.verdict) == (0, 6, 2 / 64, "loses")
    assert loser.diff == pytest.approx(-0.1)


def test_rows_by_pruner_pair_cells_by_detector_too():
    cells = [cell(pruner=p, detector=d, seed=s, ari=(0.9 if p == "iterative" else 0.1) + (0.05 if d == "louvain" else 0.0))
             for p in ("iterative", "magnitude") for d in ("louvain", "sculpting") for s in range(3)]
    board = report.build(cells, metric="input_ari", group_by="pruner:task")
    fam, by_row = comparisons_of(board)
    assert fam.best == ("iterative",)
    assert (by_row["magnitude"].shared, by_row["magnitude"].wins, by_row["magnitude"].verdict) == (6, 6, "beats")
    assert board.to_json()["paired"]["method"]["pairs"] == ["task", "arch", "seed", "detector"]


def test_several_cells_at_one_pair_key_enter_with_their_mean():
    cells = [cell(pruner="iterative", seed=s, ari=0.9) for s in range(6)]
    # Two option settings of magnitude (two cell keys), 0.0 and 1.0 at every seed: mean 0.5 each.
    cells += [cell(pruner="magnitude", seed=s, ari=float(v), key=f"m{s}-{v}") for s in range(6) for v in (0, 1)]
    _, by_row = comparisons_of(report.build(cells, metric="input_ari"))
    assert (by_row["magnitude"].shared, by_row["magnitude"].diff) == (6, pytest.approx(0.4))


def test_the_comparisons_do_not_depend_on_cell_order():
    cells = known_cells()
    forward = report.build(cells, metric="input_ari").to_json()["paired"]
    assert report.build(cells[::-1], metric="input_ari").to_json()["paired"] == forward


# --------------------------------------------------------------------------- every format
def report_of(tmp_path, fmt, *extra):
    db = tmp_path / "known.db"
    if not db.exists():
        write_db(db, known_cells())
    result = CliRunner().invoke(main, ["report", "--results", str(db), "--metric", "input_ari", "--format", fmt, *extra])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("fmt", ["github", "markdown", "plain"])
def test_text_formats_show_the_verdicts(tmp_path, fmt):
    text = report_of(tmp_path, fmt)
    table, paired_part = text.split("\n\nfamily", 1) if fmt == "plain" else text.split("\n\n| family", 1)
    assert "beats" not in table
    lines = {line.split("magnitude")[0]: line for line in paired_part.splitlines() if "magnitude / louvain (0.20)" in line}
    (line,) = lines.values()
    for fragment in ("fam", "iterative / louvain (0.91)", "8-0-0", "0.70 [0.70, 0.70]", "0.00781", "beats"):
        assert fragment in line, (fragment, line)
    assert any("random / louvain" in li and "0-0-8" in li and li.rstrip(" |").endswith("tie") for li in paired_part.splitlines())
    assert any("dense / louvain" in li and "no shared cells" in li for li in paired_part.splitlines())
    assert any("edge / louvain" in li and "4-4-0" in li and "not significant" in li for li in paired_part.splitlines())
    assert "paired comparisons of structure.input_ari" in paired_part and "exact two-sided sign test" in paired_part


def test_latex_shows_the_verdicts_in_a_second_tabular(tmp_path):
    text = report_of(tmp_path, "latex")
    assert text.count("\\begin{tabular}") == 2 and text.count("\\end{tabular}") == 2
    second = text.split("\\end{tabular}", 1)[1]
    assert "% paired comparisons of structure.input\\_ari" not in second  # comment lines are not escaped
    assert "% paired comparisons of structure.input_ari" in second
    (line,) = [li for li in second.splitlines() if "magnitude / louvain" in li]
    assert line == "fam & iterative / louvain (0.91) & magnitude / louvain (0.20) & 8 & 8-0-0 & 0.70 [0.70, 0.70] & 0.00781 & beats \\\\"
    spec = second.split("\\begin{tabular}{", 1)[1].split("}", 1)[0]
    rows = [li for li in second.splitlines() if li.endswith("\\\\")]
    assert all(len(r.split(" & ")) == len(spec) for r in rows)


def test_csv_carries_each_rows_verdict(tmp_path):
    rows = {r["pruner"]: r for r in csv.DictReader(io.StringIO(report_of(tmp_path, "csv", "--columns", "family")))
            if r["family"] == "fam"}
    assert rows["iterative"]["paired_verdict"] == "best" and rows["iterative"]["paired_vs"] == ""
    m = rows["magnitude"]
    assert (m["paired_family"], m["paired_vs"], m["paired_verdict"], m["paired_shared"], m["paired_wins"]) == (
        "fam", "iterative / louvain", "beats", "8", "8")
    assert float(m["paired_p"]) == 2 / 256 and math.isclose(float(m["paired_diff"]), 0.7)
    assert rows["random"]["paired_verdict"] == "tie" and rows["edge"]["paired_verdict"] == "not_significant"
    assert rows["dense"]["paired_verdict"] == "no_shared_cells" and rows["dense"]["paired_p"] == ""
    # Entries by task: each task's entry carries its family's comparison.
    by_task = list(csv.DictReader(io.StringIO(report_of(tmp_path, "csv", "--columns", "task"))))
    assert {r["paired_verdict"] for r in by_task if r["pruner"] == "magnitude"} == {"beats"}


def test_csv_entries_spanning_families_have_no_verdict(tmp_path):
    rows = list(csv.DictReader(io.StringIO(report_of(tmp_path, "csv", "--columns", "depth"))))
    assert rows and all(r["paired_verdict"] == "" and r["paired_family"] == "" for r in rows if r["pruner"] == "iterative")


def test_json_lists_each_familys_comparisons(tmp_path):
    data = json.loads(report_of(tmp_path, "json"))
    assert data["schema"] == "sculptbench.leaderboard/3"
    method = data["paired"]["method"]
    assert method["pairs"] == ["task", "arch", "seed"] and method["alpha"] == 0.05 and method["ci"]["seed"] == 0
    (fam,) = [f for f in data["paired"]["families"] if f["family"] == "fam"]
    assert fam["best"] == {"key": {"pruner": "iterative", "detector": "louvain"}, "mean": pytest.approx(0.91), "n": 10}
    by_row = {c["key"]["pruner"]: c for c in fam["comparisons"]}
    assert set(by_row["magnitude"]) == {"key", "mean", "n", "shared", "wins", "losses", "ties", "diff", "diff_ci", "p", "verdict"}
    assert (by_row["magnitude"]["verdict"], by_row["magnitude"]["p"], by_row["magnitude"]["shared"]) == ("beats", 2 / 256, 8)
    assert by_row["dense"] == {"key": {"pruner": "dense", "detector": "louvain"}, "mean": 0.5, "n": 3, "shared": 0, "wins": 0,
                               "losses": 0, "ties": 0, "diff": None, "diff_ci": None, "p": None, "verdict": "no_shared_cells"}
    assert [f["family"] for f in data["paired"]["families"]] == ["fam"]


def test_a_board_without_comparisons_prints_no_paired_table(tmp_path):
    db = write_db(tmp_path / "one.db", [cell(seed=s) for s in range(3)])
    text = CliRunner().invoke(main, ["report", "--results", str(db)]).stdout
    assert "paired" not in text and "W-L-T" not in text


def test_the_run_summary_leaves_the_paired_table_out():
    board = report.build(known_cells(), metric="input_ari")
    for fmt in ("github", "plain", "latex"):
        assert "W-L-T" in report.render(board, fmt)
        assert "W-L-T" not in report.render(board, fmt, paired=False)
    assert "paired_verdict" in report.render(board, "csv", paired=False)  # data formats keep their fields
