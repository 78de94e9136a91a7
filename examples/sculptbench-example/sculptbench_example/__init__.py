"""sculptbench-example: a gradual magnitude pruner and a greedy-modularity detector for sculptbench.

Registered through the ``sculptbench`` entry point ``example = sculptbench_example.plugin``.
"""

__version__ = "0.2.0"
