"""The loader's one exception: input that cannot be read at all."""

from __future__ import annotations

from datalint.errors import DatalintError


class InputError(DatalintError):
    """Input that cannot be read at all; the message names the path."""
