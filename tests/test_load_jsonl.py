"""JSONL files streamed in-process: each problem one finding at file:line, the file's tally
(records, skipped, failed) exact, and the records around a bad line still read."""

from __future__ import annotations

import gzip
from pathlib import Path

from datalint.engine import Gate
from datalint.load import iter_items
from datalint.load.filestate import FileStats
from datalint.load.jsonl import ROLLOUTS_FILE_NOTE, _is_rollouts_header, _peek, _read_error_detail
from datalint.load.textio import Opened
from datalint.rulebook import load_rules

OK = b'{"prompt": "a", "answer": "1"}\n'


def _read(path: Path, **kw) -> tuple[list, list, FileStats]:
    gate = Gate(load_rules())
    stats: list[FileStats] = []
    items = list(iter_items([str(path)], gate, stats=stats, **kw))
    found = [(f.code, f.line, f.message) for f in gate.findings]
    return [(i.source.line, i.prompt) for i in items], found, stats[0]


def test_bad_lines_are_findings_and_every_record_is_counted(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(OK + b"{oops\n\n" + b'{"prompt": 1, "answer": "1"}\n' + OK)
    items, found, stats = _read(data)
    assert items == [(1, "a"), (5, "a")]
    assert [(code, line) for code, line, _ in found] == [("S001", 2), ("S002", 4)]
    assert (stats.n_records, stats.skipped) == (4, None)


def test_a_bom_is_dropped_and_a_bom_alone_is_a_blank_line(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(b"\xef\xbb\xbf\n" + OK)
    items, found, stats = _read(data)
    assert (items, found, stats.n_records) == ([(2, "a")], [], 1)
    data.write_bytes(b"\xef\xbb\xbf" + OK + b"\xef\xbb\xbf" + OK)  # only line 1 may carry one
    items, found, _ = _read(data)
    assert items == [(1, "a")] and [(c, n) for c, n, _ in found] == [("S001", 2)]


def test_a_file_with_nul_bytes_is_binary_and_not_read(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(OK + b"\x00\x01")
    items, found, stats = _read(data)
    assert items == []
    assert found == [
        ("S006", 1, "file is binary, not JSONL (contains NUL bytes); it was not read"),
        ("S017", 1, "no records were read from any file; nothing was checked"),
    ]
    assert (stats.n_records, stats.skipped) == (0, "binary")
    late = tmp_path / "late.jsonl"  # a NUL past the first 8 KiB is a line problem, not binary
    late.write_bytes(OK * 300 + b'{"prompt": "\x00"}\n')
    items, found, stats = _read(late)
    assert len(items) == 300 and stats.skipped is None
    assert [(c, n) for c, n, _ in found] == [("S001", 301)]


def test_a_rollouts_header_first_skips_the_file_with_a_finding(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(b'\n{"datalint": "rollouts", "version": 1}\n' + OK)
    items, found, stats = _read(data)
    assert items == [] and [(c, n) for c, n, _ in found] == [("S019", 2), ("S017", 1)]
    assert (stats.n_records, stats.skipped) == (0, ROLLOUTS_FILE_NOTE)
    later = tmp_path / "later.jsonl"  # after a record it is just an (invalid) record
    later.write_bytes(OK + b'{"datalint": "rollouts"}\n')
    items, found, stats = _read(later)
    assert items == [(1, "a")] and [(c, n) for c, n, _ in found] == [("S002", 2)]
    assert (stats.n_records, stats.skipped) == (2, None)


def test_rollouts_header_detection() -> None:
    assert _is_rollouts_header(b'{"datalint": "rollouts"}')
    assert _is_rollouts_header(b' {"version": 1, "datalint": "rollouts"}\n')
    assert not _is_rollouts_header(b'{"datalint": "other"}')
    assert not _is_rollouts_header(b'["datalint", "rollouts"]')
    assert not _is_rollouts_header(b'{"datalint": "rollouts"')  # not JSON
    assert not _is_rollouts_header(b'{"prompt": "x", "answer": "rollouts"}')
    far = b'{"prompt": "' + b"x" * 300 + b'", "datalint": "rollouts"}'
    assert not _is_rollouts_header(far)  # the key must sit in the first 256 bytes
    assert not _is_rollouts_header(b"[" * 100000 + b'"datalint"' + b"]" * 100000)


def test_a_gzip_bomb_stops_at_the_ratio_with_one_finding(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl.gz"
    data.write_bytes(gzip.compress(OK + b"\n" * 2_000_000 + OK))
    items, found, stats = _read(data)
    assert items == [(1, "a")]
    ((code, line, message),) = found
    assert code == "S018" and line > 1
    assert message.startswith("decompressed data passed 100x its compressed size (")
    assert f" bytes from {data.stat().st_size:,} compressed)" in message
    assert stats.n_records == 1


def test_a_truncated_gzip_is_a_read_error_at_the_next_line(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl.gz"
    packed = gzip.compress(OK * 3)
    data.write_bytes(packed[: len(packed) - 12])
    items, found, stats = _read(data)
    assert [(c, m) for c, _, m in found] == [
        (
            "S005",
            "file cannot be read past this line: gzip stream is truncated (the file ends before "
            "the end-of-stream marker)",
        )
    ]
    assert found[0][1] == len(items) + 1
    assert stats.n_records == len(items)


def test_an_empty_file_is_one_finding(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(b"\n \n")
    items, found, stats = _read(data)
    assert items == [] and [(c, n) for c, n, _ in found] == [("S004", 1), ("S017", 1)]
    assert stats.n_records == 0


def test_read_error_details() -> None:
    def opened(kind):
        return Opened(None, kind, 10)  # type: ignore[arg-type]

    assert _read_error_detail(EOFError("x"), opened("gzip")).startswith("gzip stream is truncated")
    assert (
        _read_error_detail(OSError("bad crc"), opened("gzip")) == "gzip stream is corrupt (bad crc)"
    )
    assert _read_error_detail(EOFError("end"), opened("zstd")) == "zstd stream is corrupt (end)"
    assert _read_error_detail(OSError("EIO"), opened(None)) == "read failed (EIO)"


def test_peek_reads_ahead_without_consuming() -> None:
    import io

    fh = io.BufferedReader(io.BytesIO(b"abcdef"))
    assert _peek(fh, 3) == b"abc" and fh.read() == b"abcdef"
    assert _peek(io.BytesIO(b"abc"), 2) == b""  # no peek: nothing


def test_a_file_that_stops_at_its_first_line_is_not_also_empty(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(gzip.compress(b"\n" * 3_000_000))
    _, found, stats = _read(bomb)
    assert [c for c, _, _ in found] == ["S018", "S017"] and stats.n_records == 0  # no S004
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(OK)[:15])
    _, found, stats = _read(cut)
    assert [(c, n) for c, n, _ in found] == [("S005", 1), ("S017", 1)]


def test_a_too_long_line_is_a_record_that_was_skipped(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(b'{"prompt": "' + b"x" * 100 + b'", "answer": "1"}\n')
    rules = [
        r.with_overrides({"must_be_at_most": 64}) if r.code == "S007" else r for r in load_rules()
    ]
    gate = Gate(rules)
    stats: list[FileStats] = []
    assert list(iter_items([str(data)], gate, stats=stats, max_line_bytes=64)) == []
    assert [(f.code, f.line, f.path) for f in gate.findings] == [("S007", 1, str(data))]
    assert (
        gate.findings[0].message == "line is longer than 64 bytes; it was skipped without parsing"
    )
    assert stats[0].n_records == 1
