"""The transformers backend on a tiny random char-level GPT-2 built in a temp dir (no download)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_hf_model import build_tiny_model  # noqa: E402

from datalint.load.records import Item, Source  # noqa: E402
from datalint.rollout.base import SamplingParams  # noqa: E402
from datalint.rollout.transformers_backend import TransformersBackend  # noqa: E402

PROMPTS = ["1+2=", "33+4=", "7*8=", "hello"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def backend(model_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(model_dir), device="cpu")


def manual_logprobs(backend: TransformersBackend, prompt: str, gen_ids: list[int]):
    """Recomputes (logprob of each generated token, entropy per step) in one forward pass."""
    prompt_ids = backend.tokenizer(prompt)["input_ids"]
    ids = torch.tensor([prompt_ids + gen_ids])
    with torch.no_grad():
        logits = backend._load()(ids).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    steps = range(len(prompt_ids) - 1, len(prompt_ids) - 1 + len(gen_ids))
    chosen = [float(logp[pos, tid]) for pos, tid in zip(steps, gen_ids, strict=True)]
    entropy = [float(-(logp[pos].exp() * logp[pos]).sum()) for pos in steps]
    return chosen, entropy


def test_logprobs_and_entropies_equal_a_manual_forward_pass(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spy on decode to learn the exact sampled ids (special tokens are dropped from the text).
    decoded: list[list[int]] = []
    real_decode = backend.tokenizer.decode

    def spy(ids: list[int], **kw: object) -> str:
        decoded.append(list(ids))
        return real_decode(ids, **kw)

    monkeypatch.setattr(backend.tokenizer, "decode", spy)
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=10, seed=0)
    out = backend.generate(PROMPTS, params, [11, 12, 13, 14])
    assert [len(group) for group in out] == [4, 4, 4, 4]
    rows = [(p, r) for p, group in zip(PROMPTS, out, strict=True) for r in group]
    assert len(decoded) == len(rows) == 16
    eos = backend.tokenizer.eos_token_id
    for (prompt, rollout), ids in zip(rows, decoded, strict=True):
        assert rollout.n_tokens == len(rollout.logprobs) == len(rollout.entropies)
        gen_ids = ids if rollout.n_tokens == len(ids) else [*ids, eos]
        assert len(gen_ids) == rollout.n_tokens
        chosen, entropy = manual_logprobs(backend, prompt, gen_ids)
        assert rollout.logprobs == pytest.approx(chosen, abs=1e-4)
        assert rollout.entropies == pytest.approx(entropy, abs=1e-4)


def test_entropy_within_zero_and_log_vocab(backend: TransformersBackend) -> None:
    vocab = backend._load().config.vocab_size
    out = backend.generate(PROMPTS, SamplingParams(n=4, max_new_tokens=10), [1, 2, 3, 4])
    values = [h for group in out for r in group for h in r.entropies]
    assert values and all(0.0 <= h <= math.log(vocab) + 1e-6 for h in values)
    assert all(lp <= 0.0 for group in out for r in group for lp in r.logprobs)


def test_same_seed_same_rollouts_whatever_the_batch(backend: TransformersBackend) -> None:
    params = SamplingParams(n=4, max_new_tokens=10)
    together = backend.generate(PROMPTS, params, [5, 6, 7, 8])
    alone = backend.generate([PROMPTS[2]], params, [7])
    assert [r.completion for r in alone[0]] == [r.completion for r in together[2]]
    assert alone[0][0].logprobs == pytest.approx(together[2][0].logprobs, abs=1e-5)
    other_seed = backend.generate([PROMPTS[2]], params, [70])
    assert [r.completion for r in other_seed[0]] != [r.completion for r in together[2]]
    # The n samples of one item differ from each other (each has its own stream).
    assert len({r.completion for r in together[0]}) > 1


def test_temperature_zero_is_greedy(backend: TransformersBackend) -> None:
    out = backend.generate(["1+2="], SamplingParams(n=3, temperature=0, max_new_tokens=6), [1])
    completions = {r.completion for r in out[0]}
    assert len(completions) == 1
    rollout = out[0][0]
    # Greedy: every chosen token is the most likely one, so each logprob is the max logprob.
    tok = backend.tokenizer
    ids = tok("1+2=")["input_ids"]
    for lp in rollout.logprobs:
        with torch.no_grad():
            logits = backend._load()(torch.tensor([ids])).logits[0, -1]
        best = int(logits.argmax())
        assert lp == pytest.approx(float(torch.log_softmax(logits, -1)[best]), abs=1e-4)
        ids = [*ids, best]


def test_eos_stops_a_row_and_is_counted_once(backend: TransformersBackend) -> None:
    out = backend.generate(PROMPTS, SamplingParams(n=8, max_new_tokens=40), [1, 2, 3, 4])
    rollouts = [r for group in out for r in group]
    assert all(1 <= r.n_tokens <= 40 for r in rollouts)
    assert all("<eos>" not in r.completion and "<pad>" not in r.completion for r in rollouts)
    # With this random model some rows stop early and some run to the cap.
    assert any(r.n_tokens < 40 for r in rollouts)


def test_chat_messages_render_with_the_template(model_dir: Path) -> None:
    backend = TransformersBackend(str(model_dir))
    backend.tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'][0] }}:{{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}a:{% endif %}"
    )
    item = Item(source=Source("d", 1), answer="3", messages=[{"role": "user", "content": "1+2="}])
    assert backend.render(item) == "u:1+2= a:"
    plain = Item(source=Source("d", 2), answer="3", prompt="1+2=")
    assert backend.render(plain) == "1+2="


def test_fingerprint_changes_with_the_weights(tmp_path: Path) -> None:
    a = build_tiny_model(tmp_path / "a", seed=0)
    b = build_tiny_model(tmp_path / "b", seed=1)
    fa = TransformersBackend(str(a)).fingerprint()
    assert fa == TransformersBackend(str(a)).fingerprint()
    assert fa != TransformersBackend(str(b)).fingerprint()
    assert fa.startswith("transformers:")


def test_rollouts_stop_at_the_model_context_whatever_the_batch(tmp_path: Path) -> None:
    short_context = TransformersBackend(str(build_tiny_model(tmp_path / "m", n_positions=12)))
    params = SamplingParams(n=2, max_new_tokens=40)
    long_prompt = "what is 12345 + 678?"  # 20 characters: longer than the context
    out = short_context.generate(["1+2=", "33+4=", long_prompt], params, [1, 2, 3])
    assert all(r.n_tokens <= 12 - 4 for r in out[0])  # "1+2=" is 4 tokens, context 12
    assert all(r.n_tokens <= 12 - 5 for r in out[1])
    assert [r.n_tokens for r in out[2]] == [0, 0] and out[2][0].completion == ""
    alone = short_context.generate(["1+2="], params, [1])
    assert [r.completion for r in alone[0]] == [r.completion for r in out[0]]
