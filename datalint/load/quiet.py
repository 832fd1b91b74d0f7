"""Reading small auxiliary files (a probe set, the input of ``datalint rollout``) whose problems
are raised or collected rather than gated."""

from __future__ import annotations

from typing import Any

from datalint.engine import Gate
from datalint.load.discover import discover_files
from datalint.load.errors import InputError
from datalint.load.records import Item, Source
from datalint.load.stream import iter_items


class ProblemCollector(Gate):
    """A gate with no rules that keeps one line per unreadable record, for auxiliary files
    (a probe set, the input of ``datalint rollout``) whose problems ``check`` reports in full."""

    def __init__(self) -> None:
        super().__init__(())
        self.problems: list[str] = []

    def observe(  # type: ignore[override]
        self, feature: str, value: Any, source: Source, *, cohort: str | None = None, **context: Any
    ) -> None:
        if feature == "run_records":
            return  # a count, not a problem: an empty file is reported by data_records
        if feature == "data_records":
            self.problems.append(f"{source}: file holds no records")
        elif value:
            self.problems.append(f"{source}: {context.get('detail', feature)}")


def read_items_quietly(path: str) -> list[Item]:
    """Read a small auxiliary file (a probe set): valid items only; problems raise InputError."""
    collector = ProblemCollector()
    items = list(iter_items(discover_files([path]), collector))
    if collector.problems:
        problems = collector.problems
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise InputError(problems[0] + more)
    return items
