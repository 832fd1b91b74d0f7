"""Each output format, on a report built by hand, against hand-written expected output."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from datalint.findings import CohortReport, Finding, Report, Summary
from datalint.report import FORMATS, get_renderer, sarif
from datalint.report._common import cohort_verdict, fmt_number, json_safe
from datalint.report.github import escape_data, escape_property
from datalint.rulebook import Rule, RuleExample, rules_by_code

REPO_ROOT = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = REPO_ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"

ODD_PATH = "odd,dir:x/b.jsonl"  # a comma and a colon: both must be escaped in a property
ODD_MESSAGE = "100% of the answer is in the prompt\nsecond line, with: colon\r"


def make_rule(code: str, name: str, level: str, summary: str) -> Rule:
    return Rule(
        code=code,
        name=name,
        summary=summary,
        scope="item",
        feature=f"{name.replace('-', '_')}_count",
        comparator="must_equal",
        threshold=0.0,
        level=level,
        message="{detail}",
        what=f"What {code} checks.",
        why=f"Why {code} matters.",
        fix=f"How to fix {code}.",
        examples=(
            RuleExample(kind="fail", data='{"prompt": "a", "answer": "a"}'),
            RuleExample(kind="pass", data='{"prompt": "b", "answer": "c"}'),
        ),
    )


RULES = {
    "D001": make_rule("D001", "exact-duplicate-prompt", "error", "Two items share a prompt."),
    "S005": make_rule("S005", "answer-in-prompt", "warning", "The gold answer is in the prompt."),
}


def dup(path: str, line: int, of: int) -> Finding:
    return Finding("D001", "exact-duplicate-prompt", "error", path, line, f"duplicates line {of}")


def make_report() -> Report:
    findings = [
        dup("data/train.jsonl", 9, 3),
        dup("data/train.jsonl", 3, 1),
        dup("data/train.jsonl", 40, 1),
        dup("data/train.jsonl", 12, 2),
        Finding("S005", "answer-in-prompt", "warning", ODD_PATH, 2, ODD_MESSAGE),
        Finding(
            "S005", "answer-in-prompt", "warning", "data/train.jsonl", 5, "answer '7' in prompt"
        ),
        dup("data/other.jsonl", 7, 6),
    ]
    cohort = CohortReport(
        id="c0",
        lines=[("data/train.jsonl", n) for n in range(1, 9)],
        features={
            "target_similarity": None,
            "pass_rate": 0.625,
            "adv_std": float("nan"),
            "frac_all_wrong": 0.0,
            "frac_all_correct": 0.25,
            "frac_nondegenerate": np.float32(0.75),
        },
        predicted_lift=0.12,
    )
    summary = Summary(
        passed=False,
        n_files=3,
        n_items=50,
        n_errors=5,
        n_warnings=2,
        lift_score=0.031,
        fail_under=0.05,
        predictor="pretrained/lift-predictor.onnx",
        similarity="minilm",
        skipped_stages=["rollouts (no model)"],
    )
    return Report(findings, [cohort], summary)


def render(fmt: str, report: Report | None = None, **kwargs: object) -> str:
    out = io.StringIO()
    get_renderer(fmt)(report or make_report(), RULES, out, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative finding paths resolve against the working directory: pin it, and the env."""
    monkeypatch.chdir(tmp_path)
    for var in ("GITHUB_STEP_SUMMARY", "NO_COLOR", "COLUMNS", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)


# --- registry ---------------------------------------------------------------------------------


def test_every_format_has_a_renderer() -> None:
    assert FORMATS == ("rich", "concise", "json", "sarif", "github", "markdown", "html")
    for fmt in FORMATS:
        assert callable(get_renderer(fmt))


def test_unknown_format_names_the_valid_ones() -> None:
    with pytest.raises(
        ValueError, match=r"'xml'.*rich, concise, json, sarif, github, markdown, html"
    ):
        get_renderer("xml")


# --- concise ----------------------------------------------------------------------------------


