"""Turns computed metrics into findings by holding them against the active rules.

Checks and feature code call :meth:`Gate.observe` with a metric value; the gate compares it to
each active rule on that metric and records a finding only on a violation. The comparison is a
dict lookup and one predicate, so per-item metrics stay cheap on million-line files.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from datalint.findings import Finding
from datalint.load.records import Source
from datalint.rulebook import COMPARATORS, Rule


class Gate:
    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self._by_feature: dict[str, list[tuple[Rule, Callable[[Any, Any], bool], float]]] = (
            defaultdict(list)
        )
        for rule in self.rules:
            self._by_feature[rule.feature].append(
                (rule, COMPARATORS[rule.comparator][1], rule.threshold)
            )
        self.findings: list[Finding] = []

    def wants(self, feature: str) -> bool:
        """Whether any active rule reads this metric (lets a check skip work nobody asked for)."""
        return feature in self._by_feature

    def observe(
        self,
        feature: str,
        value: float | int | bool | None,
        source: Source,
        *,
        cohort: str | None = None,
        **context: Any,
    ) -> None:
        rules = self._by_feature.get(feature)
        if not rules or value is None:
            return
        for rule, passes, threshold in rules:
            if passes(value, threshold) or (isinstance(value, float) and math.isnan(value)):
                continue  # a missing (NaN) metric never fires a rule
            self.findings.append(
                Finding(
                    code=rule.code,
                    name=rule.name,
                    level=rule.level,  # type: ignore[arg-type]
                    path=source.path,
                    line=source.line,
                    message=rule.render(float(value), context),
                    cohort=cohort,
                )
            )
