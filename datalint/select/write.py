"""Writing the kept rows and the rejects in the input's own file type, rows unchanged.

Each reader below walks a file's records in the loader's order and numbering (JSONL: physical
line; JSON array: the line where an element starts; parquet and arrow: the row from 1) so a
record meets the verdict of the Item the check built from it. A JSONL line or an array element
is copied byte for byte; a parquet or arrow row keeps the schema. A rejected record gets one
added field, ``datalint_reasons``; a record that never became an Item (bad JSON, a schema
error) goes to the rejects raw (JSON text) or with its finding codes (columnar rows).
"""

from __future__ import annotations

import codecs
import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from datalint.load.records import Item, Source

REASONS_FIELD = "datalint_reasons"
_CHUNK = 1 << 20

# For a record: ``None`` when it built no Item (the caller then gives its finding codes), else
# (kept, fields to add).
Classify = Callable[[Source, Item | None], tuple[bool, dict[str, Any]]]


@dataclass(slots=True)
class WriteCounts:
    kept: int = 0
    rejected: int = 0
    invalid: list[tuple[int, list[str]]] = field(default_factory=list)  # (line, reasons)


def kind_of(path: str) -> str:
    name = path.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".arrow"):
        return "arrow"
    if name.endswith(".json"):
        from datalint.load.json_array import starts_with_array
        from datalint.load.textio import open_data

        opened = open_data(path)
        try:
            return "array" if starts_with_array(opened) else "jsonl"
        finally:
            opened.fh.close()
    return "jsonl"


class _Sink:
    """An output stream compressed as its input was."""

    def __init__(self, path: Path | None, compression: str | None) -> None:
        self.fh: BinaryIO | None = None
        self._raw: BinaryIO | None = None
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        if compression == "gzip":
            self._raw, self.fh = raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0)  # type: ignore[assignment]
        elif compression == "zstd":
            import zstandard

            self.fh = zstandard.ZstdCompressor().stream_writer(raw, closefd=True)  # type: ignore[assignment]
        else:
            self.fh = raw

    def write(self, data: bytes) -> None:
        if self.fh is not None:
            self.fh.write(data)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
        if self._raw is not None:
            self._raw.close()


