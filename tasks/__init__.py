"""Built-in Boolean task files (YAML circuit specs, see docs/circuits.md)."""
