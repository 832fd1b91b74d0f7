"""``--format markdown`` and ``--format html``: content, escaping, and the HTML page rendered by a
real headless Chromium (skipped, with the reason, where no Chromium is installed).

The browser test writes ``docs/report-html.png`` when ``DATALINT_UPDATE_SNAPSHOTS`` is set.
"""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from datalint.findings import CohortReport, Finding, ItemDiagnostic, ItemSample, Report, Summary
from datalint.report import get_renderer
from datalint.report.html_format import pass_rate_bins
from datalint.rulebook import rules_by_code
from tests.report_fixtures import vendor_report

REPO = Path(__file__).resolve().parent.parent
HOSTILE = (
    "h\x1b[31m</script><script>document.title='pwned'</script><img src=x onerror=alert(1)>"
    "![i](https://evil.example/i.png)\n::error::x @octocat ##[add-mask]q"
)


def render(fmt: str, report: Report) -> str:
    out = io.StringIO()
    get_renderer(fmt)(report, rules_by_code(), out)
    return out.getvalue()


def hostile_report() -> Report:
    cohort = CohortReport(
        HOSTILE,
        [(f"{HOSTILE}.jsonl", 1), (f"{HOSTILE}.jsonl", 2)],
        {"pass_rate": 0.5, "frac_nondegenerate": 1.0},
        [
            ItemDiagnostic(f"{HOSTILE}.jsonl", 1, 4, 0.5, ["disagree"], [ItemSample(HOSTILE, 1.0)]),
            ItemDiagnostic(f"{HOSTILE}.jsonl", 2, 4, 1.0, ["all_correct"], []),
        ],
        predicted_lift=0.003,
    )
    finding = Finding(
        "RW001", "all-correct-dead-ends", "warning", f"{HOSTILE}.jsonl", 2, HOSTILE, HOSTILE
    )
    summary = Summary(passed=True, n_files=1, n_items=2, n_warnings=1, lift_score=0.003)
    return Report([finding], [cohort], summary)


# --- markdown ---------------------------------------------------------------------------------


def test_markdown_of_the_example() -> None:
    text = render("markdown", vendor_report())
    assert text.startswith("## datalint: failed\n")
    assert (
        "10 of 20 cohorts are predicted to help (predicted lift > 0); 5 fail RW003; "
        "other verdicts: 10 learn, 3 no foothold, 2 no lift." in text
    )
    assert "Lift score **+2.1e-4** nats of probe NLL." in text
    assert "| RW003 | low-disagreement | error | 5 |" in text
    assert "| `v16-scrambled` | `vendor.jsonl:65-68` | 4 | 0.09 | -3.8e-3 | no lift |" in text
    page = MarkdownIt("commonmark").enable("table").render(text)
    assert page.count("<tr>") == 1 + 4 + 1 + 24 + 1 + 20  # header + rows of the three tables


def test_markdown_makes_no_link_image_html_or_mention_from_the_data() -> None:
    text = render("markdown", hostile_report())
    assert "\x1b" not in text
    assert not any(ln.lstrip().startswith("::") for ln in text.splitlines())
    page = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    for tag in ("<img", "<a ", "<script"):
        assert tag not in page
    # GitHub makes no mention inside code; elsewhere a word joiner breaks it
    assert "@octocat" not in re.sub(r"<code>.*?</code>", "", page)
    assert "@\u2060octocat" in page


# --- html -------------------------------------------------------------------------------------


def test_html_escapes_every_string_and_embeds_safe_json() -> None:
    page = render("html", hostile_report())
    assert page.count("<script") == 2  # the data block and the sorting script, nothing else
    assert "<img" not in page and "</script><script>document" not in page
    assert "&lt;/script&gt;&lt;script&gt;document.title=&#x27;pwned&#x27;" in page
    assert "\x1b" not in page and "\\x1b[31m" in page
    block = re.search(r'<script type="application/json" id="datalint-data">(.*?)</script>', page)
    assert block is not None
    assert json.loads(block.group(1))["cohorts"][0]["id"] == HOSTILE
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # no external fetch


def test_html_sections_plots_and_histogram_bins() -> None:
    report = vendor_report()
    page = render("html", report)
    for anchor in ('id="cohorts"', 'id="items"', 'id="lift-plot"', 'id="pass-rate-histogram"'):
        assert anchor in page
    assert 'id="findings-per-rule"' in page
    assert page.count('<tr data-index="') == 20
    assert page.count("<rect") == 20 + 10 + 4  # lift bars, histogram bins, rules
    rates = [i.pass_rate for c in report.cohorts for i in c.items]
    bins = pass_rate_bins(report.cohorts)
    assert sum(bins) == len(rates) == 80
    assert bins[0] == sum(1 for r in rates if r < 0.1)
    assert bins[9] == sum(1 for r in rates if r >= 0.9)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    proc = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")
def test_html_renders_in_a_real_browser_and_sorts_by_lift(tmp_path: Path) -> None:
    report = vendor_report()
    page = tmp_path / "report.html"
    page.write_text(render("html", report), encoding="utf-8")
    dom = chromium(tmp_path, "--virtual-time-budget=2000", "--dump-dom", page.as_uri())
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    words = " ".join(text.split())
    assert "datalint: failed" in words
    assert "10 of 20 cohorts are predicted to help (predicted lift > 0); 5 fail RW003" in words
    # the script ran: rows sorted by predicted lift, best first, and the header marked
    ids = re.findall(r'<tr data-index="(\d+)">', dom)
    lifts = [report.cohorts[int(i)].predicted_lift for i in ids]
    assert lifts == sorted(lifts, reverse=True) and len(lifts) == 20
    assert re.search(r'<th data-key="lift" data-numeric="1" aria-sort="descending">', dom)
    assert "v05-frontier" in words and "Predicted lift per cohort" in words
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000
    if __import__("os").environ.get("DATALINT_UPDATE_SNAPSHOTS"):
        shutil.copy(shot, REPO / "docs" / "report-html.png")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")
def test_hostile_html_runs_no_script_of_the_data_in_a_real_browser(tmp_path: Path) -> None:
    page = tmp_path / "hostile.html"
    page.write_text(render("html", hostile_report()), encoding="utf-8")
    dom = chromium(tmp_path, "--virtual-time-budget=2000", "--dump-dom", page.as_uri())
    assert "<title>datalint report</title>" in dom  # the data's script did not set the title
    assert "<img" not in dom
    assert dom.count("<script") == 2
    assert "document.title='pwned'" in html.unescape(dom)  # shown as text
