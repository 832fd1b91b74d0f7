"""The tiny world, the shipped tiny policy, and the GRPO / probe-NLL primitives of calibrate."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest

from datalint.world import (
    HABIT_SHARE_BY_LEVEL,
    MAX_LEVEL,
    SUBJECTS,
    cohort_records,
    draw_problem,
    make_cohort,
    make_cohorts,
    pretraining_examples,
    stutter,
)

POLICY = Path(__file__).resolve().parent.parent / "pretrained" / "tiny-policy"


# ---- world: pure python -------------------------------------------------------------------


def test_pretraining_corpus_is_deterministic_given_seed() -> None:
    a = pretraining_examples(500, seed=3)
    b = pretraining_examples(500, seed=3)
    c = pretraining_examples(500, seed=4)
    assert a == b
    assert a != c


def test_make_cohorts_is_deterministic_and_respects_subjects_and_size() -> None:
    a = make_cohorts(40, ["add", "mul"], seed=11, size=3)
    b = make_cohorts(40, ["add", "mul"], seed=11, size=3)
    assert [c.problems for c in a] == [c.problems for c in b]
    assert [c.problems for c in a] != [c.problems for c in make_cohorts(40, ["add", "mul"], 12)]
    assert {p.subject for c in a for p in c.problems} == {"add", "mul"}
    assert all(len(c.problems) == 3 for c in a)
    assert len({c.id for c in a}) == 40
    # one subject per cohort, and some (not all) cohorts scrambled at the default 10% share
    assert all(len({p.subject for p in c.problems}) == 1 for c in a)
    many = make_cohorts(400, list(SUBJECTS), seed=5)
    share = sum(c.scrambled for c in many) / len(many)
    assert 0.05 < share < 0.15


def test_habit_share_matches_the_configured_share_per_level() -> None:
    examples = pretraining_examples(20_000, seed=0)
    by_level: Counter[int] = Counter()
    corrupted: Counter[int] = Counter()
    for e in examples:
        by_level[e.problem.level] += 1
        corrupted[e.problem.level] += e.corrupted
    for level in range(1, MAX_LEVEL + 1):
        share = corrupted[level] / by_level[level]
        assert abs(share - HABIT_SHARE_BY_LEVEL[level]) < 0.025, (level, share)
    # levels drawn 20/35/35/10%: 0.2*0.05 + 0.35*0.25 + 0.35*0.4 + 0.1*0.5 = 0.2875 overall
    overall = sum(corrupted.values()) / len(examples)
    assert abs(overall - 0.2875) < 0.015
    assert abs(by_level[2] / len(examples) - 0.35) < 0.015
    # a corrupted answer is always the problem's habitual slip, never noise
    assert all(e.text_answer == e.problem.slip for e in examples if e.corrupted)


@pytest.mark.parametrize(
    ("subject", "operands", "answer", "slip"),
    [
        ("add", (623, 597), 1220, 110),  # 3+7=10 -> 0, 2+9=11 -> 1, 6+5=11 -> 1: carries dropped
        ("sub", (616, 242), 374, 434),  # |6-2|, |1-4|, |6-2|: no borrowing
        ("mul", (78, 4), 312, 82),  # 7*4=28 -> 8, 8*4=32 -> 2: carries dropped
        ("mod", (462, 8), 6, 14),  # 462 % 8 = 6, one subtraction of 8 short
        ("dsum", (165304,), 19, 15),  # 1+6+5+3+0, the last digit forgotten
    ],
)
def test_subject_answers_and_slips_hand_computed(
    subject: str, operands: tuple[int, ...], answer: int, slip: int
) -> None:
    s = SUBJECTS[subject]
    assert s.solve(operands) == answer
    assert s.own_slip(operands) == slip


def test_prompts_are_compact_and_slips_always_wrong() -> None:
    assert stutter("58") == "588"
    rng = random.Random(1)
    for subject in SUBJECTS:
        for level in range(1, MAX_LEVEL + 1):
            for _ in range(200):
                p = draw_problem(rng, subject, level)
                assert p.prompt.endswith("=") and len(p.prompt) <= 12
                assert p.slip != p.answer
                assert p.answer.isdigit()
    assert draw_problem(random.Random(0), "add", 2).prompt.count("+") == 1


def test_bad_subject_level_and_kind_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown subject 'pow'"):
        draw_problem(random.Random(0), "pow", 1)
    with pytest.raises(ValueError, match=r"level must be in 1\.\.4"):
        draw_problem(random.Random(0), "add", 9)
    with pytest.raises(ValueError, match="unknown cohort kind"):
        make_cohort(random.Random(0), "x", "easy", ["add"])


def test_scrambled_cohort_records_claim_the_slip_as_answer() -> None:
    cohort = make_cohort(random.Random(2), "s1", "scrambled", ["add"])
    records = list(cohort_records(cohort))
    assert [r["answer"] for r in records] == [p.slip for p in cohort.problems]
    assert all(r["cohort"] == "s1" and r["verifier"] == "exact" for r in records)
    assert records[0]["id"] == "s1-0"
    known = make_cohort(random.Random(2), "k1", "known", ["sub"])
    assert all(p.level == 1 for p in known.problems)
    assert [r["answer"] for r in cohort_records(known)] == [p.answer for p in known.problems]


# ---- the shipped policy and the torch primitives -------------------------------------------

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def policy():
    torch.set_num_threads(1)
    from datalint.calibrate.grpo import load_base

    return load_base(str(POLICY))


def test_policy_loads_offline_and_answers_in_digits(policy) -> None:
    model = transformers.AutoModelForCausalLM.from_pretrained(POLICY)
    tokenizer = transformers.AutoTokenizer.from_pretrained(POLICY)
    n_params = sum(p.numel() for p in model.parameters())
    assert 500_000 <= n_params <= 1_500_000
    assert sum(f.stat().st_size for f in POLICY.iterdir()) < 10_000_000
    enc = tokenizer(["12+34=", "7*8="], return_tensors="pt", padding=True)
    assert enc["input_ids"][1, 0].item() == tokenizer.pad_token_id  # left padding
    out = model.generate(**enc, do_sample=False, max_new_tokens=8)
    texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert texts == ["46", "56"]


def test_probe_nll_matches_a_manual_loss_computation(policy) -> None:
    from datalint.calibrate.probe import probe_nll

    model, tokenizer = policy
    score = probe_nll(model, tokenizer, ["12+34=", "7*8="], ["46", "56"])
    # manual: one item at a time, HF's own shifted cross-entropy over answer tokens + EOS only
    for i, (prompt, answer) in enumerate([("12+34=", "46"), ("7*8=", "56")]):
        p_ids = tokenizer(prompt)["input_ids"]
        ids = p_ids + tokenizer(answer, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([[*ids, tokenizer.eos_token_id]])
        labels = ids.clone()
        labels[0, : len(p_ids)] = -100
        with torch.no_grad():
            loss = model(input_ids=ids, labels=labels).loss.item()
        n_answer_tokens = len(answer) + 1
        assert score.per_item_nll[i] == pytest.approx(loss, abs=1e-5)
        expected_p_gold = math.exp(-loss * n_answer_tokens)
        assert score.per_item_p_gold[i] == pytest.approx(expected_p_gold, rel=1e-4)
    assert score.nll == pytest.approx(sum(score.per_item_nll) / 2)
    assert score.p_gold == pytest.approx(sum(score.per_item_p_gold) / 2)
    # batch make-up does not change an item's score (padding is masked)
    alone = probe_nll(model, tokenizer, ["7*8="], ["56"])
    assert alone.per_item_nll[0] == pytest.approx(score.per_item_nll[1], abs=1e-5)
    with pytest.raises(ValueError, match="2 prompts but 1 answers"):
        probe_nll(model, tokenizer, ["1+1=", "2+2="], ["2"])


def test_exact_match_reward() -> None:
    from datalint.calibrate.grpo import exact_match_reward

    reward = exact_match_reward(["46", "56"])
    assert reward(["46", " 56", "466", "46"], [0, 1, 0, 1]) == [1.0, 1.0, 0.0, 0.0]


def test_one_grpo_step_changes_weights_and_is_deterministic(policy) -> None:
    from datalint.calibrate.grpo import train_cohort

    base, _ = policy

    # reward the completion's length: never constant within a group, so the gradient is not zero
    def by_length(completions: list[str], _items: list[int]) -> list[float]:
        return [float(len(c)) for c in completions]

    prompts = ["45+67=", "83-29=", "46*7=", "935%6="]
    runs = [
        train_cohort(str(POLICY), prompts, by_length, steps=1, lr=1e-3, seed=0, num_generations=4)
        for _ in range(2)
    ]
    base_w = base.state_dict()
    changed = [k for k, v in runs[0].model.state_dict().items() if not torch.equal(v, base_w[k])]
    assert changed, "one GRPO step left every weight unchanged"
    for k, v in runs[0].model.state_dict().items():
        assert torch.equal(v, runs[1].model.state_dict()[k]), k
    assert runs[0].setup_seconds > 0 and runs[0].train_seconds > 0
    assert runs[0].mean_reward is not None and runs[0].mean_reward > 0
    # the cached base is never modified by training
    assert all(torch.equal(v, base_w[k]) for k, v in policy[0].state_dict().items())


def test_policy_ignores_left_padding_as_trl_feeds_it(policy) -> None:
    # trl runs its training forward on left-padded rows without position ids; the tiny policy
    # was pretrained at random offsets so that, like a rotary-position LLM, it does not care.
    model, tokenizer = policy
    ids = tokenizer("45+37=")["input_ids"]
    pad = tokenizer.pad_token_id
    alone = torch.tensor([ids])
    shifted = torch.tensor([[pad] * 6 + ids])
    mask = torch.tensor([[0] * 6 + [1] * len(ids)])
    with torch.no_grad():
        a = torch.log_softmax(model(input_ids=alone).logits[0, -1], -1)
        b = torch.log_softmax(model(input_ids=shifted, attention_mask=mask).logits[0, -1], -1)
    top = a.argmax()
    assert b.argmax() == top
    assert abs(a[top].exp() - b[top].exp()) < 0.1
