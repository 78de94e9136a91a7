"""Deliberately broken sculptbench plugins: each entry point fails in its own way."""
