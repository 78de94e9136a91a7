"""A plugin whose module cannot be imported."""

raise ImportError("sculptbench_broken_plugin needs the missing module frobnicator")
