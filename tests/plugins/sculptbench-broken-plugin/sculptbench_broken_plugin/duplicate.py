"""A plugin that registers a pruner under a name a built-in already uses, and one of its own.

The built-in keeps its name (``shadow`` is refused, and reported as a clash); the plugin's
independent pruner ``shadow-dense`` is still loaded.
"""

from sculptbench.api import hookimpl
from sculptbench.plugins.pruners.iterative import DensePruner, MagnitudePruner


class ShadowMagnitude(MagnitudePruner):
    """A copy of the built-in magnitude pruner under the same name."""

    name = "magnitude"


class ShadowDense(DensePruner):
    """The dense baseline under a name of its own."""

    name = "shadow-dense"


@hookimpl
def register_pruners(register):
    register(ShadowMagnitude())
    register(ShadowDense())
