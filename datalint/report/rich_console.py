"""``rich``: the human report. Findings by file (worst first), a cohort table, a summary panel.

User data reaches the terminal only as ``rich.text.Text`` (never as markup), so a prompt that
contains ``[bold]`` or ``:smile:`` prints as written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from rich import box
from rich.console import COLOR_SYSTEMS, Console, Group
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from datalint.findings import CohortReport, Finding, Report, Summary
from datalint.report._common import (
    LIFT_UNIT,
    VERDICT_FAILS,
    VERDICT_KNOWN,
    VERDICT_LEARN,
    cohort_files,
    cohort_lines,
    cohort_sentence,
    cohort_size,
    cohort_verdict,
    display_path,
    fmt_lift,
    fmt_number,
    fmt_short,
    gradient_signals_line,
    line_span,
    location,
    one_line,
    rule_statistics,
    verdicts,
    worst_first_by_file,
)
from datalint.rulebook import Rule

LEVEL_STYLES = {"error": "bold red", "warning": "yellow"}
VERDICT_STYLES = {
    VERDICT_LEARN: "green",
    VERDICT_KNOWN: "blue",
    "no": "red",  # "no foothold", "no lift": the first word styles the cell
    VERDICT_FAILS: "bold red",
}
MAX_COHORT_ROWS = 40
NON_TTY_WIDTH = 120


def make_console(out: TextIO, color: bool | None, width: int | None = None) -> Console:
    """A console on ``out``: colour when asked, or when ``out`` is a terminal and NO_COLOR unset.

    Off a terminal the width is fixed (``COLUMNS`` or 120) so logs do not depend on where they
    were captured; ``width`` overrides both. Findings wrap at word boundaries to that width.
    """
    no_color_env = bool(os.environ.get("NO_COLOR"))
    is_tty = bool(getattr(out, "isatty", lambda: False)())
    use_color = color if color is not None else (is_tty and not no_color_env)
    if width is None and not is_tty:
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
    items: bool = False,
    width: int | None = None,
) -> None:
    console = make_console(out, color, width)
    _print_findings(console, report.findings)
    if report.cohorts:
        by_id = verdicts(report)
        console.print()
        console.print(cohort_table(report.cohorts, console.width, by_id))
        if features:
            for table in feature_tables(report.cohorts, console.width):
                console.print(table)
        if items:
            for part in item_tables(report.cohorts, console.width):
                console.print()
                console.print(part)
    if statistics and report.findings:
        console.print()
        console.print(statistics_table(report.findings))
    console.print()
    console.print(summary_panel(report.summary, cohort_sentence(report), console.width))


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
    width = console.width
    lines: list[str] = []
    for index, (path, rows) in enumerate(worst_first_by_file(findings)):
        if index:
            lines.append("")
        errors = sum(1 for f in rows if f.level == "error")
        counts = f"  {_count(errors, 'error')}, {_count(len(rows) - errors, 'warning')}"
        lines.append(paint(one_line(path or "<dataset>"), "bold underline") + paint(counts, "dim"))
        for f in rows:
            lines.extend(finding_lines(f, paint, width))
    console.file.write("\n".join(lines) + "\n")


CONTINUATION = " " * 6


def finding_lines(f: Finding, paint: Painter, width: int = NON_TTY_WIDTH) -> list[str]:
    """One finding, its message wrapped at word boundaries to ``width`` under a hanging indent.

    Words are never split; a single word longer than a line (a long path) stays whole.
    """
    style = LEVEL_STYLES.get(f.level, "")
    where = one_line(location(f))
    used = len(where) + len(f.code) + len(f.level) + 9  # "  {where}  {code} [{level}]  "
    painted_head = (
        f"  {paint(where, 'bold')}  {paint(f.code, style)} {paint(f'[{f.level}]', style)}  "
    )
    body = f"{one_line(f.message)}  {f.name}"
    rows = wrap_text(body, width, first_used=used, indent=len(CONTINUATION))
    last = rows[-1]
    if last.endswith(f.name):
        rows[-1] = last[: len(last) - len(f.name)] + paint(f.name, "dim")
    return [painted_head + rows[0], *(CONTINUATION + row for row in rows[1:])]


def wrap_text(text: str, width: int, *, first_used: int, indent: int) -> list[str]:
    """Greedy wrap at spaces: the first row has ``width - first_used`` columns, the others
    ``width - indent``. A word longer than its row is kept whole."""
    rows: list[str] = []
    room = width - first_used
    while len(text) > room:
        cut = text.rfind(" ", 0, room + 1) if room > 0 else -1
        if cut <= 0:
            cut = text.find(" ", max(room, 1))
            if cut < 0:
                break
        rows.append(text[:cut].rstrip(" "))
        text = text[cut:].lstrip(" ")
        room = width - indent
    rows.append(text)
    return rows


@dataclass(frozen=True, slots=True)
class Column:
    """A cohort-table column: its header, how to fill it, and how much it matters."""

    key: str
    header: str
    rank: int  # columns are dropped highest rank first when the table does not fit
    justify: Literal["left", "right"] = "right"


# left-to-right order of the table; ``rank`` orders what goes first on a narrow terminal
COHORT_COLUMNS: tuple[Column, ...] = (
    Column("cohort", "Cohort", 0, "left"),
    Column("lines", "Lines", 3, "left"),
    Column("items", "Items", 9),
    Column("pass_rate", "Pass\nrate", 4),
    Column("frac_nondegenerate", "Non-\ndegen.", 5),
    Column("frac_all_correct", "All\nright", 7),
    Column("frac_all_wrong", "All\nwrong", 6),
    Column("adv_std", "adv_std", 10),
    Column("target_similarity", "Target\nsim.", 8),
    Column("lift", "Pred.\nlift", 2),
    Column("verdict", "Verdict", 1, "left"),
)
# the predictor's 80% interval: shown only when the predictor gives one, and dropped first
INTERVAL_COLUMN = Column("lift_80", "Lift\n80%", 11)
ESSENTIAL_RANK = 3  # cohort, verdict, lift, lines: kept while anything else can go
COHORT_ID_MIN = 10  # the cohort column wraps ids longer than it is given, down to this
COHORT_ID_MAX = 28
GAP = 1  # the one-space column separator of box.SIMPLE_HEAD; no padding, no edges


def cohort_cells(cohort: CohortReport, verdict: str | None, *, single_file: bool) -> dict[str, str]:
    """The plain text of each cell of ``cohort``'s row (data escaped, numbers short)."""
    cells = {
        "cohort": one_line(cohort.id),
        "lines": line_span(cohort) if single_file else _short_lines(cohort),
        "items": str(cohort_size(cohort)),
        "lift": fmt_lift(cohort.predicted_lift),
        "lift_80": lift_interval_cell(cohort),
        "verdict": verdict or "-",
    }
    for column in COHORT_COLUMNS:
        if column.key not in cells:
            cells[column.key] = fmt_short(cohort.features.get(column.key))
    return cells


