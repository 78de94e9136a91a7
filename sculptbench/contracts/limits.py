"""Bounds on what a run may be asked for, checked before any work (``run`` lifts the grid's with
``--large-grid``). Kept free of heavy imports: the command line's help shows them."""

from __future__ import annotations

#: Widest hidden layer accepted, from --arch or a task file's ``archs``.
ARCH_LIMIT = 4096
#: Most hidden layers accepted, from --arch or a task file's ``archs`` (the paper's deepest has 4).
DEPTH_LIMIT = 64
#: Most seeds and cells of one grid (unless ``--large-grid``).
MAX_SEEDS = 1_000
MAX_CELLS = 100_000
#: Share of this machine's memory the grid's estimate may take (unless ``--large-grid``).
MEMORY_SHARE = 0.8
