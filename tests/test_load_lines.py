"""The JSONL line reader called directly: blank runs skipped straight from the buffer keep every
line number, long lines are skipped, and the decompression bound stops the read."""

from __future__ import annotations

import io
import random

import pytest

from datalint.load.textio import DecompressionLimit, iter_lines


def _lines(data: bytes, *, buffer: int | None = 8, max_line_bytes: int = 64, limit=float("inf")):
    fh = io.BytesIO(data) if buffer is None else io.BufferedReader(io.BytesIO(data), buffer)
    return list(iter_lines(fh, max_line_bytes, limit))


def test_blank_runs_across_many_buffers_keep_the_line_numbers() -> None:
    data = b'{"a":1}\n' + b"\n" * 50 + b"  \r\n\t\n\x0b\x0c\n" + b'{"b":2}\n' + b"\n\n"
    # 1 record line, 50 blank, 3 blank with whitespace -> the second record is line 55
    assert _lines(data) == [(1, b'{"a":1}\n'), (55, b'{"b":2}\n')]
    assert _lines(data, buffer=None) == [(1, b'{"a":1}\n'), (55, b'{"b":2}\n')]
    assert _lines(data, buffer=4096) == [(1, b'{"a":1}\n'), (55, b'{"b":2}\n')]


def test_a_blank_run_stops_at_the_indent_of_the_next_record() -> None:
    data = b"\n\n\n   {}\n"
    assert _lines(data) == [(4, b"   {}\n")]
    assert _lines(b"\n" * 20 + b"x") == [(21, b"x")]  # the last line has no newline
    assert _lines(b"\n" * 20) == []
    assert _lines(b"") == []


@pytest.mark.parametrize("seed", range(6))
def test_the_buffered_skip_reads_what_line_by_line_reading_reads(seed: int) -> None:
    rng = random.Random(seed)
    parts = []
    for _ in range(40):
        kind = rng.random()
        if kind < 0.5:
            parts.append(rng.choice([b"\n", b" \n", b"\r\n", b"\t \n"]) * rng.randint(1, 30))
        else:
            parts.append(b" " * rng.randint(0, 3) + b"{" + b"x" * rng.randint(0, 10) + b"}\n")
    data = b"".join(parts)
    slow = _lines(data, buffer=None)
    for buffer in (1, 3, 8, 64, 1 << 20):
        assert _lines(data, buffer=buffer) == slow, buffer
    assert [n for n, _ in slow] == [
        i + 1 for i, line in enumerate(data.split(b"\n")) if line.strip()
    ]


def test_a_too_long_line_is_none_and_the_next_line_keeps_its_number() -> None:
    data = b"x" * 200 + b"\n" + b"\n" * 3 + b"ok\n"
    assert _lines(data, max_line_bytes=10) == [(1, None), (5, b"ok\n")]


def test_the_byte_bound_stops_a_run_of_blank_lines() -> None:
    data = b"{}\n" + b"\n" * 1000
    with pytest.raises(DecompressionLimit) as stop:
        _lines(data, limit=100)
    assert stop.value.read > 100 and stop.value.read <= 100 + 8 + 8
    assert stop.value.line == stop.value.read - 2  # every byte after "{}" is one blank line
    assert _lines(data, limit=len(data)) == [(1, b"{}\n")]  # exactly at the bound: read on
    with pytest.raises(DecompressionLimit):
        _lines(data, limit=len(data) - 1)


def test_the_byte_bound_counts_a_long_line_drained_to_its_end() -> None:
    data = b"y" * 500 + b"\n"
    with pytest.raises(DecompressionLimit) as stop:
        _lines(data, max_line_bytes=10, limit=100)
    assert stop.value.line == 1
    assert _lines(data, max_line_bytes=10, limit=501) == [(1, None)]


def test_open_data_reads_plain_gzip_and_zstd_by_their_magic_bytes(tmp_path) -> None:
    import gzip

    import zstandard

    from datalint.load.textio import byte_limit, open_data

    body = b'{"prompt": "a", "answer": "1"}\n' * 3
    files = {
        "plain.jsonl": body,
        "packed.jsonl": gzip.compress(body),  # the magic bytes decide, not the suffix
        "packed.jsonl.zst": zstandard.ZstdCompressor().compress(body),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    kinds = {}
    for name in files:
        opened = open_data(str(tmp_path / name))
        try:
            kinds[name] = (opened.compression, opened.compressed_size, opened.fh.read())
        finally:
            opened.fh.close()
    assert kinds == {
        "plain.jsonl": (None, len(body), body),
        "packed.jsonl": ("gzip", len(files["packed.jsonl"]), body),
        "packed.jsonl.zst": ("zstd", len(files["packed.jsonl.zst"]), body),
    }
    with open_data(str(tmp_path / "packed.jsonl.zst")).fh as fh:
        assert fh.readline() == b'{"prompt": "a", "answer": "1"}\n'  # buffered: lines, peek
    plain = open_data(str(tmp_path / "plain.jsonl"))
    plain.fh.close()
    assert byte_limit(plain, 100.0) == float("inf")
    packed = open_data(str(tmp_path / "packed.jsonl"))
    packed.fh.close()
    assert byte_limit(packed, 100.0) == 100.0 * len(files["packed.jsonl"])
    empty = type(packed)(packed.fh, "gzip", 0)
    assert byte_limit(empty, 100.0) == 100.0  # an empty compressed file still gets one byte


def test_open_data_errors_name_the_path(tmp_path, monkeypatch) -> None:
    import sys

    from datalint.extras import MissingExtra
    from datalint.load.errors import InputError
    from datalint.load.textio import ZSTD_MAGIC, open_data

    missing = tmp_path / "nope.jsonl"
    with pytest.raises(InputError) as err:
        open_data(str(missing))
    assert str(err.value) == f"{missing}: cannot open: No such file or directory"
    zst = tmp_path / "d.jsonl.zst"
    zst.write_bytes(ZSTD_MAGIC + b"rest")
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(MissingExtra) as err:
        open_data(str(zst))
    assert err.value.extra == "zstd" and f"{zst} is zstd-compressed" in str(err.value)


def test_the_decompression_limit_carries_line_and_bytes() -> None:
    stop = DecompressionLimit(3, 4096)
    assert (stop.line, stop.read, stop.args) == (3, 4096, (3, 4096))


def test_a_line_longer_than_the_read_chunk_is_drained_and_counted() -> None:
    long_line = b"z" * (3 * 1024 * 1024) + b"\n"
    data = long_line + b"ok\n"
    assert _lines(data, buffer=4096, max_line_bytes=10) == [(1, None), (2, b"ok\n")]
    with pytest.raises(DecompressionLimit) as stop:
        _lines(data, buffer=4096, max_line_bytes=10, limit=2 * 1024 * 1024)
    assert stop.value.line == 1 and stop.value.read > 2 * 1024 * 1024
