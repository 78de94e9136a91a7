"""bench/detector_ranking.py: its aggregation and its label-free predictors on hand-made records."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import load_source

ROOT = Path(__file__).resolve().parents[2]
RANKING = load_source("detector_ranking", ROOT / "bench" / "detector_ranking.py")


def test_auc_and_spearman_by_hand():
    # Successes score 3 and 4, failures 1 and 2: every pair ordered, AUC 1; ranks (1, 2, 3, 4) against
    # (0, 0, 1, 1): Spearman = Pearson of the ranks (1..4) and (1.5, 1.5, 3.5, 3.5) = 0.894427.
    assert RANKING.auc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert RANKING.spearman([1, 2, 3, 4], [False, False, True, True]) == pytest.approx(0.894427, abs=1e-6)
    # One success at 1, failures at 1 and 0: pairs (1 vs 1) half, (1 vs 0) one: AUC 0.75.
    assert RANKING.auc([1, 1, 0], [True, False, False]) == 0.75
    assert RANKING.auc([1, 2], [True, True]) is None
    assert RANKING.spearman([0, 0, 0], [True, False, True]) is None


def record(task, family, hidden, **detectors):
    metrics = {name: {"success": ok, "success_at_depth": ok, "input_group_sizes": ok, "hidden_separability": ok,
                      "output_grouping": ok, "modularity": q, "ncut": 0.5, "ncut_z": -q, "ncut_percentile": 0.1,
                      "modules": 2, "seconds": 0.01}
               for name, (ok, q) in detectors.items()}
    return {"task": task, "family": family, "hidden": list(hidden), "detectors": metrics}


def test_ranking_table_counts_each_network_in_its_figures(registry):
    records = [
        record("bool/none", "exemplars", (24,), good=(True, 0.4), bad=(False, 0.1)),
        record("bool/none", "exemplars", (36,), good=(True, 0.5), bad=(True, 0.3)),
        record("bool/none", "exemplars", (60,), good=(False, 0.2), bad=(False, 0.2)),  # a width no figure uses
    ]
    headers, rows = RANKING.ranking_table(records, registry.tasks, ["bad", "good"])
    assert headers[0] == "detector" and headers[1] == "exemplars (success)" and headers[-1] == "all networks (success)"
    good, bad = rows  # sorted by success over every network: good 2/3, bad 1/3
    assert good[0] == "good" and good[1].startswith("1.00 [1.00, 1.00] n=2") and good[-1].startswith("0.67 ")
    assert bad[0] == "bad" and bad[1].startswith("0.50 ") and bad[-1].startswith("0.33 ")
    assert good[headers.index("reuse (success)")] == "-"


def test_prediction_table_per_detector_and_pooled(registry):
    records = [record("bool/none", "exemplars", (24,), a=(ok, q), single=(False, 0.0))
               for ok, q in [(True, 0.5), (True, 0.4), (False, 0.1), (False, 0.2)]]
    headers, rows = RANKING.prediction_table(records, ["a", "single"])
    a, single, pooled = rows
    assert a[:3] == ["a", "4", "0.50"] and a[headers.index("AUC modularity")] == "1.00"
    assert single[headers.index("rho(success, modularity)")] == "-"  # constant: undefined
    assert pooled[0].startswith("pooled") and pooled[1] == "4"  # the controls are left out of the pool


def test_a_wrong_reference_root_is_one_line_and_exit_2(tmp_path, capsys):
    assert RANKING.main(["--reference-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "page.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "page.md").exists()
