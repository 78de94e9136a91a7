"""The ``sculptbench`` command line.

The group and shared helpers are in :mod:`.common`; the commands in :mod:`.run_cmd` (``run``),
:mod:`.inspect_cmd` (``report``, ``runs``, ``plugins``, ``list``) and :mod:`.figures_cmd`
(``draw``, ``plot``) and :mod:`.board_cmd` (``merge``). Plugins are loaded only by the commands that need them, so reading a
results database never imports a plugin or torch.
"""

from sculptbench.cli import board_cmd, figures_cmd, inspect_cmd, run_cmd  # noqa: F401 - registers the commands
from sculptbench.cli.common import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    main()
