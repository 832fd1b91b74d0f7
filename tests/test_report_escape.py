"""Output is inert: strings from data never act as terminal, workflow, markdown or HTML code.

Each format renders a report whose cohort ids, paths and messages hold escape sequences, CR/LF
followed by workflow commands, rich markup, markdown image links and HTML, and ``%0A``.
"""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from datalint.findings import CohortReport, Finding, ItemDiagnostic, Report, Summary
from datalint.report import FORMATS, get_renderer
from datalint.report.escape import (
    InertStream,
    github_data,
    github_property,
    guard_lines,
    markdown_code,
    markdown_text,
    script_json,
    terminal,
)

ESC = "\x1b]0;pwned\x07\x1b[31mred\x1b[0m"
COMMANDS = "\r\n::stop-commands::tok\n::error file=x.py,line=1::forged\r::add-mask::s"
MARKUP = "[bold]B[/][link=https://evil.example]L[/link]"
IMAGE = "![x](https://evil.example/i.png)<img src=x onerror=alert(1)>"
PERCENT = "%0A::error::pct"
HOSTILE = f"c{ESC}{COMMANDS}{MARKUP}{IMAGE}{PERCENT}\u202e##[add-mask]z"

# what a GitHub runner reads as a command: a line (split at CR or LF) whose trimmed start is "::",
# or the legacy "##[" prefix anywhere
RUNNER_LINE = re.compile(r"[\r\n]")


def runner_commands(text: str) -> list[str]:
    lines = RUNNER_LINE.split(text)
    return [ln for ln in lines if ln.lstrip().startswith("::") or "##[" in ln]


def raw_controls(text: str, allowed: str = "\n") -> set[str]:
    return {ch for ch in text if (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0) and ch not in allowed}


def hostile_report() -> Report:
    path = f"data/{HOSTILE}.jsonl"
    findings = [
        Finding("D001", "exact-duplicate-prompt", "error", path, 3, f"duplicates {HOSTILE}", None),
        Finding("RW003", "no-foothold", "error", path, 1, f"cohort {HOSTILE} dead", HOSTILE),
        Finding("S005", "answer-in-prompt", "warning", "b.jsonl", 2, HOSTILE),
    ]
    cohort = CohortReport(
        id=HOSTILE,
        lines=[(path, n) for n in range(1, 5)],
        features={"pass_rate": 0.5, "frac_nondegenerate": 1.0, "frac_all_correct": 0.0},
        items=[ItemDiagnostic(path, n, 4, 0.5, ["disagree"]) for n in range(1, 5)],
        predicted_lift=0.002,
    )
    summary = Summary(
        passed=False,
        n_files=2,
        n_items=4,
        n_errors=2,
        n_warnings=1,
        lift_score=0.002,
        predictor=f"p{HOSTILE}.onnx",
        skipped_stages=[f"x {HOSTILE}"],
    )
    return Report(findings, [cohort], summary)


def render(fmt: str, **options: object) -> str:
    out = io.StringIO()
    get_renderer(fmt)(hostile_report(), {}, out, **options)  # type: ignore[arg-type]
    return out.getvalue()


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("GITHUB_STEP_SUMMARY", "NO_COLOR", "COLUMNS", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "github"])
def test_no_format_writes_a_control_character_or_a_workflow_command(fmt: str) -> None:
    text = render(fmt)
    assert raw_controls(text) == set()
    assert runner_commands(text) == []
    assert "\u202e" not in text


def test_rich_with_colour_has_only_its_own_escape_sequences() -> None:
    text = render("rich", color=True)
    assert "\x1b]" not in text and "\x07" not in text  # the data's OSC title sequence
    assert "\\x1b]0;pwned\\x07" in text  # shown, escaped
    assert runner_commands(re.sub(r"\x1b\[[0-9;]*m", "", text)) == []
    assert raw_controls(text, allowed="\n\x1b") == set()


def test_rich_shows_markup_from_the_data_literally() -> None:
    text = render("rich", color=True)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "[bold]B[/][link=https://evil.example]L[/link]" in plain.replace("\n", "")
    assert "\x1b]8;" not in text  # no hyperlink escape was made from [link=...]


def test_a_newline_in_a_cohort_id_or_path_never_starts_an_output_line() -> None:
    for fmt in ("rich", "concise"):
        text = render(fmt)
        assert not any(ln.lstrip().startswith(("::", "stop-commands")) for ln in text.splitlines())
        assert "\\r\\n\\x3a:stop-commands" not in text  # escaped as a whole: no guard needed
        assert "\\r\\n::stop-commands::tok" in text.replace("\n", "").replace(" ", "") or (
            fmt == "rich"  # the rich table may wrap the id; its pieces are still escaped
        )


def test_github_writes_only_its_own_annotations() -> None:
    text = render("github")
    commands = runner_commands(text)
    assert len(commands) == 3  # one per (file, rule)
    assert all(re.match(r"::(error|warning) file=[^\r\n]*,title=[^:]*::", c) for c in commands)
    assert raw_controls(text) == set()
    first = commands[0]
    # the property value has its % CR LF : , escaped, the message its % CR LF
    assert "file=data/c\\x1b]0;pwned\\x07" in first
    assert "%0D%0A%3A%3Astop-commands%3A%3Atok" in first
    assert "%250A%3A%3Aerror%3A%3Apct" in first
    message = first.split("::", 2)[2]
    assert "%0D%0A::stop-commands::tok" in message
    assert "%250A::error::pct" in message


