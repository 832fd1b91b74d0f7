"""Output injection through the real CLI: cohort ids and a file name that carry terminal escapes,
workflow commands after CR/LF, rich markup, markdown images and HTML, and ``%0A``.

The data is sampled by the shipped tiny policy (the real model path), so the hostile strings reach
every part of the report: finding messages, the cohort table, the summary and the step summary.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tests.hostile.harness import Outcome, assert_clean_exit, run_datalint

pytest.importorskip("torch")  # the default policy backend samples the data

HOSTILE = (
    "v\x1b]0;pwned\x07\x1b[31m\r\n::stop-commands::tok\n::error file=x.py,line=1::forged"
    "\r::add-mask::s[bold]B[/][link=https://evil.example]L[/link]"
    "![x](https://evil.example/i.png)<img src=x onerror=alert(1)>%0A::warning::pct##[add-mask]q"
)
# no "/" or NUL in a file name; everything else goes
FILE_NAME = "e\x1b[2J\n::error file=y.py::from-a-file-name\r::set-output name=a::b[bold]x.jsonl"
FORMATS = ("rich", "concise", "json", "sarif", "github", "markdown", "html")
ANNOTATION = re.compile(r"^::(error|warning) (file=[^\r\n,]*,)?(line=\d+,)?title=[^\r\n:]*::")


def write_data(folder: Path) -> Path:
    rows = []
    for cohort in range(2):
        for k in range(4):
            a, b = 10 + cohort * 7 + k, 3 + k
            rows.append(
                {
                    "prompt": f"{a}+{b}=",
                    "answer": str(a + b),
                    "verifier": "exact",
                    "cohort": f"{HOSTILE}-{cohort}",
                }
            )
    rows.append(dict(rows[0]))  # an exact duplicate: a D001 finding in this file
    path = folder / FILE_NAME
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def runner_commands(text: str) -> list[str]:
    """Lines a GitHub runner would run: split at CR or LF, trimmed start "::", or "##[" anywhere."""
    lines = re.split(r"[\r\n]", text)
    return [ln for ln in lines if ln.lstrip().startswith("::") or "##[" in ln]


def raw_controls(text: str) -> set[str]:
    return {c for c in text if (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) and c != "\n"}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Outcome, str]]:
    """Each format once, in one folder (so the rollout cache is shared), with a step summary."""
    cwd = tmp_path_factory.mktemp("hostile-output")
    data = write_data(cwd)
    results = {}
    for fmt in FORMATS:
        summary = cwd / f"summary-{fmt}.md"
        outcome = run_datalint(
            "check",
            data.name,
            "--format",
            fmt,
            "--rollouts-per-item",
            "4",
            cwd=cwd,
            timeout=240,
            env={"GITHUB_STEP_SUMMARY": str(summary), "COLUMNS": "100"},
        )
        results[fmt] = (outcome, summary.read_text("utf-8") if summary.exists() else "")
    return results


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_line_of_any_format_is_a_workflow_command_or_holds_a_control_character(
    outcomes: dict[str, tuple[Outcome, str]], fmt: str
) -> None:
    outcome, _ = outcomes[fmt]
    assert_clean_exit(outcome, 1)  # the duplicate is an error
    assert raw_controls(outcome.stdout) == set(), fmt
    assert raw_controls(outcome.stderr) == set(), fmt
    assert runner_commands(outcome.stderr) == []
    commands = runner_commands(outcome.stdout)
    if fmt == "github":
        assert commands and all(ANNOTATION.match(c) for c in commands), commands
        assert not any(c.split("::", 2)[2].lstrip().startswith(":") for c in commands)
    else:
        assert commands == [], commands


@pytest.mark.parametrize("fmt", ["rich", "concise"])
def test_the_hostile_strings_are_shown_escaped(
    outcomes: dict[str, tuple[Outcome, str]], fmt: str
) -> None:
    stdout = outcomes[fmt][0].stdout
    assert "\\x1b]0;pwned\\x07" in stdout
    assert "e\\x1b[2J\\n\\x3a:error" in stdout or "e\\x1b[2J\\n::error" in stdout


def test_rich_does_not_interpret_markup_from_the_data(
    outcomes: dict[str, tuple[Outcome, str]],
) -> None:
    stdout = outcomes["rich"][0].stdout
    assert "[bold]x.jsonl" in stdout  # the file name's markup, printed as written


def test_json_and_sarif_keep_the_data_exact(outcomes: dict[str, tuple[Outcome, str]]) -> None:
    report = json.loads(outcomes["json"][0].stdout)
    assert {c["id"] for c in report["cohorts"]} == {f"{HOSTILE}-0", f"{HOSTILE}-1"}
    assert {f["path"] for f in report["findings"]} == {FILE_NAME}
    sarif = json.loads(outcomes["sarif"][0].stdout)
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
    }
    assert len(uris) == 1 and "%0A" in uris.pop()


def test_the_step_summary_renders_no_link_image_or_html_from_the_data(
    outcomes: dict[str, tuple[Outcome, str]],
) -> None:
    markdown = outcomes["github"][1]
    assert "Cohorts" in markdown
    assert raw_controls(markdown) == set()
    page = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    assert "<img" not in page and "<a " not in page
    rows = [ln for ln in markdown.splitlines() if ln.startswith("| `")]
    assert len(rows) == 2
    for other in FORMATS:
        if other != "github":
            assert outcomes[other][1] == ""  # only --format github writes a step summary


def test_markdown_and_html_show_the_data_inert(outcomes: dict[str, tuple[Outcome, str]]) -> None:
    page = (
        MarkdownIt("commonmark", {"html": True})
        .enable("table")
        .render(outcomes["markdown"][0].stdout)
    )
    assert "<img" not in page and "<a " not in page
    document = outcomes["html"][0].stdout
    assert document.count("<script") == 2 and "<img" not in document
    assert "&lt;img src=x onerror=alert(1)&gt;" in document
