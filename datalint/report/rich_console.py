"""``rich``: the human report. Findings by file (worst first), a cohort table, a summary panel.

User data reaches the terminal only as ``rich.text.Text`` (never as markup), so a prompt that
contains ``[bold]`` or ``:smile:`` prints as written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

from rich import box
from rich.console import COLOR_SYSTEMS, Console, Group
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from datalint.findings import CohortReport, Finding, Report, Summary
from datalint.report._common import (
    VERDICT_KNOWN,
    VERDICT_LEARN,
    VERDICT_NO_FOOTHOLD,
    cohort_lines,
    cohort_size,
    cohort_verdict,
    fmt_number,
    location,
    one_line,
    rule_statistics,
    worst_first_by_file,
)
from datalint.rulebook import Rule

LEVEL_STYLES = {"error": "bold red", "warning": "yellow"}
VERDICT_STYLES = {VERDICT_LEARN: "green", VERDICT_KNOWN: "blue", VERDICT_NO_FOOTHOLD: "red"}
MAX_COHORT_ROWS = 40
NON_TTY_WIDTH = 120


def make_console(out: TextIO, color: bool | None) -> Console:
    """A console on ``out``: colour when asked, or when ``out`` is a terminal and NO_COLOR unset.

    Off a terminal the width is fixed (``COLUMNS`` or 120) so logs do not depend on where they
    were captured; finding lines are never wrapped.
    """
    no_color_env = bool(os.environ.get("NO_COLOR"))
    is_tty = bool(getattr(out, "isatty", lambda: False)())
    use_color = color if color is not None else (is_tty and not no_color_env)
    width: int | None = None
    if not is_tty:
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) >= 40 else NON_TTY_WIDTH
    return Console(
        file=out,
        force_terminal=use_color,
        color_system="auto" if use_color else None,
        no_color=not use_color,
        width=width,
        highlight=False,
        emoji=False,
        markup=False,
    )


def render(
    report: Report,
    rules: Mapping[str, Rule],
    out: TextIO,
    *,
    statistics: bool = False,
    color: bool | None = None,
    features: bool = False,
) -> None:
    console = make_console(out, color)
    _print_findings(console, report.findings)
    if report.cohorts:
        console.print()
        console.print(cohort_table(report.cohorts, console.width))
        if features:
            for table in feature_tables(report.cohorts, console.width):
                console.print(table)
    if statistics and report.findings:
        console.print()
        console.print(statistics_table(report.findings))
    console.print()
    console.print(summary_panel(report.summary))


class Painter:
    """Styles short strings for ``console``'s colour system, parsing each style once.

    Finding lines are written straight to the output: building a rich ``Text`` per finding
    costs about 100 µs, which is 10 s on a file with 100k findings.
    """

    def __init__(self, console: Console) -> None:
        system = console.color_system
        self._system = COLOR_SYSTEMS.get(system) if system else None
        self._styles: dict[str, Style] = {}

    def __call__(self, text: str, style: str) -> str:
        if self._system is None or not style:
            return text
        parsed = self._styles.get(style)
        if parsed is None:
            parsed = self._styles[style] = Style.parse(style)
        return parsed.render(text, color_system=self._system)


def _print_findings(console: Console, findings: list[Finding]) -> None:
    if not findings:
        console.print(Text("No findings.", style="green"))
        return
    paint = Painter(console)
    lines: list[str] = []
    for index, (path, rows) in enumerate(worst_first_by_file(findings)):
        if index:
            lines.append("")
        errors = sum(1 for f in rows if f.level == "error")
        counts = f"  {_count(errors, 'error')}, {_count(len(rows) - errors, 'warning')}"
        lines.append(paint(one_line(path or "<dataset>"), "bold underline") + paint(counts, "dim"))
        lines.extend(finding_line(f, paint) for f in rows)
    console.file.write("\n".join(lines) + "\n")


def finding_line(f: Finding, paint: Painter) -> str:
    style = LEVEL_STYLES.get(f.level, "")
    return (
        f"  {paint(one_line(location(f)), 'bold')}  {paint(f.code, style)} "
        f"{paint(f'[{f.level}]', style)}  {one_line(f.message)}  {paint(f.name, 'dim')}"
    )


COHORT_COLUMNS: tuple[tuple[str, str], ...] = (
    # (header, feature) for the numeric columns; "" marks the predicted lift
    ("Pass\nrate", "pass_rate"),
    ("Non-\ndegen.", "frac_nondegenerate"),
    ("All\nright", "frac_all_correct"),
    ("All\nwrong", "frac_all_wrong"),
    ("adv_std", "adv_std"),
    ("Target\nsim.", "target_similarity"),
    ("Pred.\nlift", ""),
)
NARROW_FEATURES = ("pass_rate", "")  # what a narrow terminal keeps
NARROW_WIDTH = 90


def cohort_table(cohorts: list[CohortReport], width: int = NON_TTY_WIDTH) -> Table | Group:
    """One row per cohort; below ``NARROW_WIDTH`` columns only pass rate and lift are kept."""
    columns = [
        (header, feature)
        for header, feature in COHORT_COLUMNS
        if width >= NARROW_WIDTH or feature in NARROW_FEATURES
    ]
    table = Table(
        title="Cohorts",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("Cohort", min_width=6, max_width=24, no_wrap=True, overflow="ellipsis")
    table.add_column("Lines", min_width=10, max_width=32, no_wrap=True, overflow="ellipsis")
    table.add_column("Items", justify="right", no_wrap=True)
    for header, _ in columns:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("Verdict", no_wrap=True)
    for cohort in cohorts[:MAX_COHORT_ROWS]:
        verdict = cohort_verdict(cohort.features)
        values = [
            fmt_number(cohort.features.get(feature) if feature else cohort.predicted_lift)
            for _, feature in columns
        ]
        table.add_row(
            Text(one_line(cohort.id)),
            Text(one_line(cohort_lines(cohort))),
            str(cohort_size(cohort)),
            *values,
            Text(verdict or "-", style=VERDICT_STYLES.get(verdict or "", "")),
        )
    if len(cohorts) <= MAX_COHORT_ROWS:
        return table
    rest = len(cohorts) - MAX_COHORT_ROWS
    note = Text(f"... and {rest} more cohorts (--format json lists them all)", style="dim")
    return Group(table, note)


def feature_tables(cohorts: list[CohortReport], width: int = NON_TTY_WIDTH) -> list[Table]:
    """All 23 features of every cohort: one row per feature, cohorts side by side in as many
    blocks as the width needs (the cohort table above shows only the headline ones)."""
    from datalint.features_names import FEATURE_NAMES

    name_width, cell_width = max(len(n) for n in FEATURE_NAMES), 12
    per_block = max(1, (width - name_width - 4) // (cell_width + 3))
    tables = []
    for start in range(0, len(cohorts), per_block):
        block = cohorts[start : start + per_block]
        table = Table(box=box.SIMPLE_HEAD, title="Cohort features" if start == 0 else None)
        table.add_column("feature", no_wrap=True)
        for cohort in block:
            table.add_column(Text(one_line(cohort.id)), justify="right", max_width=cell_width)
        for name in FEATURE_NAMES:
            table.add_row(name, *(fmt_number(c.features.get(name)) for c in block))
        tables.append(table)
    return tables


def statistics_table(findings: list[Finding]) -> Table:
    table = Table(title="Statistics", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    table.add_column("Count", justify="right")
    table.add_column("Code")
    table.add_column("Level")
    table.add_column("Rule")
    for s in rule_statistics(findings):
        style = LEVEL_STYLES.get(s.level, "")
        table.add_row(str(s.count), Text(s.code, style=style), s.level, s.name)
    return table


def summary_panel(summary: Summary) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    lift = fmt_number(summary.lift_score) if summary.lift_score is not None else "not computed"
    if summary.fail_under is not None:
        lift += f" (fail-under {fmt_number(summary.fail_under)})"
    rows = [
        ("Files", str(summary.n_files)),
        ("Items", str(summary.n_items)),
        ("Errors", str(summary.n_errors)),
        ("Warnings", str(summary.n_warnings)),
        ("Lift score", lift),
        ("Predictor", summary.predictor or "-"),
        ("Similarity", summary.similarity or "-"),
        ("Skipped stages", ", ".join(summary.skipped_stages) or "none"),
    ]
    for key, value in rows:
        grid.add_row(key, Text(one_line(value)))
    verdict = Text("PASSED" if summary.passed else "FAILED", style="bold")
    verdict.stylize("green" if summary.passed else "red")
    grid.add_row("Result", verdict)
    return Panel(
        grid,
        title="datalint summary",
        title_align="left",
        border_style="green" if summary.passed else "red",
        expand=False,
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
