"""A world's policy: its tokenizer, its model, and the pretraining that gives it its habits.

``build_tokenizer`` makes a char-level vocabulary (the world's characters, one token each) or a
small BPE trained with the ``tokenizers`` library on the world's own pretraining text; chat
worlds get two special tokens and a chat template. ``build_model`` makes a GPT-2 (absolute
positions) or a Llama-style model (RoPE, RMSNorm, SwiGLU, grouped-query attention) of the spec's
size. ``pretrain`` trains it with answer-only loss on habit-corrupted text, rows at random left
offsets for GPT-2; ``scripts/train_tiny_policy.py`` is ``pretrain`` on world 0's spec.

Needs torch, transformers and tokenizers (the ``hf`` extra).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datalint.world.files import policy_prompt, world_pretraining, world_problem
from datalint.world.formats import CHAT_TEMPLATE, format_chars, model_text, special_tokens
from datalint.world.generate import subject_chars
from datalint.world.registry import WorldSpec
from datalint.world.subjects import MAX_LEVEL

BOS, EOS, PAD, UNK = "<bos>", "<eos>", "<pad>", "<unk>"
BASE_SPECIALS = (PAD, BOS, EOS, UNK)


def world_chars(spec: WorldSpec) -> str:
    """The world's characters in first-seen order (world 0: exactly ``VOCAB_CHARS``)."""
    seen: dict[str, None] = {}
    for text in [*(subject_chars(s) for s in spec.subjects), format_chars(spec.prompt_format)]:
        for ch in text:
            seen.setdefault(ch, None)
    return "".join(seen)


def build_tokenizer(spec: WorldSpec) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    extra = list(special_tokens(spec.prompt_format))
    specials = [*BASE_SPECIALS, *extra]
    if spec.tokenizer.kind == "char":
        vocab = {tok: i for i, tok in enumerate([*BASE_SPECIALS, *world_chars(spec), *extra])}
        tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    else:
        tok = Tokenizer(models.BPE(unk_token=UNK))
        # merges stay inside runs of letters or digits: "37", "ab" can be one token, "+" never
        # joins them, like the pre-tokenizers of real BPE models
        tok.pre_tokenizer = pre_tokenizers.Split(Regex("[^A-Za-z0-9]"), behavior="isolated")
        trainer = trainers.BpeTrainer(
            vocab_size=spec.tokenizer.vocab_size,
            special_tokens=specials,
            initial_alphabet=list(world_chars(spec)),
            show_progress=False,
        )
        tok.train_from_iterator(_bpe_corpus(spec), trainer=trainer)
        vocab = tok.get_vocab()
    tok.add_special_tokens(extra)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    tok.decoder = decoders.Fuse()
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",
        model_max_length=2 * spec.model.context,
    )
    if spec.prompt_format == "chat":
        hf.chat_template = CHAT_TEMPLATE
    return hf


def _bpe_corpus(spec: WorldSpec) -> list[str]:
    # chat markers are special tokens, so the BPE learns from the question text alone
    fmt = "bare" if spec.prompt_format == "chat" else spec.prompt_format
    examples = world_pretraining(spec, spec.tokenizer.bpe_corpus)
    return [model_text(e.problem.prompt, fmt) + e.text_answer for e in examples]


def build_model(spec: WorldSpec, tokenizer: Any) -> Any:
    m = spec.model
    ids = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if m.architecture == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(
            n_positions=m.context,
            n_embd=m.d_model,
            n_layer=m.n_layer,
            n_head=m.n_head,
            n_inner=m.d_ff,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **ids,
        )
        return GPT2LMHeadModel(config)
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=m.d_model,
        intermediate_size=m.d_ff,
        num_hidden_layers=m.n_layer,
        num_attention_heads=m.n_head,
        num_key_value_heads=m.n_kv_head or m.n_head,
        max_position_embeddings=m.context,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        attention_dropout=0.0,
        **ids,
    )
    return LlamaForCausalLM(config)


def encode(tokenizer: Any, prompt: str, answer: str) -> tuple[list[int], int]:
    """Token ids of BOS+prompt+answer+EOS, and how many of them are the prompt (with BOS)."""
    p = tokenizer(prompt)["input_ids"]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return p + a, len(p)


