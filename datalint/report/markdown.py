"""``markdown``: the report as GitHub-flavoured markdown, for PR comments and step summaries.

The verdict and the summary in words, findings counted per rule, the worst findings, and the
cohort table with each cohort's verdict. Names from the data (paths, cohort ids) are code spans
and messages are escaped (``datalint.report.escape``), so the data cannot add a link, an image,
HTML or a mention to the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from datalint.findings import Finding, Report
from datalint.report._common import (
    LIFT_UNIT,
    cohort_lines,
    cohort_size,
    display_path,
    fmt_lift,
    fmt_short,
    headline,
    location,
    rule_statistics,
    verdicts,
    worst_first_by_file,
)
from datalint.report.escape import markdown_code, markdown_text
from datalint.rulebook import Rule

MAX_FINDING_ROWS = 50
MAX_COHORT_ROWS = 100


def render(
    report: Report,
    rules: Mapping[str, Rule],
    out: TextIO,
    *,
    statistics: bool = False,
    color: bool | None = None,
) -> None:
    out.write(document(report, rules))


def document(report: Report, rules: Mapping[str, Rule] | None = None) -> str:
    rules = rules or {}
    head = headline(report)
    parts = [f"## datalint: {head.status}", "", head.summary]  # numbers and words, no data
    if head.cohorts:
        parts += ["", head.cohorts]
    if head.lift is not None:
        parts += ["", f"Lift score **{head.lift}** {LIFT_UNIT}."]
    parts.append("")
    if report.findings:
        parts += _rules_table(report.findings, rules)
        parts += _findings_table(report.findings)
    if report.cohorts:
        parts += _cohort_table(report)
    return "\n".join(parts) + "\n"


def _rules_table(findings: list[Finding], rules: Mapping[str, Rule]) -> list[str]:
    lines = [
        "### Findings per rule",
        "",
        "| Code | Rule | Level | Findings | Summary |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for s in rule_statistics(findings):
        rule = rules.get(s.code)
        about = markdown_text(rule.summary) if rule else ""
        lines.append(f"| {s.code} | {markdown_text(s.name)} | {s.level} | {s.count} | {about} |")
    return [*lines, ""]


def _findings_table(findings: list[Finding]) -> list[str]:
    ordered = [f for _, rows in worst_first_by_file(findings) for f in rows]
    lines = [
        "### Findings",
        "",
        "| Location | Code | Level | Message |",
        "| --- | --- | --- | --- |",
    ]
    for f in ordered[:MAX_FINDING_ROWS]:
        where = markdown_code(location(_displayed(f)))
        lines.append(f"| {where} | {f.code} | {f.level} | {markdown_text(f.message)} |")
    if len(ordered) > MAX_FINDING_ROWS:
        lines += ["", f"... and {len(ordered) - MAX_FINDING_ROWS} more (`--format json`)."]
    return [*lines, ""]


def _displayed(f: Finding) -> Finding:
    if not f.path:
        return f
    return Finding(f.code, f.name, f.level, display_path(f.path), f.line, f.message, f.cohort)


def _cohort_table(report: Report) -> list[str]:
    verdict_of = verdicts(report)
    lines = [
        "### Cohorts",
        "",
        "| Cohort | Lines | Items | Pass rate | Predicted lift | Verdict |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for c in report.cohorts[:MAX_COHORT_ROWS]:
        lines.append(
            f"| {markdown_code(c.id)} | {markdown_code(cohort_lines(c))} | {cohort_size(c)} "
            f"| {fmt_short(c.features.get('pass_rate'))} | {fmt_lift(c.predicted_lift)} "
            f"| {verdict_of.get(c.id) or '-'} |"
        )
    if len(report.cohorts) > MAX_COHORT_ROWS:
        rest = len(report.cohorts) - MAX_COHORT_ROWS
        lines += ["", f"... and {rest} more cohorts (`--format json`)."]
    return [*lines, ""]
