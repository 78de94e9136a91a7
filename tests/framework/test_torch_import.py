"""The CLI defers importing torch until it is used (issue 14: a finished re-run in <= 5 s)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from click.testing import CliRunner

from sculptbench.cli import main


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (torch not yet imported) and return its stdout."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_deferred_import_runs_at_first_use_with_the_thread_count():
    out = _python("""
        from sculptbench.engine.torch_import import defer_torch, torch_loaded, torch_threads, torch_version
        defer_torch(2)
        import torch                        # binds the placeholder: nothing runs yet
        from sculptbench.contracts import types  # modules that import torch at their top
        from sculptbench.engine import training as engine  # modules that import torch at their top
        before = (torch_loaded(), torch_threads(), torch_version())
        x = torch.zeros(3)                  # the first use runs the import
        print(before, torch_loaded(), torch.get_num_threads(), torch.__version__, float(x.sum()))
    """)
    before, after = out.split(") ", 1)
    import torch

    assert before == f"(False, 2, '{torch.__version__}'"
    assert after == f"True 2 {torch.__version__} 0.0"


def _cli_in_fresh_process(args: list[str]) -> str:
    """Run ``sculptbench ARGS`` in a fresh interpreter; its stdout ends with whether torch was imported."""
    return _python(f"""
        from sculptbench.cli import main
        from sculptbench.engine.torch_import import torch_loaded
        main({args!r}, standalone_mode=False)
        print("TORCH-LOADED", torch_loaded())
    """)


def _tiny_grid(db) -> list[str]:
    return ["run", "--tasks", "bool/input-separable", "--arch", "4", "--seeds", "1", "--epochs", "1",
            "--results", str(db), "--no-cache", "--quiet"]


def test_finished_rerun_does_not_import_torch(tmp_path):
    args = _tiny_grid(tmp_path / "r.db")
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    out = _cli_in_fresh_process(args)
    assert "1 of 1 cells were already in" in out
    assert out.endswith("TORCH-LOADED False")


def test_a_run_with_work_imports_torch(tmp_path):
    assert _cli_in_fresh_process(_tiny_grid(tmp_path / "r.db")).endswith("TORCH-LOADED True")
