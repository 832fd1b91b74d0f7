"""Hostile data against ``datalint select`` (issue 7 / 11), through the real CLI, bounded.

A data file never chooses what is kept (forged pass-rate columns and reasons are data, not
verdicts), never makes select hold a giant line in memory, and a file that cannot be read to
its end gets nothing written (exit 2), never a silent half selection.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.hostile.harness import Sentinel, assert_clean_exit, run_datalint


def _row(n: int, right: int, **extra: object) -> str:
    rollouts = [{"completion": str(n) if i < right else "no"} for i in range(10)]
    row = {"id": f"r{n}", "prompt": f"What is item {n}?", "answer": str(n), "cohort": "c",
           "rollouts": rollouts, **extra}  # fmt: skip
    return json.dumps(row) + "\n"


def select(tmp_path: Path, *args: str, memory_mb: int = 4096):
    return run_datalint(
        "select", *args, "--trust-rollouts", "--format", "json", "--no-cache",
        cwd=tmp_path, timeout=120, memory_mb=memory_mb,
    )  # fmt: skip


def test_forged_pass_rate_columns_do_not_choose(tmp_path: Path, sentinel: Sentinel) -> None:
    # the rows claim open-r1's columns and a clean bill; the graded rollouts say otherwise
    forged = {"pass_rate": 0.3, "pass_rate_rewards": [1, 0, 0], "datalint_reasons": []}
    (tmp_path / "d.jsonl").write_text(_row(1, 0, **forged) + _row(2, 3) + _row(3, 10, **forged))
    out = select(tmp_path, "d.jsonl", "-o", "k.jsonl", "--rejects", "r.jsonl",
                 "--preset", "open-r1")  # fmt: skip
    assert_clean_exit(out, 0)
    assert [json.loads(x)["id"] for x in (tmp_path / "k.jsonl").read_text().splitlines()] == ["r2"]
    rejected = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["datalint_reasons"] for r in rejected] == [["outside-pass-band"]] * 2
    assert sentinel.unchanged()


def test_an_overlong_line_is_streamed_to_the_rejects(tmp_path: Path) -> None:
    huge = '{"prompt": "' + "x" * (64 << 20) + '", "answer": "1"}\n'  # 64 MiB, over the 8 MiB cap
    with open(tmp_path / "d.jsonl", "w") as fh:
        fh.write(_row(1, 3))
        fh.write(huge)
        fh.write(_row(2, 3))
    out = select(tmp_path, "d.jsonl", "-o", "k.jsonl", "--rejects", "r.jsonl",
                 "--pass-band", "0.1,0.6", "--by", "item", memory_mb=3072)  # fmt: skip
    assert_clean_exit(out, 0)
    summary = json.loads(out.stdout)
    assert summary["kept"] == 2 and [i["line"] for i in summary["invalid"]] == [2]
    assert (tmp_path / "r.jsonl").stat().st_size == len(huge)  # copied raw, whole
    assert out.peak_rss_mb < 1024, out.peak_rss_mb


def test_a_decompression_bomb_writes_nothing(tmp_path: Path) -> None:
    body = _row(1, 3).encode() + b" " * (200 << 20) + b"\n" + _row(2, 3).encode()
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(body, compresslevel=9))
    out = select(tmp_path, "d.jsonl.gz", "-o", "k.jsonl.gz", "--top", "100%")
    assert_clean_exit(out, 2)
    assert "could not be read to its end" in out.stderr
    assert not (tmp_path / "k.jsonl.gz").exists()


def test_file_names_with_terminal_escapes_are_escaped(tmp_path: Path) -> None:
    name = "d\x1b]0;pwned\x07.jsonl"
    (tmp_path / name).write_text(_row(1, 3))
    out = run_datalint("select", name, "-o", "k.jsonl", "--top", "1", "--trust-rollouts",
                       "--no-cache", cwd=tmp_path, timeout=120)  # fmt: skip
    assert_clean_exit(out, 0)
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr
