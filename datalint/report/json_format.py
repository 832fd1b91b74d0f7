"""``json``: the machine contract. ``report.as_dict()`` pretty-printed, never a NaN.

Top-level keys ``version``, ``findings``, ``cohorts``, ``summary`` (and ``statistics`` when asked
for) in that order; cohort features in the predictor's canonical order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from datalint.findings import Report
from datalint.report._common import json_safe, ordered_features, rule_statistics
from datalint.rulebook import Rule


def report_data(report: Report, *, statistics: bool = False) -> dict[str, Any]:
    """The JSON document as Python data (also what other formats embed)."""
    data = report.as_dict()
    for cohort in data["cohorts"]:
        cohort["features"] = ordered_features(cohort["features"])
    if statistics:
        data["statistics"] = [s.as_dict() for s in rule_statistics(report.findings)]
    return json_safe(data)  # type: ignore[no-any-return]


def render(
    report: Report,
    rules: Mapping[str, Rule],
    out: TextIO,
    *,
    statistics: bool = False,
    color: bool | None = None,
) -> None:
    text = json.dumps(
        report_data(report, statistics=statistics), indent=2, ensure_ascii=False, allow_nan=False
    )
    out.write(text + "\n")
