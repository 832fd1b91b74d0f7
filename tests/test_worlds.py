"""The world registry: specs, string subjects, prompt formats, policies as declared, world checks.

Nothing here pretrains: models are freshly initialised, tokenizers built from the spec.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from datalint.world.check import (
    CHECK_SCHEMA,
    KINDS,
    CheckSettings,
    choose_check_cohorts,
    summarise,
    verdict,
)
from datalint.world.files import (
    cohort_records,
    policy_prompt,
    probe_problems,
    probe_records,
    world_cohorts,
)
from datalint.world.formats import CHAT_TEMPLATE, model_text, record_fields
from datalint.world.generate import CATALOG, draw_problem
from datalint.world.registry import WORLD_NAMES, WORLDS, ModelSpec, get_world
from datalint.world.strings import STRING_SUBJECTS
from datalint.world.subjects import MAX_LEVEL, SHARED_SLIPS, Problem, drop_last, swap_last_two

ROOT = Path(__file__).resolve().parent.parent
WORLD0 = "world0-arith-char-gpt2"


# ---- the registry ---------------------------------------------------------------------------


def test_registry_names_are_unique_and_lookup_is_strict() -> None:
    assert len(WORLD_NAMES) == len(set(WORLD_NAMES)) >= 6
    assert get_world(WORLD0).prebuilt == "pretrained/tiny-policy"
    with pytest.raises(ValueError, match="unknown world 'nope'"):
        get_world("nope")


def test_worlds_differ_as_issue_10_asks() -> None:
    assert {w.model.architecture for w in WORLDS} == {"gpt2", "llama"}
    assert {w.tokenizer.kind for w in WORLDS} == {"char", "bpe"}
    assert {w.prompt_format for w in WORLDS} == {"bare", "padded", "chat"}
    subjects = {s for w in WORLDS for s in w.subjects}
    assert set(STRING_SUBJECTS) <= subjects and {"add", "mul"} <= subjects
    low = min(w.model.params_range[0] for w in WORLDS)
    high = max(w.model.params_range[1] for w in WORLDS)
    assert low <= 500_000 and high >= 4_000_000
    assert len({w.spec_hash() for w in WORLDS}) == len(WORLDS)
    # successor worlds (6, 7) keep their predecessor's seeds on purpose and train longer
    assert len({(w.seeds.pretrain, w.pretrain.steps) for w in WORLDS}) == len(WORLDS)
    assert len({w.seeds.pretrain for w in WORLDS}) == len(WORLDS) - 2


def test_a_bad_spec_is_refused_with_what_is_wrong() -> None:
    base = get_world(WORLD0)
    with pytest.raises(ValueError, match="architecture 'rnn'"):
        dataclasses.replace(base, model=dataclasses.replace(base.model, architecture="rnn"))
    with pytest.raises(ValueError, match="subject 'pow'"):
        dataclasses.replace(base, subjects=("add", "pow"))
    with pytest.raises(ValueError, match="prompt format 'xml'"):
        dataclasses.replace(base, prompt_format="xml")
    with pytest.raises(ValueError, match="shared slip"):
        dataclasses.replace(base, shared_slip="typo")


# ---- string subjects: answers and habits, hand-computed -------------------------------------


@pytest.mark.parametrize(
    ("subject", "text", "answer", "own_slip"),
    [
        ("reverse", "abcd", "dcba", "cdba"),  # the first two outputs written in order
        ("sort", "dbca", "abcd", "dabc"),  # the first letter left in front
        ("count", "a:abca", "2", "3"),  # the query letter counted too
        ("shift", "abh", "bca", "bch"),  # h wraps to a; the last letter copied unshifted
        ("logic", "T|F&F", "T", "F"),  # & first: T|(F&F) = T; left to right: (T|F)&F = F
        ("logic", "F&T|T", "T", "T"),  # here both readings agree
    ],
)
def test_string_subject_answers_and_slips(
    subject: str, text: str, answer: str, own_slip: str
) -> None:
    s = STRING_SUBJECTS[subject]
    question = text.split(":", 1)[1] if subject == "count" else text
    if subject == "count":
        assert question.count(text[0]) == int(answer)
    assert s.own_slip(text, answer) == own_slip
    if subject == "logic":
        from datalint.world.strings import _evaluate

        assert _evaluate(text) == answer


def test_shared_slips() -> None:
    assert drop_last("123") == "12" and drop_last("7") == "77"
    assert swap_last_two("123") == "132" and swap_last_two("11") == "111"
    assert swap_last_two("T") == "TT"


def _independent_answer(problem: Problem) -> str:
    """Each string task solved again from its prompt alone, without the subject's code."""
    tag, rest = problem.prompt.rstrip("=").split(":", 1)
    if tag == "rev":
        return rest[::-1]
    if tag == "sort":
        return "".join(sorted(rest))
    if tag == "cnt":
        target, text = rest.split(":")
        return str(text.count(target))
    if tag == "nxt":
        return "".join("a" if c == "h" else chr(ord(c) + 1) for c in rest)
    if tag == "log":
        return "T" if eval(rest.replace("T", "True").replace("F", "False")) else "F"
    raise AssertionError(tag)


