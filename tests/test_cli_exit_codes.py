"""Documented exit codes for the failures that are not findings: an internal error is 2 with
one line, Ctrl-C is 130, an expected error is 2 with its message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import datalint.pipeline
from datalint.cli import cli
from datalint.cli.errors import EXIT_INTERRUPTED, EXIT_USAGE
from datalint.errors import DatalintError

REPO = Path(__file__).resolve().parent.parent


def _data(tmp_path: Path) -> str:
    (tmp_path / "d.jsonl").write_text('{"prompt": "1+1=", "answer": "2"}\n')
    return str(tmp_path / "d.jsonl")


def _raising(exc: BaseException):  # type: ignore[no-untyped-def]
    def run_check(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise exc

    return run_check


def test_an_internal_error_exits_2_with_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("DATALINT_DEBUG", raising=False)
    monkeypatch.setattr(datalint.pipeline, "run_check", _raising(RuntimeError("boom")))
    result = CliRunner().invoke(cli, ["check", _data(tmp_path), "--static-only"])
    assert result.exit_code == EXIT_USAGE == 2
    assert result.stderr.startswith("datalint: error: internal error: RuntimeError: boom")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_an_expected_error_exits_2_with_its_message(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datalint.pipeline, "run_check", _raising(DatalintError("x.jsonl: bad")))
    result = CliRunner().invoke(cli, ["check", _data(tmp_path), "--static-only"])
    assert result.exit_code == 2 and result.stderr == "datalint: error: x.jsonl: bad\n"


def test_ctrl_c_exits_130(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datalint.pipeline, "run_check", _raising(KeyboardInterrupt()))
    result = CliRunner().invoke(cli, ["check", _data(tmp_path), "--static-only"])
    assert result.exit_code == EXIT_INTERRUPTED == 130
    assert result.stderr.startswith("datalint: interrupted")
    assert "kept in the cache" in result.stderr


def _wait_until_reading(pid: int, name: str, timeout: float = 60.0) -> None:
    """Until ``pid`` holds ``name`` open: past the imports, inside the command's own handler."""
    deadline = time.monotonic() + timeout
    fds = Path(f"/proc/{pid}/fd")
    while time.monotonic() < deadline:
        try:
            if any(os.readlink(fd).endswith(name) for fd in fds.iterdir()):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{name} was never opened")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_sigint_to_a_real_process_exits_130(tmp_path: Path) -> None:
    # A data file big enough that the static checks are still running when SIGINT lands.
    rows = "".join(
        f'{{"prompt": "What is {i} + {i}?", "answer": "{2 * i}"}}\n' for i in range(400_000)
    )
    (tmp_path / "big.jsonl").write_text(rows)
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "datalint", "check", "big.jsonl", "--static-only", "--no-cache"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as a terminal starts it: a runner launched in the background hands SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_until_reading(proc.pid, "big.jsonl")
    assert proc.poll() is None, "the run finished before the signal; make the file bigger"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "datalint: interrupted" in err and "Traceback" not in err
