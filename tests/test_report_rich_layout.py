"""The rich report people read: the shipped example's real report at 80 and 100 columns.

Snapshots live in tests/snapshots/ (``DATALINT_UPDATE_SNAPSHOTS=1`` rewrites them). Beyond the
snapshots: no line is wider than the terminal, no number is cut, findings wrap between words,
and every verdict agrees with the predicted lift and the rules.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.findings import CohortReport, Finding, ItemDiagnostic, ItemSample, Report, Summary
from datalint.report import get_renderer
from datalint.report._common import (
    cohort_sentence,
    cohort_verdict,
    fmt_lift,
    fmt_short,
    line_span,
    verdicts,
)
from tests.report_fixtures import SNAPSHOTS, vendor_report

REPO = Path(__file__).resolve().parent.parent


def render(report: Report, width: int, **options: object) -> str:
    out = io.StringIO()
    get_renderer("rich")(report, {}, out, color=False, width=width, **options)  # type: ignore[call-arg]
    return out.getvalue()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NO_COLOR", "COLUMNS", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("width", [80, 100])
def test_snapshot(width: int) -> None:
    text = render(vendor_report(), width)
    path = SNAPSHOTS / f"rich-{width}.txt"
    if os.environ.get("DATALINT_UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text("utf-8")


@pytest.mark.parametrize("width", [80, 100])
def test_the_report_fits_the_width(width: int) -> None:
    lines = render(vendor_report(), width, items=True).splitlines()
    assert max(len(ln.rstrip()) for ln in lines) <= width


def table_rows(text: str) -> dict[str, list[str]]:
    """The cohort table's rows by cohort id, split into cells."""
    return {ln.split()[0]: ln.split() for ln in text.splitlines() if re.match(r"v\d\d-\S+ ", ln)}


@pytest.mark.parametrize("width", [80, 100])
def test_no_number_in_the_table_is_cut(width: int) -> None:
    report = vendor_report()
    text = render(report, width)
    table = text[text.index("Cohorts in") : text.index("datalint summary")]
    assert "…" not in table
    rows = table_rows(table)
    assert len(rows) == 20
    for cohort in report.cohorts:
        cells = rows[cohort.id]
        assert cells[1] == line_span(cohort)
        assert fmt_lift(cohort.predicted_lift) in cells
        assert fmt_short(cohort.features["pass_rate"]) == cells[3]


def test_at_80_columns_the_least_important_column_goes_and_says_so() -> None:
    narrow, wide = render(vendor_report(), 80), render(vendor_report(), 100)
    assert "adv_" in wide and "Not shown" not in wide
    assert "Not shown at this width: adv_std (--format json has them)." in narrow
    assert table_rows(narrow)["v05-frontier"] == [
        "v05-frontier",
        "21-24",
        "4",
        "0.56",
        "1",
        "0",
        "0",
        "0.7",
        "+3.2e-3",
        "learn",
    ]


@pytest.mark.parametrize("width", [80, 100])
def test_findings_wrap_between_words(width: int) -> None:
    report = vendor_report()
    text = render(report, width)
    blocks = re.findall(r"^  (examples/vendor\.jsonl:\d+  .*(?:\n {6}.*)*)", text, re.M)
    assert len(blocks) == len(report.findings)
    for block, finding in zip(blocks, sorted_like_the_report(report.findings), strict=True):
        # a word split across lines would show here as two words
        expected = f"{finding.path}:{finding.line} {finding.code} [{finding.level}] "
        assert block.split() == (expected + f"{finding.message} {finding.name}").split()
        first = block.split("\n")[0]
        assert first.startswith(expected.replace(" ", "  ", 1).replace("] ", "]  "))


def sorted_like_the_report(findings: list[Finding]) -> list[Finding]:
    rank = {"error": 0, "warning": 1}
    return sorted(findings, key=lambda f: (rank[f.level], f.line, f.code, f.message))


def test_every_verdict_agrees_with_the_predicted_lift_and_the_rules() -> None:
    report = vendor_report()
    by_id = verdicts(report)
    failing = {f.cohort for f in report.findings if f.level == "error" and f.cohort}
    for cohort in report.cohorts:
        verdict = by_id[cohort.id]
        if cohort.id in failing:
            assert verdict == "fails RW003"
        elif cohort.predicted_lift > 0:
            assert verdict == "learn"
        else:
            assert verdict in ("known", "no foothold", "no lift")
    # the scrambled cohort whose attempts disagree as much as a good one's: not "learn"
    assert by_id["v16-scrambled"] == "no lift"
    text = render(report, 100)
    assert table_rows(text)["v16-scrambled"][-2:] == ["no", "lift"]


