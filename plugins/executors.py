"""Built-in executors: ``local`` (worker processes on this machine, the default) and ``dask``."""

from __future__ import annotations

from sculptbench import hookimpl
from sculptbench.executors import DaskExecutor, LocalExecutor


@hookimpl
def register_executors(register):
    """Register the built-in executors."""
    register(LocalExecutor())
    register(DaskExecutor())