def _with_fields(raw: bytes, fields: dict[str, Any]) -> bytes | None:
    """The record with ``fields`` added, or None when it is not a JSON object. The fields are
    appended before the closing brace, so the row's own bytes stay as written; only a record
    that already has such a key is re-serialised (appending would write the key twice)."""
    text = raw.decode("utf-8")
    try:
        obj = json.loads(text.lstrip("\ufeff"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    if any(key in obj for key in fields):
        obj.update(fields)
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")
    body = text.rstrip()
    assert body.endswith("}")
    compact = '": ' not in body and '", ' not in body
    colon, comma = (":", ",") if compact else (": ", ", ")
    added = comma.join(
        json.dumps(k, ensure_ascii=False) + colon + json.dumps(v, ensure_ascii=False)
        for k, v in fields.items()
    )
    head = body[:-1].rstrip()
    joiner = "" if head.endswith("{") else comma
    return (head + joiner + added + "}").encode("utf-8")


def write_jsonl(
    path: str,
    items_at: dict[int, list[Item]],
    classify: Classify,
    invalid_reasons: Callable[[int], list[str]],
    kept: Path,
    rejects: Path | None,
    *,
    max_line_bytes: int,
) -> WriteCounts:
    """Lines numbered as the loader numbers them; a line over ``max_line_bytes`` (never a
    record) is streamed to the rejects in chunks, never held whole."""
    from datalint.load.textio import open_data

    opened = open_data(path)
    out, bad = _Sink(kept, opened.compression), _Sink(rejects, opened.compression)
    counts = WriteCounts()
    fh = opened.fh
    lineno = 0
    try:
        while True:
            raw = fh.readline(max_line_bytes + 1)
            if not raw:
                break
            lineno += 1
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                counts.invalid.append((lineno, invalid_reasons(lineno)))
                bad.write(raw)
                _drain_line(fh, bad)
                continue
            if not raw.strip():
                continue
            line = raw if raw.endswith(b"\n") else raw + b"\n"
            found = items_at.get(lineno)
            if not found:
                counts.invalid.append((lineno, invalid_reasons(lineno)))
                bad.write(line)
                continue
            keep, fields = classify(Source(path, lineno), found[0])
            _emit(keep, fields, line, out, bad, counts)
    finally:
        fh.close()
        out.close()
        bad.close()
    return counts


def _drain_line(fh: BinaryIO, sink: _Sink) -> None:
    while True:
        more = fh.readline(_CHUNK)
        sink.write(more)
        if not more or more.endswith(b"\n"):
            if not more:
                sink.write(b"\n")
            return


def _emit(
    keep: bool, fields: dict[str, Any], line: bytes, out: _Sink, bad: _Sink, counts: WriteCounts
) -> None:
    changed = _with_fields(line, fields) if fields else None
    text = changed + b"\n" if changed is not None else line
    if keep:
        counts.kept += 1
        out.write(text)
    else:
        counts.rejected += 1
        bad.write(text)


def write_array(
    path: str,
    items_at: dict[int, list[Item]],
    classify: Classify,
    invalid_reasons: Callable[[int], list[str]],
    kept: Path,
    rejects: Path | None,
    fields_map: Any,
) -> WriteCounts:
    """A JSON array out for a JSON array in; elements copied as written. Several elements may
    start on one line: each is rebuilt with a scratch gate to tell which became the Items."""
    from datalint.engine import Gate
    from datalint.load.decode import FAILED, text_is_safe
    from datalint.load.filestate import FileRead
    from datalint.load.items import FileItems
    from datalint.load.json_array import _Buffer
    from datalint.load.textio import open_data

    opened = open_data(path)
    scratch = Gate(())
    read = FileRead(path)
    builder = FileItems(scratch, fields_map)
    reader = _Buffer(opened, codecs.getincrementaldecoder("utf-8")(), read, scratch)
    outs = {True: _ArraySink(kept), False: _ArraySink(rejects)}
    counts = WriteCounts()
    taken: dict[int, int] = {}
    try:
        reader.skip_ws()
        reader.expect("[")
        reader.skip_ws()
        if reader.peek_char() != "]":
            while True:
                reader.skip_ws()
                src = Source(path, reader.line)
                obj, start, end = reader.decode_one(1 << 62, src)
                column = start - reader.buf.rfind("\n", 0, start) - 1
                text = reader.buf[start:end]
                ok = obj is not FAILED and text_is_safe(text, obj, src, scratch, column=column)
                built = builder.build(obj, src) if ok else None
                raw = text.encode("utf-8")
                at = items_at.get(src.line, [])
                if built is None or taken.get(src.line, 0) >= len(at):
                    counts.invalid.append((src.line, invalid_reasons(src.line)))
                    outs[False].add(raw)
                else:
                    item = at[taken.get(src.line, 0)]
                    taken[src.line] = taken.get(src.line, 0) + 1
                    keep, fields = classify(src, item)
                    changed = _with_fields(raw, fields) if fields else None
                    outs[keep].add(changed if changed is not None else raw)
                    if keep:
                        counts.kept += 1
                    else:
                        counts.rejected += 1
                reader.advance(end)
                reader.skip_ws()
                if reader.peek_char() == ",":
                    reader.advance(reader.pos + 1)
                    continue
                break
    finally:
        opened.fh.close()
        for sink in outs.values():
            sink.close()
    return counts


class _ArraySink:
    def __init__(self, path: Path | None) -> None:
        self.sink = _Sink(path, None)
        self.n = 0
        self.sink.write(b"[")

    def add(self, element: bytes) -> None:
        self.sink.write((b",\n" if self.n else b"\n") + element)
        self.n += 1

    def close(self) -> None:
        self.sink.write(b"\n]\n" if self.n else b"]\n")
        self.sink.close()


def write_columnar(
    path: str,
    items_at: dict[int, list[Item]],
    classify: Classify,
    invalid_reasons: Callable[[int], list[str]],
    kept: Path,
    rejects: Path | None,
    *,
    added_columns: bool = False,
) -> WriteCounts:
    """Parquet or arrow (stream or file format, as read), batch by batch, schema kept. With
    ``added_columns`` (provenance) the kept rows are gathered first so that every batch gets
    the same column types; otherwise one batch is held at a time."""
    import pyarrow as pa

    kind = kind_of(path)
    batches, schema, arrow_format = _open_columnar(path, kind)
    counts = WriteCounts()
    reasons_type = pa.list_(pa.string())
    kept_writer = None if added_columns else _ColumnarWriter(kept, schema, kind, arrow_format)
    rejects_writer = None
    if rejects is not None:
        bad_schema = schema.append(pa.field(REASONS_FIELD, reasons_type))
        rejects_writer = _ColumnarWriter(rejects, bad_schema, kind, arrow_format)
    gathered: list[tuple[Any, list[int], list[dict[str, Any]]]] = []
    row = 0
    try:
        for batch in batches:
            keep_rows: list[int] = []
            keep_fields: list[dict[str, Any]] = []
            bad_rows: list[int] = []
            bad_reasons: list[list[str]] = []
            for i in range(batch.num_rows):
                row += 1
                at = items_at.get(row)
                if not at:
                    reasons = invalid_reasons(row)
                    counts.invalid.append((row, reasons))
                    bad_rows.append(i)
                    bad_reasons.append(reasons)
                    continue
                keep, fields = classify(Source(path, row), at[0])
                if keep:
                    counts.kept += 1
                    keep_rows.append(i)
                    keep_fields.append(fields)
                else:
                    counts.rejected += 1
                    bad_rows.append(i)
                    bad_reasons.append(list(fields.get(REASONS_FIELD, [])))
            if kept_writer is not None:
                kept_writer.write_batch(batch.take(pa.array(keep_rows, type=pa.int64())))
            else:
                gathered.append((batch, keep_rows, keep_fields))
            if rejects_writer is not None:
                part = batch.take(pa.array(bad_rows, type=pa.int64()))
                part = part.append_column(REASONS_FIELD, pa.array(bad_reasons, type=reasons_type))
                rejects_writer.write_batch(part)
        if kept_writer is None:
            table = _assemble_kept(gathered, schema)
            kept_writer = _ColumnarWriter(kept, table.schema, kind, arrow_format)
            kept_writer.writer.write_table(table)
    finally:
        for writer in (kept_writer, rejects_writer):
            if writer is not None:
                writer.close()
    return counts


def _assemble_kept(pending: list[Any], schema: Any) -> Any:
    import pyarrow as pa

    parts = [batch.take(pa.array(rows, type=pa.int64())) for batch, rows, _ in pending]
    table = pa.Table.from_batches(parts, schema=schema) if parts else schema.empty_table()
    extra = [f for _, rows, fields in pending for f in fields[: len(rows)]]
    names = list(dict.fromkeys(k for f in extra for k in f))
    for name in names:  # provenance columns, on request only
        table = table.append_column(name, pa.array([f.get(name) for f in extra]))
    return table


def _open_columnar(path: str, kind: str) -> tuple[Iterator[Any], Any, str]:
    import pyarrow as pa
    import pyarrow.ipc
    import pyarrow.parquet

    if kind == "parquet":
        pf = pa.parquet.ParquetFile(path)
        return pf.iter_batches(batch_size=1024), pf.schema_arrow, "parquet"
    source = pa.memory_map(path, "r")
    try:
        reader = pa.ipc.open_stream(source)
        return iter(reader), reader.schema, "stream"
    except pa.ArrowInvalid:
        source.seek(0)
        fr = pa.ipc.open_file(source)
        return (fr.get_batch(i) for i in range(fr.num_record_batches)), fr.schema, "file"


class _ColumnarWriter:
    def __init__(self, path: Path, schema: Any, kind: str, arrow_format: str) -> None:
        import pyarrow as pa
        import pyarrow.ipc
        import pyarrow.parquet

        self._table = pa.Table
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "parquet":
            self.writer = pa.parquet.ParquetWriter(str(path), schema)
        elif arrow_format == "stream":
            self.writer = pa.ipc.new_stream(str(path), schema)
        else:
            self.writer = pa.ipc.new_file(str(path), schema)

    def write_batch(self, batch: Any) -> None:
        if batch.num_rows:
            self.writer.write_table(self._table.from_batches([batch]))

    def close(self) -> None:
        self.writer.close()
