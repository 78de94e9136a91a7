"""bench/pruners.py: its tables from hand-made figures, the pruners it measures, its bad input;
and one real child run on a tiny workload."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_bench_error, load_source, run_main

ROOT = Path(__file__).resolve().parents[2]
BENCH = load_source("pruners_bench", ROOT / "bench" / "pruners.py")


def result(pruner, cells, wall, kept, success):
    return {"pruner": pruner, "label": f"{pruner}[sparsest_modularity]", "cells": cells, "errors": 0, "wall_s": wall, "prune_s": wall,
            "mask_s": None if pruner == "iterative" else 40.0,
            "peak_rss_mib": 650.0, "per_task": {"bool/both": {"median_kept": kept, "success": success, "cells": cells, "untrainable": 0}}}


def test_the_tables_give_cells_per_minute_and_the_ratio_to_iterative():
    text = BENCH.report([result("iterative", 12, 60.0, 20, 1.0), result("synflow", 12, 90.0, 70.5, 0.25)], ["bool/both"])
    lines = text.splitlines()
    # iterative: 12 cells in 60 s = 12 cells/min, 5 s/cell; synflow: 8 cells/min, 7.5 s/cell = 1.5x iterative's.
    assert lines[1].split()[2:] == ["12", "60.0", "12.0", "5.00", "1.00x", "-", "650"]
    assert lines[2].split()[2:] == ["12", "90.0", "8.0", "7.50", "1.50x", "40.0", "650"]
    assert lines[6].split() == ["iterative", "20", "1.00"] and lines[7].split() == ["synflow", "70.5", "0.25"]


def test_every_built_in_pruner_but_published_iterative_first():
    names = BENCH.builtin_pruners()
    assert names[0] == "iterative" and "published" not in names
    assert {"snip", "grasp", "synflow", "magnitude", "dense"} <= set(names)


def test_an_unknown_pruner_is_refused():
    assert_bench_error(run_main(BENCH.main, ["--pruners", "iterative,nope"]), "unknown pruner 'nope'")


def test_one_child_run():
    import torch

    threads = torch.get_num_threads()
    try:
        figures = BENCH.run_pruner("snip", ["bool/input-separable"], [(8,)], 1)
    finally:
        torch.set_num_threads(threads)
    assert figures["cells"] == 1 and figures["label"] == "snip[sparsest_modularity]" and figures["peak_rss_mib"] > 0
    assert set(figures["per_task"]) == {"bool/input-separable"} and 0 < figures["mask_s"] < figures["wall_s"]
