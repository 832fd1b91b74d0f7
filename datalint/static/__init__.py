"""Static checks: what can be said about a dataset without a model (duplicates, leaks, lengths)."""

from datalint.static.base import (
    SkippedCheck,
    StaticCheck,
    StaticOptions,
    build_static_checks,
    skip_notes,
)

__all__ = ["SkippedCheck", "StaticCheck", "StaticOptions", "build_static_checks", "skip_notes"]
