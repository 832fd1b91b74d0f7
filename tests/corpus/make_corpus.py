"""Writes the bad-input corpus in this folder. Run it again after changing it; commit its output.

Each file is paired with what `datalint check --static-only --format json` must say about it in
tests/test_bad_input.py. Files too big to commit (the 50 MB line) are made by the test itself.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rec(i: int, **extra: object) -> bytes:
    base = {"prompt": f"What is {i}+{i + 1}?", "answer": str(2 * i + 1)}
    base.update(extra)
    return json.dumps(base).encode() + b"\n"


def write(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)


def main() -> None:
    write(
        "malformed.jsonl", rec(1) + b'{"prompt": "x", "answer": "1",}\n' + b"{not json\n" + rec(2)
    )
    write(
        "wrong_types.jsonl",
        rec(1)
        + b'{"prompt": 42, "answer": "1"}\n'
        + b'{"prompt": "ok?", "answer": ["1"]}\n'
        + b'{"prompt": "ok?", "answer": true}\n'
        + b'{"prompt": "ok?", "answer": "1", "rollouts": [{"completion": 3}]}\n',
    )
    write("missing_fields.jsonl", b'{"prompt": "What is 1+1?"}\n{"answer": "2"}\n{}\n')
    write("not_objects.jsonl", b'[1, 2]\n"a string"\nnull\n42\n')
    write("invalid_utf8.jsonl", rec(1) + b'{"prompt": "caf\xe9 \xff", "answer": "1"}\n')
    write("bom.jsonl", b"\xef\xbb\xbf" + rec(1) + rec(2))
    write("crlf.jsonl", rec(1).replace(b"\n", b"\r\n") + rec(2).replace(b"\n", b"\r\n"))
    # NUL beyond the first 8 KiB: a text file with one bad line, not a binary file
    padding = b"".join(rec(i) for i in range(3, 300))
    write("nul_late.jsonl", padding + b'{"prompt": "a\x00b", "answer": "1"}\n')
    write("binary.jsonl", b"PAR1\x00\x00\x15\x04" + bytes(range(256)) * 4)
    write("empty.jsonl", b"")
    write("blank_lines.jsonl", b"\n\n   \n\r\n")
    full = gzip.compress(b"".join(rec(i) for i in range(1, 200)))
    write("truncated.jsonl.gz", full[: len(full) // 2])
    write("corrupt.jsonl.gz", full[:20] + b"\x00garbage" * 50)
    write("gzip_named_plain.jsonl", gzip.compress(rec(1) + rec(2)))
    write("deep_nesting.jsonl", b"[" * 100_000 + b"]" * 100_000 + b"\n" + rec(1))
    write(
        "lone_surrogate.jsonl",
        b'{"prompt": "half a pair \\ud800 here", "answer": "\\udfff"}\n' + rec(1),
    )
    write("control_chars.jsonl", b'{"prompt": "tab\there", "answer": "1"}\n' + rec(1))
    write("only_whitespace_prompt.jsonl", b'{"prompt": "   ", "answer": "1"}\n' + rec(1))
    write("nan_answer.jsonl", b'{"prompt": "What is 0/0?", "answer": NaN}\n' + rec(1))
    write("no_trailing_newline.jsonl", rec(1) + rec(2).rstrip(b"\n"))
    (HERE / "no_data_dir").mkdir(exist_ok=True)
    write("no_data_dir/readme.txt", b"not data\n")


if __name__ == "__main__":
    main()
