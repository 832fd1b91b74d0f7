"""Sampling params, per-item seeds, prompt rendering and the rollout JSON form (core install)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datalint.load.records import Item, Rollout, Source
from datalint.rollout.base import (
    SamplingParams,
    item_seed,
    render_prompt,
    rollout_from_dict,
    rollouts_from_json,
    rollouts_to_json,
)
from datalint.rollout.vllm_backend import topk_entropy

SRC = Source("d.jsonl", 1)


def test_params_key_is_stable_and_separates_every_field() -> None:
    base = SamplingParams(n=8, temperature=1, max_new_tokens=32, seed=0)
    assert base.key() == "n=8;temperature=1.0;max_new_tokens=32;top_p=1.0;seed=0"
    assert base.key() == SamplingParams(n=8, temperature=1.0, max_new_tokens=32, seed=0).key()
    variants = [
        SamplingParams(n=4, max_new_tokens=32),
        SamplingParams(temperature=0.7, max_new_tokens=32),
        SamplingParams(max_new_tokens=33),
        SamplingParams(seed=1, max_new_tokens=32),
        SamplingParams(top_p=0.9, max_new_tokens=32),
    ]
    assert len({v.key() for v in variants} | {base.key()}) == 6


@pytest.mark.parametrize(
    "kwargs", [{"n": 0}, {"temperature": -0.1}, {"max_new_tokens": 0}, {"top_p": 0.0}]
)
def test_params_reject_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SamplingParams(**kwargs)  # type: ignore[arg-type]


def test_item_seed_depends_on_base_seed_and_prompt_only() -> None:
    assert item_seed(0, "1+2=") == item_seed(0, "1+2=")
    assert item_seed(0, "1+2=") != item_seed(1, "1+2=")
    assert item_seed(0, "1+2=") != item_seed(0, "1+3=")
    assert 0 <= item_seed(123, "x") < 2**63


class TemplateTokenizer:
    chat_template = "{{ messages }}"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):  # type: ignore[no-untyped-def]
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"


def test_render_uses_chat_template_only_for_messages_and_only_when_present() -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2="}]
    chat = Item(source=SRC, answer="4", messages=messages)
    assert render_prompt(chat) == "be brief\n2+2="
    assert render_prompt(chat, TemplateTokenizer()) == "<system>be brief<user>2+2=<assistant>"
    plain = Item(source=SRC, answer="4", prompt="2+2=")
    assert render_prompt(plain, TemplateTokenizer()) == "2+2="


def test_rollouts_round_trip_through_json_exactly() -> None:
    rollouts = [
        Rollout(
            completion="12", logprobs=[-0.1234567890123, -2.5], entropies=[0.3, 1e-9], n_tokens=2
        ),
        Rollout(completion="", logprobs=None, entropies=None, n_tokens=None),
    ]
    back = rollouts_from_json(rollouts_to_json(rollouts))
    assert back == rollouts


def test_rollout_from_dict_names_the_bad_field() -> None:
    with pytest.raises(ValueError, match="completion"):
        rollout_from_dict({"logprobs": [0.0]})
    with pytest.raises(ValueError, match="logprobs"):
        rollout_from_dict({"completion": "a", "logprobs": ["x"]})
    with pytest.raises(ValueError, match="n_tokens"):
        rollout_from_dict({"completion": "a", "n_tokens": 1.5})
    assert rollout_from_dict({"completion": "a", "logprobs": [-1.0, -2.0]}).n_tokens == 2


def test_topk_entropy_is_exact_with_full_support_and_lumps_the_rest() -> None:
    import math

    # Full distribution (0.5, 0.25, 0.25): H = 1.5 ln 2.
    full = [math.log(0.5), math.log(0.25), math.log(0.25)]
    assert topk_entropy(full) == pytest.approx(1.5 * math.log(2))
    # Top-1 only (0.5): 0.5 ln 2 known, the other 0.5 lumped as one outcome: ln 2 in all.
    assert topk_entropy([math.log(0.5)]) == pytest.approx(math.log(2))


class FakeStderr:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "env", "requested", "wanted"),
    [
        (True, {}, True, True),
        (False, {}, True, False),
        (True, {"CI": "true"}, True, False),
        (True, {"PRE_COMMIT": "1"}, True, False),
        (True, {}, False, False),
    ],
)
def test_progress_bar_only_for_a_person_at_a_terminal(
    monkeypatch: pytest.MonkeyPatch, tty: bool, env: dict[str, str], requested: bool, wanted: bool
) -> None:
    from datalint.rollout import progress

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(progress.sys, "stderr", FakeStderr(tty))
    assert progress.progress_wanted(requested) is wanted


def test_fingerprint_covers_weights_config_and_tokenizer_only(tmp_path: Path) -> None:
    from datalint.rollout.fingerprint import fingerprint_model

    (tmp_path / "config.json").write_text('{"n_layer": 2}')
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    (tmp_path / "merges.txt").write_text("a b\n")
    first = fingerprint_model(str(tmp_path))
    (tmp_path / "README.md").write_text("a model card")
    (tmp_path / "training.json").write_text('{"loss": 0.1}')
    assert fingerprint_model(str(tmp_path)) == first
    for name, content in [
        ("model.safetensors", b"\x01" * 64),
        ("config.json", b'{"n_layer": 3}'),
        ("merges.txt", b"a c\n"),
    ]:
        (tmp_path / name).write_bytes(content)
        changed = fingerprint_model(str(tmp_path))
        assert changed != first
        first = changed
    assert fingerprint_model("not/a/dir") == fingerprint_model("not/a/dir") != first


def test_fingerprint_memo_skips_rehashing_unchanged_files(tmp_path: Path) -> None:
    from datalint.rollout.fingerprint import fingerprint_model

    class Memo:
        def __init__(self) -> None:
            self.store: dict[tuple[str, int, int], str] = {}
            self.hits = 0

        def get_hash(self, path: str, size: int, mtime_ns: int) -> str | None:
            found = self.store.get((path, size, mtime_ns))
            self.hits += found is not None
            return found

        def put_hash(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
            self.store[(path, size, mtime_ns)] = sha256

    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    memo = Memo()
    plain = fingerprint_model(str(tmp_path))
    assert fingerprint_model(str(tmp_path), memo) == plain and memo.hits == 0
    assert fingerprint_model(str(tmp_path), memo) == plain and memo.hits == 1


def test_model_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from datalint.load import InputError
    from datalint.rollout import backends

    assert backends.resolve_model(str(tmp_path)) == str(tmp_path)
    with pytest.raises(InputError, match="not a directory"):
        backends.resolve_model(str(tmp_path / "missing"))
    monkeypatch.setattr(backends, "default_model_dir", lambda: tmp_path / "no-policy")
    with pytest.raises(InputError, match="default policy model is missing"):
        backends.resolve_model(None)
    with pytest.raises(InputError, match="unknown backend 'tpu'"):
        backends.make_backend("tpu", str(tmp_path))


def test_default_model_is_the_shipped_tiny_policy() -> None:
    from datalint.rollout.backends import default_model_dir

    assert default_model_dir().parts[-2:] == ("pretrained", "tiny-policy")
