"""Import torch only when a command first uses it.

Importing torch costs about 2.7 s and 0.5 GB. ``sculptbench run`` plans its grid without torch, so
re-running a finished grid, or a command line that is refused, need not pay for it. The CLI calls
:func:`defer_torch` before it loads the plugins: ``import torch`` then binds a lazy module that
runs torch's real import at its first attribute access (like ``importlib.util.LazyLoader``, which
loads on the ``__spec__`` lookup of every ``import`` statement), and sets the thread count right
after. Library users, who import sculptbench themselves, are unaffected.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

#: Attributes the import system reads from a module already in ``sys.modules`` on every
#: ``import torch``; answering them must not run torch's import.
_PASSIVE = frozenset({"__spec__", "__name__", "__class__", "__dict__"})


class _DeferredTorch(types.ModuleType):
    """The ``torch`` module before its import has run: the first other attribute access runs it."""

    def __getattribute__(self, attr: str):
        if attr in _PASSIVE:
            return object.__getattribute__(self, attr)
        spec = object.__getattribute__(self, "__spec__")
        threads = object.__getattribute__(self, "__dict__").pop("_sculptbench_threads")
        self.__class__ = types.ModuleType
        spec.loader.exec_module(self)
        self.set_num_threads(threads)
        return getattr(self, attr)


def defer_torch(threads: int) -> None:
    """Make ``import torch`` lazy in this process, with ``threads`` torch threads once it loads.

    If torch's import is already deferred, only the pending thread count changes; if torch is
    already imported, only its thread count is set; if it cannot be found, nothing is done (the
    first real use raises the usual ImportError).
    """
    module = sys.modules.get("torch")
    if type(module) is _DeferredTorch:
        object.__getattribute__(module, "__dict__")["_sculptbench_threads"] = threads
        return
    if module is not None:
        module.set_num_threads(threads)
        return
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module._sculptbench_threads = threads
    module.__class__ = _DeferredTorch
    sys.modules["torch"] = module


def torch_loaded() -> bool:
    """Whether torch's real import has run in this process (not just the lazy placeholder)."""
    module = sys.modules.get("torch")
    return module is not None and type(module) is types.ModuleType and hasattr(module, "Tensor")


def torch_threads() -> int:
    """torch's thread count: the one set for a deferred import, without running it, else torch's own."""
    module = sys.modules.get("torch")
    if type(module) is _DeferredTorch:
        return object.__getattribute__(module, "__dict__")["_sculptbench_threads"]
    import torch

    return torch.get_num_threads()


def torch_version() -> str:
    """``torch.__version__`` (e.g. ``2.14.1+cu130``), read from torch's ``version.py`` if torch's
    import is still deferred, so that recording it does not run the import."""
    module = sys.modules.get("torch")
    if type(module) is not _DeferredTorch:
        import torch

        return torch.__version__
    spec = object.__getattribute__(module, "__spec__")
    for folder in spec.submodule_search_locations or ():
        try:
            tree = ast.parse(Path(folder, "version.py").read_text())
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and "__version__" in ast.unparse(node).split("=")[0]:
                return ast.literal_eval(node.value)
    return importlib.metadata.version("torch")


def kernel_fingerprint(device: str) -> dict[str, Any]:
    """What decides the last bits of a result on ``device``: torch's version and, on the CPU, the
    CPU's model (MKL picks its kernels by it, and does not say which), the instruction set torch's
    own kernels dispatch to (``AVX512``, ``AVX2``, ...; ``ATEN_CPU_CAPABILITY`` changes it) and
    MKL's settings; on a GPU, the device's name and compute capability.

    The same seed gives other networks under another fingerprint, so cached networks are keyed
    by it (a cache shared between machines serves each only its own results)."""
    import os

    import torch

    found: dict[str, Any] = {"torch": torch.__version__}
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        found["cuda"] = torch.version.cuda
        found["gpu"] = torch.cuda.get_device_name(index)
        found["capability"] = list(torch.cuda.get_device_capability(index))
    else:
        found["cpu"] = cpu_model()
        found["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        found["mkl"] = {name: os.environ[name] for name in ("MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR") if name in os.environ}
    return found


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_torch() -> types.ModuleType:
    """Run torch's import now (before forking workers, so that they share it)."""
    import torch

    torch.Tensor  # noqa: B018 - the first attribute access runs the deferred import
    return torch
