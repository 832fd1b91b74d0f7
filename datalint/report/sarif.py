"""``sarif``: SARIF 2.1.0 as GitHub code scanning reads it.

One ``reportingDescriptor`` per rule that fired, carrying the rule's docs as help text and
markdown; one result per finding, located by a URI relative to the working directory (the
repository root in a workflow) under the ``%SRCROOT%`` base id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from datalint import __version__
from datalint.findings import Finding, Report
from datalint.report._common import json_safe, level_rank, rule_statistics
from datalint.report.escape import json_inert
from datalint.rulebook import Rule

SELF_GUARDED = True  # ASCII JSON: no raw control character, no line break inside a string
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/datalint/datalint"
SRCROOT = "%SRCROOT%"
SARIF_LEVELS = {"error": "error", "warning": "warning"}
# GitHub code scanning rejects a run with more results than this (and shows the top 5,000).
MAX_RESULTS = 25_000


def render(
    report: Report,
    rules: Mapping[str, Rule],
    out: TextIO,
    *,
    statistics: bool = False,
    color: bool | None = None,
) -> None:
    log = sarif_log(report, rules, statistics=statistics)
    out.write(json_inert(json.dumps(log, indent=2)) + "\n")


def sarif_log(
    report: Report, rules: Mapping[str, Rule], *, statistics: bool = False
) -> dict[str, Any]:
    cwd = Path.cwd().resolve()
    findings = report.findings
    if len(findings) > MAX_RESULTS:  # keep the most severe, as code scanning would
        findings = sorted(findings, key=lambda f: (level_rank(f.level), f.path, f.line))
        findings = findings[:MAX_RESULTS]
    codes = sorted({f.code for f in findings})
    index = {code: i for i, code in enumerate(codes)}
    first_seen = {}
    for f in findings:
        first_seen.setdefault(f.code, f)
    descriptors = [_descriptor(code, rules.get(code), first_seen[code]) for code in codes]
    locations: dict[str, dict[str, str]] = {}  # one path resolution per file, not per finding
    for f in findings:
        if f.path and f.path not in locations:
            locations[f.path] = _artifact_location(f.path, cwd)
    results = [_result(f, index[f.code], locations) for f in findings]
    properties: dict[str, Any] = {"summary": report.summary.as_dict()}
    if statistics:
        properties["statistics"] = [s.as_dict() for s in rule_statistics(report.findings)]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "datalint",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": descriptors,
            }
        },
        "invocations": [_invocation(len(report.findings), len(findings))],
        "originalUriBaseIds": {SRCROOT: {"uri": cwd.as_uri().rstrip("/") + "/"}},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": json_safe(properties),
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _invocation(total: int, kept: int) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if kept < total:
        text = (
            f"{total} findings; GitHub code scanning accepts at most {MAX_RESULTS} results per "
            f"run, so the {kept} most severe are listed. --format json lists them all."
        )
        invocation["toolExecutionNotifications"] = [{"message": {"text": text}, "level": "warning"}]
    return invocation


def _descriptor(code: str, rule: Rule | None, example: Finding) -> dict[str, Any]:
    if rule is None:  # a finding from a code the rulebook does not hold: describe it minimally
        return {
            "id": code,
            "name": example.name,
            "shortDescription": {"text": example.name},
            "defaultConfiguration": {"level": SARIF_LEVELS.get(example.level, "warning")},
            "properties": {"tags": ["datalint"]},
        }
    markdown = rule.docs_markdown()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.what.strip()},
        "help": {"text": _help_text(rule), "markdown": markdown},
        "defaultConfiguration": {"level": SARIF_LEVELS.get(rule.level, "warning")},
        "properties": {
            "tags": ["datalint", rule.family, rule.scope],
            "condition": rule.condition,
        },
    }


def _help_text(rule: Rule) -> str:
    return (
        f"{rule.summary}\n\nWhat it does: {rule.what.strip()}\n\n"
        f"Why it matters: {rule.why.strip()}\n\nHow to fix: {rule.fix.strip()}\n"
    )


def _result(f: Finding, rule_index: int, locations: dict[str, dict[str, str]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.code,
        "ruleIndex": rule_index,
        "level": SARIF_LEVELS.get(f.level, "warning"),
        "message": {"text": f.message or f.name},
    }
    if f.path:
        physical: dict[str, Any] = {"artifactLocation": dict(locations[f.path])}
        if f.line > 0:
            physical["region"] = {"startLine": f.line}
        result["locations"] = [{"physicalLocation": physical}]
    if f.cohort is not None:
        result["properties"] = {"cohort": f.cohort}
    return result


def _artifact_location(path: str, cwd: Path) -> dict[str, str]:
    absolute = Path(os.path.normpath(cwd / path))  # cwd / an absolute path is that path
    try:
        relative = absolute.relative_to(cwd).as_posix()
    except ValueError:  # outside the working directory: GitHub cannot place it, keep it exact
        return {"uri": absolute.as_uri()}
    return {"uri": quote(relative, safe="/"), "uriBaseId": SRCROOT}
