"""Prompts the model cannot read: context and vocabulary verdicts, the bounded cut, the cache row
that keeps the verdict, the stage that skips such prompts, and the system prompt's rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_hf_model import build_tiny_model

from datalint.load.records import Item, Rollout, Source
from datalint.rollout.base import SamplingParams, render_prompt
from datalint.rollout.cache import RolloutCache
from datalint.rollout.readable import (
    CHARS_PER_TOKEN_BOUND,
    PromptReader,
    Unreadable,
    cut,
    unreadable_prompts,
)
from datalint.rollout.stage import RolloutStats, obtain_rollouts
from datalint.rollout.transformers_backend import TransformersBackend

CONTEXT = 16


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-16"), n_positions=CONTEXT)


@pytest.fixture
def backend(model_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(model_dir), device="cpu")


class CountingTokenizer:
    """Wraps a tokenizer and records the length of every text it was asked to encode."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.lengths: list[int] = []

    def __call__(self, text: str | list[str], **kw: object) -> object:
        texts = [text] if isinstance(text, str) else text
        self.lengths += [len(t) for t in texts]
        return self.inner(text, **kw)  # type: ignore[operator]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def items_of(prompts: list[str]) -> list[Item]:
    return [Item(Source("d.jsonl", i + 1), answer="1", prompt=p) for i, p in enumerate(prompts)]


def test_a_prompt_that_fits_in_the_vocabulary_is_readable(backend: TransformersBackend) -> None:
    # the tiny tokenizer is char-level: 11 characters are 11 tokens, room 1 -> 12 <= 16
    assert backend.assess_prompts(["what is 1+2"]) == [None]
    assert backend._model is None  # the verdict needs the tokenizer and config, not the weights


def test_overflow_counts_tokens_and_the_room_asked_for(backend: TransformersBackend) -> None:
    fifteen = "1+2+3+4+5+6+7+8"  # 15 chars = 15 tokens: 15 + 1 <= 16 fits, 15 + 2 does not
    assert backend.assess_prompts([fifteen]) == [None]
    [why] = backend.assess_prompts([fifteen], room=2)
    assert why == Unreadable(context=CONTEXT, room=2, tokens=15, chars=15)
    assert why.overflows and why.unknown == 0
    assert why.context_detail() == "15 tokens plus 2 new, over the model's context of 16"


def test_unknown_characters_are_counted_and_sampled(backend: TransformersBackend) -> None:
    [why] = backend.assess_prompts(["What IS 2+2"])  # W, I, S are not in the tiny vocabulary
    assert why is not None and not why.overflows
    assert why.unknown == 3 and why.unknown_sample == "WIS"
    assert why.vocabulary_detail() == "3 tokens unknown to its tokenizer (such as 'WIS')"


def test_a_prompt_over_the_bound_is_flagged_without_being_tokenized(
    backend: TransformersBackend,
) -> None:
    spy = CountingTokenizer(backend.tokenizer)
    bound = CHARS_PER_TOKEN_BOUND * CONTEXT
    reader = PromptReader(spy, CONTEXT)
    [why] = [reader.assess("1" * (bound + 1))]
    assert why == Unreadable(context=CONTEXT, room=1, tokens=None, chars=bound + 1)
    assert spy.lengths == []  # never tokenized
    assert "129 characters, over the 128" in why.describe()


def test_generation_tokenizes_only_the_cut(backend: TransformersBackend) -> None:
    huge = "1" * 100_000
    spy = CountingTokenizer(backend.tokenizer)
    backend._tokenizer = spy
    out = backend.generate([huge, "1+2="], SamplingParams(n=2, max_new_tokens=3), [1, 2])
    assert max(spy.lengths) == CHARS_PER_TOKEN_BOUND * CONTEXT  # the cut, not 100k characters
    assert [r.n_tokens for r in out[0]] == [0, 0]
    assert all(r.n_tokens >= 1 for r in out[1])
    assert cut(huge, CONTEXT) == huge[: CHARS_PER_TOKEN_BOUND * CONTEXT]
    assert cut("abc", None) == "abc"


def test_a_tokenizer_without_unk_that_drops_characters(backend: TransformersBackend) -> None:
    class Dropping:
        unk_token_id = None

        def __call__(self, text: str) -> dict[str, list[int]]:
            return {"input_ids": [ord(c) for c in text if c != "@"]}

        def decode(self, ids: list[int], **kw: object) -> str:
            return "".join(chr(i) for i in ids)

    why = PromptReader(Dropping(), 100).assess("a@b@c")
    assert why is not None and why.unknown == 2 and why.unknown_sample == "@"
    assert PromptReader(Dropping(), None).assess("abc") is None


