"""Every line datalint writes is inert: installed once when the command line starts.

Reports escape the data they show (``datalint.report.escape``). This module covers the rest of
what reaches stdout and stderr: datalint's notes and errors, click's usage errors, and the log
lines and warnings of the libraries datalint calls (math-verify logs the raw answer it timed out
on; transformers and trl log through ``logging`` and ``warnings``). So that none of it can be a
GitHub workflow command or a terminal escape sequence:

- ``sys.stdout`` and ``sys.stderr`` become :class:`~datalint.report.escape.InertStream` wrappers:
  no line starts with ``::``; control characters are shown as ``\\xNN`` except on a terminal's
  stderr, where datalint's own progress bar needs them;
- every ``logging`` record has its message escaped (line breaks kept), whatever handler prints it;
- every warning is formatted with its control characters escaped.

Worker processes that datalint spawns call :func:`install` too.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

from datalint.report.escape import InertStream, terminal

_MARK = "_datalint_inert"


def install() -> None:
    """Guard stdout, stderr, logging and warnings (idempotent)."""
    if not isinstance(sys.stdout, InertStream) and sys.stdout is not None:
        sys.stdout = InertStream(sys.stdout, escape_controls=True)
    if not isinstance(sys.stderr, InertStream) and sys.stderr is not None:
        sys.stderr = InertStream(sys.stderr, escape_controls=not _isatty(sys.stderr))
    _guard_logging()
    _guard_warnings()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def escape_log_text(text: str) -> str:
    """Control characters escaped, line breaks kept (a stream guard handles what follows them)."""
    return "\n".join(terminal(line) for line in text.split("\n"))


def _guard_logging() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it itself later
            return record
        escaped = escape_log_text(message)
        if escaped != message:
            record.msg, record.args = escaped, ()
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)


def _guard_warnings() -> None:
    previous = warnings.formatwarning
    if getattr(previous, _MARK, False):
        return

    def formatwarning(*args: Any, **kwargs: Any) -> str:
        return escape_log_text(previous(*args, **kwargs).rstrip("\n")) + "\n"

    setattr(formatwarning, _MARK, True)
    warnings.formatwarning = formatwarning  # type: ignore[assignment]
