"""Findings (what a rule reports) and the report model every output format renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["error", "warning"]


@dataclass(slots=True)
class Finding:
    code: str
    name: str
    level: Level
    path: str
    line: int
    message: str
    cohort: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {
            "code": self.code,
            "name": self.name,
            "level": self.level,
            "path": self.path,
            "line": self.line,
            "message": self.message,
        }
        if self.cohort is not None:
            d["cohort"] = self.cohort
        return d


@dataclass(slots=True)
class ItemDiagnostic:
    """Per-item reward diagnostics (cleanlab-style per-row flags)."""

    path: str
    line: int
    n_rollouts: int
    pass_rate: float
    flags: list[str] = field(default_factory=list)  # "all_correct" | "all_wrong" | "disagree"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "n_rollouts": self.n_rollouts,
            "pass_rate": self.pass_rate,
            "flags": list(self.flags),
        }


@dataclass(slots=True)
class CohortReport:
    id: str
    lines: list[tuple[str, int]]
    features: dict[str, float | None]
    items: list[ItemDiagnostic] = field(default_factory=list)
    predicted_lift: float | None = None
    # the predictor's 80% interval of the lift, [low, high] in nats; None without one
    predicted_lift_interval: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "lines": [{"path": p, "line": ln} for p, ln in self.lines],
            "features": dict(self.features),
            "items": [i.as_dict() for i in self.items],
            "predicted_lift": self.predicted_lift,
            "predicted_lift_interval": (
                list(self.predicted_lift_interval) if self.predicted_lift_interval else None
            ),
        }


@dataclass(slots=True)
class Summary:
    passed: bool
    n_files: int = 0
    n_items: int = 0
    n_errors: int = 0
    n_warnings: int = 0
    lift_score: float | None = None
    fail_under: float | None = None
    predictor: str | None = None
    similarity: str | None = None
    skipped_stages: list[str] = field(default_factory=list)
    # {"in_domain", "nearest_world", "model", "worlds", "lift_score_source", "reason"}
    predictor_domain: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "n_files": self.n_files,
            "n_items": self.n_items,
            "n_errors": self.n_errors,
            "n_warnings": self.n_warnings,
            "lift_score": self.lift_score,
            "fail_under": self.fail_under,
            "predictor": self.predictor,
            "similarity": self.similarity,
            "skipped_stages": list(self.skipped_stages),
            "predictor_domain": self.predictor_domain,
        }


@dataclass(slots=True)
class Report:
    findings: list[Finding]
    cohorts: list[CohortReport]
    summary: Summary

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "findings": [f.as_dict() for f in self.findings],
            "cohorts": [c.as_dict() for c in self.cohorts],
            "summary": self.summary.as_dict(),
        }
