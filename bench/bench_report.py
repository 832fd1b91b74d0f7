"""Time to render a large report in each output format (in memory, no file I/O).

    nice -n 10 .venv/bin/python bench/bench_report.py                     # 100k findings
    .venv/bin/python bench/bench_report.py --findings 1000000 --cohorts 250000

The report is synthetic: findings spread over three files, cohorts of four items with a few
features. SARIF output is capped at GitHub's 25,000 results, so its time stops growing there.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datalint.findings import CohortReport, Finding, Report, Summary
from datalint.report import FORMATS, get_renderer
from datalint.rulebook import rules_by_code


def synthetic_report(n_findings: int, n_cohorts: int) -> Report:
    findings = [
        Finding(
            "D001",
            "exact-duplicate",
            "error",
            f"data/f{i % 3}.jsonl",
            i + 1,
            f"prompt duplicates line {i}",
        )
        for i in range(n_findings)
    ]
    cohorts = [
        CohortReport(
            f"c{i}",
            [("data/f0.jsonl", 4 * i + j + 1) for j in range(4)],
            {"pass_rate": 0.5, "frac_nondegenerate": 0.5, "adv_std": float("nan")},
            predicted_lift=0.1,
        )
        for i in range(n_cohorts)
    ]
    summary = Summary(passed=False, n_files=3, n_items=4 * n_cohorts, n_errors=n_findings)
    return Report(findings, cohorts, summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--cohorts", type=int, default=25_000)
    args = parser.parse_args()
    os.environ.pop("GITHUB_STEP_SUMMARY", None)
    report = synthetic_report(args.findings, args.cohorts)
    rules = rules_by_code()
    print(f"{args.findings} findings, {args.cohorts} cohorts")
    for fmt in FORMATS:
        out = io.StringIO()
        start = time.perf_counter()
        get_renderer(fmt)(report, rules, out, statistics=True, color=False)
        seconds = time.perf_counter() - start
        print(f"{fmt:<8} {seconds:6.2f} s  {len(out.getvalue()) / 2**20:7.1f} MiB")


if __name__ == "__main__":
    main()