@pytest.mark.parametrize("slip_name", sorted(SHARED_SLIPS))
def test_generated_string_items_verify_and_their_slips_do_not(slip_name: str) -> None:
    from datalint.grade.registry import grade
    from datalint.load.records import Item, Source

    rng = random.Random(5)
    for subject in STRING_SUBJECTS:
        for level in range(1, MAX_LEVEL + 1):
            for _ in range(60):
                p = draw_problem(rng, subject, level, SHARED_SLIPS[slip_name])
                assert p.answer == _independent_answer(p), p
                assert p.slip != p.answer
                item = Item(Source("x", 1), p.answer, prompt=p.prompt, verifier="exact")
                assert grade(item, p.answer) == 1.0
                assert grade(item, " " + p.answer + "\n") == 1.0
                assert grade(item, p.slip) == 0.0
    # the own habit is used for about half the problems, the shared slip for the rest
    own = sum(
        STRING_SUBJECTS["reverse"].own_slip(p.prompt[4:-1], p.answer) == p.slip
        for p in (draw_problem(rng, "reverse", 3) for _ in range(400))
    )
    assert 140 < own < 260


def test_catalog_holds_both_families() -> None:
    assert {"add", "sub", "mul", "mod", "dsum", *STRING_SUBJECTS} == set(CATALOG)


# ---- prompt formats -------------------------------------------------------------------------


def test_prompt_formats_render_as_declared() -> None:
    assert model_text("rev:ab=", "bare") == "rev:ab="
    assert model_text("rev:ab=", "padded") == "Solve: rev:ab=\nAnswer:"
    assert model_text("rev:ab=", "chat") == "<|user|>rev:ab=<|assistant|>"
    assert record_fields("rev:ab=", "padded") == {"prompt": "Solve: rev:ab=\nAnswer:"}
    assert record_fields("rev:ab=", "chat") == {
        "messages": [{"role": "user", "content": "rev:ab="}]
    }
    with pytest.raises(ValueError, match="unknown prompt format 'xml'"):
        model_text("x", "xml")


def test_chat_template_renders_like_model_text() -> None:
    jinja2 = pytest.importorskip("jinja2")
    template = jinja2.Template(CHAT_TEMPLATE)
    messages = [{"role": "user", "content": "log:T&F="}]
    assert template.render(messages=messages, add_generation_prompt=True) == model_text(
        "log:T&F=", "chat"
    )


@pytest.mark.parametrize("name", WORLD_NAMES)
def test_world_files_are_deterministic_and_in_the_world_format(name: str) -> None:
    spec = get_world(name)
    cohorts = world_cohorts(spec)
    assert [c.problems for c in cohorts] == [c.problems for c in world_cohorts(spec)]
    assert len(cohorts) == spec.n_cohorts >= 300
    assert all(len(c.problems) == 4 for c in cohorts)
    assert 0.05 < sum(c.scrambled for c in cohorts) / len(cohorts) < 0.16
    levels = {p.level for c in cohorts for p in c.problems}
    assert levels == set(range(1, MAX_LEVEL + 1))  # mixed difficulty
    assert {p.subject for c in cohorts for p in c.problems} == set(spec.subjects)
    records = list(cohort_records(spec, cohorts[0]))
    key = "messages" if spec.prompt_format == "chat" else "prompt"
    assert all(key in r and r["meta"]["world"] == name for r in records)
    probe = probe_records(spec)
    assert len(probe) == len(spec.subjects) * MAX_LEVEL * spec.probe_per_cell
    assert len({json.dumps(r.get("prompt") or r.get("messages")) for r in probe}) == len(probe)


