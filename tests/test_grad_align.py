"""Gradient alignment (datalint.signals.grad_align): the advantages, the tokens, the gradients
against independent computations, and the first-order claim itself on the shipped tiny policy:
one optimizer step's measured probe-NLL drop is lr times the signal."""

from __future__ import annotations

import copy
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from datalint.calibrate.probe import probe_nll  # noqa: E402
from datalint.features_names import GRADIENT_SIGNALS  # noqa: E402
from datalint.load.records import Cohort, Item, Rollout, Source  # noqa: E402
from datalint.rollout.backends import default_model_dir  # noqa: E402
from datalint.signals.grad_align import (  # noqa: E402
    Alignment,
    alignment,
    cohort_alignments,
    completion_ids,
    group_advantages,
    grpo_gradient,
    load_policy,
    measure_alignments,
    probe_gradient,
    probe_gradient_and_nll,
)

POLICY = str(default_model_dir())
PROBE = (["12+7=", "30-4=", "6*7=", "41+15="], ["19", "26", "42", "56"])
# two problems: the first splits its four attempts 2/2, the second 1/3
PROMPTS = ["23+45=", "8*9="]
COMPLETIONS = [
    [("68", 3), ("67", 3), ("68", 3), ("58", 3)],
    [("72", 3), ("71", 3), ("63", 3), ("7", 2)],
]
REWARDS = [[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]


@pytest.fixture(scope="module")
def policy():
    model, tokenizer = load_policy(POLICY)
    return model, tokenizer


def test_group_advantages_are_trls_by_hand():
    # mean 0.25, unbiased sd sqrt((0.75^2 + 3 * 0.25^2) / 3) = 0.5
    got = group_advantages([1.0, 0.0, 0.0, 0.0])
    assert got == pytest.approx([0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001])
    assert group_advantages([1.0, 1.0, 1.0]) == [0.0, 0.0, 0.0]  # degenerate: no signal
    assert group_advantages([0.0, 0.0]) == [0.0, 0.0]
    assert group_advantages([1.0]) == [0.0]
    assert group_advantages([]) == []


def test_alignment_of_hand_vectors():
    g = torch.tensor([1.0, -2.0, 0.0])
    p = torch.tensor([3.0, 1.0, 5.0])
    a = alignment(g, p)
    assert a.sgd == pytest.approx(1.0)  # 3 - 2
    assert a.adam == pytest.approx(2.0)  # sign(g) = [1, -1, 0]: 3 - 1
    assert a.cos == pytest.approx(1.0 / (math.sqrt(5) * math.sqrt(35)))
    assert alignment(None, p) == Alignment(0.0, 0.0, 0.0)
    assert set(a.as_dict()) == set(GRADIENT_SIGNALS)
    assert a.as_dict()["grad_align_adam"] == pytest.approx(2.0)


def test_completion_tokens_end_with_eos_only_when_sampling_stopped_there(policy):
    _, tok = policy
    plain = tok("68", add_special_tokens=False)["input_ids"]
    assert completion_ids(tok, "68", 3) == [*plain, tok.eos_token_id]
    assert completion_ids(tok, "68", 2) == plain  # ran out of tokens: no EOS was sampled
    assert completion_ids(tok, "68", None) == plain


def _loop_grpo_loss(model, tok, prompts, completions, rewards):
    """The dapo loss written apart: one sequence at a time, no padding, no masks."""
    total, tokens = 0.0, 0
    for prompt, group, rs in zip(prompts, completions, rewards, strict=True):
        adv = group_advantages(rs)
        p_ids = tok(prompt)["input_ids"]
        for (text, n), a in zip(group, adv, strict=True):
            c_ids = completion_ids(tok, text, n)
            if not c_ids:  # nothing was sampled: no token to score
                continue
            ids = torch.tensor([p_ids + c_ids])
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
            picked = logp[torch.arange(len(p_ids) - 1, ids.shape[1] - 1), torch.tensor(c_ids)]
            total = total - a * picked.sum()
            tokens += len(c_ids)
    return total / tokens


def _flat(model):
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def test_grpo_gradient_equals_the_loss_written_one_sequence_at_a_time(policy):
    model, tok = policy
    got = grpo_gradient(model, tok, PROMPTS, COMPLETIONS, REWARDS)
    ref_model = copy.deepcopy(model)
    ref_model.zero_grad()
    _loop_grpo_loss(ref_model, tok, PROMPTS, COMPLETIONS, REWARDS).backward()
    want = _flat(ref_model)
    assert torch.allclose(got, want, atol=1e-6, rtol=1e-4)
    assert float(got.norm()) > 0


def test_no_gradient_when_no_problem_splits(policy):
    model, tok = policy
    flat = [[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    assert grpo_gradient(model, tok, PROMPTS, COMPLETIONS, flat) is None


def test_probe_gradient_is_the_derivative_of_calibrates_probe_nll(policy):
    model, tok = policy
    grad = probe_gradient(model, tok, *PROBE)
    direction = torch.randn(grad.shape, generator=torch.Generator().manual_seed(0))
    eps = 1e-3

    def nll_at(step):
        moved = copy.deepcopy(model)
        with torch.no_grad():
            offset = 0
            for p in moved.parameters():
                n = p.numel()
                p.add_(step * direction[offset : offset + n].reshape(p.shape))
                offset += n
        return probe_nll(moved, tok, *PROBE).nll

    numeric = (nll_at(eps) - nll_at(-eps)) / (2 * eps)
    assert float(torch.dot(grad, direction)) == pytest.approx(numeric, rel=2e-2)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_step_lift_is_lr_times_the_signal(policy, optimizer):
    """The claim the signal rests on: after one optimizer step on the GRPO loss, probe NLL
    before - after = lr * <step direction, probe gradient> to first order."""
    model, tok = policy
    probe_grad = probe_gradient(model, tok, *PROBE)
    signals = alignment(grpo_gradient(model, tok, PROMPTS, COMPLETIONS, REWARDS), probe_grad)
    lr = 1e-5 if optimizer == "adam" else 1e-4
    moved = copy.deepcopy(model)
    moved.zero_grad()
    _loop_grpo_loss(moved, tok, PROMPTS, COMPLETIONS, REWARDS).backward()
    opt_cls = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    opt_cls(moved.parameters(), lr=lr).step()
    before = probe_nll(model, tok, *PROBE).nll
    after = probe_nll(moved, tok, *PROBE).nll
    predicted = lr * (signals.adam if optimizer == "adam" else signals.sgd)
    assert abs(predicted) > 1e-6
    assert before - after == pytest.approx(predicted, rel=0.1)


def _item(prompt, answer, line):
    return Item(prompt=prompt, answer=answer, source=Source("d.jsonl", line), verifier="exact")


def test_measure_alignments_renders_prompts_and_matches_the_direct_computation(policy):
    model, tok = policy
    items = [_item(p, "0", i + 1) for i, p in enumerate(PROMPTS)]
    probe = [_item(p, a, 10 + i) for i, (p, a) in enumerate(zip(*PROBE, strict=True))]
    rollouts = [
        [Rollout(t, reward=r, n_tokens=n) for (t, n), r in zip(group, rs, strict=True)]
        for group, rs in zip(COMPLETIONS, REWARDS, strict=True)
    ]
    cohorts = [Cohort("c0", items[:1]), Cohort("c1", items[1:])]
    got, note, nll = measure_alignments(POLICY, cohorts, [rollouts[:1], rollouts[1:]], probe)
    assert note is None  # every probe item fits
    # the probe NLL from the gradient's own pass is calibrate's probe NLL at the base weights
    assert nll == pytest.approx(probe_nll(model, tok, *PROBE).nll, rel=1e-5)
    want = cohort_alignments(
        model, tok, [PROMPTS[:1], PROMPTS[1:]], [rollouts[:1], rollouts[1:]], *PROBE
    )
    assert got == want
    assert got[0]["grad_align_adam"] != got[1]["grad_align_adam"]


# ---- edges the main tests do not reach (each kills a mutant that survived them) ------------


def test_two_attempts_split_give_plus_and_minus_one():
    # mean 0.5, unbiased sd sqrt(0.5) = 0.7071: advantages +-0.5 / 0.7072
    got = group_advantages([1.0, 0.0])
    assert got == pytest.approx([0.5 / (0.5**0.5 + 1e-4), -0.5 / (0.5**0.5 + 1e-4)])


def test_zero_gradients_give_a_cosine_of_zero_not_a_division_by_zero():
    zero = torch.zeros(3)
    assert alignment(torch.tensor([1.0, 2.0, 3.0]), zero) == Alignment(0.0, 0.0, 0.0)
    # tiny gradients (norms multiplying to under 1) still have their cosine
    small = alignment(torch.tensor([0.1, 0.0]), torch.tensor([0.5, 0.5]))
    assert small.cos == pytest.approx(1 / 2**0.5) and small.sgd == pytest.approx(0.05)


def test_mismatched_inputs_are_refused(policy):
    model, tok = policy
    message = "^probe_gradient needs as many answers as prompts, at least one$"
    with pytest.raises(ValueError, match=message):
        probe_gradient(model, tok, ["1+1="], [])
    with pytest.raises(ValueError, match=message):
        probe_gradient(model, tok, [], [])
    with pytest.raises(ValueError):
        grpo_gradient(model, tok, PROMPTS, COMPLETIONS[:1], REWARDS)
    with pytest.raises(ValueError):
        grpo_gradient(model, tok, PROMPTS, [COMPLETIONS[0], COMPLETIONS[1][:3]], REWARDS)
    with pytest.raises(ValueError):
        cohort_alignments(model, tok, [PROMPTS], [], *PROBE)


def test_empty_completions_and_one_token_prompts_match_the_sequence_loop(policy):
    model, tok = policy
    prompts = [
        "",
        *PROMPTS,
    ]  # "" is BOS alone, one token: its first completion token is scored at 1
    completions = [[("7", 2), ("", None), ("1", 2), ("8", 2)], *COMPLETIONS]
    completions[1] = [COMPLETIONS[0][0], ("", None), *COMPLETIONS[0][1:3]]
    rewards = [[1.0, 0.0, 0.0, 1.0], *REWARDS]
    assert len(tok("")["input_ids"]) == 1
    got = grpo_gradient(model, tok, prompts, completions, rewards)
    ref = copy.deepcopy(model)
    ref.zero_grad()
    _loop_grpo_loss(ref, tok, prompts, completions, rewards).backward()
    assert torch.allclose(got, _flat(ref), atol=1e-6, rtol=1e-4)
    one = probe_gradient(model, tok, [""], ["7"])  # a one-token prompt in the probe too
    ref.zero_grad()
    ids = torch.tensor([tok("")["input_ids"] + tok("7", add_special_tokens=False)["input_ids"]])
    ids = torch.cat([ids, torch.tensor([[tok.eos_token_id]])], dim=1)
    logp = torch.log_softmax(ref(input_ids=ids).logits[0, :-1].float(), -1)
    (-logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]].mean()).backward()
    assert torch.allclose(one, _flat(ref), atol=1e-6, rtol=1e-4)


def test_a_parameter_without_a_gradient_counts_as_zeros():
    from datalint.signals.grad_align import _flat_grad

    layer = torch.nn.Linear(2, 1)
    unused = torch.nn.Linear(3, 1)
    both = torch.nn.ModuleList([layer, unused])
    layer(torch.ones(1, 2)).sum().backward()
    flat = _flat_grad(both)
    assert flat.shape == (3 + 4,) and flat[:3].tolist() == [1.0, 1.0, 1.0]
    assert flat[3:].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_without_torch_the_extra_is_named(monkeypatch):
    import builtins

    from datalint.extras import MissingExtra
    from datalint.signals.grad_align import _torch

    real = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("no torch")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(MissingExtra) as caught:
        _torch()
    assert caught.value.extra == "hf" and "(gradient alignment)" in str(caught.value)


def test_prompts_are_rendered_as_the_backend_renders_them(tmp_path):
    """A chat model with the user's system prompt: the signals read the templated prompts."""
    import json
    import shutil

    from datalint.rollout.base import render_prompt

    chat = tmp_path / "chat-policy"
    shutil.copytree(POLICY, chat)
    config = json.loads((chat / "tokenizer_config.json").read_text())
    config["chat_template"] = (
        "{% for m in messages %}{{ m['content'] }}{% if m['role'] == 'system' %}+{% endif %}"
        "{% endfor %}"
    )
    (chat / "tokenizer_config.json").write_text(json.dumps(config))
    model, tok = load_policy(str(chat))
    items = [_item(p, "0", i + 1) for i, p in enumerate(PROMPTS)]
    probe = [_item(p, a, 10 + i) for i, (p, a) in enumerate(zip(*PROBE, strict=True))]
    rollouts = [
        [Rollout(t, reward=r, n_tokens=n) for (t, n), r in zip(group, rs, strict=True)]
        for group, rs in zip(COMPLETIONS, REWARDS, strict=True)
    ]
    cohorts = [Cohort("c", items)]
    system = "1"
    got, _, _ = measure_alignments(str(chat), cohorts, [rollouts], probe, system)
    assert render_prompt(items[0], tok, system) == "1+" + PROMPTS[0]  # in the vocabulary
    want = cohort_alignments(
        model,
        tok,
        [[render_prompt(it, tok, system) for it in items]],
        [rollouts],
        [render_prompt(it, tok, system) for it in probe],
        list(PROBE[1]),
    )
    plain, _, _ = measure_alignments(str(chat), cohorts, [rollouts], probe)
    assert got == want and got != plain


def test_probe_items_longer_than_the_context_are_left_out_with_a_note(policy):
    """The tiny policy reads 32 positions: a probe item past that is left out of the probe
    gradient (said in a note); a probe with nothing that fits gives no signals at all."""
    from datalint.signals.grad_align import SignalsUnavailable, context_length, probe_rows

    model, tok = policy
    assert context_length(model) == 32  # GPT-2 n_positions
    long_prompt = "1+" * 40 + "1="
    rows, left_out = probe_rows(model, tok, [*PROBE[0], long_prompt], [*PROBE[1], "41"])
    assert len(rows) == 4 and left_out == 1
    short = probe_gradient(model, tok, *PROBE)
    with_long = probe_gradient(model, tok, [*PROBE[0], long_prompt], [*PROBE[1], "41"])
    assert torch.equal(short, with_long)
    with pytest.raises(SignalsUnavailable, match="none of the probe's 1 items fits"):
        probe_gradient(model, tok, [long_prompt], ["41"])
    items = [_item(p, "0", i + 1) for i, p in enumerate(PROMPTS)]
    probe = [_item(p, a, 10 + i) for i, (p, a) in enumerate(zip(*PROBE, strict=True))]
    probe.append(_item(long_prompt, "41", 20))
    rollouts = [
        [Rollout(t, reward=r, n_tokens=n) for (t, n), r in zip(group, rs, strict=True)]
        for group, rs in zip(COMPLETIONS, REWARDS, strict=True)
    ]
    _, note, nll = measure_alignments(POLICY, [Cohort("c", items)], [rollouts], probe)
    assert nll == pytest.approx(probe_nll(model, tok, *PROBE).nll, rel=1e-5)  # the kept four
    assert note == (
        "1 of the probe's 5 items do not fit the model's context of 32 tokens and are left "
        "out of the probe gradient"
    )


def test_gradients_accumulated_a_few_rows_at_a_time_equal_one_pass(policy):
    """A cohort may hold any number of items (its ``cohort`` field comes from the data): the
    gradient is accumulated ``batch_rows`` sequences at a time, with the same result."""
    model, tok = policy
    whole = grpo_gradient(model, tok, PROMPTS, COMPLETIONS, REWARDS)
    for rows in (1, 3):
        part = grpo_gradient(model, tok, PROMPTS, COMPLETIONS, REWARDS, batch_rows=rows)
        assert torch.allclose(part, whole, atol=1e-6, rtol=1e-4)
    probe_whole = probe_gradient(model, tok, *PROBE)
    probe_part = probe_gradient(model, tok, *PROBE, batch_rows=1)
    assert torch.allclose(probe_part, probe_whole, atol=1e-6, rtol=1e-4)
    # the NLL is summed over the batches too: one row at a time, three rows, all at once
    nlls = [probe_gradient_and_nll(model, tok, *PROBE, batch_rows=n)[1] for n in (1, 3, 64)]
    assert nlls == pytest.approx([probe_nll(model, tok, *PROBE).nll] * 3, rel=1e-5)
