from __future__ import annotations

import pytest
from static_support import gate_for, item, run, where

from datalint.static.answer_leak import AnswerLeak, leaked_chars


@pytest.mark.parametrize(
    ("prompt", "answer", "expected"),
    [
        ("What is 12+3?", "15", 0),
        ("12+3=15", "15", 2),  # a leak, but two characters: below the rule's 3
        ("Compute 37 * 40. (Answer: 1480)", "1480", 4),
        ("The answer is 1480.", "1480", 4),  # a full stop after it still ends the token
        ("x=1480", "1480", 4),
        ("What is 150 / 10?", "15", 0),  # inside a longer number
        ("Round 15.7 down.", "15", 0),  # head of a decimal
        ("Add 3.15 and 1.", "15", 0),  # tail of a decimal
        ("A town of 15,000 people.", "15", 0),  # head of a grouped number
        ("Evaluate |-150|.", "150", 0),  # behind a unary minus: another number
        ("Pages 10-150 are missing.", "150", 0),  # shown, but as an operand, not as the answer
        ("Capital of France: PARIS.", "Paris", 5),  # case-insensitive
        ("Parisian food is famous.", "Paris", 0),  # inside a word
        ("What is 2+2?", "4", 0),
        ("Is 4 even? Think about 4.", "4", 0),  # named, never stated as the answer
        ("Is 4 even? The answer is 4.", "4", 1),
        ("Which is larger, 0.5 or 0.45?", "0.5", 0),  # comparison operands
        ("Which is larger: 0.5 or 0.45?", "0.5", 0),  # a colon, but more follows
        ("Return max(3, 1480).", "1480", 0),
        ("Which city? Paris or Rome.", "Rome", 0),
        ("#### 1480", "1480", 4),  # GSM8K's answer marker
        ("so the total is \\boxed{1480}", "1480", 4),
        ("The result is: 1480", "1480", 4),
        ("Together they equal 1480.", "1480", 4),
        ("Bob says it is equal to 1480", "1480", 4),
        ("Answer yes or no: is 7 odd?", "yes", 0),  # closed-set answer
        ("Is it TRUE that 7 is odd?", "true", 0),
        ("Solve it. Answer: $x^2$", "$x^2$", 3),  # $ delimiters stripped on the answer
        ("Nothing here", "  ", 0),
    ],
)
def test_leaked_length(prompt: str, answer: str, expected: int) -> None:
    assert leaked_chars(item(1, prompt, answer)) == expected


def test_numeric_answers_are_read_as_text() -> None:
    assert leaked_chars(item(1, "Compute 37 * 40 = 1480", 1480)) == 4


def test_multiple_choice_answers_are_never_leaks() -> None:
    mcq = item(1, "Pick one: (A) 1480 (B) 1500", "1480", choices=["1480", "1500"])
    assert leaked_chars(mcq) == 0
    assert leaked_chars(item(1, "Options: (A) 3 (B) 4", "(B)", verifier="mcq")) == 0


def test_rule_fires_from_three_characters_and_quotes_the_answer() -> None:
    items = [
        item(1, "12+3=15", "15"),
        item(2, "Compute 37 * 40. (Answer: 1480)", "1480"),
        item(3, "Which city? Paris or Rome.", "Rome"),
        item(4, "Which city? Answer: Rome", "Rome"),
    ]
    found = run(AnswerLeak(), items, gate_for("D004"))
    assert where(found) == [("d.jsonl", 2, "D004"), ("d.jsonl", 4, "D004")]
    assert found[0].message == "prompt contains the gold answer '1480'"
