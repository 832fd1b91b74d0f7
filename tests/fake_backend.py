"""A deterministic rollout backend for cache and stage tests: no torch, records what it sampled."""

from __future__ import annotations

import hashlib
import time

from datalint.load.records import Item, Rollout
from datalint.rollout.base import SamplingParams


def fake_rollouts(prompt: str, seed: int, n: int) -> list[Rollout]:
    out = []
    for j in range(n):
        digest = hashlib.sha256(f"{prompt}|{seed}|{j}".encode()).digest()
        k = 1 + digest[0] % 4
        out.append(
            Rollout(
                completion=str(digest[1] % 10),
                logprobs=[-(digest[2 + t] / 255) for t in range(k)],
                entropies=[digest[8 + t] / 100 for t in range(k)],
                n_tokens=k,
            )
        )
    return out


class FakeBackend:
    name = "fake"

    def __init__(self, model_id: str = "fake-model", delay_s: float = 0.0, chunk_rows: int = 256):
        self.model_id = model_id
        self.delay_s = delay_s
        self.chunk_rows = chunk_rows
        self.hash_memo = None
        self.calls: list[list[str]] = []

    @property
    def sampled_prompts(self) -> list[str]:
        return [p for call in self.calls for p in call]

    def fingerprint(self) -> str:
        return f"fake:{self.model_id}"

    def render(self, item: Item) -> str:
        return item.prompt_text

    def generate(
        self, prompts: list[str], params: SamplingParams, seeds: list[int]
    ) -> list[list[Rollout]]:
        self.calls.append(list(prompts))
        if self.delay_s:
            time.sleep(self.delay_s * len(prompts))
        return [fake_rollouts(p, s, params.n) for p, s in zip(prompts, seeds, strict=True)]