def test_world0_reproduces_the_shipped_data() -> None:
    spec = get_world(WORLD0)
    shipped = [json.loads(line) for line in (ROOT / "examples" / "probe.jsonl").open()]
    assert [(p.prompt, p.answer) for p in probe_problems(spec)] == [
        (r["prompt"], r["answer"]) for r in shipped
    ]
    from datalint.world import SUBJECTS, make_cohorts

    # scripts/make_calibration_data.py's defaults (build_predictor.sh): the first 300 cohorts
    calibration = make_cohorts(400, list(SUBJECTS), 20260620, prefix="cal")[:300]
    assert [c.problems for c in world_cohorts(spec)] == [c.problems for c in calibration]


# ---- policies as declared (freshly initialised) -------------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def built():
    from datalint.world.policy import build_model, build_tokenizer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    out = {}
    for spec in WORLDS:
        tokenizer = build_tokenizer(spec)
        out[spec.name] = (spec, tokenizer, build_model(spec, tokenizer))
    return out


@pytest.mark.parametrize("name", WORLD_NAMES)
def test_each_spec_builds_its_declared_model_and_tokenizer(built, name: str) -> None:
    from datalint.world.policy import BASE_SPECIALS, world_chars

    spec, tokenizer, model = built[name]
    expected = {"gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM"}[spec.model.architecture]
    assert type(model).__name__ == expected
    low, high = spec.model.params_range
    assert low <= sum(p.numel() for p in model.parameters()) <= high
    assert model.config.vocab_size == len(tokenizer)
    specials = 2 if spec.prompt_format == "chat" else 0
    if spec.tokenizer.kind == "char":
        assert len(tokenizer) == len(BASE_SPECIALS) + len(world_chars(spec)) + specials
        text = probe_problems(spec)[-1].prompt
        assert len(tokenizer(text, add_special_tokens=False)["input_ids"]) == len(text)
    else:
        assert len(tokenizer) == spec.tokenizer.vocab_size
        # a trained BPE merges: the probe's prompts take fewer tokens than characters
        prompts = [p.prompt for p in probe_problems(spec)]
        n_tokens = sum(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
        assert n_tokens < 0.9 * sum(len(p) for p in prompts)
    # every prompt of the world fits the context with its completion and the training offset
    from datalint.world.policy import completion_length

    longest = max(len(tokenizer(policy_prompt(spec, p))["input_ids"]) for p in probe_problems(spec))
    budget = longest + completion_length(spec, tokenizer) + spec.pretrain.max_offset
    assert budget <= spec.model.context
    # tokenizing loses nothing: every prompt and answer of the world decodes back to itself
    for p in probe_problems(spec):
        for text in (p.prompt, p.answer, p.slip):
            ids = tokenizer(text)["input_ids"]
            assert tokenizer.unk_token_id not in ids
            assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_chat_worlds_render_messages_through_their_template(built) -> None:
    from datalint.load.records import Item, Source
    from datalint.rollout.base import render_prompt

    chat = [n for n, (s, _t, _m) in built.items() if s.prompt_format == "chat"]
    assert chat
    for name in chat:
        spec, tokenizer, _ = built[name]
        for record in probe_records(spec)[:5]:
            item = Item(Source("p", 1), record["answer"], messages=record["messages"])
            problem_text = record["messages"][0]["content"]
            assert render_prompt(item, tokenizer) == model_text(problem_text, "chat")
            ids = tokenizer(render_prompt(item, tokenizer))["input_ids"]
            tokens = tokenizer.convert_ids_to_tokens(ids)
            assert tokens[:2] == ["<bos>", "<|user|>"] and tokens[-1] == "<|assistant|>"


def test_world0_completion_length_is_the_shipped_eight(built) -> None:
    from datalint.world.policy import completion_length

    spec, tokenizer, _ = built[WORLD0]
    # longest: a level-4 sum such as 9999+9999=19998, stuttered to 199988 (6) + EOS + 1 spare
    assert completion_length(spec, tokenizer) == 8


def _last_logits(model, ids: list[int], pads: int, pad_id: int):
    row = torch.tensor([[pad_id] * pads + ids])
    mask = torch.tensor([[0] * pads + [1] * len(ids)])
    with torch.no_grad():  # as trl's GRPO forward: input ids and mask, no position ids
        return model(input_ids=row, attention_mask=mask).logits[0, -1]


@pytest.mark.parametrize("name", [w.name for w in WORLDS if w.model.architecture == "llama"])
def test_llama_worlds_ignore_left_padding_from_initialisation(built, name: str) -> None:
    # RoPE makes attention depend on relative positions only, so the rows trl left-pads give
    # the same next-token distribution as the row alone, with no training at offsets needed
    spec, tokenizer, model = built[name]
    model.eval()
    ids = tokenizer(policy_prompt(spec, probe_problems(spec)[7]))["input_ids"]
    alone = _last_logits(model, ids, 0, tokenizer.pad_token_id)
    for pads in (1, 5, 9):
        shifted = _last_logits(model, ids, pads, tokenizer.pad_token_id)
        assert torch.allclose(alone, shifted, atol=1e-4), pads
    assert spec.pretrain.max_offset == 0


def test_gpt2_worlds_train_at_offsets_because_fresh_gpt2_notices_padding(built) -> None:
    gpt2 = [s for s, _t, _m in built.values() if s.model.architecture == "gpt2"]
    assert all(s.pretrain.max_offset > 0 for s in gpt2)
    spec, tokenizer, model = built[gpt2[-1].name]
    model.eval()
    ids = tokenizer(policy_prompt(spec, probe_problems(spec)[7]))["input_ids"]
    alone = _last_logits(model, ids, 0, tokenizer.pad_token_id)
    shifted = _last_logits(model, ids, 5, tokenizer.pad_token_id)
    assert not torch.allclose(alone, shifted, atol=1e-4)  # absolute positions moved


# ---- the world check ----------------------------------------------------------------------


def test_verdict_needs_all_three_signs() -> None:
    assert verdict({"frontier": 0.01, "scrambled": -0.01}, 0.3) == {
        "frontier_lift_positive": True,
        "scrambled_lift_negative": True,
        "disagreement_correlates": True,
    }
    failed = verdict({"frontier": -0.001, "scrambled": -0.01}, None)
    assert failed["frontier_lift_positive"] is False
    assert failed["disagreement_correlates"] is False
    assert verdict({"frontier": None, "scrambled": 0.002}, 0.1)["scrambled_lift_negative"] is False


def test_check_cohorts_are_chosen_by_measured_pass_rate() -> None:
    spec = get_world("world1-strings-char-llama")
    rng = random.Random(0)
    rates = [0.0, 1.0, 0.5, 0.25, 0.75, 0.125]
    pool = [
        (draw_problem(rng, s, 2), rates[i % len(rates)]) for i, s in enumerate(spec.subjects * 30)
    ]
    cohorts = choose_check_cohorts(spec, pool, per_kind=2, seed=1)
    assert [c.kind for c in cohorts] == list(KINDS) * 2
    rate_of = {id(p): r for p, r in pool}
    for c in cohorts:
        got = [rate_of[id(p)] for p in c.problems]
        assert len(c.problems) == 4
        assert len({p.subject for p in c.problems}) == 1
        if c.kind in ("frontier", "scrambled"):
            assert all(0 < r < 1 for r in got)
        elif c.kind == "known":
            assert got == [1.0] * 4
        else:
            assert got == [0.0] * 4
        assert c.scrambled == (c.kind == "scrambled")
    used = [id(p) for c in cohorts for p in c.problems]
    assert len(used) == len(set(used))  # a problem serves one cohort


def _row(kind: str, rates: list[float], lifts: list[float]) -> dict:
    return {
        "cohort": f"{kind}-x",
        "kind": kind,
        "scrambled": kind == "scrambled",
        "subject": "add",
        "levels": [2] * len(rates),
        "pass_rates": rates,
        "disagreement": sum(0 < r < 1 for r in rates) / len(rates),
        "mean_p1p": sum(r * (1 - r) for r in rates) / len(rates),
        "nll_lift_per_seed": lifts,
        "nll_lift": sum(lifts) / len(lifts),
        "run_seconds": 1.0,
    }


def test_world_check_result_schema_and_figures() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from datalint.calibrate.probe import ProbeScore

    spec = get_world(WORLD0)
    rows = [
        _row("frontier", [0.5, 0.5, 0.25, 0.75], [0.004, 0.002]),
        _row("known", [1.0, 1.0, 1.0, 1.0], [0.001, 0.001]),
        _row("no_foothold", [0.0, 0.0, 0.0, 0.0], [0.0, 0.0]),
        _row("scrambled", [0.0, 0.0, 0.0, 0.0], [-0.01, -0.006]),
        _row("calibration", [0.5, 1.0, 0.0, 0.0], [0.002, 0.002]),
    ]
    before = ProbeScore(0.7, 0.3, (), ())
    result = summarise(spec, CheckSettings(), 8, before, [0.0, 0.5, 1.0, 0.5], rows, 0.0)
    jsonschema.validate(result, CHECK_SCHEMA)
    assert result["mean_nll_lift_by_kind"] == pytest.approx(
        {"frontier": 0.003, "known": 0.001, "no_foothold": 0.0, "scrambled": -0.008}
    )
    assert result["pool"]["share_split"] == 0.5
    # unscrambled disagreement 1, 0, 0, 0.25 against lift 0.003, 0.001, 0, 0.002:
    # sum dxdy 0.001625 / sqrt(0.671875 * 5e-6) = 0.8866
    assert result["corr_disagreement_lift_unscrambled"] == pytest.approx(0.8866, abs=1e-3)
    assert result["passed"] is True
    broken = {k: v for k, v in result.items() if k != "passed"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, CHECK_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**result, "spec_hash": "abc"}, CHECK_SCHEMA)


