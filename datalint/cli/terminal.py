"""Whether a stream is an interactive terminal that progress bars may draw on."""

from __future__ import annotations

import os
from typing import Any


def is_interactive_stream(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    if os.environ.get("CI") or os.environ.get("PRE_COMMIT"):
        return False
    return bool(isatty and isatty())
