"""Gradient alignment: a first-order estimate of a cohort's lift from one backward pass.

GRPO takes a step along minus the gradient of its loss ``L`` on the cohort; the probe NLL then
changes by about ``-lr * <grad L, grad NLL>``, so the NLL-lift (before - after) is about
``lr * <grad L, grad NLL>``. This module computes, from rollouts already sampled and graded (the
ones the 23 features came from, no new sampling):

- ``grad L``: the gradient of trl's GRPO loss on those rollouts at the base weights, as trl
  computes it on-policy (importance ratio 1, ``beta=0``): group advantages
  ``(r - mean) / (std + 1e-4)`` per problem (trl's ``scale_rewards="group"``, unbiased std) and
  the ``dapo`` normalisation, a sum over every completion token divided by the count of them;
- ``grad NLL``: the gradient of the probe NLL, the mean over answers of the mean per-token NLL
  of answer + EOS (``datalint.calibrate.probe.probe_nll``'s definition, so the same label).

Signals (all 0 when no problem splits its rollouts: GRPO then has no gradient):

- ``grad_align_sgd``: ``<grad L, grad NLL>``, the plain-SGD estimate of lift / lr;
- ``grad_align_adam``: ``<sign(grad L), grad NLL>``, the estimate for Adam's first step
  (``m / sqrt(v)`` is the sign of the gradient there), which is what calibrate trains with;
- ``grad_align_cos``: the cosine of the two gradients, free of the model's gradient scale.

The products are exact (no projection): the probe gradient is kept once, as one vector the size
of the model, and each cohort costs one forward and one backward pass over its rollouts. A model
too large for two such vectors would need LESS-style random projections; datalint's policies are
not. torch is imported inside the functions (the ``hf`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from datalint.calibrate.probe import sequence_batch
from datalint.extras import MissingExtra
from datalint.features_names import GRADIENT_SIGNALS
from datalint.load.records import Cohort, Item, Rollout

ADVANTAGE_EPS = 1e-4  # trl's GRPOTrainer: (r - mean) / (std + 1e-4)
BATCH_ROWS = 64  # sequences per forward/backward pass; gradients accumulate across passes


@dataclass(frozen=True, slots=True)
class Alignment:
    sgd: float
    adam: float
    cos: float

    def as_dict(self) -> dict[str, float]:
        values = {
            "grad_align_adam": self.adam,
            "grad_align_cos": self.cos,
            "grad_align_sgd": self.sgd,
        }
        return {name: values[name] for name in GRADIENT_SIGNALS}


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingExtra("hf", "gradient alignment") from exc
    return torch


def group_advantages(rewards: Sequence[float]) -> list[float]:
    """trl's group advantages for one problem: ``(r - mean) / (std + 1e-4)``, unbiased std."""
    n = len(rewards)
    if n < 2:
        return [0.0] * n
    mean = sum(rewards) / n
    std = (sum((r - mean) ** 2 for r in rewards) / (n - 1)) ** 0.5
    return [(r - mean) / (std + ADVANTAGE_EPS) for r in rewards]


def _flat_grad(model: Any) -> Any:
    torch = _torch()
    parts = []
    for p in model.parameters():
        if p.requires_grad:
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            parts.append(g.detach().reshape(-1).float())
    return torch.cat(parts)


def _on_device(model: Any, tensors: tuple[Any, ...]) -> tuple[Any, ...]:
    device = next(model.parameters()).device
    return tuple(t.to(device) for t in tensors)


def _token_logprobs(model: Any, ids: Any, mask: Any) -> Any:
    """log p(token t | tokens < t) for t >= 1: shape (rows, width - 1)."""
    torch = _torch()
    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    return logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)


class SignalsUnavailable(Exception):
    """The signals cannot be computed for this model and probe (said as a note, not an error)."""


