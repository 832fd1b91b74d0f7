"""``calibrate``'s pre-flight: every item must be usable before the first GRPO run starts.

A GRPO run grades its completions with the cohort's own verifiers and scores a verifier error as
reward 0, so an item whose verifier cannot be found or imported would train on silence without a
word. ``check`` reports such an item (S011); ``calibrate`` refuses it up front with one line.

:func:`preflight` is the one place to add a check: each checker takes the items and the
context and returns :class:`Problem` s; an empty list means calibration may start. The checks
that come with other stages (gold answers a verifier cannot parse, prompts that overflow the
model's context) belong in :data:`CHECKS` as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from datalint.errors import DatalintError
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


class PreflightError(DatalintError):
    """Items that cannot be calibrated on; the message names the first at file:line."""


Check = Callable[[Sequence[Item], PreflightContext], list[Problem]]


def verifier_problems(items: Sequence[Item], context: PreflightContext) -> list[Problem]:
    """Items whose verifier cannot be resolved, resolved the way grading resolves it."""
    from datalint.grade.base import GradingError
    from datalint.grade.registry import get_verifier, verifier_name

    errors: dict[str, str | None] = {}
    problems: list[Problem] = []
    for item in items:
        name = verifier_name(item, context.default_verifier)
        if name not in errors:
            try:
                get_verifier(name)
                errors[name] = None
            except GradingError as exc:
                errors[name] = str(exc)
        reason = errors[name]
        if reason is not None:
            problems.append(Problem(item.source, reason))
    return problems


CHECKS: list[Check] = [verifier_problems]


def preflight(
    items: Sequence[Item],
    *,
    default_verifier: str = "exact",
    tokenizer: object | None = None,
    model_dir: str | None = None,
) -> list[Problem]:
    """Every problem :data:`CHECKS` find in ``items``, in file order (empty: good to go)."""
    context = PreflightContext(default_verifier, tokenizer, model_dir)
    problems = [problem for check in CHECKS for problem in check(items, context)]
    return sorted(problems, key=lambda p: (p.source.path, p.source.line))


def require_preflight(items: Sequence[Item], **context: object) -> None:
    """Raise :class:`PreflightError` naming the first problem (and how many more) if any."""
    problems = preflight(items, **context)  # type: ignore[arg-type]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PreflightError(f"{problems[0]}{more}; nothing was trained")
