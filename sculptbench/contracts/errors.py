"""The user-facing error type, in a module of its own so that light commands (``report``,
``runs``) can use it without importing torch; :mod:`sculptbench.contracts` re-exports it."""


class SculptbenchError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits with status 2."""
