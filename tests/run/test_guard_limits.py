"""The grid is counted before it is planned, and depth is bounded (issue 32, finding 3: a grid of
a million cells was refused only after it had been planned, 31 s and 316 MB; a network of 20,000
hidden layers was accepted)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import assert_user_error

from sculptbench.cli import main
from sculptbench.contracts.types import DEPTH_LIMIT
from sculptbench.plugins.tasks.boolean import CircuitSpecError, load_circuit
from sculptbench.run import guard, planning

TASK = "bool/input-separable"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_an_oversized_grid_is_refused_without_being_planned(tmp_path, monkeypatch):
    planned = []
    monkeypatch.setattr(planning, "plan", lambda *args, **kwargs: planned.append(args) or [])
    monkeypatch.setattr(guard, "MAX_CELLS", 99)
    db = tmp_path / "r.db"
    result = invoke("run", "--tasks", TASK, "--arch", "24,25", "--pruners", "dense", "--detectors", "louvain,sculpting",
                    "--seeds", 25, "--results", db)
    assert_user_error(result, "the grid has 100 cells, more than 99", "--large-grid")
    assert planned == [] and not db.exists()


@pytest.mark.parametrize("archs, cells", [("24,25", 2 * 2 * 3), (None, 3 * 2 * 3), ("paper", None)])
def test_the_count_before_planning_equals_the_planned_cells(registry, archs, cells):
    from sculptbench.run import parsing

    spec = planning.RunSpec(tasks=planning.select_tasks(registry, [TASK, "bool/both"])[:1], pruners=["dense", "magnitude"],
                            detectors=["louvain"], scorers=["structure"], seeds=[0, 1, 2], archs=parsing.parse_archs(archs))
    planned = sum(g.cell_count() for g in planning.plan(registry, spec))
    assert guard.count_cells(spec) == planned
    if cells is not None:
        assert planned == cells


def test_depth_is_bounded_on_the_command_line(tmp_path):
    deep = "x".join(["4"] * 20_000)
    result = invoke("run", "--tasks", TASK, "--arch", deep, "--seeds", 1, "--results", tmp_path / "r.db")
    line = assert_user_error(result, f"a network may have at most {DEPTH_LIMIT} hidden layers (this one has 20,000)")
    assert len(line) < 300  # the 40,000-character --arch is not echoed whole
    from sculptbench.run.parsing import parse_archs

    assert parse_archs("x".join(["4"] * DEPTH_LIMIT)) == [(4,) * DEPTH_LIMIT]  # the limit itself is accepted


def test_depth_is_bounded_in_a_task_file(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(
        "name: t/deep\nfamily: custom\ninputs: [x1, x2]\ngates:\n  g: {op: and, in: [x1, x2]}\noutputs:\n  y1: g\n"
        "modules:\n  M: {reads: [x1, x2], drives: [y1]}\n"
        f"archs: [[{', '.join(['4'] * (DEPTH_LIMIT + 1))}]]\n"
    )
    with pytest.raises(CircuitSpecError, match=rf"archs\[0\]: .*at most {DEPTH_LIMIT} hidden layers"):
        load_circuit(path)


def test_an_oversized_grid_is_refused_without_importing_torch(tmp_path):
    # Loading the built-in circuits checks their truth tables in numpy: refusing a grid never
    # pays for importing torch (about 1.5 s of the refusal's 3 s before).
    import subprocess
    import sys
    import textwrap

    args = ["run", "--tasks", TASK, "--arch", ",".join(str(w) for w in range(8, 1008)), "--seeds", "1000", "--quiet",
            "--results", str(tmp_path / "r.db")]
    code = textwrap.dedent(f"""
        from sculptbench.cli import main
        from sculptbench.engine.torch_import import torch_loaded
        try:
            main({args!r}, standalone_mode=False)
        except BaseException as exc:
            print(type(exc).__name__, exc)
        print("TORCH-LOADED", torch_loaded())
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "the grid has 1,000,000 cells" in proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("TORCH-LOADED False")
    assert not (tmp_path / "r.db").exists()
