"""``html``: one self-contained page a buyer reads: no network at view time.

Summary, findings per rule (a chart and a table per rule), the cohort table (sortable: a click
on a header), predicted lift per cohort and the pass-rate histogram as inline SVG, and every
item's pass rate, flags and graded samples. Every string from the data is HTML-escaped
(``datalint.report.escape.html_text``); the data the sorting script reads is JSON inside a
``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped (``script_json``), and
the script writes only text nodes. A Content-Security-Policy forbids every fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from datalint import __version__
from datalint.findings import CohortReport, Finding, Report
from datalint.report._common import (
    LIFT_UNIT,
    cohort_lines,
    cohort_size,
    finite_or_none,
    fmt_lift,
    fmt_short,
    headline,
    location,
    rule_statistics,
    verdicts,
)
from datalint.report.escape import html_text as esc
from datalint.report.escape import script_json
from datalint.rulebook import Rule

MAX_FINDINGS_PER_RULE = 200
MAX_ITEMS = 5000
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
COHORT_COLUMNS = (  # (key, header, numeric)
    ("id", "Cohort", False),
    ("lines", "Lines", False),
    ("items", "Items", True),
    ("pass_rate", "Pass rate", True),
    ("frac_nondegenerate", "Non-degen.", True),
    ("frac_all_correct", "All right", True),
    ("frac_all_wrong", "All wrong", True),
    ("adv_std", "adv_std", True),
    ("target_similarity", "Target sim.", True),
    ("lift", "Predicted lift", True),
    ("verdict", "Verdict", False),
)


def render(
    report: Report,
    rules: Mapping[str, Rule],
    out: TextIO,
    *,
    statistics: bool = False,
    color: bool | None = None,
) -> None:
    out.write(page(report, rules))


def page(report: Report, rules: Mapping[str, Rule] | None = None) -> str:
    rules = rules or {}
    verdict_of = verdicts(report)
    summary = report.summary
    head = headline(report)
    body = [
        f'<header class="{head.status}"><h1>datalint: {head.status}</h1>',
        f"<p>{esc(head.summary)}</p>",
    ]
    if head.cohorts:
        body.append(f'<p id="cohort-sentence">{esc(head.cohorts)}</p>')
    if head.lift is not None:
        body.append(
            f'<p>Lift score <b id="lift-score">{esc(head.lift)}</b> '
            f"{LIFT_UNIT} (size-weighted mean predicted lift; above 0 helps).</p>"
        )
    facts = [
        ("Predictor", summary.predictor or "-"),
        ("Similarity", summary.similarity or "-"),
        ("Skipped stages", ", ".join(summary.skipped_stages) or "none"),
    ]
    body.append("<p class=facts>" + " · ".join(f"{k}: {esc(v)}" for k, v in facts) + "</p>")
    body.append("</header>")
    if report.cohorts:
        body += _cohort_section(report.cohorts, verdict_of)
        body += _items_section(report.cohorts)
    body += _findings_section(report.findings, rules)
    data = {
        "cohorts": [_cohort_data(c, verdict_of.get(c.id)) for c in report.cohorts],
    }
    return TEMPLATE.format(
        csp=CSP,
        style=STYLE,
        body="\n".join(body),
        data=script_json(data),
        script=SCRIPT,
        version=esc(__version__),
    )


def _cohort_data(c: CohortReport, verdict: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": c.id,
        "lines": cohort_lines(c),
        "items": cohort_size(c),
        "lift": finite_or_none(c.predicted_lift),
        "verdict": verdict or "-",
    }
    for key, _, numeric in COHORT_COLUMNS:
        if numeric and key not in row:
            row[key] = finite_or_none(c.features.get(key))
    return row


def _cohort_section(cohorts: list[CohortReport], verdict_of: Mapping[str, str | None]) -> list[str]:
    head = "".join(
        f'<th data-key="{key}" data-numeric="{int(numeric)}">{esc(header)}</th>'
        for key, header, numeric in COHORT_COLUMNS
    )
    rows = []
    for index, c in enumerate(cohorts):
        data = _cohort_data(c, verdict_of.get(c.id))
        cells = []
        for key, _, numeric in COHORT_COLUMNS:
            value = data[key]
            if key == "lift":
                text = fmt_lift(value)
            elif numeric:
                text = fmt_short(value)
            else:
                text = str(value)
            cls = f' class="verdict v-{esc(str(value).split(" ")[0])}"' if key == "verdict" else ""
            cells.append(f"<td{cls}>{esc(text)}</td>")
        rows.append(f'<tr data-index="{index}">{"".join(cells)}</tr>')
    return [
        "<section><h2>Cohorts</h2>",
        f"<p class=hint>Click a header to sort. Predicted lift in {LIFT_UNIT}.</p>",
        f'<table id="cohorts"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>',
        '<div class="plots">',
        _lift_plot(cohorts),
        _pass_rate_histogram(cohorts),
        "</div></section>",
    ]


def _lift_plot(cohorts: list[CohortReport]) -> str:
    """Horizontal bars: each cohort's predicted lift around a zero line."""
    lifts = [(c.id, finite_or_none(c.predicted_lift)) for c in cohorts[:60]]
    known = [v for _, v in lifts if v is not None]
    if not known:
        return "<figure><figcaption>No predicted lift.</figcaption></figure>"
    span = max(abs(v) for v in known) or 1.0
    label_w, half, row_h = 150, 150, 16
    width, height = label_w + 2 * half + 70, row_h * len(lifts) + 30
    zero = label_w + half
    parts = [
        f'<svg id="lift-plot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="predicted lift per cohort">',
        f'<line x1="{zero}" y1="0" x2="{zero}" y2="{height - 20}" stroke="#888"/>',
    ]
    for n, (cid, value) in enumerate(lifts):
        y = n * row_h + 4
        label = cid if len(cid) <= 22 else cid[:21] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 11}" text-anchor="end" font-size="11">'
            f"{esc(label)}</text>"
        )
        if value is None:
            continue
        length = abs(value) / span * half
        x = zero if value >= 0 else zero - length
        color = "#2e7d32" if value > 0 else "#c62828"
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{max(length, 0.5):.1f}" height="{row_h - 4}" '
            f'fill="{color}"><title>{esc(cid)}: {esc(fmt_lift(value))}</title></rect>'
        )
        tx = zero + length + 4 if value >= 0 else zero + 4
        parts.append(
            f'<text x="{tx:.1f}" y="{y + 11}" font-size="10">{esc(fmt_lift(value))}</text>'
        )
    parts.append(
        f'<text x="{zero}" y="{height - 6}" text-anchor="middle" font-size="11">'
        f"predicted lift ({LIFT_UNIT})</text></svg>"
    )
    return (
        "<figure>" + "".join(parts) + "<figcaption>Predicted lift per cohort</figcaption></figure>"
    )


