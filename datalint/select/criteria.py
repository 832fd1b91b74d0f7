"""What ``datalint select`` keeps: by predicted lift (top share or count, a floor), by the
pass-rate band recipe, or both; over cohorts (kept or dropped whole) or single items.

Every criterion is judged on its own, so a rejected row lists each criterion it failed. ``--top``
ranks all units that have a prediction (the dataset's top share, not the survivors' top share):
a fraction is rounded up (30% of 7 cohorts keeps 3), ties keep the earlier unit. The band is
strict by default, as open-r1 filters (0.1 < rate < 0.6); ``band_inclusive`` includes its ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from datalint.errors import DatalintError

By = Literal["cohort", "item"]

# Reason codes written in `datalint_reasons` beside the rule codes (RW003, S012, ...).
NOT_TOP = "not-top"
BELOW_MIN_LIFT = "below-min-lift"
OUTSIDE_BAND = "outside-pass-band"
NO_PREDICTION = "no-prediction"
NO_PASS_RATE = "no-pass-rate"

# open-r1's pass-rate filter: 8 samples at temperature 0.7, keep 0.1 < pass rate < 0.6 per item.
PRESETS: dict[str, dict[str, object]] = {
    "open-r1": {
        "pass_band": (0.1, 0.6),
        "by": "item",
        "rollouts_per_item": 8,
        "temperature": 0.7,
    },
}


class CriteriaError(DatalintError, ValueError):
    """A --top, --pass-band or --preset value that does not parse (exit 2)."""


@dataclass(frozen=True, slots=True)
class Top:
    text: str
    count: int | None = None
    fraction: float | None = None

    def keeps(self, n: int) -> int:
        if self.fraction is not None:
            return min(n, math.ceil(self.fraction * n - 1e-9))
        assert self.count is not None
        return min(n, self.count)


def parse_top(text: str) -> Top:
    raw = text.strip()
    try:
        if raw.endswith("%"):
            share = float(raw[:-1])
            if not 0 < share <= 100 or not math.isfinite(share):
                raise ValueError
            return Top(raw, fraction=share / 100)
        count = int(raw)
        if count < 1:
            raise ValueError
        return Top(raw, count=count)
    except ValueError:
        raise CriteriaError(
            f"--top {text!r}: give a share like 30% (0 < share <= 100) or a count >= 1"
        ) from None


def parse_band(text: str) -> tuple[float, float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = float(parts[0]), float(parts[1])
        if not (0.0 <= low < high <= 1.0):
            raise ValueError
    except ValueError:
        raise CriteriaError(
            f"--pass-band {text!r}: give LOW,HIGH with 0 <= LOW < HIGH <= 1, e.g. 0.1,0.6"
        ) from None
    return low, high


@dataclass(frozen=True, slots=True)
class Criteria:
    top: Top | None = None
    min_lift: float | None = None
    pass_band: tuple[float, float] | None = None
    band_inclusive: bool = False
    by: By = "cohort"

    @property
    def empty(self) -> bool:
        return self.top is None and self.min_lift is None and self.pass_band is None

    def in_band(self, rate: float) -> bool:
        assert self.pass_band is not None
        low, high = self.pass_band
        if self.band_inclusive:
            return low <= rate <= high
        return low < rate < high

    def describe(self) -> dict[str, object]:
        return {
            "by": self.by,
            "top": self.top.text if self.top else None,
            "min_lift": self.min_lift,
            "pass_band": list(self.pass_band) if self.pass_band else None,
            "band_inclusive": self.band_inclusive,
        }


@dataclass(slots=True)
class Unit:
    """What is kept or dropped whole: a cohort, or one item (``--by item``)."""

    key: str
    lift: float | None  # its cohort's predicted lift
    pass_rate: float | None  # the item's, or the mean over the cohort's graded items
    reasons: list[str] = field(default_factory=list)


def judge(units: Sequence[Unit], criteria: Criteria) -> None:
    """Appends to each unit's ``reasons`` every criterion it fails (none: it is kept)."""
    if criteria.min_lift is not None or criteria.top is not None:
        for unit in units:
            if unit.lift is None or math.isnan(unit.lift):
                unit.reasons.append(NO_PREDICTION)
            elif criteria.min_lift is not None and unit.lift < criteria.min_lift:
                unit.reasons.append(BELOW_MIN_LIFT)
    if criteria.top is not None:
        judged = [u for u in units if u.lift is not None and not math.isnan(u.lift)]
        ranked = sorted(range(len(judged)), key=lambda i: -float(judged[i].lift or 0.0))
        keep = set(ranked[: criteria.top.keeps(len(judged))])
        for index, unit in enumerate(judged):
            if index not in keep:
                unit.reasons.append(NOT_TOP)
    if criteria.pass_band is not None:
        for unit in units:
            if unit.pass_rate is None:
                unit.reasons.append(NO_PASS_RATE)
            elif not criteria.in_band(unit.pass_rate):
                unit.reasons.append(OUTSIDE_BAND)
