"""The base of every expected error: the CLI prints its message on one line and exits 2."""


class DatalintError(Exception):
    """An error the user can fix (bad input, config, flag, missing extra); never a traceback."""