FILE_NAME_MAX = 20


def _short_lines(cohort: CohortReport) -> str:
    """``name:span`` with a long file name shortened in its middle; the numbers stay whole."""
    text = one_line(cohort_lines(cohort))
    name, sep, rest = text.partition(":")
    if sep and len(name) > FILE_NAME_MAX:
        keep = FILE_NAME_MAX - 1
        name = name[: keep // 2] + "…" + name[-(keep - keep // 2) :]
    return name + sep + rest


def fit_columns(
    widths: dict[str, int],
    available: int,
    cohort_width: int,
    gap: int = GAP,
    all_columns: tuple[Column, ...] = COHORT_COLUMNS,
) -> tuple[list[Column], int]:
    """The columns that fit in ``available`` characters and the width left for the cohort id.

    The least important column goes first until the ids fit whole (up to ``COHORT_ID_MAX``);
    once only the essential columns are left (rank <= ``ESSENTIAL_RANK``), long ids wrap, down to
    ``COHORT_ID_MIN``. Numbers are never narrowed.
    """
    kept = list(all_columns)
    whole = min(cohort_width, COHORT_ID_MAX)
    while True:
        others = [c for c in kept if c.key != "cohort"]
        used = sum(widths[c.key] for c in others) + gap * len(others)  # the box's separators
        room = available - used
        droppable = [c for c in others if c.rank > ESSENTIAL_RANK]
        floor = whole if droppable else min(whole, COHORT_ID_MIN)
        if room >= floor or not others:
            return kept, max(floor, min(room, whole))
        kept.remove(max(droppable or others, key=lambda c: c.rank))


def _label(column: Column) -> str:
    return column.header.replace("_\n", "_").replace("\n", " ")


def cohort_table(
    cohorts: list[CohortReport],
    width: int = NON_TTY_WIDTH,
    verdict_of: Mapping[str, str | None] | None = None,
) -> Table | Group:
    """One row per cohort, fitted to ``width``: numbers are never cut, columns are dropped.

    When every cohort lies in one file, the Lines column holds only the line span and the title
    names the file.
    """
    shown = cohorts[:MAX_COHORT_ROWS]
    files = cohort_files(cohorts)
    single_file = len(files) == 1
    verdict_of = verdict_of or {}
    rows = [
        cohort_cells(c, verdict_of.get(c.id, cohort_verdict(c.features)), single_file=single_file)
        for c in shown
    ]
    every = _with_interval(cohorts)
    widths = {
        col.key: max(
            [len(part) for part in col.header.split("\n")] + [len(r[col.key]) for r in rows]
        )
        for col in every
    }
    # two spaces between columns when everything fits so, else one
    columns, cohort_width = fit_columns(
        widths, width, widths["cohort"], gap=GAP + 1, all_columns=every
    )
    padding = 1
    if len(columns) < len(every) or cohort_width < widths["cohort"]:
        columns, cohort_width = fit_columns(widths, width, widths["cohort"], all_columns=every)
        padding = 0
    title = "Cohorts"
    if single_file:
        shown_path = one_line(display_path(files[0]))
        if len(shown_path) + 11 > width:
            shown_path = one_line(Path(files[0]).name)
        title = f"Cohorts in {shown_path}"
    dropped = [_label(c) for c in every if c not in columns]
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        pad_edge=False,
        padding=(0, padding, 0, 0),
        show_edge=False,
    )
    for col in columns:
        if col.key == "cohort":
            table.add_column(col.header, width=cohort_width, overflow="fold")
        else:
            table.add_column(
                col.header, justify=col.justify, no_wrap=True, min_width=widths[col.key]
            )
    for cells in rows:
        verdict = cells["verdict"].split(" ")[0] if cells["verdict"] != "-" else ""
        row = []
        for col in columns:
            style = VERDICT_STYLES.get(verdict, "") if col.key == "verdict" else ""
            row.append(Text(cells[col.key], style=style))
        table.add_row(*row)
    notes = []
    if dropped:
        notes.append(f"Not shown at this width: {', '.join(dropped)} (--format json has them).")
    if len(cohorts) > MAX_COHORT_ROWS:
        rest = len(cohorts) - MAX_COHORT_ROWS
        notes.append(f"... and {rest} more cohorts (--format json lists them all)")
    if not notes:
        return table
    return Group(table, *(Text(n, style="dim") for n in notes))


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


