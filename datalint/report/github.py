"""``github``: workflow-command annotations, one per (file, rule), plus a job step summary.

GitHub shows only a handful of annotations per step, so findings of one rule in one file are
folded into a single annotation that gives the count and the first lines. When the
``GITHUB_STEP_SUMMARY`` file is set, a markdown table of the same groups is appended to it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from datalint.findings import Finding, Report
from datalint.report._common import (
    cohort_lines,
    cohort_size,
    display_path,
    fmt_lift,
    fmt_number,
    level_rank,
    statistics_lines,
    summary_sentence,
    verdicts,
)
from datalint.report.escape import (
    github_data,
    github_property,
    guard_lines,
    markdown_code,
    markdown_text,
    terminal,
)
from datalint.rulebook import Rule

FIRST_LINES_SHOWN = 3
SUMMARY_COHORT_ROWS = 50
COMMANDS = {"error": "error", "warning": "warning"}


SELF_GUARDED = True  # its annotations are commands; every other line is guarded

escape_data = github_data  # actions/toolkit's names
escape_property = github_property


@dataclass(slots=True)
class Group:
    """All findings of one rule in one file."""

    path: str
    code: str
    name: str
    level: str
    findings: list[Finding]

    @property
    def lines(self) -> list[int]:
        return sorted({f.line for f in self.findings if f.line > 0})

    def lines_text(self, shown: int = FIRST_LINES_SHOWN) -> str:
        lines = self.lines
        text = ", ".join(str(n) for n in lines[:shown])
        return text + (", ..." if len(lines) > shown else "")

    def message(self) -> str:
        first = min(self.findings, key=lambda f: f.line)
        if len(self.findings) == 1:
            return first.message
        where = f", first at lines {self.lines_text()}" if self.lines else ""
        return f"{len(self.findings)} findings{where}: {first.message}"


def group_findings(findings: list[Finding]) -> list[Group]:
    """Groups by (file, rule): errors first, then the biggest groups, then path and code."""
    groups: dict[tuple[str, str], Group] = {}
    for f in findings:
        key = (f.path, f.code)
        if key not in groups:
            groups[key] = Group(f.path, f.code, f.name, f.level, [])
        group = groups[key]
        group.findings.append(f)
        if level_rank(f.level) < level_rank(group.level):  # an override split the levels
            group.level = f.level
    return sorted(
        groups.values(), key=lambda g: (level_rank(g.level), -len(g.findings), g.path, g.code)
    )


def annotation(group: Group) -> str:
    props = []
    if group.path:
        props.append(f"file={escape_property(display_path(group.path))}")
    if group.lines:
        props.append(f"line={group.lines[0]}")
    props.append(f"title={escape_property(f'{group.code} {group.name}')}")
    command = COMMANDS.get(group.level, "warning")
    return f"::{command} {','.join(props)}::{escape_data(group.message())}"


def render(
    report: Report,
    rules: Mapping[str, Rule],
    out: TextIO,
    *,
    statistics: bool = False,
    color: bool | None = None,
) -> None:
    groups = group_findings(report.findings)
    for group in groups:
        out.write(annotation(group) + "\n")
    out.write(guard_lines(summary_sentence(report.summary, len(report.findings))) + "\n")
    if statistics:
        for line in statistics_lines(report.findings):
            out.write(guard_lines(line) + "\n")
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(step_summary(report, groups))
        except OSError as exc:
            message = f"cannot write the step summary {summary_file}: {exc}"
            print(f"datalint: {terminal(message)}", file=sys.stderr)


def _cell(text: str) -> str:
    """A table cell holding text: markdown-escaped (``|`` included), on one line."""
    return markdown_text(text)


def _code_cell(text: str) -> str:
    """A table cell holding a name from the data (cohort id, path): an inert code span."""
    return markdown_code(text, in_table=True)


def step_summary(report: Report, groups: list[Group]) -> str:
    """Markdown for the job summary page: verdict, one row per (file, rule), the cohorts."""
    verdict = "passed" if report.summary.passed else "failed"
    parts = [
        f"## datalint: {verdict}",
        "",
        summary_sentence(report.summary, len(report.findings)),  # no data in it
        "",
    ]
    if groups:
        parts += [
            "| Level | Code | Rule | File | Findings | Lines |",
            "| --- | --- | --- | --- | ---: | --- |",
        ]
        for g in groups:
            path = _code_cell(display_path(g.path)) if g.path else "-"
            parts.append(
                f"| {g.level} | {g.code} | {g.name} | {path} | {len(g.findings)} "
                f"| {g.lines_text(10) or '-'} |"
            )
        parts.append("")
    cohorts = report.cohorts
    if cohorts:
        parts += [
            "### Cohorts",
            "",
            "| Cohort | Lines | Items | Pass rate | Predicted lift | Verdict |",
            "| --- | --- | ---: | ---: | ---: | --- |",
        ]
        verdict_of = verdicts(report)
        for c in cohorts[:SUMMARY_COHORT_ROWS]:
            parts.append(
                f"| {_code_cell(c.id)} | {_code_cell(cohort_lines(c))} | {cohort_size(c)} "
                f"| {fmt_number(c.features.get('pass_rate'))} | {fmt_lift(c.predicted_lift)} "
                f"| {verdict_of.get(c.id) or '-'} |"
            )
        if len(cohorts) > SUMMARY_COHORT_ROWS:
            parts.append("")
            parts.append(f"... and {len(cohorts) - SUMMARY_COHORT_ROWS} more cohorts.")
        parts.append("")
    return "\n".join(parts) + "\n"