@pytest.mark.parametrize(
    ("features", "lift", "failing", "verdict"),
    [
        ({"frac_nondegenerate": 0.75, "frac_all_correct": 0.25}, 0.01, (), "learn"),
        ({"frac_nondegenerate": 0.75, "frac_all_correct": 0.25}, -0.01, (), "no lift"),
        ({"frac_nondegenerate": 0.75, "frac_all_correct": 0.25}, 0.0, (), "no lift"),
        ({"frac_all_correct": 0.75, "frac_nondegenerate": 0.25}, 0.01, (), "learn"),
        ({"frac_all_correct": 0.75, "frac_nondegenerate": 0.25}, -0.01, (), "known"),
        ({"frac_all_wrong": 1.0, "frac_nondegenerate": 0.0}, -0.01, (), "no foothold"),
        ({"frac_nondegenerate": 1.0}, 0.01, ("RW003", "D001"), "fails D001"),
        ({"frac_all_wrong": 1.0}, None, (), "no foothold"),
        ({}, None, (), None),
        ({}, 0.02, (), "learn"),
    ],
)
def test_cohort_verdict_rules(
    features: dict, lift: float | None, failing: tuple[str, ...], verdict: str | None
) -> None:
    assert cohort_verdict(features, lift, failing) == verdict


def test_the_summary_says_it_in_words_with_the_unit() -> None:
    report = vendor_report()
    assert cohort_sentence(report) == (
        "10 of 20 cohorts are predicted to help (predicted lift > 0); 5 fail RW003; "
        "other verdicts: 10 learn, 3 no foothold, 2 no lift."
    )
    text = " ".join(render(report, 100).split())
    assert "Lift score +2.1e-4 nats of probe NLL (mean predicted lift; above 0 helps)" in text


def item(
    line: int, rate: float, flags: list[str], samples: list[tuple[str, float]]
) -> ItemDiagnostic:
    return ItemDiagnostic("a.jsonl", line, 8, rate, flags, [ItemSample(c, r) for c, r in samples])


def test_show_items_lists_pass_rates_and_graded_samples_escaped() -> None:
    cohort = CohortReport(
        "c0",
        [("a.jsonl", 1), ("a.jsonl", 2)],
        {"pass_rate": 0.5, "frac_nondegenerate": 0.5, "frac_all_wrong": 0.5},
        [
            item(1, 1.0, ["all_correct"], [("42", 1.0), ("42", 1.0)]),
            item(2, 0.0, ["all_wrong"], [("x\x1b[31m\n::error::y", 0.0)]),
        ],
        predicted_lift=0.001,
    )
    report = Report([], [cohort], Summary(passed=True))
    text = render(report, 80, items=True)
    assert "Items of c0 (a.jsonl:1-2)" in text
    rows = [ln.split() for ln in text.splitlines() if re.match(r"\s+[12]\s+[01]\s", ln)]
    assert rows[0] == ["1", "1", "8/8", "all", "correct", "✓", "42", "✓", "42"]
    assert rows[1][:3] == ["2", "0", "0/8"]
    assert "✗ x\\x1b[31m\\n::error::y" in text
    assert "Items of" not in render(report, 80)


def test_check_show_items_on_the_example(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        __import__("datalint.cli", fromlist=["cli"]).cli,
        [
            "check",
            str(REPO / "examples" / "vendor.jsonl"),
            "--show-items",
            "--cache-dir",
            str(tmp_path),
        ],
        env={"COLUMNS": "100"},
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert result.stdout.count("Items of v") == 20
    assert "Sampled completions" in result.stdout
    row = next(ln for ln in result.stdout.splitlines() if re.match(r"\s+45\s", ln))
    assert row.split()[1:4] == ["0", "0/8", "all"]


def test_cohorts_across_files_show_a_short_name_and_whole_numbers() -> None:
    long_a = "data/a-very-long-vendor-file-name-2026-delivery.jsonl"
    cohorts = [
        CohortReport(
            f"c{n}",
            [(long_a, 1000 + 4 * n + k) for k in range(4)] + [("b.jsonl", n + 1)],
            {"pass_rate": 0.5},
            predicted_lift=0.001,
        )
        for n in range(3)
    ]
    text = render(Report([], cohorts, Summary(passed=True)), 80)
    assert "Cohorts" in [ln.rstrip() for ln in text.splitlines()]  # two files: none in the title
    row = table_rows_generic(text, "c1")
    assert row[1:4] == ["a-very-lo…very.jsonl:1004-1007", "+1", "file"]
    assert "1004-1007" in text and max(len(ln.rstrip()) for ln in text.splitlines()) <= 80


def table_rows_generic(text: str, cohort_id: str) -> list[str]:
    return next(ln.split() for ln in text.splitlines() if ln.startswith(cohort_id + " "))
