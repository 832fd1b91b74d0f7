"""A ``.json`` file holding one array of records, read element by element in bounded memory.

The decoder never holds more than one element (at most the line limit) plus a read chunk, so a
multi-gigabyte array costs no more memory than a small one. Each element's finding names the
line where the element starts. A syntax error ends the file (an array cannot be resynchronised).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from datalint.load.decode import (
    FAILED,
    STRICT_DECODER,
    DuplicateKey,
    report_duplicate,
    text_is_safe,
    value_error_detail,
)
from datalint.load.filestate import FileRead
from datalint.load.items import FileItems
from datalint.load.records import Item, Source
from datalint.load.textio import Opened

if TYPE_CHECKING:
    from datalint.engine import Gate

ARRAY_NOTE = "a JSON array, not JSONL: read as one record per element"
_CHUNK = 1 << 20
_WHITESPACE = " \t\r\n"
_DECODER = json.JSONDecoder()


def starts_with_array(opened: Opened) -> bool:
    peek = getattr(opened.fh, "peek", None)
    head = peek(4096) if peek else b""
    return head.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"["


class _Stop(Exception):
    pass


def array_items(
    opened: Opened, read: FileRead, gate: Gate, items: FileItems, *, max_element_bytes: int
) -> Iterator[Item]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    reader = _Buffer(opened, decoder, read, gate)
    read.notes.append(ARRAY_NOTE)
    try:
        reader.skip_ws()
        reader.expect("[")
        reader.skip_ws()
        if reader.peek_char() == "]":
            return
        while True:
            reader.skip_ws()
            src = Source(read.path, reader.line)
            obj, start, end = reader.decode_one(max_element_bytes, src)
            read.n_records += 1
            column = start - reader.buf.rfind("\n", 0, start) - 1
            text = reader.buf[start:end]
            if obj is not FAILED and text_is_safe(text, obj, src, gate, column=column):
                item = items.build(obj, src)
                if item is not None:
                    yield item
            reader.advance(end)
            reader.skip_ws()
            c = reader.peek_char()
            if c == ",":
                reader.advance(reader.pos + 1)
                continue
            if c == "]":
                return
            reader.fail("expected ',' or ']' after an element")
    except _Stop:
        return


class _Buffer:
    """A text window over the file with the line number of its current position."""

    def __init__(self, opened: Opened, decoder: Any, read: FileRead, gate: Gate) -> None:
        self.fh = opened.fh
        self.decoder = decoder
        self.read = read
        self.gate = gate
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def _more(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.fh.read(_CHUNK)
        except (OSError, EOFError) as exc:
            self.gate.observe(
                "read_errors", 1, Source(self.read.path, self.line), detail=f"read failed ({exc})"
            )
            self.read.failed = True
            raise _Stop from None
        try:
            text = self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            self.gate.observe(
                "utf8_errors",
                1,
                Source(self.read.path, self.line),
                detail=f"invalid UTF-8 ({exc.reason}); the rest of the array was not read",
            )
            self.read.failed = True
            raise _Stop from None
        if not chunk:
            self.eof = True
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        if self.line == 1 and self.buf.startswith("\ufeff"):
            self.pos = 1
        return True

    def peek_char(self) -> str:
        while self.pos >= len(self.buf):
            if not self._more():
                self.fail("the array is not closed with ']'")
        return self.buf[self.pos]

    def skip_ws(self) -> None:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WHITESPACE:
                if self.buf[self.pos] == "\n":
                    self.line += 1
                self.pos += 1
            if self.pos < len(self.buf) or not self._more():
                return

    def expect(self, char: str) -> None:
        if self.peek_char() != char:
            self.fail(f"expected '{char}'")
        self.advance(self.pos + 1)

    def advance(self, end: int) -> None:
        self.line += self.buf.count("\n", self.pos, end)
        self.pos = end

    def decode_one(self, max_bytes: int, src: Source) -> tuple[Any, int, int]:
        """The next element and where it sits in the (possibly refilled) buffer."""
        while True:
            try:
                obj, end = STRICT_DECODER.raw_decode(self.buf, self.pos)
                return obj, self.pos, end
            except DuplicateKey as dup:
                try:
                    _, end = _DECODER.raw_decode(self.buf, self.pos)  # where the element ends
                except ValueError:
                    if self.eof or len(self.buf) - self.pos > max_bytes:
                        self.fail(f"the key '{dup.key}' is written twice")
                    self._more()
                    continue
                report_duplicate(dup.key, src, self.gate)
                return FAILED, self.pos, end
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos > max_bytes:
                    self.gate.observe("line_bytes", max_bytes + 1, src, limit=max_bytes)
                    self.read.failed = True
                    raise _Stop from None
                if self.eof:
                    self.fail(exc.msg, at=exc.pos)
                self._more()
            except RecursionError:
                self.fail("nesting too deep")
            except ValueError as exc:
                self.fail(value_error_detail(exc))

    def fail(self, message: str, at: int | None = None) -> None:
        line = self.line + (self.buf.count("\n", self.pos, at) if at is not None else 0)
        self.gate.observe(
            "json_errors",
            1,
            Source(self.read.path, line),
            detail=f"{message}; the rest of the array was not read",
        )
        self.read.n_records += 1
        self.read.failed = True
        raise _Stop
