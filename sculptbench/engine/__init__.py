"""The training engine: batched masked MLPs (``training``), and when torch is imported and with which
kernels (``torch_import``). This package imports neither, so the CLI can defer torch's import."""
