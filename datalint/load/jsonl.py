"""JSONL (plain, gzip or zstd) -> decoded records, each with its path and 1-based line."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from datalint.load.decode import FAILED, decode_line
from datalint.load.filestate import FileRead
from datalint.load.items import FileItems
from datalint.load.records import Item, Source
from datalint.load.textio import DecompressionLimit, Opened, byte_limit, iter_lines

if TYPE_CHECKING:
    from datalint.engine import Gate

ROLLOUTS_HEADER_KIND = "rollouts"
ROLLOUTS_FILE_NOTE = "a rollouts file from `datalint rollout`, not data: pass it with --rollouts"
_BOM = b"\xef\xbb\xbf"


def jsonl_items(
    opened: Opened,
    read: FileRead,
    gate: Gate,
    items: FileItems,
    *,
    max_line_bytes: int,
    max_ratio: float,
) -> Iterator[Item]:
    """Yield the item of each readable record; report every other line to the gate."""
    path = read.path
    fh = opened.fh
    if opened.compression is None and b"\x00" in _peek(fh, 8192):
        gate.observe("binary_file", 1, Source(path, 1), detail="contains NUL bytes")
        read.skipped = "binary"
        return
    lines = iter_lines(fh, max_line_bytes, byte_limit(opened, max_ratio))
    lineno = 0
    while True:
        try:
            lineno, raw = next(lines)
        except StopIteration:
            return
        except DecompressionLimit as stop:
            ratio = stop.read / max(opened.compressed_size, 1)
            gate.observe(
                "compression_ratio",
                ratio,
                Source(path, max(stop.line, 1)),
                limit=f"{max_ratio:g}",  # 100x, not 100.0x
                detail=f"{stop.read:,} bytes from {opened.compressed_size:,} compressed",
            )
            read.failed = True
            return
        except _read_errors(opened) as exc:
            gate.observe(
                "read_errors", 1, Source(path, lineno + 1), detail=_read_error_detail(exc, opened)
            )
            read.failed = True
            return
        src = Source(path, lineno)
        if raw is None:
            read.n_records += 1
            gate.observe("line_bytes", max_line_bytes + 1, src, limit=max_line_bytes)
            continue
        if lineno == 1 and raw.startswith(_BOM):
            raw = raw[3:]
            if not raw.strip():
                continue
        if read.n_records == 0 and _is_rollouts_header(raw):
            gate.observe("rollouts_header", 1, src, detail=ROLLOUTS_FILE_NOTE)
            read.skipped = ROLLOUTS_FILE_NOTE
            return
        read.n_records += 1
        obj = decode_line(raw, src, gate)
        if obj is not FAILED:
            item = items.build(obj, src)
            if item is not None:
                yield item


def _is_rollouts_header(raw: bytes) -> bool:
    """The first line of a `datalint rollout` file, which may sit beside the data it belongs to."""
    if b'"datalint"' not in raw[:256]:
        return False
    try:
        head = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return isinstance(head, dict) and head.get("datalint") == ROLLOUTS_HEADER_KIND


def _read_errors(opened: Opened) -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error)
    if opened.compression == "zstd":
        import zstandard

        errors += (zstandard.ZstdError,)
    return errors


def _peek(fh: Any, n: int) -> bytes:
    peek = getattr(fh, "peek", None)
    return peek(n)[:n] if peek else b""


def _read_error_detail(exc: BaseException, opened: Opened) -> str:
    kind = opened.compression
    if kind == "gzip" and isinstance(exc, EOFError):
        return "gzip stream is truncated (the file ends before the end-of-stream marker)"
    if kind is not None:
        return f"{kind} stream is corrupt ({exc})"
    return f"read failed ({exc})"