def test_concise_lines_are_exact() -> None:
    assert render("concise").splitlines() == [
        "data/other.jsonl:7: D001 [error] duplicates line 6",
        "data/train.jsonl:3: D001 [error] duplicates line 1",
        "data/train.jsonl:5: S005 [warning] answer '7' in prompt",
        "data/train.jsonl:9: D001 [error] duplicates line 3",
        "data/train.jsonl:12: D001 [error] duplicates line 2",
        "data/train.jsonl:40: D001 [error] duplicates line 1",
        "odd,dir:x/b.jsonl:2: S005 [warning] 100% of the answer is in the prompt"
        "\\nsecond line, with: colon\\r",  # a line break in data is shown, never made
        "Found 7 findings (5 errors, 2 warnings). 50 items in 3 files."
        " Lift score 0.031 (fail-under 0.05). Failed.",
    ]


def test_concise_statistics_count_per_rule() -> None:
    lines = render("concise", statistics=True).splitlines()
    assert lines[-2:] == [
        "5  D001  [error]    exact-duplicate-prompt",
        "2  S005  [warning]  answer-in-prompt",
    ]


def test_concise_escapes_control_characters_from_the_data() -> None:
    finding = Finding("S005", "answer-in-prompt", "warning", "a.jsonl", 1, "x\x1b[31mred\x00\tend")
    text = render("concise", Report([finding], [], Summary(passed=True)))
    assert text.splitlines()[0] == "a.jsonl:1: S005 [warning] x\\x1b[31mred\\x00\tend"


def test_concise_clean_report_and_file_level_finding() -> None:
    clean = Report([], [], Summary(passed=True, n_files=1, n_items=1))
    assert render("concise", clean) == "No findings. 1 item in 1 file. Passed.\n"
    file_level = Report(
        [Finding("D009", "too-few-items", "warning", "a.jsonl", 0, "only 1 item")],
        [],
        Summary(passed=True, n_files=1, n_items=1, n_warnings=1),
    )
    assert render("concise", file_level).splitlines()[0] == "a.jsonl: D009 [warning] only 1 item"


# --- json -------------------------------------------------------------------------------------


def test_json_round_trips_without_nan() -> None:
    text = render("json")
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert list(data) == ["version", "findings", "cohorts", "summary"]
    assert data["findings"][4] == {
        "code": "S005",
        "name": "answer-in-prompt",
        "level": "warning",
        "path": ODD_PATH,
        "line": 2,
        "message": ODD_MESSAGE,
    }
    assert len(data["findings"]) == 7
    cohort = data["cohorts"][0]
    # canonical feature order; NaN and None both come out as null; numpy float32 as a number
    assert list(cohort["features"].items()) == [
        ("adv_std", None),
        ("frac_nondegenerate", 0.75),
        ("frac_all_correct", 0.25),
        ("frac_all_wrong", 0.0),
        ("pass_rate", 0.625),
        ("target_similarity", None),
    ]
    assert cohort["lines"][0] == {"path": "data/train.jsonl", "line": 1}
    assert cohort["predicted_lift"] == 0.12
    assert data["summary"]["passed"] is False
    assert data["summary"]["lift_score"] == 0.031
    assert "statistics" not in data
    # one line per finding, so grep finds a finding whole
    assert text.splitlines()[3] == (
        '    {"code": "D001", "name": "exact-duplicate-prompt", "level": "error", '
        '"path": "data/train.jsonl", "line": 9, "message": "duplicates line 3"},'
    )


def test_json_empty_report() -> None:
    text = render("json", Report([], [], Summary(passed=True)))
    assert text.startswith('{\n  "version": 1,\n  "findings": [],\n  "cohorts": [],\n')
    assert json.loads(text)["summary"]["passed"] is True


def test_json_statistics_key() -> None:
    data = json.loads(render("json", statistics=True))
    assert data["statistics"] == [
        {"code": "D001", "name": "exact-duplicate-prompt", "level": "error", "count": 5},
        {"code": "S005", "name": "answer-in-prompt", "level": "warning", "count": 2},
    ]


