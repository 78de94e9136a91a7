"""``python -m sculptbench.cli``: the command line."""

from sculptbench.cli import main

main()
