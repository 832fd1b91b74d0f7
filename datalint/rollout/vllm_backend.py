"""The vLLM backend: ``LLM.generate`` with ``SamplingParams(n=k, logprobs=K, seed=...)``.

vLLM returns, per generated token, the log-probabilities of the sampled token and of the top-K
tokens (raw model distribution), never the full distribution. The entropy is therefore an
**approximation** from the top K: the known terms -p log p over the top-K tokens, plus the
leftover mass r = 1 - sum(p) counted as one more outcome (-r log r). That is a lower bound on the
true entropy, tight when the top K hold nearly all the mass (K = 20 by default).
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

from datalint.extras import MissingExtra
from datalint.load.records import Item, Rollout
from datalint.rollout.base import SamplingParams, empty_rollout, render_prompt, warn_no_room
from datalint.rollout.fingerprint import FingerprintedModel, HashMemo
from datalint.rollout.readable import PromptReader, Unreadable, cut

DEFAULT_TOP_LOGPROBS = 20

# One engine per (model, options) for the life of the process. Loading is slow, and tearing an
# in-process engine down resets vLLM's global parallel state under any other engine still in use.
_ENGINES: dict[tuple[str, str], Any] = {}


def topk_entropy(logprobs: list[float]) -> float:
    """Entropy (nats) from the top-K log-probabilities, the leftover mass lumped as one outcome."""
    probs = [math.exp(lp) for lp in logprobs]
    known = -sum(p * lp for p, lp in zip(probs, logprobs, strict=True) if p > 0)
    rest = 1.0 - sum(probs)
    return known - rest * math.log(rest) if rest > 1e-12 else known


class VllmBackend(FingerprintedModel):
    name = "vllm"
    chunk_rows = 4096  # vLLM schedules its own batches; bigger calls keep it busy

    def __init__(
        self,
        model_dir: str,
        *,
        top_logprobs: int = DEFAULT_TOP_LOGPROBS,
        hash_memo: HashMemo | None = None,
        system_prompt: str | None = None,
        **llm_options: Any,
    ) -> None:
        self.model_dir = model_dir
        self.system_prompt = system_prompt
        self.top_logprobs = top_logprobs
        self.hash_memo = hash_memo
        self.llm_options = llm_options
        self._llm: Any = None

    def _load(self) -> Any:
        if self._llm is None:
            # In-process engine: vLLM's default engine subprocess is spawned, which re-imports
            # the caller's __main__ and fails from scripts without a __main__ guard.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            # vLLM logs to stdout by default; datalint's stdout is the report.
            os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
            os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
            try:
                from vllm import LLM
            except ImportError as error:
                raise MissingExtra("vllm", "the vllm backend") from error
            options: dict[str, Any] = {"dtype": "float32", "seed": 0}
            options.update(self.llm_options)
            key = (str(Path(self.model_dir).resolve()), repr(sorted(options.items())))
            if key not in _ENGINES:
                _ENGINES[key] = LLM(model=self.model_dir, **options)
            self._llm = _ENGINES[key]
        return self._llm

    def fingerprint(self) -> str:
        base = super().fingerprint()
        dtype = self.llm_options.get("dtype", "float32")
        return base if dtype == "float32" else f"{base}:{dtype}"

    def render(self, item: Item) -> str:
        if (item.prompt is None and item.messages) or self.system_prompt:
            return render_prompt(item, self._load().get_tokenizer(), self.system_prompt)
        return render_prompt(item)

    def assess_prompts(self, prompts: list[str], room: int = 1) -> list[Unreadable | None]:
        llm = self._load()
        reader = PromptReader(llm.get_tokenizer(), llm.llm_engine.model_config.max_model_len)
        return [reader.assess(prompt, room) for prompt in prompts]

    def generate(
        self, prompts: list[str], params: SamplingParams, seeds: list[int]
    ) -> list[list[Rollout]]:
        if len(prompts) != len(seeds):
            raise ValueError("one seed per prompt is needed")
        if not prompts:
            return []
        llm = self._load()
        from vllm import SamplingParams as VllmSamplingParams

        greedy = params.temperature == 0  # vLLM refuses n > 1 when greedy: copy the one answer
        budgets = _token_budgets(llm, prompts, params.max_new_tokens)
        runnable = [i for i, budget in enumerate(budgets) if budget >= 1]
        warn_no_room(len(prompts) - len(runnable))
        # One seeded request per prompt keeps each item's samples independent of the rest of
        # the batch (seeds folded to 31 bits, which every vLLM version accepts).
        requests = [
            VllmSamplingParams(
                n=1 if greedy else params.n,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=budgets[i],
                seed=seeds[i] % (2**31),
                logprobs=self.top_logprobs,
            )
            for i in runnable
        ]
        outputs = llm.generate([prompts[i] for i in runnable], requests, use_tqdm=False)
        results = [[empty_rollout() for _ in range(params.n)] for _ in prompts]
        for index, request in zip(runnable, outputs, strict=True):
            rollouts = [_to_rollout(sample, self.top_logprobs) for sample in request.outputs]
            if greedy:
                rollouts = [copy.deepcopy(rollouts[0]) for _ in range(params.n)]
            results[index] = rollouts
        return results


def _token_budgets(llm: Any, prompts: list[str], max_new_tokens: int) -> list[int]:
    """New tokens each prompt may get within the engine's context (vLLM refuses overruns)."""
    context = llm.llm_engine.model_config.max_model_len
    tokenizer = llm.get_tokenizer()
    cuts = [cut(p, context) for p in prompts]  # bounded memory; a prompt past the cut cannot fit
    return [
        0 if len(c) < len(p) else min(max_new_tokens, context - len(tokenizer(c)["input_ids"]))
        for p, c in zip(prompts, cuts, strict=True)
    ]


def _to_rollout(sample: Any, top_k: int) -> Rollout:
    token_ids = list(sample.token_ids)
    logprobs: list[float] = []
    entropies: list[float] = []
    for token_id, step in zip(token_ids, sample.logprobs or [], strict=False):
        logprobs.append(float(step[token_id].logprob))
        # The sampled token comes back even when it is outside the top K (rank > K); leave it
        # out of the entropy so the lumped remainder stays the mass outside the top K.
        top = [float(lp.logprob) for lp in step.values() if lp.rank is None or lp.rank <= top_k]
        entropies.append(topk_entropy(top))
    return Rollout(
        completion=sample.text,
        logprobs=logprobs if sample.logprobs is not None else None,
        entropies=entropies if sample.logprobs is not None else None,
        n_tokens=len(token_ids),
    )
