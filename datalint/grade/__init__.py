"""Grading: verifiers turn a completion into a reward (math, mcq, exact, numeric, regex, plug-ins),
with answer extraction modes, a trust rule for verifier names and bounded work per item."""

from datalint.grade.base import GradingError, Verifier, gold_answers
from datalint.grade.batch import Grades, RewardMismatch, VerifierFailure, grade_items
from datalint.grade.registry import (
    BUILTIN_VERIFIERS,
    DEFAULT_VERIFIER,
    UnknownVerifier,
    UntrustedVerifier,
    get_verifier,
    grade,
)
from datalint.grade.settings import EXTRACTION_MODES, Grading

__all__ = [
    "BUILTIN_VERIFIERS",
    "DEFAULT_VERIFIER",
    "EXTRACTION_MODES",
    "Grades",
    "Grading",
    "GradingError",
    "RewardMismatch",
    "UnknownVerifier",
    "UntrustedVerifier",
    "Verifier",
    "VerifierFailure",
    "get_verifier",
    "gold_answers",
    "grade",
    "grade_items",
]
