"""Builds a tiny random char-level GPT-2 in HF format for rollout tests (no download)."""

from __future__ import annotations

from pathlib import Path

CHARS = list("0123456789+-*=? abcdefghijklmnopqrstuvwxyz.,:")
SPECIALS = ["<pad>", "<eos>", "<unk>"]


def build_tiny_model(
    directory: Path, *, seed: int = 0, n_embd: int = 64, n_positions: int = 128
) -> Path:
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + CHARS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=2,
        n_head=2,
        bos_token_id=vocab["<eos>"],
        eos_token_id=vocab["<eos>"],
        pad_token_id=vocab["<pad>"],
    )
    model = GPT2LMHeadModel(config)
    with torch.no_grad():  # a sharper random model so EOS and varied lengths both occur
        model.lm_head.weight.mul_(3.0)
    model.save_pretrained(directory)
    return directory
