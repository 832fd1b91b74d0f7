"""Helpers shared by the output formats: ordering, counting, locations, verdicts, JSON safety."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datalint.features_names import FEATURE_NAMES
from datalint.findings import CohortReport, Finding, Summary
from datalint.report.escape import terminal

LEVEL_RANK = {"error": 0, "warning": 1}


def level_rank(level: str) -> int:
    return LEVEL_RANK.get(level, len(LEVEL_RANK))


def by_location(findings: Iterable[Finding]) -> list[Finding]:
    """Path, line, code: the order a reader scans a file in (ruff's concise order)."""
    return sorted(findings, key=lambda f: (f.path, f.line, f.code, f.message))


def worst_first_by_file(findings: Iterable[Finding]) -> list[tuple[str, list[Finding]]]:
    """Findings grouped by file; files with the most errors first, then the most warnings.

    Inside a file errors come before warnings and each level is in line order, so the rows a
    user must fix first are on top (cleanlab Datalab's worst-first report).
    """
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.path, []).append(f)
    for rows in groups.values():
        rows.sort(key=lambda f: (level_rank(f.level), f.line, f.code, f.message))

    def badness(item: tuple[str, list[Finding]]) -> tuple[int, int, str]:
        path, rows = item
        errors = sum(1 for f in rows if f.level == "error")
        return (-errors, -(len(rows) - errors), path)

    return sorted(groups.items(), key=badness)


@dataclass(frozen=True, slots=True)
class RuleCount:
    code: str
    name: str
    level: str
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "level": self.level, "count": self.count}


def rule_statistics(findings: Iterable[Finding]) -> list[RuleCount]:
    """Findings counted per rule code, most frequent first (ruff's ``--statistics``)."""
    counts: Counter[str] = Counter()
    first: dict[str, Finding] = {}
    for f in findings:
        counts[f.code] += 1
        first.setdefault(f.code, f)
    return [
        RuleCount(code, first[code].name, first[code].level, n)
        for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def statistics_lines(findings: Iterable[Finding]) -> list[str]:
    stats = rule_statistics(findings)
    if not stats:
        return []
    width = max(len(str(s.count)) for s in stats)
    code_width = max(len(s.code) for s in stats)
    level_width = max(len(s.level) for s in stats) + 2
    lines = []
    for s in stats:
        level = f"[{s.level}]"
        lines.append(
            f"{s.count:>{width}}  {s.code:<{code_width}}  {level:<{level_width}}  {s.name}"
        )
    return lines


def display_path(path: str, cwd: Path | None = None) -> str:
    """The path relative to the working directory with ``/`` separators when it lies below it.

    GitHub resolves annotation and SARIF paths against the repository root, which is the
    working directory of a workflow step; paths outside it are kept as given.
    """
    if not path:
        return path
    base = (cwd or Path.cwd()).resolve()
    candidate = Path(path)
    absolute = candidate if candidate.is_absolute() else base / candidate
    try:
        return Path(os.path.normpath(absolute)).relative_to(base).as_posix()
    except ValueError:
        return candidate.as_posix()


def location(f: Finding) -> str:
    """``path:line`` for a row finding, ``path`` for a file-level one (line 0)."""
    path = f.path or "<dataset>"
    return f"{path}:{f.line}" if f.line > 0 else path


def one_line(text: str) -> str:
    """A string from the data (message, path, id) on one line, its control characters escaped.

    Line-oriented output stays one finding per line, and bytes from a data file (an ESC, a NUL,
    a newline followed by ``::error``) never reach the terminal or a CI log raw.
    """
    return terminal(text)


def summary_sentence(summary: Summary, n_findings: int) -> str:
    """The one-line verdict that closes the concise and github outputs."""
    if n_findings == 0:
        head = "No findings."
    else:
        head = (
            f"Found {_plural(n_findings, 'finding')} "
            f"({_plural(summary.n_errors, 'error')}, {_plural(summary.n_warnings, 'warning')})."
        )
    parts = [head, f"{_plural(summary.n_items, 'item')} in {_plural(summary.n_files, 'file')}."]
    if summary.lift_score is not None:
        gate = f" (fail-under {fmt_number(summary.fail_under)})" if summary.fail_under else ""
        parts.append(f"Lift score {fmt_number(summary.lift_score)}{gate}.")
    parts.append("Passed." if summary.passed else "Failed.")
    return " ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def fmt_number(value: float | int | None, digits: int = 3) -> str:
    """A feature value for a table cell: ``-`` when missing or not a number."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return "-"
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.1f}"


VERDICT_LEARN = "learn"
VERDICT_KNOWN = "known"
VERDICT_NO_FOOTHOLD = "no foothold"


def cohort_verdict(features: Mapping[str, float | None]) -> str | None:
    """Where most of the cohort's groups sit in the seed's picture of a GRPO group.

    Mixed right and wrong rollouts (5/8) give GRPO a gradient: "learn"; all right (8/8): the
    policy already knows it; all wrong (0/8): "no foothold". The largest share wins; a cohort
    without rollouts has no verdict.
    """
    shares = {
        VERDICT_LEARN: finite_or_none(features.get("frac_nondegenerate")),
        VERDICT_KNOWN: finite_or_none(features.get("frac_all_correct")),
        VERDICT_NO_FOOTHOLD: finite_or_none(features.get("frac_all_wrong")),
    }
    known = {k: v for k, v in shares.items() if v is not None}
    if not known:
        return None
    return max(known, key=lambda k: known[k])  # ties go to "learn", then "known"


def finite_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def cohort_lines(cohort: CohortReport) -> str:
    """The cohort's line span, e.g. ``train.jsonl:1-8`` or ``a.jsonl:1-4 +1 file``."""
    if not cohort.lines:
        return "-"
    paths = list(dict.fromkeys(p for p, _ in cohort.lines))
    first = paths[0]
    lines = [ln for p, ln in cohort.lines if p == first]
    span = f"{min(lines)}" if min(lines) == max(lines) else f"{min(lines)}-{max(lines)}"
    more = f" +{_plural(len(paths) - 1, 'file')}" if len(paths) > 1 else ""
    return f"{Path(first).name}:{span}{more}"


def cohort_size(cohort: CohortReport) -> int:
    return len(cohort.items) if cohort.items else len(cohort.lines)


def json_safe(value: Any) -> Any:
    """Plain JSON data: NaN and infinities become None, numpy scalars become Python numbers."""
    kind = type(value)  # exact-type fast paths first: this runs on every value of a big report
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {k if type(k) is str else str(k): json_safe(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalar, without importing numpy
        return json_safe(value.item())
    return str(value)


def ordered_features(features: Mapping[str, Any]) -> dict[str, Any]:
    """Features in the predictor's canonical order, any extra ones after them by name."""
    known = [name for name in FEATURE_NAMES if name in features]
    extra = sorted(k for k in features if k not in FEATURE_NAMES)
    return {k: features[k] for k in known + extra}