def test_json_safe_replaces_non_finite_numbers() -> None:
    assert json_safe({"a": [float("inf"), -float("inf"), float("nan"), 1.5, np.float64(2.0)]}) == {
        "a": [None, None, None, 1.5, 2.0]
    }


# --- sarif ------------------------------------------------------------------------------------


def sarif_run() -> dict:
    return json.loads(render("sarif"))["runs"][0]


def test_sarif_validates_against_the_official_schema() -> None:
    log = json.loads(render("sarif", statistics=True))
    validate_sarif(log)
    assert log["version"] == "2.1.0"
    assert "toolExecutionNotifications" not in log["runs"][0]["invocations"][0]


def validate_sarif(log: dict) -> None:
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"official SARIF schema not found at {SARIF_SCHEMA} (shared/ not laid out)")
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text("utf-8"))
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in jsonschema.Draft4Validator(schema).iter_errors(log)
    ]
    assert errors == []


def test_sarif_carries_every_shipped_rule_validly() -> None:
    shipped = rules_by_code()
    assert shipped, "no rule files found"
    findings = [Finding(r.code, r.name, r.level, "a.jsonl", 1, "m") for r in shipped.values()]
    out = io.StringIO()
    get_renderer("sarif")(Report(findings, [], Summary(passed=False)), shipped, out)
    log = json.loads(out.getvalue())
    validate_sarif(log)
    descriptors = log["runs"][0]["tool"]["driver"]["rules"]
    assert [d["id"] for d in descriptors] == sorted(shipped)
    for d in descriptors:
        assert d["help"]["markdown"] == shipped[d["id"]].docs_markdown()


def test_sarif_keeps_the_most_severe_results_under_githubs_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sarif, "MAX_RESULTS", 3)
    findings = [
        Finding("S005", "answer-in-prompt", "warning", "a.jsonl", 1, "w1"),
        dup("a.jsonl", 5, 1),
        Finding("S005", "answer-in-prompt", "warning", "a.jsonl", 2, "w2"),
        dup("a.jsonl", 4, 1),
        dup("a.jsonl", 3, 1),
    ]
    out = io.StringIO()
    sarif.render(Report(findings, [], Summary(passed=False)), RULES, out)
    log = json.loads(out.getvalue())
    validate_sarif(log)
    run = log["runs"][0]
    kept = [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
        for r in run["results"]
    ]
    assert kept == [("D001", 3), ("D001", 4), ("D001", 5)]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["D001"]
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"].startswith("5 findings; GitHub code scanning accepts at most 3")


def test_sarif_driver_carries_each_rule_and_its_docs() -> None:
    driver = sarif_run()["tool"]["driver"]
    assert driver["name"] == "datalint"
    assert driver["version"]
    assert driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == ["D001", "S005"]
    d001 = driver["rules"][0]
    assert d001["name"] == "exact-duplicate-prompt"
    assert d001["shortDescription"] == {"text": "Two items share a prompt."}
    assert d001["fullDescription"] == {"text": "What D001 checks."}
    assert d001["help"]["markdown"] == RULES["D001"].docs_markdown()
    for part in ("What D001 checks.", "Why D001 matters.", "How to fix D001."):
        assert part in d001["help"]["text"]
    assert d001["defaultConfiguration"] == {"level": "error"}
    assert driver["rules"][1]["defaultConfiguration"] == {"level": "warning"}


def test_sarif_results_are_located_relative_to_srcroot(tmp_path: Path) -> None:
    run = sarif_run()
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"
    results = run["results"]
    assert len(results) == 7
    first = results[0]
    assert first["ruleId"] == "D001" and first["ruleIndex"] == 0 and first["level"] == "error"
    assert first["message"] == {"text": "duplicates line 3"}
    assert first["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "data/train.jsonl", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 9},
            }
        }
    ]
    odd = results[4]
    assert odd["ruleIndex"] == 1 and odd["level"] == "warning"
    assert odd["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "odd%2Cdir%3Ax/b.jsonl"
    )


