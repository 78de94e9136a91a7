"""Hand-built cells and databases for the leaderboard's tests (paired comparisons, HTML, merge)."""

from __future__ import annotations

from sculptbench.contracts.work import Cell
from sculptbench.results.store import ResultsStore

MANIFEST = {"sculptbench": "0.1.0", "git": {"sha": "abc", "dirty": False}, "python": "3.11", "torch": "2", "numpy": "2",
            "device": "cpu", "seeds": [0, 1], "plugins": [{"name": "builtin", "status": "ok"}]}
CONFIG = {"tasks": ["x"], "pruners": ["iterative"], "seeds": [0, 1]}


def cell(task="bool/a", pruner="iterative", detector="louvain", seed=0, family="fam", arch="24", status="ok", success=1.0,
         ari=0.5, ged=0.2, density=0.1, timings=None, key=None, config=None, versions=None):
    """One cell; its key is made of its fields unless given."""
    metrics = {} if status != "ok" else {"structure.success": success, "structure.input_ari": ari, "structure.ged": ged}
    return Cell(
        cell_key=key or f"{task}|{arch}|{pruner}|{detector}|{seed}", task=task, family=family, arch=arch, depth=len(arch.split("x")),
        pruner=pruner, detector=detector, seed=seed, status=status, density=density, accuracy=1.0, metrics=metrics,
        timings={"prune": 1.5, "detect": 0.5} if timings is None else timings,
        config={"data_source": "truth table", "task_parameters": {}, **(config or {})},
        versions=versions or {"scorers": {"structure": {}}, "kernels": {"cpu": "test"}},
    )


def write_db(path, cells, manifest=MANIFEST, config=CONFIG):
    """A results database at ``path`` holding ``cells`` in one finished run."""
    store = ResultsStore(path)
    run_id = store.start_run("sculptbench run (test)", config, manifest)
    store.write_cells(run_id, cells)
    store.finish_run(run_id, "done")
    store.close()
    return path


def known_cells():
    """Family ``fam`` (tasks a, b; seeds 0-3 shared) where the answer is known for input_ari:

    - ``iterative``: 0.9 on the 8 shared cells and 0.95 on seeds 4, 5 (its own): mean 0.91, the best;
    - ``magnitude``: 0.2 on the 8 shared cells: the best wins all 8 (beats);
    - ``random``: 0.9 on the 8 shared cells: every shared cell equal (tie);
    - ``edge``: 0.95 on 4 shared cells and 0.85 on 4: 4 wins, 4 losses (not significant);
    - ``dense``: only on task c, which no other row has (no shared cells).

    Family ``other`` has a single row (nothing to compare). Success is 1 where input_ari > 0.5.
    """
    cells = []

    def add(pruner, task, seed, ari, family="fam"):
        cells.append(cell(task=task, pruner=pruner, seed=seed, family=family, ari=ari, success=float(ari > 0.5), ged=1.0 - ari,
                          density=1.0 - ari))

    for t, task in enumerate(("bool/a", "bool/b")):
        for seed in range(4):
            add("iterative", task, seed, 0.9)
            add("magnitude", task, seed, 0.2)
            add("random", task, seed, 0.9)
            add("edge", task, seed, 0.95 if (seed + t) % 2 == 0 else 0.85)
    for seed in (4, 5):
        add("iterative", "bool/a", seed, 0.95)
    for seed in range(3):
        add("dense", "bool/c", seed, 0.5)
        add("iterative", "bool/z", seed, 0.7, family="other")
    return cells


def timed_cells():
    """Cells whose timings give known throughput figures (``test_throughput.py``): iterative's seed 0
    network (6 s of pruning) read by two detectors, its seed 1 network (4 s) by one; two option
    settings of magnitude on one seed (two networks, 3 s and 5 s); one errored cell without timings."""
    return [
        cell(seed=0, detector="louvain", timings={"prune": 6.0, "detect": 1.0, "score": 0.5}),
        cell(seed=0, detector="sculpting", timings={"prune": 6.0, "detect": 2.0, "score": 0.5}),
        cell(seed=1, detector="louvain", timings={"prune": 4.0, "detect": 1.0, "score": 0.5}),
        cell(pruner="magnitude", seed=0, key="m-a", config={"pruner_params": {"edge_step": 20}}, timings={"prune": 3.0, "score": 1.0}),
        cell(pruner="magnitude", seed=0, key="m-b", config={"pruner_params": {"edge_step": 10}}, timings={"prune": 5.0, "score": 1.0}),
        cell(pruner="magnitude", seed=1, key="m-c", status="error", timings={}),
    ]
