"""Rules are data: one TOML file per code in the top-level ``rules/`` folder, shipped in the wheel.

A rule holds a threshold on a metric that the pipeline computes (the Great Expectations split):
the code that computes ``feature`` never knows the threshold, the rule never computes anything.
"""

from __future__ import annotations

import json
import math
import operator
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from datalint.errors import DatalintError

COMPARATORS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    # key in the rule file -> (human phrase, predicate(value, threshold) that PASSES)
    "must_be_less_than": ("less than", operator.lt),
    "must_be_at_most": ("at most", operator.le),
    "must_be_greater_than": ("greater than", operator.gt),
    "must_be_at_least": ("at least", operator.ge),
    "must_equal": ("equal to", operator.eq),
}
FAMILIES = ("S", "D", "RW", "T", "P")


@dataclass(frozen=True, slots=True)
class RuleExample:
    kind: str  # "pass" | "fail"
    data: str  # JSONL text
    probe: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    summary: str
    scope: str  # item | cohort | dataset
    feature: str
    comparator: str
    threshold: float
    level: str
    message: str
    what: str
    why: str
    fix: str
    examples: tuple[RuleExample, ...] = ()
    default: bool = True
    requires: str | None = None  # "model" | "probe" | "math" | "predictor" | None
    # the thresholds that mean something for this metric (inclusive); a config override outside
    # it is a config error, not a rule that silently never or always fires
    threshold_range: tuple[float, float] = (-math.inf, math.inf)

    @property
    def family(self) -> str:
        return self.code.rstrip("0123456789")

    def passes(self, value: float) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return True  # a missing metric never fires a rule
        return bool(COMPARATORS[self.comparator][1](value, self.threshold))

    @property
    def condition(self) -> str:
        return f"{self.feature} must be {COMPARATORS[self.comparator][0]} {_fmt(self.threshold)}"

    def with_overrides(self, overrides: dict[str, Any]) -> Rule:
        changes: dict[str, Any] = {}
        for key, val in overrides.items():
            if key == "level":
                changes["level"] = val
            elif key in COMPARATORS:
                changes["comparator"] = key
                changes["threshold"] = float(val)
        return replace(self, **changes)

    def render(self, value: float, context: dict[str, Any]) -> str:
        values = {"value": _fmt(value), "threshold": _fmt(self.threshold), **context}
        try:
            return self.message.format(**values)
        except (KeyError, IndexError, ValueError):
            return f"{self.summary} ({self.condition}; got {_fmt(value)})"

    def docs_markdown(self) -> str:
        parts = [
            f"# {self.code} {self.name}",
            "",
            self.summary,
            "",
            f"Level: {self.level}. Scope: {self.scope}. Condition: `{self.condition}`."
            + ("" if self.default else " Off by default: enable it with `select`."),
            "",
            "## What it does",
            self.what.strip(),
            "",
            "## Why it matters",
            self.why.strip(),
            "",
            "## How to fix",
            self.fix.strip(),
        ]
        for ex in self.examples:
            label = "fails" if ex.kind == "fail" else "passes"
            body = ex.data.strip() or "(an empty file)"
            parts += ["", f"## Example that {label}", "```jsonl", body, "```"]
        return "\n".join(parts) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "summary": self.summary,
            "scope": self.scope,
            "feature": self.feature,
            "condition": self.condition,
            "comparator": self.comparator,
            "threshold": self.threshold,
            "level": self.level,
            "default": self.default,
            "requires": self.requires,
        }


def threshold_problem(rule: Rule, value: float) -> str | None:
    """Why ``value`` cannot be a threshold of ``rule`` (NaN, infinite, out of range), or None."""
    if not math.isfinite(value):
        return f"must be a finite number (got {value})"
    low, high = rule.threshold_range
    if low <= value <= high:
        return None
    if math.isinf(high):
        return f"must be at least {_fmt(low)} for {rule.feature} (got {_fmt(value)})"
    if math.isinf(low):
        return f"must be at most {_fmt(high)} for {rule.feature} (got {_fmt(value)})"
    return f"must be between {_fmt(low)} and {_fmt(high)} for {rule.feature} (got {_fmt(value)})"


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return str(int(x)) if x.is_integer() else f"{x:.3g}"
    return str(x)


class RuleFileError(DatalintError, ValueError):
    pass


@cache
def _rule_validator() -> jsonschema.protocols.Validator:
    text = resources.files("datalint.schema").joinpath("rule.schema.json").read_text("utf-8")
    schema = json.loads(text)
    return jsonschema.validators.validator_for(schema)(schema)


def rules_dir():
    """The shipped rules folder: inside the wheel as ``datalint/_data/rules``, else the checkout."""
    packaged = resources.files("datalint").joinpath("_data", "rules")
    if packaged.is_dir():
        return packaged
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "rules"


def parse_rule(text: str, origin: str) -> Rule:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleFileError(f"{origin}: invalid TOML: {exc}") from None
    error = jsonschema.exceptions.best_match(_rule_validator().iter_errors(raw))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise RuleFileError(f"{origin}: {where}: {error.message}")
    comparator = next(k for k in COMPARATORS if k in raw)
    low, high = (float(v) for v in raw.get("threshold_range", (-math.inf, math.inf)))
    if not low <= float(raw[comparator]) <= high or math.isnan(float(raw[comparator])):
        raise RuleFileError(
            f"{origin}: {comparator} = {raw[comparator]} lies outside its threshold_range"
        )
    docs = raw["docs"]
    examples = tuple(
        RuleExample(
            kind=ex["kind"], data=ex["data"], probe=ex.get("probe"), options=ex.get("options", {})
        )
        for ex in raw.get("examples", [])
    )
    return Rule(
        code=raw["code"],
        name=raw["name"],
        summary=raw["summary"],
        scope=raw["scope"],
        feature=raw["feature"],
        comparator=comparator,
        threshold=float(raw[comparator]),
        level=raw["level"],
        message=raw["message"],
        what=docs["what"],
        why=docs["why"],
        fix=docs["fix"],
        examples=examples,
        default=raw.get("default", True),
        requires=raw.get("requires"),
        threshold_range=(low, high),
    )


@cache
def load_rules() -> tuple[Rule, ...]:
    """All shipped rules, sorted by code. Raises RuleFileError on a malformed rule file."""
    found: list[Rule] = []
    folder = rules_dir()
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".toml"):
            continue
        rule = parse_rule(entry.read_text("utf-8"), entry.name)
        if entry.name != f"{rule.code}.toml":
            raise RuleFileError(f"{entry.name}: rename it to {rule.code}.toml (its code)")
        found.append(rule)
    codes = [r.code for r in found]
    dupes = {c for c in codes if codes.count(c) > 1}
    if dupes:
        raise RuleFileError(f"duplicate rule codes: {', '.join(sorted(dupes))}")
    return tuple(found)


def rules_by_code() -> dict[str, Rule]:
    return {r.code: r for r in load_rules()}
