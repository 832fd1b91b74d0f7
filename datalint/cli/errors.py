"""One place that turns expected failures into a one-line message and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from datalint.errors import DatalintError

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def echo_note(message: str) -> None:
    """A ``datalint: ...`` note on stderr, escaped (notes quote file names and data)."""
    from datalint.report.escape import terminal

    click.echo(f"datalint: {terminal(message)}", err=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr: the message may quote a file name or data, so it is escaped."""
    from datalint.report.escape import terminal

    click.echo(f"datalint: error: {terminal(message)}", err=True)
    sys.exit(code)


@contextmanager
def friendly_errors(on_interrupt: Callable[[], str] | None = None) -> Iterator[None]:
    """Expected errors -> one line on stderr and exit 2; never a traceback unless DATALINT_DEBUG."""
    try:
        yield
    except DatalintError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        note = on_interrupt() if on_interrupt else ""
        click.echo(f"datalint: interrupted{'; ' + note if note else ''}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        sys.exit(EXIT_FAIL)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception as exc:
        if os.environ.get("DATALINT_DEBUG"):
            raise
        fail(
            f"internal error: {type(exc).__name__}: {exc} "
            "(set DATALINT_DEBUG=1 for a traceback and please report it)"
        )
