"""`datalint check --backend openai` end to end against the in-process fake server.

Every completion is "3" (``fixed_reply``), one token of logprob ln 1/2 whose top-2 entropy is
1.5 ln 2. With items "1+2=" (answer 3) and "2+2=" (answer 4) in one cohort, every rollout of the
first is right and every rollout of the second wrong.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_openai_server import FakeOpenAIServer

from datalint.cli import cli
from datalint.rollout.cache import CACHE_FILENAME

REPO = Path(__file__).resolve().parents[1]
SECRET = "sk-test-4f9c1d2e8a7b6c5d"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"id": "a", "prompt": "1+2=", "answer": "3"}\n'
        '{"id": "b", "prompt": "2+2=", "answer": "4"}\n'
    )
    return path


def check_args(data: Path, server: FakeOpenAIServer, cache: Path, *extra: str) -> list[str]:
    return [
        "check",
        str(data),
        "--backend",
        "openai",
        "--base-url",
        server.base_url,
        "--model",
        "tiny",
        "--rollouts-per-item",
        "4",
        "--cohort-size",
        "2",
        "--format",
        "json",
        "--cache-dir",
        str(cache),
        *extra,
    ]


def run_cli(args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, args, env=env or {})


def cohort_features(output: str) -> dict:
    report = json.loads(output)
    assert len(report["cohorts"]) == 1
    return report["cohorts"][0]["features"]


def test_features_from_a_served_model(tmp_path: Path, data: Path) -> None:
    with FakeOpenAIServer(fixed_reply="3") as server:
        result = run_cli(check_args(data, server, tmp_path / "c"))
        assert result.exit_code in (0, 1), result.output
        features = cohort_features(result.stdout)
        assert features["pass_rate"] == 0.5
        assert features["frac_all_correct"] == 0.5
        assert features["frac_all_wrong"] == 0.5
        assert features["frac_nondegenerate"] == 0.0
        assert features["len_mean"] == 1.0
        assert features["mean_logprob"] == pytest.approx(math.log(0.5))
        assert features["entropy_mean"] == pytest.approx(1.5 * math.log(2))
        sampled = server.sampling_requests()
        assert sorted(r["body"]["prompt"] for r in sampled) == ["1+2=", "2+2="]
        assert {r["body"]["n"] for r in sampled} == {4}

        # warm: the cache answers, the server is asked only who it is
        again = run_cli(check_args(data, server, tmp_path / "c"))
        assert again.exit_code == result.exit_code
        assert len(server.sampling_requests()) == 2
        assert cohort_features(again.stdout) == features

        # a new --model-revision is another model: sampled again
        run_cli(check_args(data, server, tmp_path / "c", "--model-revision", "v2"))
        assert len(server.sampling_requests()) == 4

        info = run_cli(["cache", "info", "--cache-dir", str(tmp_path / "c")])
        assert f"tiny at {server.base_url}" in info.output
        assert f"tiny@v2 at {server.base_url}" in info.output


def test_no_logprobs_gives_null_features_and_a_note(tmp_path: Path, data: Path) -> None:
    with FakeOpenAIServer(fixed_reply="3", logprobs=False) as server:
        result = run_cli(check_args(data, server, tmp_path / "c"))
    assert result.exit_code in (0, 1), result.output
    features = cohort_features(result.stdout)
    assert features["pass_rate"] == 0.5
    for name in ("mean_logprob", "entropy_mean", "logprob_p50", "min_logprob_mean"):
        assert features[name] is None
    assert "without logprobs" in result.stderr


def test_failures_then_success(tmp_path: Path, data: Path) -> None:
    with FakeOpenAIServer(fixed_reply="3") as server:
        server.faults = ["429", "500", "truncated"]
        result = run_cli(check_args(data, server, tmp_path / "c"))
    assert result.exit_code in (0, 1), result.output
    assert cohort_features(result.stdout)["pass_rate"] == 0.5


def test_config_file_keys(tmp_path: Path, data: Path) -> None:
    with FakeOpenAIServer(fixed_reply="3") as server:
        (tmp_path / "datalint.toml").write_text(
            f'backend = "openai"\nbase-url = "{server.base_url}"\nconcurrency = 2\n'
            'request-timeout = 30\nmodel-revision = "r1"\n'
        )
        args = ["check", str(data), "--format", "json", "--cache-dir", str(tmp_path / "c")]
        args += ["--config", str(tmp_path / "datalint.toml")]
        result = run_cli(args)
        assert result.exit_code in (0, 1), result.output
        assert server.sampling_requests()[0]["body"]["model"] == "tiny"  # the only served one


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(PYTHONPATH=str(REPO), DATALINT_CACHE_DIR=str(tmp_path / "c"), NO_COLOR="1")
    env.update(extra)
    return env


def run_sub(args: list[str], env: dict[str, str], timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "datalint", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_unreachable_server_is_exit_2_one_line(tmp_path: Path, data: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = run_sub(
        ["check", str(data), "--backend", "openai", "--base-url", url, "--model", "tiny"],
        subprocess_env(tmp_path),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"datalint: error: cannot reach the server at {url}: Connection refused"
    ]
    assert "Traceback" not in proc.stderr


def test_unknown_host_is_exit_2_one_line(tmp_path: Path, data: Path) -> None:
    proc = run_sub(
        ["check", str(data), "--backend", "openai", "--base-url", "http://no-such-host.invalid/v1"],
        subprocess_env(tmp_path),
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "cannot reach the server at http://no-such-host.invalid/v1" in lines[0]
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--backend openai needs --base-url"),
        (["--base-url", "http://u:p@h/v1"], "must not hold credentials"),
        (["--base-url", "http://h/v1", "--api-key-env", "DATALINT_TEST_UNSET_KEY"], "is not set"),
    ],
)
def test_usage_errors_before_any_work(
    tmp_path: Path, data: Path, extra: list[str], message: str
) -> None:
    result = run_cli(["check", str(data), "--backend", "openai", *extra])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_persistent_server_failure_is_exit_2_one_line(tmp_path: Path, data: Path) -> None:
    with FakeOpenAIServer() as server:
        server.faults = ["garbage"] * 100
        env = subprocess_env(tmp_path)
        args = check_args(data, server, tmp_path / "c", "--request-timeout", "5")
        proc = run_sub(args, env, timeout=240)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "gave up after 6 attempts: the answer is not complete JSON" in lines[0]


def test_the_api_key_is_never_written_anywhere(tmp_path: Path, data: Path) -> None:
    with FakeOpenAIServer(api_key=SECRET, fixed_reply="3") as server:
        env = subprocess_env(tmp_path, OPENAI_API_KEY=SECRET, DATALINT_DEBUG="")
        report = tmp_path / "report.json"
        proc = run_sub(check_args(data, server, tmp_path / "c", "-o", str(report)), env)
        assert proc.returncode in (0, 1), proc.stderr
        assert server.sampling_requests()[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
        rollouts = tmp_path / "r.jsonl"
        roll = run_sub(
            [
                *("rollout", str(data), "-o", str(rollouts), "--backend", "openai"),
                *("--base-url", server.base_url, "--api-key-env", "MY_KEY"),
            ],
            subprocess_env(tmp_path, MY_KEY=SECRET),
        )
        assert roll.returncode == 0, roll.stderr
        # a wrong key: the server echoes it back in its 401, the message must not
        wrong = run_sub(
            check_args(data, server, tmp_path / "c2"),
            subprocess_env(tmp_path, OPENAI_API_KEY=SECRET + "-wrong"),
        )
        assert wrong.returncode == 2 and "HTTP 401" in wrong.stderr
        info = run_sub(["cache", "info", "--format", "json"], env)
    written = [report.read_bytes(), rollouts.read_bytes()]
    for folder in (tmp_path / "c", tmp_path / "c2"):
        written += [p.read_bytes() for p in folder.iterdir() if p.is_file()]
    streams = [proc.stdout, proc.stderr, roll.stdout, roll.stderr, wrong.stdout, wrong.stderr]
    streams += [info.stdout, info.stderr]
    assert len(written) >= 4 and any(CACHE_FILENAME in p.name for p in (tmp_path / "c").iterdir())
    for blob in written:
        assert SECRET.encode() not in blob
    for text in streams:
        assert SECRET not in text