def encode_many(
    tokenizer: Any, prompts: list[str], answers: list[str]
) -> list[tuple[list[int], int]]:
    """``encode`` for many rows at once (one batched tokenizer call per side)."""
    p_ids = tokenizer(prompts)["input_ids"]
    a_ids = tokenizer(answers, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    return [(p + a + [eos], len(p)) for p, a in zip(p_ids, a_ids, strict=True)]


def make_batch(
    rows: list[tuple[list[int], int]], pad_id: int, rng: random.Random, max_offset: int
) -> dict[str, Any]:
    """A batch where each row starts after 0..max_offset masked pads (and is padded after)."""
    import torch

    offsets = [rng.randint(0, max_offset) for _ in rows]
    width = max(off + len(ids) for off, (ids, _) in zip(offsets, rows, strict=True))
    ids = torch.full((len(rows), width), pad_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (off, (seq, n_prompt)) in enumerate(zip(offsets, rows, strict=True)):
        end = off + len(seq)
        ids[i, off:end] = torch.tensor(seq)
        mask[i, off:end] = 1
        labels[i, off + n_prompt : end] = torch.tensor(seq[n_prompt:])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def completion_length(spec: WorldSpec, tokenizer: Any, per_cell: int = 200) -> int:
    """GRPO's completion cap for the world: the longest answer or slip in tokens, plus EOS and
    one spare token (so a run-on answer is cut, not truncated into a right one). World 0: 8."""
    rng = random.Random(spec.seeds.probe + 1)
    longest = 0
    for subject in spec.subjects:
        for level in range(1, MAX_LEVEL + 1):
            for _ in range(per_cell):
                p = world_problem(spec, rng, subject, level)
                for text in (p.answer, p.slip):
                    n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
                    longest = max(longest, n)
    return longest + 2


def sampled_pass_rates(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    answers: list[str],
    samples: int,
    max_new_tokens: int,
) -> list[float]:
    """Share of ``samples`` attempts per prompt, at temperature 1, that give the answer exactly."""
    import torch

    with torch.no_grad():
        enc = tokenizer(prompts, return_tensors="pt", padding=True)
        out = model.generate(
            **enc,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            num_return_sequences=samples,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return [
        sum(texts[i * samples + k].strip() == a for k in range(samples)) / samples
        for i, a in enumerate(answers)
    ]


def accuracy_table(
    spec: WorldSpec, model: Any, tokenizer: Any, max_new_tokens: int, per_cell: int = 50
) -> dict[str, dict[str, dict[str, float]]]:
    """Pass rate at temperature 1 (8 samples) per subject and level, and how often they split."""
    import torch

    rng = random.Random(spec.seeds.pretrain + 1)
    torch.manual_seed(spec.seeds.pretrain + 1)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for subject in spec.subjects:
        table[subject] = {}
        for level in range(1, MAX_LEVEL + 1):
            problems = [world_problem(spec, rng, subject, level) for _ in range(per_cell)]
            prompts = [policy_prompt(spec, p) for p in problems]
            rates = sampled_pass_rates(
                model, tokenizer, prompts, [p.answer for p in problems], 8, max_new_tokens
            )
            table[subject][str(level)] = {
                "pass_rate": round(sum(rates) / len(rates), 3),
                "always": round(sum(r == 1 for r in rates) / len(rates), 3),
                "never": round(sum(r == 0 for r in rates) / len(rates), 3),
                "split": round(sum(0 < r < 1 for r in rates) / len(rates), 3),
            }
    return table


CHECKPOINT_EVERY = 200


def pretrain(
    spec: WorldSpec,
    out: Path,
    *,
    threads: int = 1,
    log: Callable[[str], None] | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Pretrain the world's policy into ``out`` (safetensors, fp32) with ``training.json``.

    With ``checkpoint``, the whole training state (weights, optimiser, schedule, both random
    generators, the step) is written there every ``checkpoint_every`` steps and picked up on the
    next call, so an interrupted run resumes where it stopped and ends with the same weights as
    an uninterrupted one. ``stop_after`` ends the loop early (after a checkpoint) and returns
    ``{}``: the interruption, made testable.
    """
    import torch

    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    torch.set_num_threads(threads)
    torch.manual_seed(spec.seeds.pretrain)
    tokenizer = build_tokenizer(spec)
    model = build_model(spec, tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    examples = world_pretraining(spec)
    rows = encode_many(
        tokenizer,
        [policy_prompt(spec, e.problem) for e in examples],
        [e.text_answer for e in examples],
    )
    p = spec.pretrain
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / p.warmup) * 0.5 * (1 + math.cos(math.pi * min(s, p.steps) / p.steps))
        ),
    )
    rng = random.Random(spec.seeds.pretrain)
    start, elapsed, loss_value = 0, 0.0, float("nan")
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state["spec_hash"] != spec.spec_hash():
            raise ValueError(
                f"{checkpoint}: a checkpoint of another spec (hash {state['spec_hash']}); "
                "delete it to start over"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        rng.setstate(state["python_rng"])
        torch.set_rng_state(state["torch_rng"])
        start, elapsed, loss_value = state["step"], state["seconds"], state["loss"]
        say(f"{spec.name}: resuming at step {start} from {checkpoint}")
    t0 = time.perf_counter() - elapsed
    model.train()
    for step in range(start, p.steps):
        batch = make_batch(
            rng.sample(rows, p.batch_size), tokenizer.pad_token_id, rng, p.max_offset
        )
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss_value = loss.item()
        if step % 100 == 0 or step == p.steps - 1:
            say(f"{spec.name}: step {step} loss {loss_value:.4f} {time.perf_counter() - t0:.0f}s")
        done = step + 1
        if checkpoint is not None and done < p.steps and done % checkpoint_every == 0:
            _save_checkpoint(
                checkpoint, spec, done, time.perf_counter() - t0, loss_value, model, opt, sched, rng
            )
            if stop_after is not None and done >= stop_after:
                return {}
    train_s = time.perf_counter() - t0
    model.eval()
    max_new = completion_length(spec, tokenizer)
    model.generation_config.update(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=max_new,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    accuracy = accuracy_table(spec, model, tokenizer, max_new)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {
        "world": spec.name,
        "spec_hash": spec.spec_hash(),
        "n_params": n_params,
        "vocab_size": len(tokenizer),
        "train_seconds": round(train_s, 1),
        "threads": threads,
        "final_loss": round(loss_value, 4),
        "habit_share_measured": round(sum(e.corrupted for e in examples) / len(examples), 4),
        "completion_length": max_new,
        "accuracy_temperature_1_8_samples_50_problems_per_cell": accuracy,
    }
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return record


def _save_checkpoint(
    path: Path,
    spec: WorldSpec,
    step: int,
    seconds: float,
    loss: float,
    model: Any,
    opt: Any,
    sched: Any,
    rng: random.Random,
) -> None:
    import torch

    state = {
        "spec_hash": spec.spec_hash(),
        "step": step,
        "seconds": seconds,
        "loss": loss,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "python_rng": rng.getstate(),
        "torch_rng": torch.get_rng_state(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a kill mid-write leaves the previous checkpoint
