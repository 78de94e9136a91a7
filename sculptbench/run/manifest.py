"""What exactly a run ran: versions of everything, the git state, the device and seeds."""

from __future__ import annotations

import platform
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
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return {"sha": None, "dirty": None}
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
        return {"sha": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