def context_length(model: Any) -> int | None:
    """The most positions the model reads (GPT-2 ``n_positions``, Llama and most others
    ``max_position_embeddings``); None when its config names neither (no limit is applied)."""
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def probe_rows(
    model: Any, tokenizer: Any, prompts: Sequence[str], answers: Sequence[str]
) -> tuple[list[tuple[list[int], int]], int]:
    """The probe as (prompt + answer + EOS ids, prompt length) rows that fit the model's
    context, and how many were left out for not fitting."""
    if len(prompts) != len(answers) or not prompts:
        raise ValueError("probe_gradient needs as many answers as prompts, at least one")
    eos = tokenizer.eos_token_id
    limit = context_length(model)
    rows = []
    for prompt, answer in zip(prompts, answers, strict=True):
        p_ids = tokenizer(prompt)["input_ids"]
        a_ids = tokenizer(str(answer), add_special_tokens=False)["input_ids"] + [eos]
        rows.append((p_ids + a_ids, len(p_ids)))
    kept = [r for r in rows if limit is None or len(r[0]) <= limit]
    if not kept:
        raise SignalsUnavailable(
            f"none of the probe's {len(rows)} items fits the model's context of {limit} tokens"
        )
    return kept, len(rows) - len(kept)


def probe_gradient(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    answers: Sequence[str],
    *,
    batch_rows: int = BATCH_ROWS,
) -> Any:
    """The gradient of the probe NLL (mean over answers of per-token NLL of answer + EOS), over
    the probe items that fit the model's context."""
    return probe_gradient_and_nll(model, tokenizer, prompts, answers, batch_rows=batch_rows)[0]


def probe_gradient_and_nll(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    answers: Sequence[str],
    *,
    batch_rows: int = BATCH_ROWS,
) -> tuple[Any, float]:
    """The probe NLL's gradient and the NLL itself at the current weights (one pass: the
    objective the gradient is taken of is the NLL)."""
    rows, _ = probe_rows(model, tokenizer, prompts, answers)
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    coefs = [-1.0 / (len(rows) * _scored_tokens(row)) for row in rows]  # NLL = -logp
    return _gradient_and_value(model, rows, coefs, pad, batch_rows)


def _scored_tokens(row: tuple[list[int], int]) -> int:
    """The tokens a row scores: those after the prompt (the first token is never predicted)."""
    seq, n_prompt = row
    return len(seq) - max(n_prompt, 1)


def _gradient_and_value(
    model: Any, rows: list[tuple[list[int], int]], coefs: list[float], pad: int, batch_rows: int
) -> tuple[Any, float]:
    """The gradient of sum over rows of coef x (summed logprob of the row's scored tokens),
    and that sum's value, accumulated ``batch_rows`` rows at a time, so memory does not grow
    with a cohort's size."""
    torch = _torch()
    model.zero_grad(set_to_none=True)
    value = 0.0
    for start in range(0, len(rows), batch_rows):
        part = rows[start : start + batch_rows]
        ids, mask, scored = _on_device(model, sequence_batch(part, pad))
        logp = (_token_logprobs(model, ids, mask) * scored[:, 1:]).sum(dim=1)
        coef = torch.tensor(coefs[start : start + batch_rows], dtype=logp.dtype, device=logp.device)
        objective = (logp * coef).sum()
        objective.backward()
        value += float(objective.detach())
    grad = _flat_grad(model)
    model.zero_grad(set_to_none=True)
    return grad, value


def completion_ids(tokenizer: Any, completion: str, n_tokens: int | None) -> list[int]:
    """The completion's tokens as sampled: its text's tokens, plus EOS when the sampler's token
    count says generation stopped on EOS (EOS is never in the decoded text)."""
    ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    if n_tokens is not None and n_tokens > len(ids):
        ids.append(tokenizer.eos_token_id)
    return ids


