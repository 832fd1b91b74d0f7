from __future__ import annotations

from static_support import gate_for, item, run, where

from datalint.static.probe_contamination import ProbeContamination

FOX = "the quick brown fox jumps over the lazy dog today"  # 10 words: three 8-grams


def check(items, probes, threshold: float = 0.5):  # type: ignore[no-untyped-def]
    gate = gate_for("D003", D003={"must_be_less_than": threshold})
    probe_items = [item(n, p, path="probe.jsonl") for n, p in enumerate(probes, start=1)]
    return run(ProbeContamination(probe_items), items, gate)


def test_fraction_of_word_8_grams_found_in_the_probe() -> None:
    items = [
        item(1, "the quick brown fox jumps over the lazy cat today"),  # 1 of 3 8-grams
        item(2, "A the quick brown fox jumps over the lazy dog"),  # 2 of 3 8-grams
    ]
    found = check(items, [FOX])
    assert where(found) == [("d.jsonl", 2, "D003")]
    assert found[0].message == "prompt overlaps probe item probe.jsonl:1 (2/3 word 8-grams)"
    assert found[0].level == "error"
    low = check(items, [FOX], threshold=0.3)
    assert [f.message for f in low] == [
        "prompt overlaps probe item probe.jsonl:1 (1/3 word 8-grams)",
        "prompt overlaps probe item probe.jsonl:1 (2/3 word 8-grams)",
    ]


def test_case_whitespace_and_punctuation_do_not_hide_a_copy() -> None:
    found = check([item(1, "THE quick, brown fox -- jumps over the lazy dog today!")], [FOX])
    assert found[0].message == "prompt overlaps probe item probe.jsonl:1 (3/3 word 8-grams)"


def test_exact_match_counts_however_short() -> None:
    found = check([item(4, "what is  2+2?")], ["Name a prime.", "What is 2+2?"])
    assert found[0].message == "prompt overlaps probe item probe.jsonl:2 (exact)"


def test_short_prompt_uses_character_13_grams_at_word_starts() -> None:
    probe = "Solve for x: 3x + 5 = 20. Give x as an integer, please."
    # "solve for x: 3x + 5 = 20." has 25 chars; word starts 0, 6, 10 leave room for 13 chars
    inside = check([item(1, "Solve for x: 3x + 5 = 20.")], [probe])
    assert inside[0].message == "prompt overlaps probe item probe.jsonl:1 (3/3 char 13-grams)"
    # "solve for y: 3y + 5 = 20.": none of its three windows survives the renaming
    assert check([item(1, "Solve for y: 3y + 5 = 20.")], [probe]) == []


def test_names_the_probe_holding_most_of_the_matches() -> None:
    probes = ["the quick brown fox jumps over the lazy", FOX + " and more words here"]
    # 12 words, 5 8-grams, all in probe line 2; the first is also (and first) in probe line 1,
    # so line 1 holds 1 match and line 2 holds 4
    found = check([item(1, FOX + " and more")], probes)
    assert found[0].message == "prompt overlaps probe item probe.jsonl:2 (5/5 word 8-grams)"


def test_unrelated_and_empty_prompts_pass() -> None:
    items = [item(1, "Ana has 4 green pens and 6 black pens. How many pens?"), item(2, "  ")]
    assert check(items, [FOX, ""]) == []
