"""A tiny char-level arithmetic world whose RL behaves like RLVR on an under-elicited base model.

Pure python (no numpy or torch needed): problem subjects with systematic habit slips, the
habit-corrupted pretraining corpus of the shipped tiny policy, and cohort generators.
"""

from datalint.world.generate import (
    COHORT_KINDS,
    HABIT_SHARE_BY_LEVEL,
    LEVEL_WEIGHTS,
    PretrainExample,
    WorldCohort,
    cohort_records,
    draw_problem,
    make_cohort,
    make_cohorts,
    pretraining_examples,
    problem_record,
)
from datalint.world.subjects import MAX_LEVEL, SUBJECTS, VOCAB_CHARS, Problem, stutter

__all__ = [
    "COHORT_KINDS",
    "HABIT_SHARE_BY_LEVEL",
    "LEVEL_WEIGHTS",
    "MAX_LEVEL",
    "SUBJECTS",
    "VOCAB_CHARS",
    "PretrainExample",
    "Problem",
    "WorldCohort",
    "cohort_records",
    "draw_problem",
    "make_cohort",
    "make_cohorts",
    "pretraining_examples",
    "problem_record",
    "stutter",
]
