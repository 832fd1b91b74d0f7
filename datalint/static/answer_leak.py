"""D004: the prompt states the gold answer, verbatim, as an answer.

The metric is the length of the leaked answer (0 when it does not leak), so the rule's threshold
decides how short an answer may appear by chance: "4" occurs in many prompts that do not give
the answer away, "1485" rarely does. Matching is case-insensitive on the answer with surrounding
whitespace and ``$`` removed. Templated and comparison data name the answer as an operand all the
time ("Which is larger, 0.5 or 0.45?", "max(3, 7)", "Paris or Rome?"), so an occurrence is a leak
only when it is stated as the answer: right after an answer cue (``=``, ``≈``, ``->``, ``####``,
``\boxed{``, "answer", "answer is", "answer:", "solution is", "result is", "equals", "is equal
to", "gives"), or after a colon at the very end of the prompt ("Capital of France: Paris.").
It must also stand at token boundaries:

* not inside a longer word or number: "15" is not in "150", "a15" or "15th";
* not as part of a decimal or grouped number: "15" is not in "3.15", "15.7" or "15,000";
* not behind a unary minus: "15" is not in "x=-15" (a different number), though it is in "10-15".

Operators and punctuation otherwise count as boundaries, so "x=15" and "(15)" do leak "15".
Answers picked from a closed set are never leaks, since the prompt must name the options:
multiple-choice items (``choices`` given or verifier ``mcq``) and yes/no/true/false answers.
"""

from __future__ import annotations

import re

from datalint.engine import Gate
from datalint.load.records import Item

FEATURE = "answer_leak_chars"
CLOSED_SET_ANSWERS = frozenset({"yes", "no", "true", "false"})
# An answer cue right before the occurrence (text is casefolded); wrappers such as $ * ( " may
# stand between. Matched against a short window, so its cost does not grow with the prompt.
_CUE = re.compile(
    r"(?:=|≈|->|→|####|\\boxed\{|\banswer(?:\s+is)?\s*[:=]?|\b(?:solution|result)\s*(?:is|[:=])"
    r"|\bequals?(?:\s+to)?|\bis\s+equal\s+to|\bgives)[\s$*(\"'`]*$"
)
_CUE_WINDOW = 32
_TRAILING = re.compile(r"[\s.!?)\]\"'`$*]*")


class AnswerLeak:
    """Reports ``answer_leak_chars``: len(answer) when the prompt contains it, else 0."""

    def feed(self, item: Item, gate: Gate) -> None:
        leaked = leaked_chars(item)
        if leaked:
            gate.observe(FEATURE, leaked, item.source, answer=_clean(item.answer_text))

    def finish(self, gate: Gate) -> None:
        return None


def leaked_chars(item: Item) -> int:
    if item.choices or item.verifier == "mcq":
        return 0
    answer = _clean(item.answer_text)
    needle = answer.casefold()
    if not needle or needle in CLOSED_SET_ANSWERS:
        return 0
    haystack = item.prompt_text.casefold()
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        if _is_whole_token(haystack, start, end) and _stated_as_answer(haystack, start, end):
            return len(answer)
        start = haystack.find(needle, start + 1)
    return 0


def _stated_as_answer(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - _CUE_WINDOW) : start]
    if _CUE.search(before):
        return True
    at_end = _TRAILING.fullmatch(text, end) is not None
    return at_end and before.rstrip(" \t$*(\"'`").endswith(":")


def _clean(answer: str) -> str:
    return answer.strip().strip("$").strip()


def _is_whole_token(text: str, start: int, end: int) -> bool:
    first, last = text[start], text[end - 1]
    before = text[start - 1] if start > 0 else ""
    before2 = text[start - 2] if start > 1 else ""
    after = text[end] if end < len(text) else ""
    after2 = text[end + 1] if end + 1 < len(text) else ""
    if first.isalnum() and _wordish(before):
        return False
    if last.isalnum() and _wordish(after):
        return False
    if first.isdigit() and before and before in ".," and before2.isdigit():
        return False  # "3.15", "2,15": the tail of a longer number (a bare ".15" still leaks)
    if first.isdigit() and before == "-" and not _wordish(before2):
        return False  # unary minus: "-15" is not 15; "10-15" still shows 15
    # "15.7", "15,000": the head of a longer number ("is 15." still leaks)
    return not (last.isdigit() and after and after in ".," and after2.isdigit())


def _wordish(ch: str) -> bool:
    return bool(ch) and (ch.isalnum() or ch == "_")


def stated_answer(item: Item) -> bool:
    """Whether the prompt states the gold answer as its answer (D004's test, at any length)."""
    return leaked_chars(item) > 0
