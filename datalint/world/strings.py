"""String and logic subjects of the other tiny worlds: reversal, sorting, counting, a shifted copy
and boolean logic, each with its own systematic habit slip.

They follow the arithmetic subjects' contract (``draw(rng, level, shared_slip) -> Problem``): a
compact prompt such as ``"rev:abcd="``, the right answer, and a habitual wrong answer that is
fixed by the problem itself (never noise and never equal to the answer). Half the problems carry
the subject's own slip, the other half the world's shared slip, chosen by the prompt's parity.
Pure python, like the rest of ``datalint.world``.
"""

from __future__ import annotations

import random
import zlib

from datalint.world.subjects import MAX_LEVEL, Problem, SharedSlip, stutter

LETTERS = "abcdefgh"


def _word(rng: random.Random, length: int, alphabet: str = LETTERS) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _uses_own(prompt: str) -> bool:
    """Which habit a problem carries, fixed by its prompt (crc32 parity: stable across runs)."""
    return zlib.crc32(prompt.encode()) % 2 == 0


class StringSubject:
    name: str
    tag: str
    chars: str  # every character the subject's prompts and answers use

    def question(self, rng: random.Random, level: int) -> tuple[str, str]:
        """(the input written after the tag, e.g. ``"abcd"``; the right answer)."""
        raise NotImplementedError

    def own_slip(self, text: str, answer: str) -> str:
        raise NotImplementedError

    def prompt(self, text: str) -> str:
        return f"{self.tag}:{text}="

    def draw(self, rng: random.Random, level: int, shared_slip: SharedSlip = stutter) -> Problem:
        if not 1 <= level <= MAX_LEVEL:
            raise ValueError(f"level must be in 1..{MAX_LEVEL}, got {level}")
        text, answer = self.question(rng, level)
        prompt = self.prompt(text)
        own = self.own_slip(text, answer)
        slip = own if own != answer and _uses_own(prompt) else shared_slip(answer)
        return Problem(self.name, level, prompt, answer, slip)


class Reverse(StringSubject):
    name, tag, chars = "reverse", "rev", LETTERS + "rev:="

    def question(self, rng: random.Random, level: int) -> tuple[str, str]:
        text = _word(rng, level + 2)
        return text, text[::-1]

    def own_slip(self, text: str, answer: str) -> str:  # the first two outputs come out in order
        return answer[1] + answer[0] + answer[2:]


class Sort(StringSubject):
    name, tag, chars = "sort", "sort", LETTERS + "sort:="

    def question(self, rng: random.Random, level: int) -> tuple[str, str]:
        text = _word(rng, level + 2)
        return text, "".join(sorted(text))

    def own_slip(self, text: str, answer: str) -> str:  # the first letter left where it was
        return text[0] + "".join(sorted(text[1:]))


class Count(StringSubject):
    name, tag, chars = "count", "cnt", LETTERS + "0123456789cnt:="

    def question(self, rng: random.Random, level: int) -> tuple[str, str]:
        target = rng.choice(LETTERS[:4])
        text = _word(rng, 2 * level + 2, LETTERS[:4])
        return f"{target}:{text}", str(text.count(target))

    def own_slip(self, text: str, answer: str) -> str:  # the query letter counted as well
        return str(int(answer) + 1)


class Shift(StringSubject):
    """Copying with a twist: every letter replaced by the next one (h wraps to a)."""

    name, tag, chars = "shift", "nxt", LETTERS + "nxt:="

    def question(self, rng: random.Random, level: int) -> tuple[str, str]:
        text = _word(rng, level + 2)
        return text, "".join(LETTERS[(LETTERS.index(c) + 1) % len(LETTERS)] for c in text)

    def own_slip(self, text: str, answer: str) -> str:  # the last letter copied, not shifted
        return answer[:-1] + text[-1]


class Logic(StringSubject):
    """A boolean expression over T/F with ``&`` binding tighter than ``|``; answer T or F."""

    name, tag, chars = "logic", "log", "TF&|log:="

    def question(self, rng: random.Random, level: int) -> tuple[str, str]:
        values = [rng.choice("TF") for _ in range(level + 1)]
        ops = [rng.choice("&|") for _ in range(level)]
        text = values[0] + "".join(o + v for o, v in zip(ops, values[1:], strict=True))
        return text, _evaluate(text)

    def own_slip(self, text: str, answer: str) -> str:  # read left to right, no precedence
        value = text[0] == "T"
        for op, v in zip(text[1::2], text[2::2], strict=True):
            value = (value and v == "T") if op == "&" else (value or v == "T")
        return "T" if value else "F"


def _evaluate(text: str) -> str:
    """``&`` before ``|``: true when any ``|``-separated run of ``&`` terms is all T."""
    return "T" if any(all(c == "T" for c in term.split("&")) for term in text.split("|")) else "F"


STRING_SUBJECTS: dict[str, StringSubject] = {
    s.name: s for s in (Reverse(), Sort(), Count(), Shift(), Logic())
}
