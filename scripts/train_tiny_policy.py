"""Pretrain the shipped tiny policy: a char-level GPT-2 on habit-corrupted arithmetic.

The policy is the embedded default model of ``datalint check``. It is pretrained on problems
from ``datalint.world`` in which a level-dependent share of answers (about 30% overall) are
replaced by systematic habit slips (a stuttered last digit shared by all subjects, plus each
subject's own slip such as a dropped carry). The result is under-elicited like a real base model:
it knows the right answer but often says its habit, so sampled attempts split and GRPO on
problems where they disagree removes the habit (see ``scripts/check_world.py``).

Rebuild (about 15-25 minutes on one CPU core; fixed seed, deterministic on one thread)::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python scripts/train_tiny_policy.py \
        --out pretrained/tiny-policy

Writes config.json, model.safetensors, generation_config.json, tokenizer files and
``training.json`` (command, seed, steps, data mix, measured accuracy per subject and level).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

import torch
from tokenizers import (
    Regex,
    Tokenizer,
    decoders,
    models,
    pre_tokenizers,
    processors,
)
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from datalint.world import (
    HABIT_SHARE_BY_LEVEL,
    LEVEL_WEIGHTS,
    MAX_LEVEL,
    SUBJECTS,
    VOCAB_CHARS,
    draw_problem,
    pretraining_examples,
)

BOS, EOS, PAD, UNK = "<bos>", "<eos>", "<pad>", "<unk>"


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate([PAD, BOS, EOS, UNK, *VOCAB_CHARS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",
        model_max_length=64,
    )


def encode(tokenizer: PreTrainedTokenizerFast, prompt: str, answer: str) -> tuple[list[int], int]:
    """Token ids of BOS+prompt+answer+EOS, and how many of them are the prompt (with BOS)."""
    p = tokenizer(prompt)["input_ids"]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return p + a, len(p)


def make_batch(
    rows: list[tuple[list[int], int]], pad_id: int, rng: random.Random, max_offset: int
) -> dict[str, torch.Tensor]:
    """A batch where each row starts after 0..max_offset masked pads (and is padded after).

    trl's GRPOTrainer and batched rollouts left-pad prompts and run the model forward without
    position ids, so a GPT-2 (absolute positions) sees each row at an offset. Real policies use
    relative (rotary) positions and do not care; training at random offsets gives the tiny
    policy the same indifference.
    """
    offsets = [rng.randint(0, max_offset) for _ in rows]
    width = max(off + len(ids) for off, (ids, _) in zip(offsets, rows, strict=True))
    ids = torch.full((len(rows), width), pad_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (off, (seq, n_prompt)) in enumerate(zip(offsets, rows, strict=True)):
        end = off + len(seq)
        ids[i, off:end] = torch.tensor(seq)
        mask[i, off:end] = 1
        # loss on the answer only, as the policy is only ever asked to complete prompts
        labels[i, off + n_prompt : end] = torch.tensor(seq[n_prompt:])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@torch.no_grad()
def sampled_pass_rates(
    model, tokenizer, prompts: list[str], answers: list[str], samples: int
) -> list[float]:
    """Share of ``samples`` attempts per prompt, at temperature 1, that give the answer exactly."""
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    out = model.generate(
        **enc,
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        num_return_sequences=samples,
        max_new_tokens=8,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return [
        sum(texts[i * samples + k].strip() == a for k in range(samples)) / samples
        for i, a in enumerate(answers)
    ]


@torch.no_grad()
def sampled_accuracy(model, tokenizer, seed: int, per_cell: int, samples: int) -> dict:
    """Pass rate at temperature 1 per subject and level, and the share of split problems."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for subject in SUBJECTS:
        table[subject] = {}
        for level in range(1, MAX_LEVEL + 1):
            problems = [draw_problem(rng, subject, level) for _ in range(per_cell)]
            prompts, answers = [p.prompt for p in problems], [p.answer for p in problems]
            rates = sampled_pass_rates(model, tokenizer, prompts, answers, samples)
            table[subject][str(level)] = {
                "pass_rate": round(sum(rates) / len(rates), 3),
                "always": round(sum(r == 1 for r in rates) / len(rates), 3),
                "never": round(sum(r == 0 for r in rates) / len(rates), 3),
                "split": round(sum(0 < r < 1 for r in rates) / len(rates), 3),
            }
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="pretrained/tiny-policy")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--n-examples", type=int, default=400_000)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-offset", type=int, default=10, help="random left padding in training")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tokenizer = build_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=32,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=4,
        n_inner=4 * args.n_embd,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    n_params = sum(p.numel() for p in model.parameters())
    examples = pretraining_examples(args.n_examples, seed=args.seed)
    rows = [encode(tokenizer, e.problem.prompt, e.text_answer) for e in examples]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = 200
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / warmup)
            * 0.5
            * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))
        ),
    )
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    model.train()
    for step in range(args.steps):
        batch = make_batch(
            rng.sample(rows, args.batch_size), tokenizer.pad_token_id, rng, args.max_offset
        )
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 500 == 0 or step == args.steps - 1:
            print(
                f"step {step} loss {loss.item():.4f} {time.perf_counter() - t0:.0f}s",
                file=sys.stderr,
                flush=True,
            )
    train_s = time.perf_counter() - t0
    model.eval()
    model.generation_config.update(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=8,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    accuracy = sampled_accuracy(model, tokenizer, seed=args.seed + 1, per_cell=50, samples=8)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {
        "command": "python scripts/train_tiny_policy.py " + " ".join(argv or sys.argv[1:]),
        "seed": args.seed,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "n_params": n_params,
        "train_seconds": round(train_s, 1),
        "threads": args.threads,
        "max_offset": args.max_offset,
        "data": {
            "n_examples": args.n_examples,
            "subjects": list(SUBJECTS),
            "levels": list(range(1, MAX_LEVEL + 1)),
            "level_weights": LEVEL_WEIGHTS,
            "habit_share_by_level": HABIT_SHARE_BY_LEVEL,
            "habit_share_measured": round(sum(e.corrupted for e in examples) / len(examples), 4),
            "habits": "stuttered last digit (all subjects) or the subject's own slip, 50/50",
        },
        "accuracy_temperature_1_8_samples_50_problems_per_cell": accuracy,
    }
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(accuracy, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