def pass_rate_bins(cohorts: list[CohortReport], n_bins: int = 10) -> list[int]:
    """Items per pass-rate bin [0, 0.1), [0.1, 0.2), ..., [0.9, 1.0] (1.0 in the last)."""
    counts = [0] * n_bins
    for c in cohorts:
        for item in c.items:
            if item.n_rollouts:
                counts[min(int(item.pass_rate * n_bins), n_bins - 1)] += 1
    return counts


def _pass_rate_histogram(cohorts: list[CohortReport]) -> str:
    counts = pass_rate_bins(cohorts)
    if not any(counts):
        return "<figure><figcaption>No graded items.</figcaption></figure>"
    top = max(counts)
    bar_w, plot_h, left = 34, 160, 30
    width, height = left + bar_w * len(counts) + 10, plot_h + 50
    parts = [
        f'<svg id="pass-rate-histogram" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="pass-rate histogram">'
    ]
    for n, count in enumerate(counts):
        h = count / top * plot_h
        x = left + n * bar_w
        parts.append(
            f'<rect x="{x + 2}" y="{plot_h - h + 20:.1f}" width="{bar_w - 4}" height="{h:.1f}" '
            f'fill="#1565c0"><title>{n / 10:.1f}-{(n + 1) / 10:.1f}: {count} items</title></rect>'
        )
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{plot_h - h + 16:.1f}" text-anchor="middle" '
            f'font-size="10">{count}</text>'
        )
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{plot_h + 34}" text-anchor="middle" font-size="10">'
            f"{n / 10:.1f}</text>"
        )
    parts.append("</svg>")
    return (
        "<figure>"
        + "".join(parts)
        + "<figcaption>Items per pass rate (share of rollouts graded right)</figcaption></figure>"
    )


def _items_section(cohorts: list[CohortReport]) -> list[str]:
    rows, shown = [], 0
    for c in cohorts:
        for item in c.items:
            if shown >= MAX_ITEMS:
                break
            shown += 1
            right = round(item.pass_rate * item.n_rollouts)
            samples = "".join(
                f'<span class="sample {"ok" if s.reward >= 0.5 else "bad"}">'
                f"{'✓' if s.reward >= 0.5 else '✗'} {esc(s.completion)}"
                f"{'…' if s.truncated else ''}</span>"
                for s in item.samples
            )
            rows.append(
                f"<tr><td>{esc(c.id)}</td><td>{esc(item.path)}:{item.line}</td>"
                f"<td>{esc(fmt_short(item.pass_rate))}</td><td>{right}/{item.n_rollouts}</td>"
                f"<td>{esc(', '.join(item.flags).replace('_', ' ') or '-')}</td>"
                f"<td>{samples or '-'}</td></tr>"
            )
    if not rows:
        return []
    total = sum(len(c.items) for c in cohorts)
    more = f"<p>... and {total - shown} more items (--format json).</p>" if total > shown else ""
    return [
        "<section><h2>Items</h2>",
        '<table id="items"><thead><tr><th>Cohort</th><th>Line</th><th>Pass rate</th>'
        "<th>Right</th><th>Flags</th><th>Sampled completions (✓ right, ✗ wrong)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{more}</section>",
    ]


