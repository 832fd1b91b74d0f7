"""Probe scores: how surprised a policy is by the gold answers of a probe (evaluation) set.

``probe_nll`` gives the label of calibration, measured before and after GRPO: the mean per-token
negative log-likelihood of each gold answer (its tokens plus EOS) given its prompt, and the mean
P(gold) = exp(-summed NLL of the answer), which for exact-match answers is the expected reward of
one sample at temperature 1. One batched forward pass (or a few, at most ``batch_size`` rows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datalint.extras import MissingExtra


@dataclass(frozen=True)
class ProbeScore:
    nll: float  # mean over answers of the mean per-token NLL (nats) of answer tokens + EOS
    p_gold: float  # mean over answers of exp(-summed NLL), the expected exact-match reward
    per_item_nll: tuple[float, ...]  # per-token NLL of each answer, probe order
    per_item_p_gold: tuple[float, ...]


def sequence_batch(rows: list[tuple[list[int], int]], pad: int) -> tuple[Any, Any, Any]:
    """Right-padded ids, attention mask, and the mask of scored positions (after the prompt)."""
    import torch

    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    scored = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (seq, n_prompt) in enumerate(rows):
        ids[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
        scored[i, n_prompt : len(seq)] = True
    return ids, mask, scored


def probe_nll(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    answers: Sequence[str],
    *,
    batch_size: int = 512,
) -> ProbeScore:
    """Score gold ``answers`` given ``prompts`` under ``model`` (a transformers causal LM).

    The prompt is tokenized as the policy sees it in generation (with the tokenizer's special
    tokens, e.g. BOS); the answer is tokenized without them and followed by EOS. Padding is on
    the right and the attention mask hides it, so the score does not depend on batch make-up.
    """
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
    if not prompts:
        raise ValueError("probe_nll needs at least one prompt")
    try:
        import torch
    except ImportError as exc:
        raise MissingExtra("hf", "scoring the probe") from exc

    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    rows: list[tuple[list[int], int]] = []
    for prompt, answer in zip(prompts, answers, strict=True):
        p_ids = tokenizer(prompt)["input_ids"]
        a_ids = tokenizer(str(answer), add_special_tokens=False)["input_ids"] + [eos]
        rows.append((p_ids + a_ids, len(p_ids)))

    device = next(model.parameters()).device
    per_item_sum: list[float] = []
    per_item_count: list[int] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            ids, mask, target = sequence_batch(chunk, pad)
            ids, mask, target = ids.to(device), mask.to(device), target.to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            token_nll = -logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            token_nll = token_nll * target[:, 1:]
            per_item_sum.extend(token_nll.sum(dim=1).tolist())
            per_item_count.extend(target[:, 1:].sum(dim=1).tolist())
    if was_training:
        model.train()

    nll = tuple(s / c for s, c in zip(per_item_sum, per_item_count, strict=True))
    p_gold = tuple(math.exp(-s) for s in per_item_sum)
    return ProbeScore(sum(nll) / len(nll), sum(p_gold) / len(p_gold), nll, p_gold)
