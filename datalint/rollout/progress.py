"""The generation progress bar: rich, on stderr, and only for a person at a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Advance(Protocol):
    def __call__(self, rollouts: int) -> None: ...


def progress_wanted(requested: bool) -> bool:
    if not requested or os.environ.get("CI") or os.environ.get("PRE_COMMIT"):
        return False
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


@contextmanager
def generation_progress(total_rollouts: int, *, enabled: bool) -> Iterator[Advance]:
    """Yields a callback to report finished rollouts; a no-op unless ``enabled``."""
    if not enabled or total_rollouts == 0:
        yield lambda rollouts: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} rollouts/s", style="cyan")

    columns: list[Any] = [
        TextColumn("sampling"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sampling", total=total_rollouts)
        yield lambda rollouts: bar.advance(task, rollouts)
