"""Group items into cohorts: the ``cohort`` field, else consecutive chunks of a fixed size."""

from __future__ import annotations

from collections.abc import Iterable

from datalint.load.records import Cohort, Item


def make_cohorts(items: Iterable[Item], cohort_size: int = 4) -> list[Cohort]:
    """Cohorts in order of first appearance.

    Items with a ``cohort`` field are grouped by it, wherever they are in the files. Items without
    one are chunked in file order, ``cohort_size`` at a time, never across files; such cohorts are
    named ``<path>:<first line>``.
    """
    if cohort_size < 1:
        raise ValueError("cohort size must be at least 1")
    named: dict[str, Cohort] = {}
    ordered: list[Cohort] = []
    chunk: Cohort | None = None
    for item in items:
        if item.cohort is not None:
            cohort = named.get(item.cohort)
            if cohort is None:
                cohort = named[item.cohort] = Cohort(id=item.cohort)
                ordered.append(cohort)
            cohort.items.append(item)
            continue
        if chunk is None or len(chunk.items) >= cohort_size or _other_file(chunk, item):
            chunk = Cohort(id=f"{item.source.path}:{item.source.line}")
            ordered.append(chunk)
        chunk.items.append(item)
    return ordered


def _other_file(chunk: Cohort, item: Item) -> bool:
    return bool(chunk.items) and chunk.items[0].source.path != item.source.path
