"""Per-row seeded sampling inside HF ``generate`` (imported only with the 'hf' extra).

HF sampling draws every row from one global RNG, so a row's tokens would depend on which other
rows share the batch. Instead this logits processor draws each row's token itself, by inverse
CDF from that row's own pre-drawn uniforms, and hands ``generate`` (run greedy) a one-hot score
so it appends exactly that token. It records on the way the raw log-probability of the chosen
token and the entropy of the full raw next-token distribution.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor


class SeededRowSampler(LogitsProcessor):
    def __init__(
        self,
        row_seeds: list[int],
        *,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        eos_token_id: int | None,
        device: torch.device,
    ) -> None:
        self.temperature = temperature
        self.top_p = top_p
        self.eos_token_id = eos_token_id
        uniforms = [
            torch.rand(max_new_tokens, generator=torch.Generator().manual_seed(seed))
            for seed in row_seeds
        ]
        self.uniforms = torch.stack(uniforms).to(device)
        self.finished = torch.zeros(len(row_seeds), dtype=torch.bool, device=device)
        self.tokens: list[torch.Tensor] = []
        self.logprobs: list[torch.Tensor] = []
        self.entropies: list[torch.Tensor] = []
        self.active: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        step = len(self.tokens)
        raw = scores.float()
        logp = torch.log_softmax(raw, dim=-1)
        entropy = torch.special.entr(logp.exp()).sum(dim=-1)
        choice = self._choose(raw, step)
        self.tokens.append(choice)
        self.logprobs.append(logp.gather(1, choice[:, None]).squeeze(1))
        self.entropies.append(entropy)
        self.active.append(~self.finished)
        if self.eos_token_id is not None:
            self.finished = self.finished | (choice == self.eos_token_id)
        forced = torch.full_like(scores, float("-inf"))
        return forced.scatter_(1, choice[:, None], 0.0)

    def _choose(self, logits: torch.Tensor, step: int) -> torch.Tensor:
        if self.temperature == 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / self.temperature, dim=-1)
        if self.top_p < 1.0:
            probs = _nucleus(probs, self.top_p)
        cdf = probs.cumsum(dim=-1)
        target = self.uniforms[:, step].to(cdf.dtype) * cdf[:, -1]
        choice = torch.searchsorted(cdf, target[:, None], right=True).squeeze(1)
        return choice.clamp(max=logits.shape[-1] - 1)

    def results(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens, logprobs, entropies, active), each (rows, steps), on the CPU."""

        def stack(parts: list[torch.Tensor]) -> torch.Tensor:
            return torch.stack(parts, dim=1).cpu()

        return stack(self.tokens), stack(self.logprobs), stack(self.entropies), stack(self.active)


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zeroes the tail outside the smallest set of tokens whose mass reaches top_p."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)
    return torch.zeros_like(probs).scatter_(1, order, sorted_probs)
