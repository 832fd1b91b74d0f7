"""Deterministic generators over the tiny world: habit-corrupted pretraining text and cohorts.

A *cohort* is a handful of problems that GRPO trains on together. ``make_cohorts`` draws many of
them with mixed subjects, difficulty and a share of *scrambled* cohorts, whose gold answers are
replaced by the policy's own habitual slips, so a reward on them teaches the habit back.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from datalint.world.strings import STRING_SUBJECTS
from datalint.world.subjects import MAX_LEVEL, SUBJECTS, VOCAB_CHARS, Problem, SharedSlip, stutter

# Share of pretraining answers replaced by a habitual slip, per difficulty level: easy problems
# are learnt clean (some are always solved), harder ones carry the habits (about 30% overall).
HABIT_SHARE_BY_LEVEL: dict[int, float] = {1: 0.05, 2: 0.25, 3: 0.4, 4: 0.5}
# How often pretraining shows each level: the top level is there mostly to show its format (the
# tiny policy cannot learn it in minutes), so capacity goes to the levels where attempts split.
LEVEL_WEIGHTS: dict[int, float] = {1: 0.2, 2: 0.35, 3: 0.35, 4: 0.1}

COHORT_KINDS = ("frontier", "known", "no_foothold", "scrambled", "mixed")

# Every subject any world draws from: the shipped world's arithmetic and the string tasks.
CATALOG = {**SUBJECTS, **STRING_SUBJECTS}


def subject_chars(subject: str) -> str:
    """Every character the subject's prompts and answers can use (for char-level vocabularies)."""
    if subject in STRING_SUBJECTS:
        return STRING_SUBJECTS[subject].chars
    if subject in SUBJECTS:
        return VOCAB_CHARS
    raise ValueError(f"unknown subject {subject!r}; known: {', '.join(CATALOG)}")


def draw_problem(
    rng: random.Random, subject: str, level: int, shared_slip: SharedSlip = stutter
) -> Problem:
    if subject not in CATALOG:
        raise ValueError(f"unknown subject {subject!r}; known: {', '.join(CATALOG)}")
    return CATALOG[subject].draw(rng, level, shared_slip)


@dataclass(frozen=True)
class PretrainExample:
    problem: Problem
    text_answer: str  # what the corpus shows: the answer, or the slip when corrupted

    @property
    def corrupted(self) -> bool:
        return self.text_answer != self.problem.answer


def pretraining_examples(
    n: int,
    seed: int,
    subjects: Sequence[str] = tuple(SUBJECTS),
    habit_share: dict[int, float] | None = None,
    level_weights: dict[int, float] | None = None,
    shared_slip: SharedSlip = stutter,
) -> list[PretrainExample]:
    """``n`` examples: subjects uniform, levels by ``LEVEL_WEIGHTS``, a level-dependent share
    (``HABIT_SHARE_BY_LEVEL``) shown with the problem's habitual slip instead of its answer."""
    shares = HABIT_SHARE_BY_LEVEL if habit_share is None else habit_share
    level_mix = LEVEL_WEIGHTS if level_weights is None else level_weights
    rng = random.Random(seed)
    levels = list(level_mix)
    weights = [level_mix[lv] for lv in levels]
    out: list[PretrainExample] = []
    for _ in range(n):
        level = rng.choices(levels, weights)[0]
        problem = draw_problem(rng, rng.choice(list(subjects)), level, shared_slip)
        corrupt = rng.random() < shares[problem.level]
        out.append(PretrainExample(problem, problem.slip if corrupt else problem.answer))
    return out


@dataclass
class WorldCohort:
    id: str
    kind: str
    problems: list[Problem] = field(default_factory=list)
    scrambled: bool = False

    def answers(self) -> list[str]:
        """The answers the cohort's data file claims (slips when scrambled)."""
        return [p.slip if self.scrambled else p.answer for p in self.problems]


def _levels_for(kind: str, rng: random.Random, size: int) -> list[int]:
    if kind == "known":
        return [1] * size
    if kind == "no_foothold":
        return [MAX_LEVEL] * size
    if kind in ("frontier", "scrambled"):
        return [rng.choice((2, 2, 3)) for _ in range(size)]
    return [rng.randint(1, MAX_LEVEL) for _ in range(size)]


def make_cohort(
    rng: random.Random,
    cohort_id: str,
    kind: str,
    subjects: Sequence[str],
    size: int = 4,
    shared_slip: SharedSlip = stutter,
) -> WorldCohort:
    """One cohort of ``kind`` (see ``COHORT_KINDS``), all its problems from one subject."""
    if kind not in COHORT_KINDS:
        raise ValueError(f"unknown cohort kind {kind!r}; known: {', '.join(COHORT_KINDS)}")
    subject = rng.choice(list(subjects))
    problems = [draw_problem(rng, subject, lv, shared_slip) for lv in _levels_for(kind, rng, size)]
    return WorldCohort(cohort_id, kind, problems, scrambled=kind == "scrambled")


def make_cohorts(
    n: int,
    subjects: Sequence[str],
    seed: int,
    *,
    size: int = 4,
    scrambled_share: float = 0.1,
    prefix: str = "c",
    shared_slip: SharedSlip = stutter,
) -> list[WorldCohort]:
    """``n`` cohorts for calibration: mixed difficulty, one subject each, some scrambled.

    Each cohort draws its own level mix (anything from all-easy to all-hard, by drawing per-item
    levels around a cohort-specific centre) so the features and the lift spread widely.
    """
    rng = random.Random(seed)
    cohorts: list[WorldCohort] = []
    for i in range(n):
        cid = f"{prefix}{i:04d}"
        subject = rng.choice(list(subjects))
        centre = rng.uniform(0.5, MAX_LEVEL + 0.5)
        levels = [min(MAX_LEVEL, max(1, round(rng.gauss(centre, 0.8)))) for _ in range(size)]
        problems = [draw_problem(rng, subject, lv, shared_slip) for lv in levels]
        scrambled = rng.random() < scrambled_share
        kind = "scrambled" if scrambled else "mixed"
        cohorts.append(WorldCohort(cid, kind, problems, scrambled=scrambled))
    return cohorts


def cohort_records(cohort: WorldCohort) -> Iterator[dict[str, object]]:
    """The cohort as data-file records (the item schema: prompt, answer, id, subject, ...)."""
    for j, (problem, answer) in enumerate(zip(cohort.problems, cohort.answers(), strict=True)):
        yield {
            "id": f"{cohort.id}-{j}",
            "prompt": problem.prompt,
            "answer": answer,
            "subject": problem.subject,
            "verifier": "exact",
            "cohort": cohort.id,
            "meta": {"level": problem.level, "kind": cohort.kind},
        }


def problem_record(problem: Problem, item_id: str) -> dict[str, object]:
    return {
        "id": item_id,
        "prompt": problem.prompt,
        "answer": problem.answer,
        "subject": problem.subject,
        "verifier": "exact",
        "meta": {"level": problem.level},
    }
