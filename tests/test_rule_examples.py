"""Every rule's own examples run through `datalint check`: the failing one fires, the passing not.

Like sqlfluff's YAML test cases, the cases live with the rule (rules/CODE.toml), and this one
generic test runs them all, so a new rule is tested the moment its file exists.
"""

from __future__ import annotations

import codecs
import gzip
import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.rulebook import Rule, RuleExample, load_rules

CASES = [
    pytest.param(rule, ex, id=f"{rule.code}-{ex.kind}-{i}")
    for rule in load_rules()
    for i, ex in enumerate(rule.examples)
]


def _toml_value(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + " }"
    return json.dumps(value)


def write_example(ex: RuleExample, folder: Path) -> Path:
    opts = ex.options
    data = ex.data.lstrip("\n")
    raw = (
        codecs.escape_decode(data.encode("utf-8"))[0]
        if opts.get("bytes_escapes")
        else data.encode()
    )
    name = opts.get("filename", "data.jsonl")
    if opts.get("gzip"):
        raw = gzip.compress(raw)
        name += ".gz"
    if opts.get("truncate_bytes"):
        raw = raw[: -int(opts["truncate_bytes"])]
    path = folder / name
    path.write_bytes(raw)
    if ex.probe is not None:
        (folder / "probe.jsonl").write_text(ex.probe.lstrip("\n"), encoding="utf-8")
    if "config" in opts:
        lines = [f'"{k}" = {_toml_value(v)}' for k, v in opts["config"].items()]
        (folder / "datalint.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def needs_model_stage(rule: Rule) -> bool:
    return rule.family in ("RW", "T", "P") or rule.requires == "model"


@pytest.mark.parametrize(("rule", "example"), CASES)
def test_rule_example(rule: Rule, example: RuleExample, tmp_path: Path, monkeypatch) -> None:
    if rule.requires == "math" and importlib.util.find_spec("math_verify") is None:
        pytest.skip("math-verify is not installed (the 'math' extra)")
    monkeypatch.chdir(tmp_path)
    data = write_example(example, tmp_path)
    args = ["check", str(data.name), "--select", rule.code, "--format", "json", "--no-cache"]
    if example.probe is not None:
        args += ["--probe", "probe.jsonl"]
    if not needs_model_stage(rule):
        args.append("--static-only")
    elif '"rollouts"' in example.data:
        args.append("--trust-rollouts")  # the examples' own rollouts stand in for a policy
    args += list(example.options.get("args", []))
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    fired = [f for f in report["findings"] if f["code"] == rule.code]
    if example.kind == "fail":
        assert fired, f"{rule.code} did not fire on its failing example: {report['findings']}"
        assert all(f["line"] >= 1 and f["path"] == data.name for f in fired)
        assert (result.exit_code == 1) == (rule.level == "error")
    else:
        assert not fired, f"{rule.code} fired on its passing example: {fired}"


def test_rule_codes_and_names_are_unique_and_documented() -> None:
    rules = load_rules()
    assert len({r.code for r in rules}) == len(rules)
    assert len({r.name for r in rules}) == len(rules)
    for r in rules:
        doc = r.docs_markdown()
        for heading in ("## What it does", "## Why it matters", "## How to fix"):
            assert heading in doc


def test_every_family_has_rules() -> None:
    families = {r.family for r in load_rules()}
    assert {"S", "D", "RW", "T", "P"} <= families


def test_readme_rule_table_lists_every_rule() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [r.code for r in load_rules() if f"| {r.code} | {r.name} |" not in readme]
    assert not missing, f"README rule table lacks {missing}"