def test_sarif_absolute_path_in_cwd_becomes_relative_and_outside_stays_absolute(
    tmp_path: Path,
) -> None:
    inside = str(tmp_path / "sub" / "a.jsonl")
    outside = str(tmp_path.parent / "elsewhere.jsonl")
    report = Report([dup(inside, 1, 1), dup(outside, 0, 1)], [], Summary(passed=False, n_errors=2))
    results = json.loads(render("sarif", report))["runs"][0]["results"]
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "sub/a.jsonl",
        "uriBaseId": "%SRCROOT%",
    }
    outside_location = results[1]["locations"][0]["physicalLocation"]
    assert outside_location == {
        "artifactLocation": {"uri": Path(outside).resolve().as_uri()}
    }  # line 0 (a file-level finding): no region


# --- github -----------------------------------------------------------------------------------


def test_github_escaping_by_hand() -> None:
    assert escape_data("100%\r\nok: a,b") == "100%25%0D%0Aok: a,b"
    assert escape_property("100%\r\nok: a,b") == "100%25%0D%0Aok%3A a%2Cb"


def test_github_one_annotation_per_file_and_rule() -> None:
    lines = render("github").splitlines()
    assert lines == [
        "::error file=data/train.jsonl,line=3,title=D001 exact-duplicate-prompt::"
        "4 findings, first at lines 3, 9, 12, ...: duplicates line 1",
        "::error file=data/other.jsonl,line=7,title=D001 exact-duplicate-prompt::duplicates line 6",
        "::warning file=data/train.jsonl,line=5,title=S005 answer-in-prompt::answer '7' in prompt",
        "::warning file=odd%2Cdir%3Ax/b.jsonl,line=2,title=S005 answer-in-prompt::"
        "100%25 of the answer is in the prompt%0Asecond line, with: colon%0D",
        "Found 7 findings (5 errors, 2 warnings). 50 items in 3 files."
        " Lift score 0.031 (fail-under 0.05). Failed.",
    ]


def test_github_step_summary_is_appended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary_file = tmp_path / "step_summary.md"
    summary_file.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    render("github")
    text = summary_file.read_text("utf-8")
    assert text.startswith("earlier step\n## datalint: failed\n")
    assert (
        "| error | D001 | exact-duplicate-prompt | `data/train.jsonl` | 4 | 3, 9, 12, 40 |" in text
    )
    assert "| warning | S005 | answer-in-prompt | `odd,dir:x/b.jsonl` | 1 | 2 |" in text
    assert "| `c0` | `train.jsonl:1-8` | 8 | 0.625 | +1.2e-1 | learn |" in text


def test_github_without_step_summary_writes_nothing(tmp_path: Path) -> None:
    render("github")
    assert list(tmp_path.iterdir()) == []


# --- rich -------------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rich_groups_by_file_worst_first_without_colour() -> None:
    text = render("rich", color=False)
    assert "\x1b[" not in text
    lines = text.splitlines()
    # train.jsonl has 4 errors, other.jsonl 1 error, the odd file only a warning
    headers = [ln for ln in lines if ln and not ln.startswith((" ", "Cohorts")) and "jsonl" in ln]
    assert [h.split("  ")[0] for h in headers] == [
        "data/train.jsonl",
        "data/other.jsonl",
        "odd,dir:x/b.jsonl",
    ]
    train = [ln.strip() for ln in lines if ln.startswith("  data/train.jsonl:")]
    assert [ln.split("  ")[0] for ln in train] == [
        "data/train.jsonl:3",
        "data/train.jsonl:9",
        "data/train.jsonl:12",
        "data/train.jsonl:40",
        "data/train.jsonl:5",  # the warning after every error
    ]
    assert train[0] == "data/train.jsonl:3  D001 [error]  duplicates line 1  exact-duplicate-prompt"