def grpo_gradient(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    completions: Sequence[Sequence[tuple[str, int | None]]],
    rewards: Sequence[Sequence[float]],
    *,
    batch_rows: int = BATCH_ROWS,
) -> Any | None:
    """The gradient of trl's on-policy GRPO loss (``dapo``) on graded rollouts at the current
    weights; ``completions[i]`` are item i's ``(text, n_tokens)``. None when no group splits."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    limit = context_length(model)
    rows: list[tuple[list[int], int]] = []
    weights: list[float] = []
    for prompt, group, group_rewards in zip(prompts, completions, rewards, strict=True):
        advantages = group_advantages([float(r) for r in group_rewards])
        p_ids = tokenizer(prompt)["input_ids"]
        for (text, n_tokens), advantage in zip(group, advantages, strict=True):
            c_ids = completion_ids(tokenizer, text, n_tokens)
            if not c_ids or (limit is not None and len(p_ids) + len(c_ids) > limit):
                continue  # nothing sampled, or more than the model reads (not a GRPO input)
            rows.append((p_ids + c_ids, len(p_ids)))
            weights.append(advantage)
    if not rows or not any(weights):
        return None
    total = sum(_scored_tokens(row) for row in rows)  # dapo: one mean over every token
    coefs = [-advantage / total for advantage in weights]
    return _gradient_and_value(model, rows, coefs, pad, batch_rows)[0]


def alignment(grpo_grad: Any | None, probe_grad: Any) -> Alignment:
    """The three signals of a cohort from its GRPO gradient and the probe gradient."""
    if grpo_grad is None:
        return Alignment(0.0, 0.0, 0.0)
    torch = _torch()
    dot = float(torch.dot(grpo_grad, probe_grad))
    adam = float(torch.dot(torch.sign(grpo_grad), probe_grad))
    norms = float(grpo_grad.norm() * probe_grad.norm())
    return Alignment(dot, adam, dot / norms if norms > 0 else 0.0)


@lru_cache(maxsize=2)
def load_policy(model_dir: str, device: str = "auto") -> tuple[Any, Any]:
    """The policy and tokenizer for gradients, loaded once per process: float32 whatever dtype
    the rollouts were sampled in (half-precision gradients are too coarse for a dot product),
    eval mode (no dropout)."""
    _torch()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingExtra("hf", "gradient alignment") from exc
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.float()
    torch = _torch()
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        model.to("cuda")
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return model, tokenizer


class Alignments(NamedTuple):
    """What :func:`measure_alignments` measures for a dataset."""

    signals: list[dict[str, float]]  # per cohort, GRADIENT_SIGNALS
    note: str | None  # probe items left out for not fitting the model's context
    probe_nll: float  # the probe NLL at the base weights, over the items kept


def cohort_alignments(
    model: Any,
    tokenizer: Any,
    cohort_prompts: Sequence[Sequence[str]],
    cohort_rollouts: Sequence[Sequence[Sequence[Rollout]]],
    probe_prompts: Sequence[str],
    probe_answers: Sequence[str],
) -> list[dict[str, float]]:
    """Each cohort's signals from its graded rollouts (``rollout.reward``; ungraded = 0), with
    the probe gradient computed once."""
    probe_grad = probe_gradient(model, tokenizer, probe_prompts, probe_answers)
    return _aligned_with(model, tokenizer, cohort_prompts, cohort_rollouts, probe_grad)


def _aligned_with(
    model: Any,
    tokenizer: Any,
    cohort_prompts: Sequence[Sequence[str]],
    cohort_rollouts: Sequence[Sequence[Sequence[Rollout]]],
    probe_grad: Any,
) -> list[dict[str, float]]:
    out = []
    for prompts, groups in zip(cohort_prompts, cohort_rollouts, strict=True):
        completions = [[(r.completion, r.n_tokens) for r in group] for group in groups]
        rewards = [[float(r.reward or 0.0) for r in group] for group in groups]
        grad = grpo_gradient(model, tokenizer, prompts, completions, rewards)
        out.append(alignment(grad, probe_grad).as_dict())
    return out


def measure_alignments(
    model_dir: str,
    cohorts: Sequence[Cohort],
    per_cohort: Sequence[Sequence[Sequence[Rollout]]],
    probe_items: Sequence[Item],
    system_prompt: str | None = None,
    device: str = "auto",
) -> Alignments:
    """The signals of each cohort, its prompts rendered exactly as the rollout backend renders
    them (chat template, the user's system prompt), the probe's likewise; a note when probe
    items were left out for not fitting the model's context; and the probe NLL at the base
    weights, from the same pass as the probe gradient. Raises SignalsUnavailable when none
    fits."""
    from datalint.rollout.base import render_prompt

    model, tokenizer = load_policy(model_dir, device)
    probe_prompts = [render_prompt(it, tokenizer, system_prompt) for it in probe_items]
    probe_answers = [it.answer_text for it in probe_items]
    _, left_out = probe_rows(model, tokenizer, probe_prompts, probe_answers)
    note = None
    if left_out:
        note = (
            f"{left_out} of the probe's {len(probe_prompts)} items do not fit the model's "
            f"context of {context_length(model)} tokens and are left out of the probe gradient"
        )
    probe_grad, nll = probe_gradient_and_nll(model, tokenizer, probe_prompts, probe_answers)
    signals = _aligned_with(
        model,
        tokenizer,
        [[render_prompt(it, tokenizer, system_prompt) for it in c.items] for c in cohorts],
        per_cohort,
        probe_grad,
    )
    return Alignments(signals, note, nll)
