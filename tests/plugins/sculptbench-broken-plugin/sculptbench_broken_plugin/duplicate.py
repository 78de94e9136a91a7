"""A plugin that registers a pruner under a name a built-in already uses."""

from sculptbench import hookimpl
from sculptbench.plugins.pruners.schedule import MagnitudePruner


class ShadowMagnitude(MagnitudePruner):
    """A copy of the built-in magnitude pruner under the same name."""

    name = "magnitude"


@hookimpl
def register_pruners(register):
    register(ShadowMagnitude())
