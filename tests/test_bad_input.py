"""The real CLI as a subprocess over a corpus of broken files: findings or exit 2, no crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "corpus"

# file -> (exit code, {code: [lines]}) for `check --static-only --format json`
EXPECTED: dict[str, tuple[int, dict[str, list[int]]]] = {
    "malformed.jsonl": (1, {"S001": [2, 3]}),
    "wrong_types.jsonl": (1, {"S002": [2, 4, 5]}),  # line 3: a list of accepted answers
    "missing_fields.jsonl": (1, {"S002": [1, 2, 3]}),
    "not_objects.jsonl": (1, {"S002": [1, 2, 3, 4]}),
    "invalid_utf8.jsonl": (1, {"S003": [2]}),
    "bom.jsonl": (0, {}),
    "crlf.jsonl": (0, {}),
    "gzip_named_plain.jsonl": (0, {}),
    "no_trailing_newline.jsonl": (0, {}),
    "control_chars.jsonl": (1, {"S001": [1]}),
    "nul_late.jsonl": (1, {"S001": [298]}),
    "binary.jsonl": (1, {"S006": [1], "S017": [1]}),
    "empty.jsonl": (1, {"S004": [1], "S017": [1]}),
    "blank_lines.jsonl": (1, {"S004": [1], "S017": [1]}),
    "truncated.jsonl.gz": (1, {"S005": None}),  # type: ignore[dict-item]
    "corrupt.jsonl.gz": (1, {"S005": None, "S017": [1]}),  # type: ignore[dict-item]
    "deep_nesting.jsonl": (1, {"S001": [1]}),
    "lone_surrogate.jsonl": (1, {"S016": [1]}),
    "only_whitespace_prompt.jsonl": (1, {"S008": [1]}),
}


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "datalint", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gives_findings_not_a_crash(name: str, tmp_path: Path) -> None:
    exit_code, expected = EXPECTED[name]
    proc = run_cli("check", str(CORPUS / name), "--static-only", "--format", "json", cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == exit_code, proc.stderr
    report = json.loads(proc.stdout)
    got: dict[str, list[int]] = {}
    for f in report["findings"]:
        assert f["path"] == str(CORPUS / name)
        got.setdefault(f["code"], []).append(f["line"])
    assert set(got) == set(expected), got
    for code, lines in expected.items():
        if lines is not None:
            assert got[code] == lines


def test_truncated_gzip_keeps_the_records_before_the_cut(tmp_path: Path) -> None:
    proc = run_cli("check", str(CORPUS / "truncated.jsonl.gz"), "--static-only", "--format", "json")
    report = json.loads(proc.stdout)
    (finding,) = report["findings"]
    assert "truncated" in finding["message"]
    assert report["summary"]["n_items"] == finding["line"] - 1 > 10


@pytest.mark.parametrize("fmt", ["rich", "concise", "json", "sarif", "github"])
def test_every_format_survives_lone_surrogates_and_bad_bytes(fmt: str, tmp_path: Path) -> None:
    files = [
        str(CORPUS / n) for n in ("lone_surrogate.jsonl", "invalid_utf8.jsonl", "malformed.jsonl")
    ]
    proc = run_cli("check", *files, "--static-only", "--format", fmt, cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1


def test_a_50mb_line_is_skipped_with_a_finding_and_no_hang(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    with big.open("wb") as fh:
        fh.write(b'{"prompt": "' + b"x" * (50 * 1024 * 1024) + b'", "answer": "1"}\n')
        fh.write(b'{"prompt": "What is 1+1?", "answer": "2"}\n')
    proc = run_cli("check", str(big), "--static-only", "--format", "json", timeout=60)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert [(f["code"], f["line"]) for f in report["findings"]] == [("S007", 1)]
    assert report["summary"]["n_items"] == 1


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("does-not-exist.jsonl", "no such file"),
        ("no_data_dir", "no .jsonl"),
    ],
)
def test_unreadable_input_exits_2_with_one_line(target: str, words: str, tmp_path: Path) -> None:
    path = CORPUS / target if (CORPUS / target).exists() else tmp_path / target
    proc = run_cli("check", str(path), "--static-only")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and str(path) in lines[0], proc.stderr
    assert proc.stdout == ""


def test_a_directory_is_searched_for_data_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.jsonl").write_text('{"prompt": "1+1=", "answer": "2"}\n{bad\n')
    (tmp_path / "notes.txt").write_text("ignored")
    proc = run_cli("check", str(tmp_path), "--static-only", "--format", "json")
    report = json.loads(proc.stdout)
    assert [(f["code"], Path(f["path"]).name, f["line"]) for f in report["findings"]] == [
        ("S001", "a.jsonl", 2)
    ]
