"""Enable sculptbench's contract kit (fixtures ``sculptbench_registry`` and ``register_plugin``)."""

pytest_plugins = ["sculptbench.plugin.testing"]
