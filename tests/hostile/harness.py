"""Run the real CLI on hostile input, bounded in time and memory, and watch for side effects.

Every attack in ``tests/hostile/`` goes through :func:`run_datalint`: a subprocess of
``python -m datalint`` (or the console script) with a wall-clock limit, an address-space cap and
its own HOME, cache and working directory inside the test's temp dir. :class:`Sentinel` is a
directory outside that temp dir that an attack aims at; a test asserts it is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).resolve().with_name("_launch.py")
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 8192  # address space; torch + onnxruntime map a few GB before any work


@dataclass(slots=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _limits(memory_mb: int) -> Callable[[], None]:
    def apply() -> None:
        cap = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        os.setsid()
        # a runner started in the background (`cmd &`) hands its children SIGINT ignored, and
        # Python keeps an ignored SIGINT: give the child the disposition a terminal gives it
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return apply


def run_datalint(
    *args: str,
    cwd: Path,
    timeout: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    env: dict[str, str] | None = None,
    module: bool = True,
    stdin: str | None = None,
) -> Outcome:
    """``python -m datalint ARGS`` in ``cwd``; fails the test (TimeoutError) past ``timeout``."""
    cwd.mkdir(parents=True, exist_ok=True)
    home = cwd / ".home"
    home.mkdir(exist_ok=True)
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "DATALINT_CACHE_DIR": str(cwd / ".cache"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "NO_COLOR": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        **(env or {}),
    }
    if module:
        command = [sys.executable, "-m", "datalint", *args]
    else:
        command = [str(Path(sys.executable).with_name("datalint")), *args]
    rss_file = cwd / ".peak-rss"
    rss_file.unlink(missing_ok=True)
    # through a small launcher, so the peak RSS is datalint's own, not this process's (_launch.py)
    command = [sys.executable, str(LAUNCHER), str(rss_file), *command]
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limits(memory_mb),
    )
    chunks: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, chunks, "out"), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, chunks, "err"), daemon=True),
    ]
    for reader in readers:
        reader.start()
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    # wait4 on this child alone: its own peak RSS (RUSAGE_CHILDREN is the max over all children)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            os.killpg(proc.pid, 9)
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            _log(args, time.perf_counter() - start, None, "timeout")
            raise TimeoutError(f"datalint {' '.join(args)} ran past {timeout} s")
        time.sleep(0.01)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    seconds = time.perf_counter() - start
    try:
        peak = int(rss_file.read_text()) / 1024
    except (OSError, ValueError):  # the launcher itself was killed
        peak = usage.ru_maxrss / 1024
    _log(args, seconds, peak, proc.returncode)
    return Outcome(
        returncode=proc.returncode,
        stdout=chunks.get("out", b"").decode("utf-8", "replace"),
        stderr=chunks.get("err", b"").decode("utf-8", "replace"),
        seconds=seconds,
        peak_rss_mb=peak,
    )


def _drain(stream: IO[bytes] | None, into: dict[str, bytes], key: str) -> None:
    if stream is not None:
        into[key] = stream.read()
        stream.close()


def _log(args: tuple[str, ...], seconds: float, peak_mb: float | None, result: object) -> None:
    """With DATALINT_HOSTILE_LOG set, one JSON line per run for bench/hostile_report.py."""
    target = os.environ.get("DATALINT_HOSTILE_LOG")
    if not target:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    row = {"test": test, "args": list(args), "seconds": round(seconds, 3), "peak_rss_mb": peak_mb}
    row["result"] = result
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


class Sentinel:
    """A directory outside the test's temp dir, with a few files, that attacks aim at."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="datalint-sentinel-"))
        for name in ("keep.txt", "sub/also.txt"):
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"sentinel {name}\n")
        self._digest = self.digest()

    def digest(self) -> str:
        h = hashlib.sha256()
        if not self.path.exists():
            return "gone"
        for p in sorted(self.path.rglob("*")):
            h.update(str(p.relative_to(self.path)).encode())
            if p.is_file():
                h.update(p.read_bytes())
        return h.hexdigest()

    def unchanged(self) -> bool:
        return self.digest() == self._digest

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def assert_clean_exit(outcome: Outcome, expected: int | tuple[int, ...]) -> None:
    """The documented exit code, and never a traceback or an internal error."""
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert "Traceback" not in outcome.output, outcome.output[-3000:]
    assert "internal error" not in outcome.stderr, outcome.stderr[-3000:]
    assert outcome.returncode in allowed, (outcome.returncode, outcome.output[-3000:])
