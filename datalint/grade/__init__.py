"""Verifiers: turn a completion into a reward (math, mcq, exact, numeric, regex, plug-ins)."""

from datalint.grade.base import GradingError, Verifier
from datalint.grade.batch import Grades, RewardMismatch, VerifierFailure, grade_items
from datalint.grade.registry import BUILTIN_VERIFIERS, DEFAULT_VERIFIER, get_verifier, grade

__all__ = [
    "BUILTIN_VERIFIERS",
    "DEFAULT_VERIFIER",
    "Grades",
    "GradingError",
    "RewardMismatch",
    "Verifier",
    "VerifierFailure",
    "get_verifier",
    "grade",
    "grade_items",
]
