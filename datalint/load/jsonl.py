"""Streaming reader for JSONL / JSONL.gz data files.

Every record keeps its path and 1-based line number. Format problems never raise: they are
reported to the gate as metrics (``json_errors``, ``schema_errors``, ...) that the S-family rules
hold thresholds on. Only input that cannot be read at all (a missing path, a directory with no
data files, a permission error) raises :class:`InputError`, which the CLI turns into exit 2.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from datalint.load.errors import InputError
from datalint.load.parse import parse_record
from datalint.load.records import Item, Source

if TYPE_CHECKING:
    from datalint.engine import Gate

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileStats:
    path: str
    n_records: int
    skipped: str | None = None  # why the file was not read as data


def _open_binary(path: str) -> tuple[BinaryIO, bool]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    head = fh.peek(2)[:2] if hasattr(fh, "peek") else b""
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=fh, mode="rb"), True  # type: ignore[return-value]
    return fh, False


def _iter_lines(fh: BinaryIO, max_line_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """Yield (line, too_long). An overlong line is skipped to its end, never held in memory."""
    while True:
        line = fh.readline(max_line_bytes + 1)
        if not line:
            return
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while True:  # drain the rest of this line
                rest = fh.readline(_READ_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield b"", True
            continue
        yield line, False


def iter_items(
    paths: Iterable[str],
    gate: Gate,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    stats: list[FileStats] | None = None,
) -> Iterator[Item]:
    """Stream every valid item from the given files; report each format problem to the gate."""
    for path in paths:
        file_stats = yield from _iter_file(path, gate, max_line_bytes)
        if stats is not None:
            stats.append(file_stats)


def _iter_file(path: str, gate: Gate, max_line_bytes: int) -> Generator[Item, None, FileStats]:
    """Yield every valid item; count every record, valid or not (the invalid are reported)."""
    fh, is_gzip = _open_binary(path)
    lineno = 0
    n_records = 0
    failed_read = False
    try:
        if not is_gzip and b"\x00" in _peek(fh, 8192):
            gate.observe("binary_file", 1, Source(path, 1), detail="contains NUL bytes")
            return FileStats(path, 0, skipped="binary")
        lines = _iter_lines(fh, max_line_bytes)
        while True:
            try:
                raw, too_long = next(lines)
            except StopIteration:
                break
            except (EOFError, OSError, zlib.error) as exc:
                gate.observe(
                    "read_errors",
                    1,
                    Source(path, lineno + 1),
                    detail=_read_error_detail(exc, is_gzip),
                )
                failed_read = True
                break
            lineno += 1
            src = Source(path, lineno)
            if too_long:
                n_records += 1
                gate.observe("line_bytes", max_line_bytes + 1, src, limit=max_line_bytes)
                continue
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            if n_records == 0 and _is_rollouts_header(raw):
                return FileStats(path, 0, skipped=ROLLOUTS_FILE_NOTE)
            n_records += 1
            item = parse_record(raw, src, gate)
            if item is not None:
                yield item
    finally:
        fh.close()
    if n_records == 0 and not failed_read:
        gate.observe("data_records", 0, Source(path, 1))
    return FileStats(path, n_records)


ROLLOUTS_HEADER_KIND = "rollouts"
ROLLOUTS_FILE_NOTE = "a rollouts file from `datalint rollout`, not data: pass it with --rollouts"


def _is_rollouts_header(raw: bytes) -> bool:
    """The first line of a `datalint rollout` file, which may sit beside the data it belongs to."""
    if b'"datalint"' not in raw[:256]:
        return False
    try:
        head = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return isinstance(head, dict) and head.get("datalint") == ROLLOUTS_HEADER_KIND


def _peek(fh: BinaryIO, n: int) -> bytes:
    peek = getattr(fh, "peek", None)
    return peek(n)[:n] if peek else b""


def _read_error_detail(exc: BaseException, is_gzip: bool) -> str:
    if is_gzip and isinstance(exc, EOFError):
        return "gzip stream is truncated (the file ends before the end-of-stream marker)"
    if is_gzip:
        return f"gzip stream is corrupt ({exc})"
    return f"read failed ({exc})"
