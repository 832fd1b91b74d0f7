"""Streaming every data file into Items: the format by suffix and magic bytes, the layout per
file, and the run-level tally.

Every record keeps its path and 1-based line number (a parquet or arrow row number plays the
line). Format problems never raise: they are reported to the gate as metrics (``json_errors``,
``schema_errors``, ...) that the S-family rules hold thresholds on. Only input that cannot be read
at all (a missing path, a directory with no data files, a permission error) raises
:class:`InputError`, which the CLI turns into exit 2.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from datalint.load.columnar import arrow_items, parquet_items
from datalint.load.filestate import FileRead, FileStats
from datalint.load.items import FileItems
from datalint.load.json_array import array_items, starts_with_array
from datalint.load.jsonl import ROLLOUTS_FILE_NOTE, ROLLOUTS_HEADER_KIND, jsonl_items
from datalint.load.records import Item, Source
from datalint.load.textio import DEFAULT_MAX_RATIO, open_data

if TYPE_CHECKING:
    from datalint.engine import Gate

__all__ = ["DEFAULT_MAX_LINE_BYTES", "ROLLOUTS_FILE_NOTE", "ROLLOUTS_HEADER_KIND", "iter_items"]

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024


def iter_items(
    paths: Iterable[str],
    gate: Gate,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    stats: list[FileStats] | None = None,
    fields: Mapping[str, str] | None = None,
) -> Iterator[Item]:
    """Stream every valid item from the given files; report each format problem to the gate.

    ``fields`` is the user's explicit mapping (native field -> dotted column path); without it
    each file's layout is detected from its first record. After the last file, a run that read no
    record at all is reported (``run_records``, a dataset-scope error).
    """
    max_ratio = _threshold(gate, "compression_ratio", DEFAULT_MAX_RATIO)
    total = 0
    first: str | None = None
    for path in paths:
        first = first or path
        file_stats = yield from _iter_file(path, gate, max_line_bytes, max_ratio, fields)
        total += file_stats.n_records
        if stats is not None:
            stats.append(file_stats)
    if first is not None:
        gate.observe("run_records", total, Source(first, 1))


def _iter_file(
    path: str,
    gate: Gate,
    max_line_bytes: int,
    max_ratio: float,
    fields: Mapping[str, str] | None,
) -> Generator[Item, None, FileStats]:
    """Yield every valid item; count every record, valid or not (the invalid are reported)."""
    read = FileRead(path)
    items = FileItems(gate, fields)
    yield from _items(read, gate, items, max_line_bytes, max_ratio)
    if read.n_records == 0 and not read.failed and read.skipped is None:
        gate.observe("data_records", 0, Source(path, 1))
    layout = items.layout_name
    if layout is not None and layout != "native":
        read.notes.insert(0, f"read as layout {layout}")
    return read.stats(layout)


def _items(
    read: FileRead, gate: Gate, items: FileItems, max_line_bytes: int, max_ratio: float
) -> Iterator[Item]:
    name = read.path.lower()
    if name.endswith(".parquet"):
        yield from parquet_items(read, gate, items, max_ratio=max_ratio)
        return
    if name.endswith(".arrow"):
        yield from arrow_items(read, gate, items)
        return
    opened = open_data(read.path)
    try:
        if name.endswith(".json") and starts_with_array(opened):
            yield from array_items(opened, read, gate, items, max_element_bytes=max_line_bytes)
        else:
            yield from jsonl_items(
                opened, read, gate, items, max_line_bytes=max_line_bytes, max_ratio=max_ratio
            )
    finally:
        opened.fh.close()


def _threshold(gate: Gate, feature: str, default: float) -> float:
    """A loader bound is the threshold of the rule that reports it (one number, one place)."""
    for rule in getattr(gate, "rules", ()):
        if rule.feature == feature:
            return float(rule.threshold)
    return default
