"""Shared fixtures: the built-in registry (no entry points) and a small task."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

from sculptbench.plugin.registry import load_registry

# The networks are tiny: extra intra-op threads only add overhead (and stall on a busy machine).
# `sculptbench run` does the same for its single-process executor.
torch.set_num_threads(1)

# The default stage cache is the user's (~/.cache/sculptbench): the tests use their own, one per
# test (below), and this one for what module- and session-scoped fixtures run.
os.environ["SCULPTBENCH_CACHE"] = tempfile.mkdtemp(prefix="sculptbench-test-cache-")


@pytest.fixture(autouse=True)
def _own_stage_cache(tmp_path_factory, monkeypatch):
    """Each test's runs share a stage cache of their own (as they shared one next to their database)."""
    monkeypatch.setenv("SCULPTBENCH_CACHE", str(tmp_path_factory.mktemp("stage-cache")))


@pytest.fixture(scope="session")
def registry():
    """The built-in plugins only, loaded once per session (do not mutate it)."""
    return load_registry(entry_points=False)


@pytest.fixture(scope="session")
def small_task(registry):
    """A 4-input, 4-output task that a 24-unit network learns in a few epochs."""
    return registry.tasks["bool/input-separable"]


def pip_install_env(root, sources):
    """pip-install copies of ``sources`` into ``root/site``; return an env whose PYTHONPATH sees them.

    Copies keep pip's build artefacts out of the source tree; the packages are then found only
    through their entry points, exactly as a user's plugin would be.
    """
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    src, target = Path(root) / "src", Path(root) / "site"
    copies = []
    for source in sources:
        copy = src / Path(source).name
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        copies.append(str(copy))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir",
         "--quiet", "--target", str(target), *copies],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("SCULPTBENCH_STRICT_PLUGINS", None)
    env["COLUMNS"] = "400"
    env["OMP_NUM_THREADS"] = "1"
    return env


def run_sculptbench(env, *args, cwd=None):
    """Run the installed ``sculptbench`` console script in a subprocess."""
    import shutil
    import subprocess

    exe = shutil.which("sculptbench")
    assert exe, "the sculptbench console script is not installed"
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def assert_user_error(result, *fragments):
    """Exit status 2, nothing on stdout, one `error:` line on stderr, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def load_source(name: str, path):
    """A module loaded from a file that is not on the import path (a bench script, another test file)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_main(main, args):
    """Call a bench's ``main(argv)`` in this process: its exit status, stdout and stderr."""
    import contextlib
    import io
    import subprocess

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def assert_bench_error(proc, fragment):
    """A bench's refusal (from :func:`run_main`): exit status 2, nothing on stdout, one ``error:`` line naming ``fragment``."""
    assert proc.returncode == 2 and proc.stdout == "", (proc.returncode, proc.stdout)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr


def write_results(path, cells):
    """A results database at ``path`` holding ``cells`` as one finished run; returns ``path``."""
    from sculptbench.results.store import ResultsStore

    store = ResultsStore(path)
    run_id = store.start_run("test", {}, {})
    for cell in cells:
        store.write_cell(run_id, cell)
    store.finish_run(run_id, "done")
    store.close()
    return path
