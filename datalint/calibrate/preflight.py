"""``calibrate``'s pre-flight: every item must be usable before the first GRPO run starts.

A GRPO run grades its completions with the cohort's own verifiers and scores a verifier error as
reward 0, so an item whose verifier cannot be used would train on silence without a word.
``check`` reports such an item (S012, S013, S014); ``calibrate`` refuses it up front with one
line.

:func:`preflight` is the one place to add a check: each checker takes the items and the
context and returns :class:`Problem` s; an empty list means calibration may start. The checks
that come with other stages (gold answers a verifier cannot parse, prompts that overflow the
model's context) belong in :data:`CHECKS` as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from datalint.errors import DatalintError
from datalint.grade.settings import Grading
from datalint.load.records import Item, Source


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an item cannot be calibrated on, at its file:line."""

    source: Source
    message: str

    def __str__(self) -> str:
        return f"{self.source.path}:{self.source.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class PreflightContext:
    """What the checks may need besides the items (extend with fields, keep defaults)."""

    default_verifier: str = "exact"
    tokenizer: object | None = None  # the policy's tokenizer, for prompt-length checks
    model_dir: str | None = None
    grading: Grading | None = None  # the config's [verifiers] and extraction; else the default


class PreflightError(DatalintError):
    """Items that cannot be calibrated on; the message names the first at file:line."""


Check = Callable[[Sequence[Item], PreflightContext], list[Problem]]


def verifier_problems(items: Sequence[Item], context: PreflightContext) -> list[Problem]:
    """Items that check's S012, S013 and S014 report: a verifier named by an import string, an
    unknown verifier or one that cannot use the item, a gold answer that cannot be verified.
    Decided the way grading decides (:mod:`datalint.grade.preflight`); nothing is imported."""
    from datalint.grade.preflight import problem

    grading = context.grading or Grading(default_verifier=context.default_verifier)
    found = []
    for item in items:
        p = problem(item, grading)
        if p is not None:
            found.append(Problem(item.source, f"{p.kind} {p.verifier!r}: {p.reason}"))
    return found


CHECKS: list[Check] = [verifier_problems]


def preflight(
    items: Sequence[Item],
    *,
    default_verifier: str = "exact",
    tokenizer: object | None = None,
    model_dir: str | None = None,
    grading: Grading | None = None,
) -> list[Problem]:
    """Every problem :data:`CHECKS` find in ``items``, in file order (empty: good to go)."""
    context = PreflightContext(default_verifier, tokenizer, model_dir, grading)
    problems = [problem for check in CHECKS for problem in check(items, context)]
    return sorted(problems, key=lambda p: (p.source.path, p.source.line))


def require_preflight(items: Sequence[Item], **context: object) -> None:
    """Raise :class:`PreflightError` naming the first problem (and how many more) if any."""
    problems = preflight(items, **context)  # type: ignore[arg-type]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PreflightError(f"{problems[0]}{more}; nothing was trained")
