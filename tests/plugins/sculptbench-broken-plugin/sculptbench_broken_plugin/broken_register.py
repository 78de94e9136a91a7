"""A plugin whose registration hook raises."""

from sculptbench.api import hookimpl


@hookimpl
def register_detectors(register):
    raise RuntimeError("broken-register exploded while registering")