def _findings_section(findings: list[Finding], rules: Mapping[str, Rule]) -> list[str]:
    if not findings:
        return ["<section><h2>Findings</h2><p>No findings.</p></section>"]
    stats = rule_statistics(findings)
    top = max(s.count for s in stats)
    bars = []
    for n, s in enumerate(stats):
        w = s.count / top * 300
        color = "#c62828" if s.level == "error" else "#f9a825"
        bars.append(
            f'<text x="0" y="{n * 18 + 13}" font-size="11">{esc(s.code)}</text>'
            f'<rect x="60" y="{n * 18 + 3}" width="{w:.1f}" height="13" fill="{color}"/>'
            f'<text x="{w + 66:.1f}" y="{n * 18 + 13}" font-size="11">{s.count}</text>'
        )
    chart = (
        f'<svg id="findings-per-rule" xmlns="http://www.w3.org/2000/svg" width="420" '
        f'height="{len(stats) * 18 + 6}" role="img" aria-label="findings per rule">'
        f"{''.join(bars)}</svg>"
    )
    parts = ["<section><h2>Findings per rule</h2>", f"<figure>{chart}</figure>"]
    for s in stats:
        rule = rules.get(s.code)
        about = f"<p>{esc(rule.summary)}</p>" if rule else ""
        rows = [f for f in findings if f.code == s.code]
        rows.sort(key=lambda f: (f.path, f.line))
        cells = "".join(
            f"<tr><td>{esc(location(f))}</td><td>{esc(f.message)}</td></tr>"
            for f in rows[:MAX_FINDINGS_PER_RULE]
        )
        more = len(rows) - MAX_FINDINGS_PER_RULE
        tail = f"<p>... and {more} more.</p>" if more > 0 else ""
        parts.append(
            f'<details open class="rule {esc(s.level)}"><summary>{esc(s.code)} '
            f"{esc(s.name)} ({esc(s.level)}): {s.count}</summary>{about}"
            f"<table><tbody>{cells}</tbody></table>{tail}</details>"
        )
    parts.append("</section>")
    return parts


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="datalint {version}">
<title>datalint report</title>
<style>{style}</style>
</head>
<body>
{body}
<script type="application/json" id="datalint-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
header { border-left: 6px solid #888; padding: .2em 1em; margin-bottom: 1em; }
header.failed { border-color: #c62828; } header.passed { border-color: #2e7d32; }
h1 { margin: .2em 0; font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
#cohorts td:nth-child(n+3):not(:last-child) { text-align: right; }
td { font-variant-numeric: tabular-nums; }
th[data-key] { cursor: pointer; user-select: none; background: #f3f3f3; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
.v-learn { color: #2e7d32; } .v-no, .v-fails { color: #c62828; } .v-known { color: #1565c0; }
.plots { display: flex; flex-wrap: wrap; gap: 2em; } figure { margin: 0; }
figcaption { font-size: 12px; color: #555; }
.sample { display: inline-block; margin-right: 1em; font-family: monospace; white-space: pre-wrap; }
.sample.ok { color: #2e7d32; } .sample.bad { color: #c62828; }
.hint, .facts { color: #555; font-size: 12px; }
details.rule { margin: .5em 0; } details.rule.error summary { color: #c62828; }
"""

# Sorts the cohort table by the embedded JSON values; it writes no HTML, only moves rows.
SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("datalint-data").textContent);
  var table = document.getElementById("cohorts");
  if (!table) { return; }
  var body = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;
  function sortBy(th, descending) {
    var key = th.getAttribute("data-key");
    var numeric = th.getAttribute("data-numeric") === "1";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = data.cohorts[+a.getAttribute("data-index")][key];
      var y = data.cohorts[+b.getAttribute("data-index")][key];
      if (x === null || x === undefined) { return 1; }
      if (y === null || y === undefined) { return -1; }
      var order = numeric ? x - y : String(x).localeCompare(String(y));
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    for (var i = 0; i < headers.length; i++) { headers[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  for (var i = 0; i < headers.length; i++) {
    headers[i].addEventListener("click", function (event) {
      var th = event.currentTarget;
      sortBy(th, th.getAttribute("aria-sort") === "ascending");
    });
  }
  var lift = table.querySelector('th[data-key="lift"]');
  if (lift) { sortBy(lift, true); }  /* best first when the page opens */
})();
"""