@pytest.mark.parametrize("path", sorted((ROOT / "worlds").glob("*/world-check.json")), ids=str)
def test_recorded_world_checks_follow_the_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    result = json.loads(path.read_text("utf-8"))
    jsonschema.validate(result, CHECK_SCHEMA)
    assert result["world"] == path.parent.name
    assert result["passed"] == all(result["criteria"].values())


def test_model_spec_defaults() -> None:
    spec = ModelSpec("gpt2", 1, 8, 1, 16, 8)
    assert spec.n_kv_head is None and spec.params_range == (0, 0)


# ---- pretraining resumes after an interruption ------------------------------------------


def _tiny_pretrain_spec():
    base = get_world("world1-strings-char-llama")
    return dataclasses.replace(
        base,
        model=dataclasses.replace(
            base.model, n_layer=1, d_model=16, n_head=2, n_kv_head=1, d_ff=32
        ),
        pretrain=dataclasses.replace(base.pretrain, steps=6, batch_size=4, n_examples=64, warmup=2),
    )


def test_interrupted_pretraining_resumes_to_the_same_weights(tmp_path: Path, monkeypatch) -> None:
    from safetensors.torch import load_file

    from datalint.world import policy

    # the accuracy table samples hundreds of problems; it is not what is tested here
    monkeypatch.setattr(policy, "accuracy_table", lambda *a, **k: {})
    spec = _tiny_pretrain_spec()
    straight = policy.pretrain(spec, tmp_path / "straight")
    ckpt = tmp_path / "policy.checkpoint.pt"
    assert (
        policy.pretrain(spec, tmp_path / "cut", checkpoint=ckpt, checkpoint_every=2, stop_after=4)
        == {}
    )
    assert ckpt.exists() and not (tmp_path / "cut").exists()
    resumed = policy.pretrain(spec, tmp_path / "cut", checkpoint=ckpt, checkpoint_every=2)
    assert not ckpt.exists()  # finished: the checkpoint is gone
    assert resumed["final_loss"] == straight["final_loss"]
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "cut" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_another_spec_is_refused(tmp_path: Path, monkeypatch) -> None:
    from datalint.world import policy

    monkeypatch.setattr(policy, "accuracy_table", lambda *a, **k: {})
    spec = _tiny_pretrain_spec()
    ckpt = tmp_path / "policy.checkpoint.pt"
    policy.pretrain(spec, tmp_path / "a", checkpoint=ckpt, checkpoint_every=2, stop_after=2)
    other = dataclasses.replace(spec, pretrain=dataclasses.replace(spec.pretrain, lr=1e-3))
    with pytest.raises(ValueError, match="another spec"):
        policy.pretrain(other, tmp_path / "b", checkpoint=ckpt, checkpoint_every=2)