MAX_ITEM_ROWS = 200
MARKS = {True: "✓", False: "✗"}


def item_tables(cohorts: list[CohortReport], width: int = NON_TTY_WIDTH) -> list[Table | Text]:
    """``--show-items``: per cohort, each item's pass rate, flags and a few graded completions."""
    parts: list[Table | Text] = []
    budget = MAX_ITEM_ROWS
    for cohort in cohorts[:MAX_COHORT_ROWS]:
        if budget <= 0:
            parts.append(Text("... items of more cohorts: --format json lists them", style="dim"))
            break
        table = Table(
            title=f"Items of {one_line(cohort.id)} ({one_line(cohort_lines(cohort))})",
            box=box.SIMPLE_HEAD,
            title_justify="left",
            pad_edge=False,
            padding=0,  # SIMPLE_HEAD separates columns by one space (GAP)
            show_edge=False,
            width=width,
        )
        table.add_column("Line", justify="right", no_wrap=True)
        table.add_column("Pass", justify="right", no_wrap=True)
        table.add_column("Right", justify="right", no_wrap=True)
        table.add_column("Flags", no_wrap=True)
        table.add_column("Sampled completions (✓ right, ✗ wrong)", overflow="fold", ratio=1)
        for item in cohort.items[:budget]:
            right = round(item.pass_rate * item.n_rollouts)
            samples = "  ".join(
                f"{MARKS[s.reward >= 0.5]} {one_line(s.completion)}{'…' if s.truncated else ''}"
                for s in item.samples
            )
            table.add_row(
                str(item.line),
                fmt_short(item.pass_rate),
                f"{right}/{item.n_rollouts}",
                ", ".join(item.flags).replace("_", " ") or "-",
                Text(samples or "-"),
            )
        budget -= len(cohort.items)
        parts.append(table)
    return parts


