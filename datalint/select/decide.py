"""A check's trace -> a verdict per item: kept, or the reasons (criteria and rule codes) that
rejected it. Error-level findings reject too: an item-scope error rejects its row, a
cohort-scope error its cohort's rows (waive a code with ``--ignore``). Where several records
share a line (a minified JSON array), an item-scope finding there cannot name its record and
rejects none of them."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from datalint.findings import Report
from datalint.load.records import Item
from datalint.pipeline import CheckTrace
from datalint.rulebook import Rule
from datalint.select.criteria import Criteria, Unit, judge


@dataclass(slots=True)
class ItemVerdict:
    reasons: list[str] = field(default_factory=list)
    cohort: str | None = None
    lift: float | None = None
    pass_rate: float | None = None
    n_rollouts: int = 0

    @property
    def kept(self) -> bool:
        return not self.reasons


def decide(
    trace: CheckTrace, report: Report, rules: tuple[Rule, ...], criteria: Criteria
) -> dict[int, ItemVerdict]:
    """id(item) -> its verdict, for every valid item the check read."""
    scope = {r.code: r.scope for r in rules}
    item_errors: dict[tuple[str, int], set[str]] = defaultdict(set)
    cohort_errors: dict[str, set[str]] = defaultdict(set)
    for finding in report.findings:
        if finding.level != "error":
            continue
        kind = scope.get(finding.code, "item")
        if kind == "item":
            item_errors[(finding.path, finding.line)].add(finding.code)
        elif kind == "cohort" and finding.cohort is not None:
            cohort_errors[finding.cohort].add(finding.code)

    verdicts: dict[int, ItemVerdict] = {id(it): ItemVerdict() for it in trace.items}
    cohort_of: dict[int, str] = {}
    for cohort, cohort_report in zip(trace.cohorts, trace.reports, strict=True):
        for item, diag in zip(cohort.items, cohort_report.items, strict=True):
            v = verdicts[id(item)]
            v.cohort, v.lift = cohort.id, cohort_report.predicted_lift
            v.n_rollouts = diag.n_rollouts
            v.pass_rate = diag.pass_rate if diag.n_rollouts else None
            cohort_of[id(item)] = cohort.id

    units = _units(trace.items, verdicts, cohort_of, criteria)
    judge([u for u, _ in units], criteria)
    for unit, members in units:
        for item in members:
            verdicts[id(item)].reasons.extend(unit.reasons)
    per_line = Counter((it.source.path, it.source.line) for it in trace.items)
    for item in trace.items:
        v = verdicts[id(item)]
        where = (item.source.path, item.source.line)
        # several records on one line (a minified JSON array): a finding there names no record
        codes = set(item_errors.get(where, set())) if per_line[where] == 1 else set()
        codes |= cohort_errors.get(v.cohort or "", set())
        v.reasons.extend(sorted(codes))
    return verdicts


def _units(
    items: list[Item],
    verdicts: dict[int, ItemVerdict],
    cohort_of: dict[int, str],
    criteria: Criteria,
) -> list[tuple[Unit, list[Item]]]:
    if criteria.by == "item":
        out = []
        for item in items:
            v = verdicts[id(item)]
            out.append((Unit(str(item.source), v.lift, v.pass_rate), [item]))
        return out
    groups: dict[str, list[Item]] = {}
    for item in items:
        key = cohort_of.get(id(item))
        groups.setdefault(key if key is not None else f"unmeasured:{id(item)}", []).append(item)
    out = []
    for key, members in groups.items():
        first = verdicts[id(members[0])]
        rates = [verdicts[id(m)].pass_rate for m in members]
        graded = [r for r in rates if r is not None]
        mean = sum(graded) / len(graded) if graded else None
        out.append((Unit(key, first.lift, mean), members))
    return out
