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


SAMPLES_PER_ITEM = 2
SAMPLE_CHARS = 160  # a report shows the start of a completion; memory stays small per item


@dataclass(frozen=True, slots=True)
class ItemSample:
    """One sampled completion (its first ``SAMPLE_CHARS`` characters) and the reward it got."""

    completion: str
    reward: float
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"completion": self.completion, "reward": self.reward, "truncated": self.truncated}


def pick_samples(
    completions: list[str], rewards: list[float], limit: int = SAMPLES_PER_ITEM
) -> list[ItemSample]:
    """A few graded completions to show: the first right one and the first wrong one first."""
    order: list[int] = []
    for wanted in (True, False):
        first = next((i for i, r in enumerate(rewards) if (r >= 0.5) is wanted), None)
        if first is not None:
            order.append(first)
    order += [i for i in range(len(rewards)) if i not in order]
    samples = []
    for i in sorted(order[:limit]):
        text = completions[i]
        cut = len(text) > SAMPLE_CHARS
        samples.append(ItemSample(text[:SAMPLE_CHARS], float(rewards[i]), cut))
    return samples


@dataclass(slots=True)
class ItemDiagnostic:
    """Per-item reward diagnostics (cleanlab-style per-row flags) and a few graded samples."""

    path: str
    line: int
    n_rollouts: int
    pass_rate: float
    flags: list[str] = field(default_factory=list)  # "all_correct" | "all_wrong" | "disagree"
    samples: list[ItemSample] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "path": self.path,
            "line": self.line,
            "n_rollouts": self.n_rollouts,
            "pass_rate": self.pass_rate,
            "flags": list(self.flags),
        }
        if self.samples:
            d["samples"] = [s.as_dict() for s in self.samples]
        return d


@dataclass(slots=True)
class CohortReport:
    id: str
    lines: list[tuple[str, int]]
    features: dict[str, float | None]
    items: list[ItemDiagnostic] = field(default_factory=list)
    predicted_lift: float | None = None
    # the predictor's 80% interval of the lift, [low, high] in nats; None without one
    predicted_lift_interval: tuple[float, float] | None = None
    sampling: dict[str, Any] | None = None  # adaptive k's budget (fixed k: None, not shown)
    # signals beyond the 23 (datalint.features_names.SIGNAL_NAMES), when they were computed
    signals: dict[str, float | None] = field(default_factory=dict)
    # lr x steps x grad_align_adam under the predictor's label rule, in nats (never an input)
    first_order_lift: float | None = None

    def predictor_row(self) -> dict[str, float | None]:
        """What a predictor reads: the 23 features, then the signals."""
        return {**self.features, **self.signals}

    def as_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "lines": [{"path": p, "line": ln} for p, ln in self.lines],
            "features": dict(self.features),
            "items": [i.as_dict() for i in self.items],
            "predicted_lift": self.predicted_lift,
            "predicted_lift_interval": (
                list(self.predicted_lift_interval) if self.predicted_lift_interval else None
            ),
        }
        if self.sampling is not None:
            data["sampling"] = self.sampling
        if self.signals:
            data["signals"] = dict(self.signals)
        if self.first_order_lift is not None:
            data["first_order_lift"] = self.first_order_lift
        return data


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
    # {"in_domain", "nearest_world", "model", "worlds", "lift_score_source", "reason",
    #  "gradient_signals": linear-range verdict (datalint.predict.linear_range) or None}
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
