from __future__ import annotations

import random
import re

import numpy as np
import pytest
from static_support import gate_for, item, items_from, run, where

from datalint.static.base import StaticOptions, build_static_checks
from datalint.static.near_duplicates import (
    NearDuplicates,
    band_layout,
    jaccard,
    shingle_sets,
    tokenize,
)

TWENTY = [f"w{k}" for k in range(20)]  # 20 distinct tokens: 19 distinct 2-token shingles


def check(prompts: list[str], threshold: float = 0.9, **kw: int):  # type: ignore[no-untyped-def]
    gate = gate_for("D002", D002={"must_be_less_than": threshold})
    return run(NearDuplicates(min_similarity=threshold, **kw), items_from(prompts), gate)


def test_jaccard_of_sorted_sets() -> None:
    assert jaccard(np.array([1, 2, 3]), np.array([2, 3, 4])) == 0.5
    assert jaccard(np.array([5]), np.array([1, 2, 3, 4])) == 0.0
    assert jaccard(np.array([1, 9]), np.array([1, 9])) == 1.0


@pytest.mark.parametrize(
    "text",
    ["what is 12+35?", "  a__b  c9 ", "x", "", " ", "café ∑ 3×4 = 12!!", "end.\nnext line\tok"],
)
def test_tokenizer_agrees_with_the_regex_it_vectorises(text: str) -> None:
    raw = text.encode()
    expected = [m.group() for m in re.finditer(rb"\w+|[^\w\s]", raw)]
    hashes, starts = tokenize(np.frombuffer(raw, dtype=np.uint8))
    assert [raw[s : s + 1] for s in starts.tolist()] == [t[:1] for t in expected]
    by_token: dict[bytes, int] = {}
    for token, value in zip(expected, hashes.tolist(), strict=True):
        assert by_token.setdefault(token, value) == value  # equal tokens, equal hashes
    assert len(set(by_token.values())) == len(by_token)  # and distinct ones differ here


def test_shingles_are_distinct_token_pairs_and_a_short_prompt_is_one_shingle() -> None:
    tokens = np.array([7, 8, 7, 8, 7, 42], dtype=np.uint32)  # "a b a b a" then "c"
    flat, offsets = shingle_sets(tokens, np.array([0, 5]), np.array([5, 6]), width=2)
    assert offsets.tolist() == [0, 2, 3]  # {ab, ba} and {c}
    assert flat[0] < flat[1]  # each prompt's set is sorted and distinct
    again, _ = shingle_sets(tokens[:2], np.array([0]), np.array([2]), width=2)
    assert again[0] in flat[:2]  # "a b" hashes the same wherever it occurs
    buffer = tokens.copy()
    in_place, same_offsets = shingle_sets(
        buffer, np.array([0, 5]), np.array([5, 6]), width=2, out=buffer
    )
    assert in_place.tolist() == flat.tolist()
    assert same_offsets.tolist() == offsets.tolist()


def test_last_word_swapped_gives_18_of_20() -> None:
    changed = [*TWENTY[:-1], "other"]
    found = check([" ".join(TWENTY), " ".join(changed)])
    # shingles 19 each, 18 shared: 18 / (19 + 19 - 18) = 0.9, which the rule (< 0.9) rejects
    assert where(found) == [("d.jsonl", 2, "D002")]
    assert found[0].message == "prompt nearly duplicates line 1 (similarity 0.9)"
    assert found[0].level == "warning"


def test_middle_word_swapped_gives_17_of_21_and_passes_at_0_9() -> None:
    changed = [*TWENTY[:10], "other", *TWENTY[11:]]
    assert check([" ".join(TWENTY), " ".join(changed)]) == []
    found = check([" ".join(TWENTY), " ".join(changed)], threshold=0.8)
    assert found[0].message == "prompt nearly duplicates line 1 (similarity 0.81)"  # 17/21


def test_spacing_around_operators_is_similarity_one_not_an_exact_duplicate() -> None:
    found = check(["What is 2+2?", "What is 2 + 2 ?"])
    assert found[0].message == "prompt nearly duplicates line 1 (similarity 1)"


def test_templated_arithmetic_with_another_number_is_not_near() -> None:
    # tokens: what is 12 + 35 ? -> 5 shingles each, 3 shared: 3 / 7, but another number is
    # another problem, at any threshold
    assert check(["What is 12+35?", "What is 12+36?"]) == []
    assert check(["What is 12+35?", "What is 12+36?"], threshold=0.4) == []
    # the same numbers reworded: "so" adds one shingle ("so what") to the 5: 5 / 6
    found = check(["What is 12+35?", "So what is 12+35?"], threshold=0.4)
    assert found[0].message == "prompt nearly duplicates line 1 (similarity 0.833)"


