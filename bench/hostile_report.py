"""Time and peak memory of every hostile-input case, before and after: one table.

    python bench/hostile_report.py                 # this checkout
    python bench/hostile_report.py --before REV    # also REV's code on the same attacks

Runs each test file of tests/hostile/ one case at a time (so each peak RSS is that case's own),
with the harness logging every datalint run. With --before, the same attack tests run against
REV's datalint (a temporary git worktree put first on PYTHONPATH): its failures are the point,
the table shows what each attack cost there. Needs the dev install.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def collect(code_root: Path, tests: list[str]) -> list[dict]:
    ids = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *tests],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    ids = [line for line in ids if "::" in line]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "runs.jsonl"
        for node in ids:
            env = {**os.environ, "DATALINT_HOSTILE_LOG": str(log), "PYTHONPATH": str(code_root)}
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            status = "pass" if proc.returncode == 0 else "fail"
            runs = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
            log.unlink(missing_ok=True)
            worst = max(runs, key=lambda r: r["seconds"], default=None)
            rows.append(
                {
                    "test": node,
                    "status": status,
                    "seconds": worst["seconds"] if worst else None,
                    "peak_rss_mb": max((r["peak_rss_mb"] or 0 for r in runs), default=None),
                    "timed_out": any(r["result"] == "timeout" for r in runs),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", help="a git revision to measure the same attacks against")
    parser.add_argument("tests", nargs="*", default=["tests/hostile"])
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args()
    after = collect(REPO, args.tests)
    before: dict[str, dict] = {}
    if args.before:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "before"
            subprocess.run(
                ["git", "worktree", "add", "-q", "--detach", str(tree), args.before],
                cwd=REPO,
                check=True,
            )
            try:
                before = {r["test"]: r for r in collect(tree, args.tests)}
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO)
    print(f"{len(after)} hostile cases; {sum(r['status'] == 'pass' for r in after)} pass")
    head = "| case | now | s | peak MB |" + (" before | s | peak MB |" if before else "")
    print(head)
    print("|---" * (head.count("|") - 1) + "|")

    def cell(r: dict | None) -> str:
        if r is None:
            return " - | - | - |"
        secs = "timeout" if r["timed_out"] else f"{r['seconds']:.2f}" if r["seconds"] else "-"
        mem = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] else "-"
        return f" {r['status']} | {secs} | {mem} |"

    for r in after:
        print(
            f"| {r['test'].split('::', 1)[1]} |"
            + cell(r)
            + (cell(before.get(r["test"])) if before else "")
        )
    if args.json:
        args.json.write_text(json.dumps({"after": after, "before": before}, indent=1))


if __name__ == "__main__":
    main()
