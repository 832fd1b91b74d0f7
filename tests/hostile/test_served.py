"""A hostile server behind --backend openai: its answers are data, bounded in time and memory.

Each attack runs the real CLI (``run_datalint``) against the in-process fake server; what the
server sends can delay the run by at most the retries' budget and never exhaust memory, print a
control character, or end in a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fake_openai_server import FakeOpenAIServer
from tests.hostile.harness import assert_clean_exit, run_datalint

DATA = '{"prompt": "1+2=", "answer": "3"}\n'


def _check(server: FakeOpenAIServer, cwd: Path, *extra: str) -> list[str]:
    (cwd / "d.jsonl").parent.mkdir(parents=True, exist_ok=True)
    (cwd / "d.jsonl").write_text(DATA)
    return [
        "check",
        "d.jsonl",
        "--backend",
        "openai",
        "--base-url",
        server.base_url,
        "--rollouts-per-item",
        "2",
        "--format",
        "concise",
        *extra,
    ]


@pytest.mark.parametrize("fault", ["drip", "huge"])
def test_an_endless_answer_is_cut_off(tmp_path: Path, fault: str) -> None:
    with FakeOpenAIServer() as server:
        server.faults = [fault] * 100
        outcome = run_datalint(
            *_check(server, tmp_path, "--request-timeout", "1"),
            cwd=tmp_path,
            timeout=90,
            memory_mb=6144,
        )
    assert_clean_exit(outcome, 2)
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1
    reason = "no complete answer within 1 s" if fault == "drip" else "exceeds 67108864 bytes"
    assert "gave up after 6 attempts" in lines[0] and reason in lines[0]
    print(f"{fault}: {outcome.seconds:.1f} s, peak RSS {outcome.peak_rss_mb:.0f} MB")


def test_hostile_model_names_are_escaped(tmp_path: Path) -> None:
    with FakeOpenAIServer(model="\x1b]0;pwned\x07\x1b[2Jevil") as server:
        outcome = run_datalint(
            *_check(server, tmp_path, "--model", "tiny"), cwd=tmp_path, timeout=60
        )
    assert_clean_exit(outcome, 2)
    assert "\x1b" not in outcome.stderr and "\x07" not in outcome.stderr
    assert (
        "does not serve model 'tiny' (it serves \\x1b]0;pwned\\x07\\x1b[2Jevil)" in outcome.stderr
    )
