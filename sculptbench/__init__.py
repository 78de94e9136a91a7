"""sculptbench: does a pruned network reveal the modular structure of its task?"""

from sculptbench.plugin.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["hookimpl", "__version__"]