def md_html(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def test_github_step_summary_has_no_link_image_or_html_from_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    render("github")
    markdown = summary.read_text("utf-8")
    assert raw_controls(markdown) == set()
    page = md_html(markdown)
    assert "<img" not in page and "<a " not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # shown as text
    # every table row still has its 6 cells: no "|" from the data split one
    rows = [ln for ln in markdown.splitlines() if ln.startswith("| `")]
    assert rows and all(len(re.findall(r"(?<!\\)\|", r)) == 7 for r in rows)


def test_sarif_message_and_uri_stay_exact_and_valid_json() -> None:
    log = json.loads(render("sarif"))
    result = log["runs"][0]["results"][0]
    assert result["message"]["text"] in (f"duplicates {HOSTILE}", f"cohort {HOSTILE} dead")
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert "\x1b" not in uri and "\n" not in uri and "%1B" in uri and "%0A" in uri


def test_json_keeps_the_data_exact() -> None:
    data = json.loads(render("json"))
    assert data["cohorts"][0]["id"] == HOSTILE
    assert data["findings"][0]["path"] == f"data/{HOSTILE}.jsonl"


# --- the escaping functions by hand ------------------------------------------------------------


def test_terminal_by_hand() -> None:
    assert terminal("plain [bold] text") == "plain [bold] text"
    assert terminal("a\x1b[31mb\x00c\x9bd\te") == "a\\x1b[31mb\\x00c\\x9bd\te"
    assert terminal("l1\r\nl2") == "l1\\r\\nl2"
    assert terminal("x\u202ey\u2028z") == "x\\u202ey\\u2028z"
    assert terminal("a ##[add-mask]b") == "a ##\\x5badd-mask]b"
    assert terminal("tab\t", keep_tab=False) == "tab\\t"


def test_guard_lines_by_hand() -> None:
    assert guard_lines("ok: fine\n::error::x") == "ok: fine\n\\x3a:error::x"
    assert guard_lines("  ::a\r\u00a0::b") == "  \\x3a:a\r\u00a0\\x3a:b"
    assert guard_lines("mid ::not a command") == "mid ::not a command"


def test_github_escapes_by_hand() -> None:
    assert github_data("100%\r\nok: a,b\x1b") == "100%25%0D%0Aok: a,b\\x1b"
    assert github_property("100%\r\nok: a,b") == "100%25%0D%0Aok%3A a%2Cb"


def test_markdown_escapes_by_hand() -> None:
    assert markdown_text("a_b *c* [d](e) <f> @g 1|2") == (
        "a\\_b \\*c\\* \\[d\\]\\(e\\) &lt;f&gt; @\u2060g 1\\|2"
    )
    assert markdown_text("- item") == "\\- item"
    assert markdown_text("1. item") == "1\\. item"
    assert markdown_code("a`b|c") == "``a`b\\|c``"
    assert markdown_code("`x`", in_table=False) == "`` `x` ``"
    for hostile in (IMAGE, MARKUP, "https://evil.example", "<script>x</script>", "@octocat"):
        page = md_html(f"| h |\n| --- |\n| {markdown_text(hostile)} |\n\n{markdown_text(hostile)}")
        assert "<img" not in page and "<a " not in page and "<script" not in page


def test_script_json_cannot_close_the_script() -> None:
    text = script_json({"id": "</script><script>alert(1)</script><!--\u2028"})
    assert "</" not in text and "<!--" not in text and "\u2028" not in text
    assert json.loads(text) == {"id": "</script><script>alert(1)</script><!--\u2028"}


# --- the stream guard -------------------------------------------------------------------------


def test_inert_stream_neutralises_commands_across_writes() -> None:
    target = io.StringIO()
    stream = InertStream(target)
    for piece in ("note\n", ":", ":error::x\n", "  ", "::add-mask::y", "\r::z\n", "a::b\n"):
        stream.write(piece)
    stream.write(":")
    stream.flush()  # a lone ":" is released escaped: the next write could add another
    stream.write(":w\n")
    assert target.getvalue() == (
        "note\n\\x3a:error::x\n  \\x3a:add-mask::y\r\\x3a:z\na::b\n\\x3a:w\n"
    )


def test_inert_stream_escapes_controls_when_asked() -> None:
    target = io.StringIO()
    stream = InertStream(target, escape_controls=True)
    stream.write("a\x1b[2Jb\tc\rd\n")
    assert target.getvalue() == "a\\x1b[2Jb\tc\rd\n"


GUARD_SCRIPT = r"""
import logging, sys, warnings
from datalint.cli.guard import install
install()
gold = "9\n::error file=a.py::forged\x1b]0;t\x07"
logging.getLogger("math_verify.parser").warning(f"Timeout during parsing: {gold}")
logging.getLogger("transformers").warning("%s", gold)
warnings.warn(gold)
print(gold, file=sys.stderr)
print(gold)
sys.stderr.write("::stop-commands::tok\n")
"""


def test_the_cli_guard_covers_third_party_logs_warnings_and_prints(tmp_path: Path) -> None:
    """A real process: what reaches file descriptors 1 and 2 after ``guard.install()``."""
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", GUARD_SCRIPT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert runner_commands(stream) == []
        assert raw_controls(stream) == set()
    assert proc.stderr.count("\\x3a:error file=a.py::forged\\x1b]0;t\\x07") == 4
    assert "Timeout during parsing: 9" in proc.stderr


def test_the_guard_escapes_log_records_before_any_handler() -> None:
    from datalint.cli.guard import install

    install()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("datalint-test-guard")
    logger.addHandler(handler)
    try:
        logger.warning("gold %s", "\x1b[31mx")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            text = warnings.formatwarning("w\x1b[0m", UserWarning, "f.py", 1, None)
    finally:
        logger.removeHandler(handler)
    assert out.getvalue() == "gold \\x1b[31mx\n"
    assert "\\x1b[0m" in text and "\x1b" not in text