def test_exact_repeats_are_left_to_d001_and_the_first_copy_is_named() -> None:
    base = " ".join(TWENTY)
    near = " ".join([*TWENTY[:-1], "other"])
    found = check([base, base.upper(), near])
    assert [(f.line, f.message) for f in found] == [
        (3, "prompt nearly duplicates line 1 (similarity 0.9)")
    ]


def test_the_most_similar_earlier_prompt_is_named() -> None:
    far = " ".join([*TWENTY[:10], "x", *TWENTY[11:]])  # loses 2 shingles of the 19: 17/21
    close = " ".join([*TWENTY[:-1], "y"])  # loses 1 shingle: 18/20
    found = check([far, close, " ".join(TWENTY)], threshold=0.7)
    assert [(f.line, f.message) for f in found] == [
        (2, "prompt nearly duplicates line 1 (similarity 0.727)"),  # 16 shared: 16/22
        (3, "prompt nearly duplicates line 2 (similarity 0.9)"),  # beats line 1's 17/21
    ]


def test_band_layout_finds_pairs_at_the_threshold() -> None:
    assert band_layout(0.9, 128) == (9, 14)  # 1 - (1 - 0.9**9)**14 = 0.9990; 10 rows: 0.9942
    rows, bands = band_layout(0.7, 128)
    assert 1 - (1 - 0.7**rows) ** bands >= 0.995
    assert 1 - (1 - 0.7 ** (rows + 1)) ** (128 // (rows + 1)) < 0.995


def test_factory_tunes_banding_to_the_configured_threshold() -> None:
    gate = gate_for("D002", D002={"must_be_less_than": 0.7})
    (near,) = build_static_checks(gate, options=StaticOptions())
    assert isinstance(near, NearDuplicates)
    assert (near.rows, near.bands) == band_layout(0.7, 128)


def planted_prompts() -> tuple[list[str], dict[int, int]]:
    rng = random.Random(7)
    vocab = [f"v{k}" for k in range(2000)]
    prompts = [" ".join(rng.choices(vocab, k=30)) for _ in range(3000)]
    planted = {}
    for copy_of in rng.sample(range(3000), 60):
        words = prompts[copy_of].split()
        words[-1] = "changed"  # 29 shingles, 28 shared: 28/30
        planted[len(prompts) + 1] = copy_of + 1
        prompts.append(" ".join(words))
    return prompts, planted


def test_planted_pairs_are_all_found_among_random_prompts() -> None:
    prompts, planted = planted_prompts()
    named = {f.line: f.message for f in check(prompts)}
    assert named == {
        line: f"prompt nearly duplicates line {orig} (similarity 0.933)"
        for line, orig in planted.items()
    }


def test_many_small_batches_give_the_same_findings() -> None:
    prompts, _ = planted_prompts()
    prompts += [prompts[5].upper(), "What is 2+2?", "What is 2 + 2 ?"]
    whole = [(f.line, f.message) for f in check(prompts)]
    batched = [(f.line, f.message) for f in check(prompts, batch_bytes=4000)]  # ~25 prompts a batch
    assert batched == whole
    assert len(whole) == 61


def test_a_shared_preamble_stays_linear() -> None:
    n = 4000
    preamble = " ".join(f"p{k}" for k in range(120))
    # letters only: prompts that differ in their numbers are different problems, never near
    prompts = [f"{preamble} question {_word(k)} asks about {_word(7 * k)}" for k in range(n)]
    found = check(prompts)
    assert len(found) == n - 1  # every later prompt is >= 0.9 similar to an earlier one


def _word(k: int) -> str:
    letters = ""
    while True:
        k, digit = divmod(k, 26)
        letters += chr(97 + digit)
        if k == 0:
            return "q" + letters


def test_templated_variants_with_different_answers_are_not_near_duplicates() -> None:
    template = "Convert the binary number {} to base 10 and give the result as a decimal integer."
    rows = [
        item(1, template.format("1011"), "11"),
        item(2, template.format("1101"), "13"),  # same template, another problem
        item(3, template.format("1101") + " ", " 13 "),  # the same problem again
        item(4, template.format("1111"), "15"),
    ]
    gate = gate_for("D002", D002={"must_be_less_than": 0.8})
    found = run(NearDuplicates(min_similarity=0.8), rows, gate)
    assert where(found) == []  # line 3 is an exact repeat of line 2: D001's, not D002's
    rows[2] = item(3, "Please " + template.format("1101"), "13")
    gate = gate_for("D002", D002={"must_be_less_than": 0.8})
    found = run(NearDuplicates(min_similarity=0.8), rows, gate)
    assert where(found) == [("d.jsonl", 3, "D002")]
    assert "d.jsonl:2" in found[0].message or "line 2" in found[0].message
