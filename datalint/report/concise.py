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

CHUNK_LINES = 4096


def render(
    report: Report,
    rules: Mapping[str, Rule],
    out: TextIO,
    *,
    statistics: bool = False,
    color: bool | None = None,
) -> None:
    lines = [
        f"{one_line(location(f))}: {f.code} [{f.level}] {one_line(f.message)}\n"
        for f in by_location(report.findings)
    ]
    for start in range(0, len(lines), CHUNK_LINES):  # few writes: the stream guard is per write
        out.write("".join(lines[start : start + CHUNK_LINES]))
    out.write(summary_sentence(report.summary, len(report.findings)) + "\n")
    if statistics:
        for line in statistics_lines(report.findings):
            out.write(line + "\n")