def test_rich_cohort_table_and_summary_panel() -> None:
    text = render("rich", color=False)
    row = next(ln for ln in text.splitlines() if ln.lstrip().startswith("c0 "))
    # one file: the Lines column holds the span and the title names the file
    assert "Cohorts in data/train.jsonl" in text
    # lines, items, pass rate, non-degenerate, all right, all wrong, adv_std (NaN), target (None),
    # lift, verdict
    assert row.split() == [
        "c0",
        "1-8",
        "8",
        "0.62",
        "0.75",
        "0.25",
        "0",
        "-",
        "-",
        "+1.2e-1",
        "learn",
    ]
    lift = "+3.1e-2 nats of probe NLL (mean predicted lift; above 0 helps) (fail-under 0.05)"
    for expected in (lift, "FAILED", "minilm", "rollouts (no model)"):
        assert expected in text
    assert "Statistics" not in text
    assert "Statistics" in render("rich", color=False, statistics=True)


def test_rich_prints_user_text_literally() -> None:
    finding = Finding("S005", "answer-in-prompt", "warning", "a.jsonl", 1, "[bold]x[/] :smile:")
    report = Report([finding], [], Summary(passed=True, n_warnings=1))
    assert "[bold]x[/] :smile:" in render("rich", report, color=True)


def test_rich_colour_follows_tty_and_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    def on_terminal() -> str:
        out = FakeTerminal()
        get_renderer("rich")(make_report(), RULES, out)
        return out.getvalue()

    assert "\x1b[" in on_terminal()
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in on_terminal()
    assert "\x1b[" in render("rich", color=True)  # an explicit request wins
    assert "\x1b[" not in render("rich")  # not a terminal


def test_rich_is_width_safe_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    wide = render("rich", color=False)
    table_lines = [ln for ln in wide.splitlines() if "jsonl:" not in ln or "c0" in ln]
    assert max(len(ln) for ln in table_lines) <= 120
    assert "adv_" in wide and "Not shown" not in wide
    monkeypatch.setenv("COLUMNS", "50")
    narrow = render("rich", color=False)
    assert "adv_std" not in narrow.split("Not shown at this width")[0]
    note = " ".join(narrow.split("Not shown at this width: ")[1].split()).split(" (--format")[0]
    assert note == "Items, All right, adv_std, Target sim."
    row = next(ln for ln in narrow.splitlines() if ln.lstrip().startswith("c0 "))
    assert row.split() == ["c0", "1-8", "0.62", "0.75", "0", "+1.2e-1", "learn"]
    assert max(len(ln) for ln in narrow.splitlines()) <= 50
    # a finding wraps at word boundaries under a hanging indent; at 120 columns it fits one line
    assert (
        "  data/train.jsonl:3  D001 [error]  duplicates\n      line 1  exact-duplicate-prompt\n"
        in (narrow)
    )
    assert "  data/train.jsonl:3  D001 [error]  duplicates line 1  exact-duplicate-prompt\n" in wide


def test_rich_caps_the_cohort_table() -> None:
    cohorts = [CohortReport(f"c{i}", [("a.jsonl", i + 1)], {}) for i in range(45)]
    report = Report([], cohorts, Summary(passed=True))
    text = render("rich", report, color=False)
    assert "No findings." in text
    assert "... and 5 more cohorts" in text
    rows = [ln.split()[0] for ln in text.splitlines() if re.match(r"c\d+ ", ln)]
    assert rows[-1] == "c39" and "c40" not in rows


# --- shared helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("features", "verdict"),
    [
        ({"frac_nondegenerate": 0.75, "frac_all_correct": 0.25, "frac_all_wrong": 0.0}, "learn"),
        ({"frac_nondegenerate": 0.0, "frac_all_correct": 1.0, "frac_all_wrong": 0.0}, "known"),
        (
            {"frac_nondegenerate": 0.25, "frac_all_correct": 0.0, "frac_all_wrong": 0.75},
            "no foothold",
        ),
        ({"frac_nondegenerate": None, "frac_all_correct": math.nan}, None),
        ({}, None),
    ],
)
def test_cohort_verdict(features: dict, verdict: str | None) -> None:
    assert cohort_verdict(features) == verdict


def test_fmt_number() -> None:
    assert [fmt_number(v) for v in (None, math.nan, 0.0, 3.0, 0.625, 0.00012, 12.345, 1234.56)] == [
        "-",
        "-",
        "0",
        "3",
        "0.625",
        "0.00012",
        "12.3",
        "1234.6",
    ]
