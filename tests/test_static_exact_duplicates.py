from __future__ import annotations

from static_support import gate_for, item, run, where

from datalint.static.exact_duplicates import ExactDuplicates


def check(items):  # type: ignore[no-untyped-def]
    return run(ExactDuplicates(), items, gate_for("D001"))


def test_repeat_after_casefold_and_whitespace_names_first_line() -> None:
    found = check(
        [
            item(1, "What is 2+3?", "5"),
            item(2, "What is 4+4?", "8"),
            item(3, "  what IS\t2+3? ", "5"),
        ]
    )
    assert where(found) == [("d.jsonl", 3, "D001")]
    assert found[0].message == "prompt duplicates line 1"
    assert found[0].level == "error"


def test_every_copy_names_the_first_occurrence() -> None:
    found = check([item(n, "Same question?") for n in (1, 2, 3, 4)])
    assert [f.line for f in found] == [2, 3, 4]
    assert {f.message for f in found} == {"prompt duplicates line 1"}


def test_a_different_answer_is_called_out() -> None:
    found = check([item(1, "What is 2+3?", "5"), item(2, "What is 2+3?", "6")])
    assert found[0].message == (
        "prompt duplicates line 1 with a different answer (conflicting labels)"
    )


def test_numeric_and_string_answers_that_read_the_same_agree() -> None:
    found = check([item(1, "What is 2+3?", 5), item(2, "What is 2+3?", " 5 ")])
    assert found[0].message == "prompt duplicates line 1"


def test_duplicate_in_another_file_names_path_and_line() -> None:
    found = check([item(12, "Q?", path="data/a.jsonl"), item(3, "Q?", path="data/b.jsonl")])
    assert where(found) == [("data/b.jsonl", 3, "D001")]
    assert found[0].message == "prompt duplicates data/a.jsonl:12"


def test_punctuation_differences_are_not_exact_duplicates() -> None:
    assert check([item(1, "What is 2+2?"), item(2, "What is 2 + 2?")]) == []


def test_multiple_choice_stem_over_other_choices_is_not_a_duplicate() -> None:
    found = check(
        [
            item(1, "Which is prime?", "B", choices=["4", "5"]),
            item(2, "Which is prime?", "A", choices=["7", "9"]),
            item(3, "Which is prime?", "B", choices=["4", "5"]),
        ]
    )
    assert [(f.line, f.message) for f in found] == [(3, "prompt duplicates line 1")]


def test_empty_prompts_are_left_to_s008() -> None:
    assert check([item(1, ""), item(2, "   "), item(3, "\n")]) == []


def test_chat_messages_are_compared_by_their_text() -> None:
    chat = [{"role": "user", "content": "What is 2+3?"}]
    found = check([item(1, "What is 2+3?"), item(2, None, messages=chat)])  # type: ignore[arg-type]
    assert where(found) == [("d.jsonl", 2, "D001")]


def test_large_line_numbers_and_many_files_survive_packing() -> None:
    items = [item(7, "filler", path=f"f{k}.jsonl") for k in range(300)]
    items += [item(2**39, "Q?", path="big.jsonl"), item(1, "Q?", path="f0.jsonl")]
    found = check(items)
    assert [f.message for f in found if f.path == "f0.jsonl"] == [
        f"prompt duplicates big.jsonl:{2**39}"
    ]
