"""``concise``: one line per finding, ``path:line: CODE [level] message``, then one summary line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from datalint.findings import Report
from datalint.report._common import (
    by_location,
    location,
    one_line,
    statistics_lines,
    summary_sentence,
)
from datalint.rulebook import Rule


def render(
    report: Report,
    rules: Mapping[str, Rule],
    out: TextIO,
    *,
    statistics: bool = False,
    color: bool | None = None,
) -> None:
    for f in by_location(report.findings):
        out.write(f"{one_line(location(f))}: {f.code} [{f.level}] {one_line(f.message)}\n")
    out.write(summary_sentence(report.summary, len(report.findings)) + "\n")
    if statistics:
        for line in statistics_lines(report.findings):
            out.write(line + "\n")
