"""The transformers backend: batched sampling with HF ``generate`` on CPU or GPU."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from datalint.extras import MissingExtra
from datalint.load.records import Item, Rollout
from datalint.rollout.base import (
    SamplingParams,
    empty_rollout,
    render_prompt,
    sample_seed,
    warn_no_room,
)
from datalint.rollout.fingerprint import FingerprintedModel, HashMemo

DEFAULT_BATCH_ROWS = 256


class TransformersBackend(FingerprintedModel):
    """Samples with a local HF causal LM directory; torch and the model load on first use."""

    name = "transformers"

    def __init__(
        self,
        model_dir: str,
        *,
        device: str | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        hash_memo: HashMemo | None = None,
    ) -> None:
        self.model_dir = model_dir
        self.device_name = device
        self.batch_rows = batch_rows
        self.hash_memo = hash_memo
        self._model: Any = None
        self._tokenizer: Any = None

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
        if item.prompt is None and item.messages:
            return render_prompt(item, self.tokenizer)
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
            device = self.device_name or ("cuda" if torch.cuda.is_available() else "cpu")
            model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32)
            self._model = model.to(device).eval()
        return self._model

    def generate(
        self, prompts: list[str], params: SamplingParams, seeds: list[int]
    ) -> list[list[Rollout]]:
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
                results[index] = [empty_rollout() for _ in range(params.n)]
            else:
                by_budget[budget].append(index)
        warn_no_room(len(prompts) - sum(len(v) for v in by_budget.values()))
        per_batch = max(1, self.batch_rows // params.n)
        for budget, indices in sorted(by_budget.items()):
            for start in range(0, len(indices), per_batch):
                part = indices[start : start + per_batch]
                out = self._generate_batch(
                    model, [prompts[i] for i in part], params, [seeds[i] for i in part], budget
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
        lengths = [len(ids) for ids in self.tokenizer(prompts)["input_ids"]]
        return [min(max_new_tokens, context - length) for length in lengths]

    def _generate_batch(
        self,
        model: Any,
        prompts: list[str],
        params: SamplingParams,
        seeds: list[int],
        max_new_tokens: int,
    ) -> list[list[Rollout]]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        from datalint.rollout._torch_sampling import SeededRowSampler

        tokenizer = self.tokenizer
        rows = [p for p in prompts for _ in range(params.n)]
        row_seeds = [sample_seed(seed, j) for seed in seeds for j in range(params.n)]
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
        return [rollouts[i : i + params.n] for i in range(0, len(rollouts), params.n)]
