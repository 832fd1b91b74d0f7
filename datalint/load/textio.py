"""Opening a data file as a stream of lines: gzip and zstd by their magic bytes, decompression
bounded relative to the compressed size, overlong lines skipped unread, blank runs skipped fast.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from datalint.extras import MissingExtra
from datalint.load.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DEFAULT_MAX_RATIO = 100.0  # decompressed bytes per compressed byte; real JSONL is below 20
_READ_CHUNK = 1024 * 1024
_BLANK_RUN = re.compile(rb"[ \t\r\n\x0b\x0c]*")


class DecompressionLimit(Exception):
    """The decompressed stream passed its bound; ``line`` is the last line read."""

    def __init__(self, line: int, read: int) -> None:
        super().__init__(line, read)
        self.line = line
        self.read = read


@dataclass(slots=True)
class Opened:
    fh: BinaryIO
    compression: str | None  # "gzip", "zstd" or None
    compressed_size: int


def open_data(path: str) -> Opened:
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    size = os.fstat(raw.fileno()).st_size
    head = raw.peek(4)[:4]
    if head[:2] == GZIP_MAGIC:
        return Opened(gzip.GzipFile(fileobj=raw, mode="rb"), "gzip", size)  # type: ignore[arg-type]
    if head == ZSTD_MAGIC:
        try:
            import zstandard
        except ImportError:
            raw.close()
            raise MissingExtra("zstd", f"{path} is zstd-compressed") from None
        reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
        return Opened(io.BufferedReader(reader, _READ_CHUNK), "zstd", size)  # type: ignore[arg-type]
    return Opened(raw, None, size)


def byte_limit(opened: Opened, max_ratio: float) -> float:
    if opened.compression is None:
        return float("inf")
    return max_ratio * max(opened.compressed_size, 1)


def iter_lines(
    fh: BinaryIO, max_line_bytes: int, limit: float
) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, line) for each non-blank line; the line is None when it is longer than
    ``max_line_bytes`` (it is skipped to its end, never held in memory). Raises
    :class:`DecompressionLimit` once more than ``limit`` bytes were read."""
    lineno = 0
    read = 0
    peek = getattr(fh, "peek", None)
    while True:
        line = fh.readline(max_line_bytes + 1)
        if not line:
            return
        read += len(line)
        lineno += 1
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while True:  # drain the rest of this line
                rest = fh.readline(_READ_CHUNK)
                read += len(rest)
                if read > limit:
                    raise DecompressionLimit(lineno, read)
                if not rest or rest.endswith(b"\n"):
                    break
            yield lineno, None
        elif line.isspace():
            if peek is not None:
                skipped_lines, skipped_bytes = _skip_blank_run(fh, peek, limit - read)
                lineno += skipped_lines
                read += skipped_bytes
        else:
            yield lineno, line
        if read > limit:
            raise DecompressionLimit(lineno, read)


def _skip_blank_run(fh: BinaryIO, peek: Callable[[int], bytes], budget: float) -> tuple[int, int]:
    """Consume whole blank lines straight from the buffer (a million newlines in milliseconds)."""
    lines = 0
    consumed = 0
    while consumed <= budget:
        buf = peek(_READ_CHUNK)
        if not buf:
            break
        blank_end = _BLANK_RUN.match(buf).end()  # type: ignore[union-attr]
        cut = buf.rfind(b"\n", 0, blank_end) + 1
        if cut == 0:
            break
        fh.read(cut)
        lines += buf.count(b"\n", 0, cut)
        consumed += cut
        if blank_end < len(buf):
            break
    return lines, consumed
