"""What exactly a run ran: versions of everything, the git state, the device and seeds."""

from __future__ import annotations

import platform
import re
from pathlib import Path
from typing import Any

from sculptbench.engine.torch_import import torch_version
from sculptbench.plugin.registry import Registry
from sculptbench.run.planning import RunSpec


def manifest(spec: RunSpec, registry: Registry) -> dict[str, Any]:
    """What exactly was run: versions of everything, the device, seeds and resolved config."""
    import numpy

    from sculptbench import __version__

    return {
        "sculptbench": __version__,
        "git": _git_state(),
        "python": platform.python_version(),
        "torch": torch_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "device": spec.device,
        "seeds": spec.seeds,
        "plugins": [p.to_dict() for p in registry.plugins],
    }


def _git_state() -> dict[str, Any]:
    return git_state(Path(__file__).resolve().parent.parent.parent)


def git_state(root: Path) -> dict[str, Any]:
    """The commit of the checkout at ``root`` (where sculptbench runs from, when it is one) and
    whether tracked files differ from it: ``{"sha": ..., "dirty": ...}`` (``None`` when unknown).

    The commit is read from the files under ``.git`` (HEAD, its ref, packed-refs; a worktree's
    ``.git`` file), without running git. ``dirty`` asks ``git --no-optional-locks diff-index``,
    which never takes ``.git/index.lock`` (``git status`` refreshes the index and takes the lock,
    which made a run fail the user's own concurrent git command).
    """
    gitdir = _git_dir(root)
    sha = _head_commit(gitdir) if gitdir is not None else None
    if sha is None:
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": _tracked_changes(root)}


def _git_dir(root: Path) -> Path | None:
    """``root/.git`` as a directory, or the directory a ``.git`` file (a worktree) points to."""
    dot = root / ".git"
    try:
        if dot.is_dir():
            return dot
        if dot.is_file():
            text = dot.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:"):].strip())
                return target if target.is_absolute() else (root / target).resolve()
    except OSError:
        pass
    return None


_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def _head_commit(gitdir: Path) -> str | None:
    """The commit HEAD names: directly (detached), or through its ref, loose or packed."""
    try:
        head = (gitdir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
        if _SHA.fullmatch(head):
            return head
        if not head.startswith("ref: "):
            return None
        ref = head[len("ref: "):].strip()
        common = gitdir
        if (gitdir / "commondir").is_file():
            common = (gitdir / (gitdir / "commondir").read_text(encoding="utf-8", errors="replace").strip()).resolve()
        for base in (gitdir, common):
            loose = base / ref
            if loose.is_file():
                sha = loose.read_text(encoding="utf-8", errors="replace").strip()
                return sha if _SHA.fullmatch(sha) else None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref and _SHA.fullmatch(parts[0]):
                    return parts[0]
    except OSError:
        pass
    return None


def _tracked_changes(root: Path) -> bool | None:
    """Whether tracked files differ from HEAD, asked without taking git's index lock."""
    import os
    import subprocess

    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        proc = subprocess.run(["git", "--no-optional-locks", "-C", str(root), "diff-index", "--quiet", "HEAD", "--"],
                              capture_output=True, text=True, timeout=5, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: False, 1: True}.get(proc.returncode)
