"""Parquet files and ``datasets.save_to_disk`` arrow files -> records, streamed batch by batch.

Rows are numbered from 1 and that number plays the line number in every finding. Only one
record batch (at most a row group) is held in memory at a time. Needs pyarrow (the ``parquet``
extra); a missing pyarrow is a :class:`MissingExtra` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from datalint.extras import MissingExtra
from datalint.load.filestate import FileRead
from datalint.load.items import FileItems
from datalint.load.records import Item, Source

if TYPE_CHECKING:
    from datalint.engine import Gate

_BATCH_ROWS = 1024


def _pyarrow(path: str) -> Any:
    try:
        import pyarrow
        import pyarrow.ipc
        import pyarrow.parquet
    except ImportError:
        raise MissingExtra("parquet", f"{path} is a parquet or arrow file") from None
    return pyarrow


def parquet_items(
    read: FileRead, gate: Gate, items: FileItems, *, max_ratio: float
) -> Iterator[Item]:
    """Row groups are decompressed one at a time; a file whose row groups would expand past
    ``max_ratio`` times its size on disk (a parquet decompression bomb) is not read (S018)."""
    pa = _pyarrow(read.path)
    try:
        pf = pa.parquet.ParquetFile(read.path)
        meta = pf.metadata
        expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        on_disk = max(os.path.getsize(read.path), 1)
        if expanded > max_ratio * on_disk:
            gate.observe(
                "compression_ratio",
                expanded / on_disk,
                Source(read.path, 1),
                limit=f"{max_ratio:g}",  # 100x, not 100.0x
                detail=f"{expanded:,} bytes of row groups in a {on_disk:,}-byte parquet file",
            )
            read.failed = True
            return
        batches = pf.iter_batches(batch_size=_BATCH_ROWS)
    except (OSError, pa.ArrowException) as exc:
        _unreadable(read, gate, 1, exc, "parquet")
        return
    yield from _rows(read, gate, items, batches, pa, "parquet")


def arrow_items(read: FileRead, gate: Gate, items: FileItems) -> Iterator[Item]:
    """An arrow IPC file: the stream format ``datasets`` writes, or the file format."""
    pa = _pyarrow(read.path)
    try:
        source = pa.memory_map(read.path, "r")
        try:
            reader = iter(pa.ipc.open_stream(source))
        except pa.ArrowInvalid:
            source.seek(0)
            file_reader = pa.ipc.open_file(source)
            reader = (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))
    except (OSError, pa.ArrowException) as exc:
        _unreadable(read, gate, 1, exc, "arrow")
        return
    yield from _rows(read, gate, items, reader, pa, "arrow")


def _rows(
    read: FileRead, gate: Gate, items: FileItems, batches: Any, pa: Any, kind: str
) -> Iterator[Item]:
    row = 0
    path = read.path
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (OSError, pa.ArrowException) as exc:
            _unreadable(read, gate, row + 1, exc, kind)
            return
        for record in batch.to_pylist():
            row += 1
            read.n_records += 1
            item = items.build(record, Source(path, row))
            if item is not None:
                yield item


def _unreadable(read: FileRead, gate: Gate, row: int, exc: BaseException, kind: str) -> None:
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    gate.observe(
        "read_errors", 1, Source(read.path, row), detail=f"{kind} file is corrupt ({detail})"
    )
    read.failed = True
