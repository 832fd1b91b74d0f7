"""A real report, read back from the JSON a `datalint check` of the shipped example wrote.

``tests/snapshots/vendor-report.json`` is ``datalint check examples/vendor.jsonl --probe
examples/probe.jsonl --format json`` (shipped tiny policy, predictor and MiniLM), run from the
repository root; the layout tests render it at fixed widths.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datalint.findings import CohortReport, Finding, ItemDiagnostic, ItemSample, Report, Summary

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
VENDOR_REPORT = SNAPSHOTS / "vendor-report.json"


def report_from_dict(data: dict[str, Any]) -> Report:
    findings = [
        Finding(
            f["code"], f["name"], f["level"], f["path"], f["line"], f["message"], f.get("cohort")
        )
        for f in data["findings"]
    ]
    cohorts = [
        CohortReport(
            id=c["id"],
            lines=[(ln["path"], ln["line"]) for ln in c["lines"]],
            features=dict(c["features"]),
            items=[
                ItemDiagnostic(
                    i["path"],
                    i["line"],
                    i["n_rollouts"],
                    i["pass_rate"],
                    list(i["flags"]),
                    [ItemSample(**s) for s in i.get("samples", [])],
                )
                for i in c["items"]
            ],
            predicted_lift=c["predicted_lift"],
        )
        for c in data["cohorts"]
    ]
    s = data["summary"]
    summary = Summary(**{k: v for k, v in s.items() if k in Summary.__slots__})  # type: ignore[attr-defined]
    return Report(findings, cohorts, summary)


def vendor_report() -> Report:
    return report_from_dict(json.loads(VENDOR_REPORT.read_text("utf-8")))
