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
from datalint.findings import CohortReport, Finding, Report, Summary
from datalint.predict.linear_range import percent
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
VERDICT_NO_LIFT = "no lift"
VERDICT_FAILS = "fails"  # "fails RW003": an error-level rule fired on the cohort


def group_shape(features: Mapping[str, float | None]) -> str | None:
    """Where most of the cohort's groups sit in the seed's picture of a GRPO group.

    Mixed right and wrong rollouts (5/8) give GRPO a gradient: "learn"; all right (8/8): the
    policy already knows it; all wrong (0/8): "no foothold". The largest share wins; a cohort
    without rollouts has none.
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


def cohort_verdict(
    features: Mapping[str, float | None],
    predicted_lift: float | None = None,
    failing: Iterable[str] = (),
) -> str | None:
    """The cohort's verdict, from the rules and the predicted lift (README "The verdict").

    1. An error-level finding on the cohort: ``fails CODE`` (the first code), whatever else.
    2. A predicted lift: ``learn`` when it is above 0; otherwise why not, from the groups'
       shape: ``known`` (mostly all right), ``no foothold`` (mostly all wrong) or ``no lift``
       (the groups disagree, yet the predictor expects no gain).
    3. No predictor: the shape alone (the free signal), as ``learn``, ``known``, ``no foothold``.

    So a cohort with a predicted lift of 0 or less is never ``learn``. No rollouts: None.
    """
    codes = sorted(set(failing))
    if codes:
        return f"{VERDICT_FAILS} {codes[0]}"
    shape = group_shape(features)
    lift = finite_or_none(predicted_lift)
    if shape is None and lift is None:
        return None
    if lift is None:
        return shape
    if lift > 0:
        return VERDICT_LEARN
    return shape if shape in (VERDICT_KNOWN, VERDICT_NO_FOOTHOLD) else VERDICT_NO_LIFT


def failing_codes_by_cohort(findings: Iterable[Finding]) -> dict[str, list[str]]:
    """Error-level rule codes per cohort id, from the findings that name a cohort."""
    failing: dict[str, list[str]] = {}
    for f in findings:
        if f.level == "error" and f.cohort is not None:
            codes = failing.setdefault(f.cohort, [])
            if f.code not in codes:
                codes.append(f.code)
    return failing


def verdicts(report: Report) -> dict[str, str | None]:
    """Every cohort's verdict, by cohort id."""
    failing = failing_codes_by_cohort(report.findings)
    return {
        c.id: cohort_verdict(c.features, c.predicted_lift, failing.get(c.id, ()))
        for c in report.cohorts
    }


def cohort_sentence(report: Report) -> str | None:
    """The cohorts in words: how many are predicted to help, which rules fail, the verdicts.

    e.g. "11 of 20 cohorts are predicted to help (predicted lift > 0); 5 fail RW003; other
    verdicts: 9 learn, 4 no foothold, 2 no lift."
    """
    cohorts = report.cohorts
    if not cohorts:
        return None
    by_id = verdicts(report)
    parts = []
    lifts = [finite_or_none(c.predicted_lift) for c in cohorts]
    if any(v is not None for v in lifts):
        helping = sum(1 for v in lifts if v is not None and v > 0)
        parts.append(
            f"{helping} of {_plural(len(cohorts), 'cohort')} "
            f"{'is' if len(cohorts) == 1 else 'are'} predicted to help (predicted lift > 0)"
        )
    else:
        parts.append(f"{_plural(len(cohorts), 'cohort')}, no lift predicted")
    failing = failing_codes_by_cohort(report.findings)
    per_code: Counter[str] = Counter(code for codes in failing.values() for code in codes)
    for code, n in sorted(per_code.items(), key=lambda kv: (-kv[1], kv[0])):
        parts.append(f"{n} {'fails' if n == 1 else 'fail'} {code}")
    counts = Counter(v for v in by_id.values() if v is not None and not v.startswith(VERDICT_FAILS))
    if counts:
        listed = ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        parts.append(f"{'other verdicts' if per_code else 'verdicts'}: {listed}")
    return "; ".join(parts) + "."


LIFT_UNIT = "nats of probe NLL"


def fmt_lift(value: float | None) -> str:
    """A predicted lift in a short, signed, uncut form: ``+3.2e-3``, ``-1.5e-4``, ``0``."""
    number = finite_or_none(value)
    if number is None:
        return "-"
    if number == 0:
        return "0"
    mantissa, exponent = f"{number:+.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


@dataclass(frozen=True, slots=True)
class Headline:
    """The top of a page (markdown, html): the verdict and the report in words."""

    status: str  # "passed" or "failed"
    summary: str  # ``summary_sentence``: numbers and words, no data
    cohorts: str | None  # ``cohort_sentence``; None without cohorts
    lift: str | None  # the lift score as ``fmt_lift`` writes it; None without one


def headline(report: Report) -> Headline:
    summary = report.summary
    return Headline(
        status="passed" if summary.passed else "failed",
        summary=summary_sentence(summary, len(report.findings)),
        cohorts=cohort_sentence(report),
        lift=None if summary.lift_score is None else fmt_lift(summary.lift_score),
    )


def fmt_short(value: float | int | None) -> str:
    """A feature value in at most 5 characters: ``0.56``, ``1``, ``12.3``, ``1.2e4``."""
    number = finite_or_none(value)
    if number is None:
        return "-"
    if number.is_integer() and abs(number) < 1e4:
        return str(int(number))
    magnitude = abs(number)
    if magnitude >= 1e4 or magnitude < 0.01:
        mantissa, exponent = f"{number:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    if magnitude >= 100:
        return f"{number:.0f}"
    if magnitude >= 10:
        return f"{number:.1f}"
    return f"{number:.2f}".rstrip("0").rstrip(".") if magnitude < 1 else f"{number:.2f}"


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
    more = f" +{_plural(len(paths) - 1, 'file')}" if len(paths) > 1 else ""
    return f"{Path(first).name}:{line_span(cohort, first)}{more}"


def line_span(cohort: CohortReport, path: str | None = None) -> str:
    """The lines of ``path`` (the first file) in the cohort: ``45-48`` when contiguous, ``3..40``
    (first to last) when there are gaps, ``7`` for one line."""
    if not cohort.lines:
        return "-"
    path = path if path is not None else cohort.lines[0][0]
    lines = sorted({ln for p, ln in cohort.lines if p == path})
    if len(lines) == 1:
        return str(lines[0])
    contiguous = lines[-1] - lines[0] == len(lines) - 1
    return f"{lines[0]}{'-' if contiguous else '..'}{lines[-1]}"


def cohort_files(cohorts: Iterable[CohortReport]) -> list[str]:
    """Every file that holds a cohort's line, in first-seen order."""
    return list(dict.fromkeys(p for c in cohorts for p, _ in c.lines))


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


def gradient_signals_line(gradient_signals: dict[str, Any]) -> str:
    """One line for a report's summary from ``summary.predictor_domain.gradient_signals``."""
    ratio = gradient_signals.get("ratio")
    size = (
        f"first-order lift {percent(ratio)} of the probe NLL "
        f"(limit {percent(gradient_signals.get('linear_range_share'))})"
    )
    used = "used" if gradient_signals.get("used") else "not used"
    inside = gradient_signals.get("in_linear_range")
    if inside is None:
        return f"linear range not judged (no probe NLL); {used}"
    where = "in their linear range" if inside else "OUTSIDE their linear range"
    return f"{where}: {size}; {used} by the predictor"