def summary_panel(
    summary: Summary, cohorts_in_words: str | None = None, width: int = NON_TTY_WIDTH
) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    if summary.lift_score is not None:
        lift = f"{fmt_lift(summary.lift_score)} {LIFT_UNIT} (mean predicted lift; above 0 helps)"
    else:
        lift = "not computed"
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
        *(
            [("Predictor domain", domain_line(summary.predictor_domain))]
            if summary.predictor_domain
            else []
        ),
        *(
            [("Gradient signals", gradient_signals_line(signals))]
            if (signals := (summary.predictor_domain or {}).get("gradient_signals"))
            else []
        ),
        ("Skipped stages", ", ".join(summary.skipped_stages) or "none"),
    ]
    if cohorts_in_words:
        rows.insert(4, ("Cohorts", cohorts_in_words))
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
        width=None if _panel_fits(rows, width) else width,
    )


def _with_interval(cohorts: list[CohortReport]) -> tuple[Column, ...]:
    """The table's columns, with the interval before the verdict when any cohort has one."""
    if not any(c.predicted_lift_interval for c in cohorts):
        return COHORT_COLUMNS
    return (*COHORT_COLUMNS[:-1], INTERVAL_COLUMN, COHORT_COLUMNS[-1])


def lift_interval_cell(cohort: CohortReport) -> str:
    """The predictor's 80% interval, compact: ``lo..hi``."""
    if not cohort.predicted_lift_interval:
        return "-"
    lo, hi = cohort.predicted_lift_interval
    return f"{fmt_lift(lo)}..{fmt_lift(hi)}"


def domain_line(domain: dict) -> str:
    """One line: was the predictor fit on this model, and what gates the dataset score."""
    if domain.get("in_domain"):
        return f"in domain (fit on this model: {domain.get('nearest_world')})"
    if domain.get("in_domain") is None:
        return f"unknown ({domain.get('reason')}); lift score from predictor"
    source = domain.get("lift_score_source")
    gate = "predictor" if source == "predictor" else f"{source} (fallback, in nats)"
    return f"OUT of domain (nearest world {domain.get('nearest_world')}); lift score from {gate}"


def _panel_fits(rows: list[tuple[str, str]], width: int) -> bool:
    key_width = max(len(k) for k, _ in rows)
    return all(key_width + 2 + len(v) + 4 <= width for _, v in rows)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
