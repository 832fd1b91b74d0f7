"""Optional extras: a clear message naming the extra to install when a heavy part is missing."""

from __future__ import annotations

from datalint.errors import DatalintError


class MissingExtra(DatalintError, RuntimeError):
    def __init__(self, extra: str, what: str = "") -> None:
        self.extra = extra
        detail = f" ({what})" if what else ""
        super().__init__(
            f"this needs the optional '{extra}' extra{detail}: pip install 'datalint[{extra}]'"
        )
