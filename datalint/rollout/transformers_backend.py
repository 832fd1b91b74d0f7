"""The transformers backend: batched sampling with HF ``generate`` on CPU or GPU.

Before anything is sampled, ``assess_prompts`` says which prompts the model cannot read (over
its context, or outside its vocabulary; see ``readable``): those are never generated. Prompts
are cut to a bound derived from the context before every tokenization, so memory stays bounded
whatever the data holds.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from datalint.extras import MissingExtra
from datalint.load import InputError
from datalint.load.records import Item, Rollout
from datalint.rollout.base import (
    SamplingParams,
    empty_rollout,
    render_prompt,
    sample_seed,
    warn_no_room,
)
from datalint.rollout.fingerprint import FingerprintedModel, HashMemo
from datalint.rollout.readable import PromptReader, Unreadable, cut

DEFAULT_BATCH_ROWS = 256
DTYPES = ("float32", "bfloat16", "float16")


class TransformersBackend(FingerprintedModel):
    """Samples with a local HF causal LM directory; torch and the model load on first use."""

    name = "transformers"
    prefix_stable = True  # rollout j's seed is sample_seed(item_seed, j), whatever n

    def __init__(
        self,
        model_dir: str,
        *,
        device: str | None = None,
        dtype: str = "float32",
        system_prompt: str | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        hash_memo: HashMemo | None = None,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.model_dir = model_dir
        self.device_name = None if device in (None, "auto") else device
        self.dtype = dtype
        self.system_prompt = system_prompt
        self.batch_rows = batch_rows
        self.hash_memo = hash_memo
        self._model: Any = None
        self._tokenizer: Any = None
        self._context: int | bool | None = False  # False: not read yet

    def fingerprint(self) -> str:
        # Half precision samples differently; float32 keeps the key of caches written before.
        base = super().fingerprint()
        return base if self.dtype == "float32" else f"{base}:{self.dtype}"

    @property
    def context_length(self) -> int | None:
        """The model's context in tokens, from its config (no weights loaded); None if unknown."""
        if self._context is False:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(self.model_dir)
            context = getattr(config, "max_position_embeddings", None)
            limit = getattr(self.tokenizer, "model_max_length", None)
            if not context and isinstance(limit, int) and limit < 1_000_000:
                context = limit
            self._context = int(context) if context else None
        return self._context  # type: ignore[return-value]

    def assess_prompts(self, prompts: list[str], room: int = 1) -> list[Unreadable | None]:
        """Per prompt: None if the model can read it with ``room`` new tokens, else why not."""
        reader = PromptReader(self.tokenizer, self.context_length)
        return [reader.assess(prompt, room) for prompt in prompts]

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            try:
                from transformers import AutoTokenizer
            except ImportError as error:
                raise MissingExtra("hf", "the transformers backend") from error
            tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token_id is None:
                if tokenizer.eos_token_id is not None:
                    tokenizer.pad_token = tokenizer.eos_token
                else:  # padded positions are masked out, so any in-vocabulary id will do
                    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(0)
            self._tokenizer = tokenizer
        return self._tokenizer

    def render(self, item: Item) -> str:
        if (item.prompt is None and item.messages) or self.system_prompt:
            return render_prompt(item, self.tokenizer, self.system_prompt)
        return render_prompt(item)

    def _load(self) -> Any:
        if self._model is None:
            try:
                import torch
                from transformers import AutoModelForCausalLM
                from transformers.utils import logging as hf_logging
            except ImportError as error:
                raise MissingExtra("hf", "the transformers backend") from error
            hf_logging.disable_progress_bar()  # stderr belongs to datalint's own progress bar
            hf_logging.set_verbosity_error()
            if self.device_name == "cuda" and not torch.cuda.is_available():
                raise InputError("--device cuda: torch sees no CUDA device here")
            device = self.device_name or ("cuda" if torch.cuda.is_available() else "cpu")
            dtype = getattr(torch, self.dtype)
            model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype)
            self._model = model.to(device).eval()
        return self._model

    def generate(
        self, prompts: list[str], params: SamplingParams, seeds: list[int], start: int = 0
    ) -> list[list[Rollout]]:
        """Rollouts ``start`` .. ``params.n - 1`` of each prompt (rollout j is seeded by
        ``sample_seed(seed, j)`` alone, so a group's rollouts never depend on n or start)."""
        if len(prompts) != len(seeds):
            raise ValueError("one seed per prompt is needed")
        if not prompts:
            return []
        model = self._load()
        budgets = self._token_budgets(model, prompts, params.max_new_tokens)
        results: list[list[Rollout]] = [[] for _ in prompts]
        by_budget: dict[int, list[int]] = defaultdict(list)
        for index, budget in enumerate(budgets):
            if budget < 1:
                results[index] = [empty_rollout() for _ in range(start, params.n)]
            else:
                by_budget[budget].append(index)
        warn_no_room(len(prompts) - sum(len(v) for v in by_budget.values()))
        per_batch = max(1, self.batch_rows // max(1, params.n - start))
        for budget, indices in sorted(by_budget.items()):
            for offset in range(0, len(indices), per_batch):
                part = indices[offset : offset + per_batch]
                out = self._generate_batch(
                    model,
                    [prompts[i] for i in part],
                    params,
                    [seeds[i] for i in part],
                    budget,
                    start,
                )
                for index, rollouts in zip(part, out, strict=True):
                    results[index] = rollouts
        return results

    def _token_budgets(self, model: Any, prompts: list[str], max_new_tokens: int) -> list[int]:
        """New tokens each prompt may get: the cap, less what would overrun the model's context.

        Prompts are batched only with prompts of the same budget, so a row's length never
        depends on its neighbours and no row runs past the position embeddings.
        """
        context = getattr(model.config, "max_position_embeddings", None)
        if not context:
            return [max_new_tokens] * len(prompts)
        # Cut before tokenizing so memory stays bounded; a prompt past the cut cannot fit.
        cuts = [cut(p, context) for p in prompts]
        lengths = [len(ids) for ids in self.tokenizer(cuts)["input_ids"]]
        return [
            0 if len(c) < len(p) else min(max_new_tokens, context - length)
            for p, c, length in zip(prompts, cuts, lengths, strict=True)
        ]

    def _generate_batch(
        self,
        model: Any,
        prompts: list[str],
        params: SamplingParams,
        seeds: list[int],
        max_new_tokens: int,
        start: int = 0,
    ) -> list[list[Rollout]]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        from datalint.rollout._torch_sampling import SeededRowSampler

        tokenizer = self.tokenizer
        width = params.n - start
        rows = [p for p in prompts for _ in range(width)]
        row_seeds = [sample_seed(seed, j) for seed in seeds for j in range(start, params.n)]
        encoded = tokenizer(rows, return_tensors="pt", padding=True).to(model.device)
        eos = tokenizer.eos_token_id
        sampler = SeededRowSampler(
            row_seeds,
            temperature=params.temperature,
            top_p=params.top_p,
            max_new_tokens=max_new_tokens,
            eos_token_id=eos,
            device=model.device,
        )
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=False,
            repetition_penalty=1.0,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.inference_mode():
            model.generate(
                **encoded,
                generation_config=config,
                logits_processor=LogitsProcessorList([sampler]),
            )
        tokens, logprobs, entropies, active = sampler.results()
        rollouts: list[Rollout] = []
        for row in range(len(rows)):
            n_tokens = int(active[row].sum())
            ids = tokens[row, :n_tokens].tolist()
            text_ids = ids[:-1] if ids and ids[-1] == eos else ids
            rollouts.append(
                Rollout(
                    completion=tokenizer.decode(text_ids, skip_special_tokens=True),
                    logprobs=logprobs[row, :n_tokens].tolist(),
                    entropies=entropies[row, :n_tokens].tolist(),
                    n_tokens=n_tokens,
                )
            )
        return [rollouts[i : i + width] for i in range(0, len(rollouts), width)]
