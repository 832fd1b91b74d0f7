"""The subjects of the tiny arithmetic world: how a problem is drawn, solved and habitually botched.

Every subject maps (rng, level) to operands, renders a compact prompt such as ``"37+48="`` and
knows two answers: the correct one and the subject's habitual slip (a dropped carry, a borrow
error, ...). Levels run from 1 (a few digits, always solved) to ``MAX_LEVEL`` (beyond the tiny
policy). Everything here is pure python so ``check`` never pays for it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

MAX_LEVEL = 4


def _digits_number(rng: random.Random, n_digits: int) -> int:
    low = 0 if n_digits == 1 else 10 ** (n_digits - 1)
    return rng.randint(low, 10**n_digits - 1)


def _columnwise(a: int, b: int, column: Callable[[int, int], int]) -> int:
    """Combine a and b digit by digit from the right with no carry or borrow between columns."""
    sa, sb = str(a), str(b).rjust(len(str(a)), "0")
    return int("".join(str(column(int(x), int(y)) % 10) for x, y in zip(sa, sb, strict=True)))


def stutter(answer: str) -> str:
    """The slip shared by every subject: the last digit written twice."""
    return answer + answer[-1]


def drop_last(answer: str) -> str:
    """A shared slip of other worlds: the last character left off (stutter for one character)."""
    return answer[:-1] if len(answer) > 1 else stutter(answer)


def swap_last_two(answer: str) -> str:
    """A shared slip of other worlds: the last two characters swapped (stutter when that is a
    no-op, as for ``"7"`` or ``"11"``)."""
    if len(answer) < 2 or answer[-1] == answer[-2]:
        return stutter(answer)
    return answer[:-2] + answer[-1] + answer[-2]


SharedSlip = Callable[[str], str]
SHARED_SLIPS: dict[str, SharedSlip] = {
    "stutter": stutter,
    "drop_last": drop_last,
    "swap_last_two": swap_last_two,
}


@dataclass(frozen=True)
class Problem:
    subject: str
    level: int
    prompt: str
    answer: str
    slip: str  # the habitual wrong answer for this problem (never equal to ``answer``)


class Subject:
    name: str
    operator: str

    def operands(self, rng: random.Random, level: int) -> tuple[int, ...]:
        raise NotImplementedError

    def prompt(self, ops: tuple[int, ...]) -> str:
        return f"{ops[0]}{self.operator}{ops[1]}="

    def solve(self, ops: tuple[int, ...]) -> int:
        raise NotImplementedError

    def own_slip(self, ops: tuple[int, ...]) -> int:
        """The subject-specific habit; may coincide with the right answer (then stutter is used)."""
        raise NotImplementedError

    def draw(self, rng: random.Random, level: int, shared_slip: SharedSlip = stutter) -> Problem:
        if not 1 <= level <= MAX_LEVEL:
            raise ValueError(f"level must be in 1..{MAX_LEVEL}, got {level}")
        ops = self.operands(rng, level)
        answer = str(self.solve(ops))
        # Half the habits are the subject's own slip, half the shared stutter; which one a
        # problem gets is fixed by its operands so the habit is systematic, not noise.
        own = str(self.own_slip(ops))
        use_own = own != answer and sum(ops) % 2 == 0
        slip = own if use_own else shared_slip(answer)
        return Problem(self.name, level, self.prompt(ops), answer, slip)


class Add(Subject):
    name, operator = "add", "+"

    def operands(self, rng: random.Random, level: int) -> tuple[int, ...]:
        return _digits_number(rng, level), _digits_number(rng, level)

    def solve(self, ops: tuple[int, ...]) -> int:
        return ops[0] + ops[1]

    def own_slip(self, ops: tuple[int, ...]) -> int:  # dropped carry
        return _columnwise(max(ops), min(ops), lambda x, y: x + y)


class Sub(Subject):
    name, operator = "sub", "-"

    def operands(self, rng: random.Random, level: int) -> tuple[int, ...]:
        a, b = _digits_number(rng, level), _digits_number(rng, level)
        return max(a, b), min(a, b)

    def solve(self, ops: tuple[int, ...]) -> int:
        return ops[0] - ops[1]

    def own_slip(self, ops: tuple[int, ...]) -> int:  # smaller-from-larger in every column
        return _columnwise(ops[0], ops[1], lambda x, y: abs(x - y))


class Mul(Subject):
    name, operator = "mul", "*"

    def operands(self, rng: random.Random, level: int) -> tuple[int, ...]:
        return _digits_number(rng, level), rng.randint(2, 9)

    def solve(self, ops: tuple[int, ...]) -> int:
        return ops[0] * ops[1]

    def own_slip(self, ops: tuple[int, ...]) -> int:  # dropped carry
        return _columnwise(ops[0], 0, lambda x, _y: x * ops[1])


class Mod(Subject):
    name, operator = "mod", "%"

    def operands(self, rng: random.Random, level: int) -> tuple[int, ...]:
        return _digits_number(rng, level + 1), rng.randint(2, 9)

    def solve(self, ops: tuple[int, ...]) -> int:
        return ops[0] % ops[1]

    def own_slip(self, ops: tuple[int, ...]) -> int:  # stopped one subtraction short
        return ops[0] % ops[1] + ops[1] if ops[0] >= ops[1] else ops[0] % ops[1]


class DigitSum(Subject):
    name, operator = "dsum", "s"

    def operands(self, rng: random.Random, level: int) -> tuple[int, ...]:
        return (_digits_number(rng, level + 2),)

    def prompt(self, ops: tuple[int, ...]) -> str:
        return f"s{ops[0]}="

    def solve(self, ops: tuple[int, ...]) -> int:
        return sum(int(c) for c in str(ops[0]))

    def own_slip(self, ops: tuple[int, ...]) -> int:  # forgot the last digit
        return sum(int(c) for c in str(ops[0])[:-1])


SUBJECTS: dict[str, Subject] = {s.name: s for s in (Add(), Sub(), Mul(), Mod(), DigitSum())}
VOCAB_CHARS = "0123456789+-*%s="