def test_the_verdict_round_trips_through_the_cache(tmp_path: Path) -> None:
    why = Unreadable(context=32, room=1, tokens=40, chars=40, unknown=2, unknown_sample="ab")
    with RolloutCache(tmp_path) as cache:
        cache.put_many("m", "p", [(("long", 1), why), (("ok", 2), [Rollout("5", n_tokens=1)])])
        found = cache.get_many("m", "p", [("long", 1), ("ok", 2)])
    assert found[("long", 1)] == why
    assert [r.completion for r in found[("ok", 2)]] == ["5"]  # type: ignore[union-attr]


def test_empty_rollouts_written_before_the_flag_are_a_miss(tmp_path: Path) -> None:
    empty = [Rollout("", logprobs=[], entropies=[], n_tokens=0) for _ in range(2)]
    with RolloutCache(tmp_path) as cache:
        cache.put_many("m", "p", [(("old", 1), empty)])
        assert cache.get_many("m", "p", [("old", 1)]) == {}


def test_the_stage_skips_unreadable_prompts_cold_and_warm(
    backend: TransformersBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = items_of(["1+2=", "x" * 20, "Hello", "3+4="])
    params = SamplingParams(n=2, max_new_tokens=3)

    def run() -> tuple[list[list[Rollout]], RolloutStats]:
        stats = RolloutStats()
        out = obtain_rollouts(
            items,
            backend_name="transformers",
            model=None,
            params=params,
            rollouts_file=None,
            cache_dir=str(tmp_path),
            use_cache=True,
            progress=False,
            backend=backend,
            stats=stats,
        )
        return out, stats

    cold, stats = run()
    assert sorted(stats.unreadable) == [1, 2]
    assert stats.unreadable[1].tokens == 20 and stats.unreadable[2].unknown == 1
    assert cold[1] == [] and cold[2] == [] and len(cold[0]) == 2 and len(cold[3]) == 2
    assert stats.generated == 2  # only the readable two were sampled

    def no_assessing(*a: object, **k: object) -> None:
        raise AssertionError("a warm run must take the verdict from the cache")

    monkeypatch.setattr(backend, "assess_prompts", no_assessing)
    monkeypatch.setattr(backend, "generate", no_assessing)
    warm, warm_stats = run()
    assert warm_stats.unreadable == stats.unreadable
    assert warm_stats.generated == 0 and warm_stats.cached == 4
    assert [[r.completion for r in g] for g in warm] == [[r.completion for r in g] for g in cold]


def test_unreadable_prompts_lists_index_and_reason(backend: TransformersBackend) -> None:
    found = unreadable_prompts(["1+2=", "1+2+3+4+5+6+7="], backend, room=8)
    assert [(i, why.tokens) for i, why in found] == [(1, 14)]
    assert unreadable_prompts(["x"], object()) == []  # a backend that cannot tell


def test_half_precision_has_its_own_fingerprint(model_dir: Path) -> None:
    plain = TransformersBackend(str(model_dir)).fingerprint()
    assert TransformersBackend(str(model_dir), dtype="float32").fingerprint() == plain
    half = TransformersBackend(str(model_dir), dtype="bfloat16").fingerprint()
    assert half == f"{plain}:bfloat16"
    with pytest.raises(ValueError, match="dtype"):
        TransformersBackend(str(model_dir), dtype="int8")


TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


class TemplatedTokenizer:
    chat_template = TEMPLATE

    def apply_chat_template(self, messages: list[dict], **kw: object) -> str:
        from jinja2 import Template

        return Template(TEMPLATE).render(messages=messages, add_generation_prompt=True)


def test_system_prompt_rendering_rules() -> None:
    tok = TemplatedTokenizer()
    chat = Item(Source("d", 1), answer="1", messages=[{"role": "user", "content": "2+2?"}])
    own = Item(
        Source("d", 2),
        answer="1",
        messages=[{"role": "system", "content": "mine"}, {"role": "user", "content": "2+2?"}],
    )
    plain = Item(Source("d", 3), answer="1", prompt="2+2?")
    assert render_prompt(chat, tok, "Be brief.") == "<system>Be brief.<user>2+2?<assistant>"
    assert render_prompt(own, tok, "Be brief.") == "<system>mine<user>2+2?<assistant>"
    assert render_prompt(plain, tok, "Be brief.") == "<system>Be brief.<user>2+2?<assistant>"
    assert render_prompt(plain, tok) == "2+2?"  # without a system prompt a plain prompt stays raw
    assert render_prompt(plain, None, "Be brief.") == "Be brief.\n\n2+2?"
    assert render_prompt(chat, None, "Be brief.") == "Be brief.\n2+2?"
