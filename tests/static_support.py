"""Helpers for the static-check tests: a gate holding the shipped rules, items, a runner."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from datalint.engine import Gate
from datalint.findings import Finding
from datalint.load.records import Item, Source
from datalint.rulebook import rules_by_code
from datalint.static.base import StaticCheck


def gate_for(*codes: str, **overrides: dict[str, Any]) -> Gate:
    """A gate with the shipped rules named, each optionally overridden (D002={...})."""
    rules = rules_by_code()
    return Gate(rules[c].with_overrides(overrides.get(c, {})) for c in codes)


def item(line: int, prompt: str, answer: str | int = "1", path: str = "d.jsonl", **kw: Any) -> Item:
    return Item(source=Source(path, line), answer=answer, prompt=prompt, **kw)


def items_from(prompts: Iterable[str], path: str = "d.jsonl") -> list[Item]:
    return [item(n, p, path=path) for n, p in enumerate(prompts, start=1)]


def run(check: StaticCheck, items: Iterable[Item], gate: Gate) -> list[Finding]:
    for it in items:
        check.feed(it, gate)
    check.finish(gate)
    return gate.findings


def where(findings: list[Finding]) -> list[tuple[str, int, str]]:
    return [(f.path, f.line, f.code) for f in findings]
