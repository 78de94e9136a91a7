"""Built-in sculptbench plugins."""
