"""sculptbench-example: a SynFlow pruner and a spectral-clustering detector for sculptbench.

Registered through the ``sculptbench`` entry point ``example = sculptbench_example.plugin``.
"""

__version__ = "0.1.0"
