"""Hostile data files against the load stage, through the real CLI as a bounded subprocess.

Each case is one attack on the loader (issue 11): it must end as a finding at file:line (or
exit 2 naming the path), never as an internal error, a hang, or a silent pass.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import pytest

from tests.hostile.harness import Outcome, Sentinel, assert_clean_exit, run_datalint

GOOD = '{"prompt": "What is 2+3?", "answer": "5"}\n'
GOOD2 = '{"prompt": "What is 4+4?", "answer": "8"}\n'


def check(tmp_path: Path, *args: str, timeout: float = 60, memory_mb: int = 4096) -> Outcome:
    return run_datalint(
        "check", *args, "--static-only", "--format", "json",
        cwd=tmp_path, timeout=timeout, memory_mb=memory_mb,
    )  # fmt: skip


def findings(outcome: Outcome) -> list[tuple[str, int, str]]:
    report = json.loads(outcome.stdout)
    return [(f["code"], f["line"], f["level"]) for f in report["findings"]]


def test_an_integer_over_4300_digits_is_one_finding(tmp_path: Path, sentinel: Sentinel) -> None:
    data = tmp_path / "d.jsonl"
    huge = "9" * 5000
    data.write_text(GOOD + f'{{"prompt": "x", "answer": "1", "meta": {{"n": {huge}}}}}\n' + GOOD2)
    out = check(tmp_path, "d.jsonl")
    assert_clean_exit(out, 1)
    assert findings(out) == [("S001", 2, "error")]
    assert "4300 digits" in out.stdout
    assert json.loads(out.stdout)["summary"]["n_items"] == 2
    assert sentinel.unchanged()


@pytest.mark.parametrize("fmt", ["json", "rich", "concise", "sarif", "github"])
def test_a_lone_surrogate_is_a_finding_in_every_format(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "d.jsonl").write_text(GOOD + '{"prompt": "half \\ud800 pair", "answer": "5"}\n')
    out = run_datalint(
        "check", "d.jsonl", "--static-only", "--format", fmt, cwd=tmp_path, timeout=60
    )
    assert_clean_exit(out, 1)
    assert "S016" in out.stdout
    if fmt == "json":
        assert findings(out) == [("S016", 2, "error")]


def test_a_lone_surrogate_never_reaches_the_model_stages(tmp_path: Path) -> None:
    """Replayed rollouts go through grading, features and the cache; the record never does."""
    rollouts = [{"completion": "5", "reward": 1.0}, {"completion": "4", "reward": 0.0}]
    lines = [
        json.dumps({"prompt": "What is 2+3?", "answer": "5", "rollouts": rollouts}),
        '{"prompt": "bad \\udfff", "answer": "5", "rollouts": [{"completion": "\\ud800"}]}',
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    out = run_datalint(
        "check", "d.jsonl", "--trust-rollouts", "--format", "json", cwd=tmp_path, timeout=120
    )
    assert_clean_exit(out, 1)
    assert ("S016", 2, "error") in findings(out)


def test_a_non_utf8_file_name_in_a_folder_exits_2_naming_it_printably(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "ok.jsonl").write_text(GOOD)
    bad = os.path.join(os.fsencode(folder), b"bad\xff.jsonl")
    with open(bad, "wb") as fh:
        fh.write(GOOD.encode())
    out = check(tmp_path, "data")
    assert_clean_exit(out, 2)
    (line,) = out.stderr.strip().splitlines()
    assert "bad\\xff.jsonl" in line and "not valid UTF-8" in line


def _deep_directory(root: Path, depth_chars: int = 5000) -> Path:
    """A directory nested past PATH_MAX: no process, root included, can list it by its path."""
    name = "d" * 200
    fd = os.open(root, os.O_RDONLY)
    made = 0
    try:
        while made < depth_chars:
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
            made += len(name) + 1
        data = os.open("hidden.jsonl", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(data, b'{"prompt": "x"}\n')  # S002 if it were read
        os.close(data)
    finally:
        os.close(fd)
    return root


def test_an_unlistable_subdirectory_is_an_error_not_a_silent_pass(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "ok.jsonl").write_text(GOOD)
    _deep_directory(folder)
    out = check(tmp_path, "data")
    assert_clean_exit(out, 2)
    (line,) = out.stderr.strip().splitlines()
    assert "cannot read directory" in line and "data/ddd" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 directory")
def test_a_permission_denied_subdirectory_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "locked").mkdir(parents=True)
    (folder / "ok.jsonl").write_text(GOOD)
    (folder / "locked" / "hidden.jsonl").write_text('{"prompt": "x"}\n')
    (folder / "locked").chmod(0)
    try:
        out = check(tmp_path, "data")
    finally:
        (folder / "locked").chmod(0o755)
    assert_clean_exit(out, 2)
    assert "locked: cannot read directory" in out.stderr


def test_a_duplicate_key_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(GOOD + '{"prompt": "a", "prompt": "b", "answer": "1"}\n')
    out = check(tmp_path, "d.jsonl")
    assert_clean_exit(out, 1)
    assert findings(out) == [("S015", 2, "error")]
    assert "'prompt' twice" in out.stdout


def test_a_run_with_no_records_fails(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "b.jsonl").write_text("\n  \n\n")
    out = check(tmp_path, "a.jsonl", "b.jsonl")
    assert_clean_exit(out, 1)
    assert sorted(findings(out)) == [
        ("S004", 1, "warning"),
        ("S004", 1, "warning"),
        ("S017", 1, "error"),
    ]


@pytest.fixture(scope="module")
def gzip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 1 MB of gzip holding 1 GiB of newlines."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.jsonl.gz"
    block = b"\n" * (1 << 24)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as fh:
        fh.write(comp.compress(GOOD.encode()))
        for _ in range(64):
            fh.write(comp.compress(block))
        fh.write(comp.compress(GOOD2.encode()))
        fh.write(comp.flush())
    return path


def test_a_gzip_bomb_stops_quickly_with_a_finding(tmp_path: Path, gzip_bomb: Path) -> None:
    assert gzip_bomb.stat().st_size < 2 << 20
    out = check(tmp_path, str(gzip_bomb), timeout=60, memory_mb=2048)
    assert_clean_exit(out, 1)
    got = findings(out)
    assert [(c, lvl) for c, _, lvl in got] == [("S018", "error")]
    assert got[0][1] > 1
    assert json.loads(out.stdout)["summary"]["n_items"] == 1


def test_a_zstd_bomb_stops_with_a_finding(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    path = tmp_path / "bomb.jsonl.zst"
    with open(path, "wb") as fh, zstandard.ZstdCompressor(level=3).stream_writer(fh) as writer:
        writer.write(GOOD.encode())
        for _ in range(16):
            writer.write(b"\n" * (1 << 24))
    out = check(tmp_path, "bomb.jsonl.zst", timeout=60, memory_mb=2048)
    assert_clean_exit(out, 1)
    assert [c for c, _, _ in findings(out)] == ["S018"]


def test_a_rollouts_header_in_a_data_file_fails_the_check(tmp_path: Path) -> None:
    lines = [
        '{"datalint": "rollouts", "version": 1}',
        '{"prompt": "What is 2+3?", "answer": "6", "rollouts": [{"completion": "6", "reward": 1}]}',
    ]
    (tmp_path / "vendor.jsonl").write_text("\n".join(lines) + "\n")
    for extra in ((), ("--require-model",)):
        out = run_datalint(
            "check", "vendor.jsonl", "--format", "json", *extra, cwd=tmp_path, timeout=60
        )
        assert_clean_exit(out, (1, 2))
        if out.returncode == 1:
            assert ("S019", 1, "error") in findings(out)
            assert json.loads(out.stdout)["summary"]["passed"] is False
    out = check(tmp_path, "vendor.jsonl")
    assert_clean_exit(out, 1)
    assert sorted(findings(out)) == [("S017", 1, "error"), ("S019", 1, "error")]


def test_a_huge_json_array_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    record = json.dumps({"prompt": "What is 2+3? " + "x" * 900, "answer": "5"})
    with open(path, "w") as fh:
        fh.write("[\n")
        for i in range(200_000):
            fh.write(record.replace("2+3", f"{i}+3") + ",\n")
        fh.write(record + "\n]\n")
    assert path.stat().st_size > 180 << 20
    out = run_datalint(
        "check", "big.json", "--static-only", "--format", "json", "--select", "S",
        cwd=tmp_path, timeout=240, memory_mb=4096,
    )  # fmt: skip
    assert_clean_exit(out, 0)
    assert json.loads(out.stdout)["summary"]["n_items"] == 200_001
    assert out.peak_rss_mb < 400, out.peak_rss_mb


def test_a_broken_json_array_element_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    path.write_text('[\n  {"prompt": "a", "answer": "1"},\n  {"prompt": "b", "answer": }\n]\n')
    out = check(tmp_path, "arr.json")
    assert_clean_exit(out, 1)
    assert findings(out) == [("S001", 3, "error")]


def test_a_parquet_bomb_is_not_decompressed(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "bomb.parquet"
    prompt = "x" * (1 << 24)  # 16 MiB of one letter: zstd makes it a few kB
    table = pa.Table.from_pylist([{"prompt": prompt, "answer": "1"}] * 8)
    pq.write_table(table, path, compression="zstd", use_dictionary=False)
    del table, prompt
    assert path.stat().st_size < 1 << 20
    out = check(tmp_path, "bomb.parquet", timeout=60, memory_mb=2048)
    assert_clean_exit(out, 1)
    assert sorted((c, line) for c, line, _ in findings(out)) == [("S017", 1), ("S018", 1)]


def test_a_symlink_loop_in_a_data_folder_ends(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "ok.jsonl").write_text(GOOD)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    out = check(tmp_path, "data", timeout=30)
    assert_clean_exit(out, 0)
    assert json.loads(out.stdout)["summary"]["n_files"] == 1
