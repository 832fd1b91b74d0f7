"""``json``: the machine contract. ``report.as_dict()`` pretty-printed, never a NaN.

Top-level keys ``version``, ``findings``, ``cohorts``, ``summary`` (and ``statistics`` when asked
for) in that order; cohort features in the predictor's canonical order. Each finding is written
on one line, each cohort key on one line: the document stays readable, ``grep`` finds a finding
whole, and the C encoder handles the parts that grow with the data (indenting everything with
``json.dumps(indent=2)`` runs the pure-Python encoder, five times slower).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from datalint.findings import Report
from datalint.report._common import json_safe, ordered_features, rule_statistics
from datalint.report.escape import json_inert
from datalint.rulebook import Rule

SELF_GUARDED = True  # JSON strings hold no raw line break; json_inert escapes the rest
INDENT = "  "


def report_data(report: Report, *, statistics: bool = False) -> dict[str, Any]:
    """The JSON document as Python data (also what other formats embed)."""
    data = report.as_dict()
    for cohort in data["cohorts"]:
        cohort["features"] = ordered_features(cohort["features"])
    # findings hold only strings and ints; the numbers that can be NaN live in cohorts and summary
    data["cohorts"] = json_safe(data["cohorts"])
    data["summary"] = json_safe(data["summary"])
    if statistics:
        data["statistics"] = [s.as_dict() for s in rule_statistics(report.findings)]
    return data


def _plain(value: Any) -> Any:
    """``default`` hook for the encoder: numpy scalars that slipped into a finding."""
    if hasattr(value, "item"):
        return json_safe(value.item())
    return str(value)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=_plain)


def _indented(value: Any, depth: int) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False, default=_plain)
    return text.replace("\n", "\n" + INDENT * depth)


def _object_by_key(obj: dict[str, Any], depth: int) -> str:
    """An object with one key per line and each value compact."""
    pad = INDENT * depth
    rows = ",\n".join(f"{pad}{INDENT}{_compact(k)}: {_compact(v)}" for k, v in obj.items())
    return f"{pad}{{\n{rows}\n{pad}}}"


def render(
    report: Report,
    rules: Mapping[str, Rule],
    out: TextIO,
    *,
    statistics: bool = False,
    color: bool | None = None,
) -> None:
    data = report_data(report, statistics=statistics)

    def write(text: str) -> None:
        out.write(json_inert(text))

    write("{\n")
    keys = list(data)
    for position, key in enumerate(keys):
        value = data[key]
        write(f"{INDENT}{_compact(key)}: ")
        if key == "findings" and value:
            write("[\n")
            write(",\n".join(INDENT * 2 + _compact(finding) for finding in value))
            write(f"\n{INDENT}]")
        elif key == "cohorts" and value:
            write("[\n")
            write(",\n".join(_object_by_key(cohort, 2) for cohort in value))
            write(f"\n{INDENT}]")
        else:
            write(_indented(value, 1))
        write(",\n" if position < len(keys) - 1 else "\n")
    write("}\n")
