"""The reward stage of ``check``: grade rollouts, compute features, hand the metrics to the gate.

Per cohort it grades every rollout (a replayed reward is only a claim, checked against the grade),
computes the 23 features and the
per-item diagnostics, and observes these metrics (the rules hold the thresholds):

- every cohort feature by its name, at the cohort's first item;
- ``item_pass_rate`` per graded item, at the item's line;
- ``verifier_errors`` (how many rollouts its verifier failed on) per item where it failed;
- ``replayed_reward_mismatches`` (how many replayed rewards the verifier contradicts) per item;
- the dead-end triage metrics of :mod:`datalint.signals.triage` per item that every rollout
  failed or every rollout passed, at the item's line.

Message templates may use these context keys: cohort features: ``cohort_id``, ``lines``,
``n_items``, ``n_all_correct``, ``n_all_wrong``, ``n_disagree``; ``item_pass_rate``:
``cohort_id``, ``n_correct``, ``n_rollouts``; ``verifier_errors``: ``cohort_id``, ``verifier``,
``error``, ``n_failed``, ``n_rollouts``; ``replayed_reward_mismatches``: ``cohort_id``,
``n_mismatched``, ``n_claimed``, ``claimed``, ``graded``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

from datalint.engine import Gate
from datalint.features import Group, compute_cohort_features, item_diagnostics
from datalint.findings import CohortReport, ItemDiagnostic, pick_samples
from datalint.grade import DEFAULT_VERIFIER, Grading, grade_items
from datalint.load.records import Cohort, Item, Rollout, Source
from datalint.signals import triage

CohortRollouts = Sequence[Sequence[Rollout]]  # per item of a cohort, its rollouts
MakeGroup = Callable[[list[float], list[Rollout]], Group]  # an item's graded rewards -> its Group
_MAX_RANGES_SHOWN = 6


def evaluate_cohorts(
    cohorts: Sequence[Cohort],
    rollouts: Sequence[CohortRollouts] | Mapping[str, CohortRollouts] | None,
    gate: Gate,
    *,
    similarity: Mapping[str, float] | None = None,
    default_verifier: str = DEFAULT_VERIFIER,
    grading: Grading | None = None,
    probe_items: Sequence[Item] | None = None,
    groups: Sequence[Sequence[MakeGroup]] | None = None,
) -> list[CohortReport]:
    """One :class:`CohortReport` per cohort, in order; findings go to ``gate``.

    ``rollouts`` gives each cohort's rollouts per item: a sequence parallel to ``cohorts``, a
    mapping by cohort id, or None to replay the items' own ``rollouts``. ``similarity`` maps a
    cohort id to its target_similarity (missing when absent). Grading fills ``Rollout.reward``;
    ``grading`` (else ``default_verifier`` alone) says how. ``probe_items`` let triage find an
    answer that a probe item holds (RW204). ``groups`` (parallel to ``cohorts``, one per item)
    makes each item's :class:`Group` from its grades (adaptive k: a stopped group stands for
    the full one); by default a group is its rewards and rollouts.
    """
    grading = grading or Grading(default_verifier=default_verifier)
    probe = triage.ProbeAnswers(probe_items) if probe_items and gate.wants(triage.LEAK) else None
    reports = []
    for index, cohort in enumerate(cohorts):
        per_item = _rollouts_of(cohort, index, rollouts)
        sim = similarity.get(cohort.id) if similarity is not None else None
        make = list(groups[index]) if groups is not None else None
        reports.append(_evaluate_cohort(cohort, per_item, gate, sim, grading, probe, make))
    return reports


def _rollouts_of(
    cohort: Cohort,
    index: int,
    rollouts: Sequence[CohortRollouts] | Mapping[str, CohortRollouts] | None,
) -> list[list[Rollout]]:
    if rollouts is None:
        given: CohortRollouts = [item.rollouts or [] for item in cohort.items]
    elif isinstance(rollouts, Mapping):
        given = rollouts.get(cohort.id, [[] for _ in cohort.items])
    else:
        given = rollouts[index]
    if len(given) != len(cohort.items):
        raise ValueError(
            f"cohort {cohort.id}: rollouts for {len(given)} items, but it has {len(cohort.items)}"
        )
    return [list(r) for r in given]


def _evaluate_cohort(
    cohort: Cohort,
    per_item: list[list[Rollout]],
    gate: Gate,
    target_similarity: float | None,
    grading: Grading,
    probe: triage.ProbeAnswers | None = None,
    make_groups: list[MakeGroup] | None = None,
) -> CohortReport:
    grades = grade_items(cohort.items, per_item, grading=grading)
    rewards = grades.rewards
    # item-level metrics: at the item's line, naming the cohort for the finding and its message
    observe = partial(gate.observe, cohort=cohort.id, cohort_id=cohort.id)
    for failure in grades.failures:
        observe(
            "verifier_errors",
            failure.n_failed,
            failure.source,
            verifier=failure.verifier,
            error=failure.message,
            n_failed=failure.n_failed,
            n_rollouts=failure.n_rollouts,
        )

    for mismatch in grades.mismatches:
        observe(
            "replayed_reward_mismatches",
            mismatch.n_mismatched,
            mismatch.source,
            n_mismatched=mismatch.n_mismatched,
            n_claimed=mismatch.n_claimed,
            claimed=mismatch.claimed,
            graded=mismatch.graded,
        )

    diagnostics = [item_diagnostics(it, r) for it, r in zip(cohort.items, rewards, strict=True)]
    for diag, item_rollouts, item_rewards in zip(diagnostics, per_item, rewards, strict=True):
        if len(item_rollouts) == len(item_rewards):  # what `check --show-items` shows
            diag.samples = pick_samples([r.completion for r in item_rollouts], list(item_rewards))
    for item, diag, item_rewards in zip(cohort.items, diagnostics, rewards, strict=True):
        if diag.n_rollouts:
            observe(
                "item_pass_rate",
                diag.pass_rate,
                item.source,
                n_correct=sum(r >= 0.5 for r in item_rewards),
                n_rollouts=diag.n_rollouts,
            )
    for item, item_rollouts in zip(cohort.items, per_item, strict=True):
        triage.triage_item(
            item, item_rollouts, gate, grading=grading, cohort=cohort.id, probe=probe
        )

    makers: list[MakeGroup] = make_groups or [Group] * len(cohort.items)
    groups = [make(list(r), ro) for make, r, ro in zip(makers, rewards, per_item, strict=True)]
    features = compute_cohort_features(groups, target_similarity=target_similarity)
    context = _cohort_context(cohort, diagnostics)
    if cohort.items:
        first = cohort.items[0].source
        for name, value in features.items():
            gate.observe(name, value, first, cohort=cohort.id, **context)

    return CohortReport(
        id=cohort.id,
        lines=[(s.path, s.line) for s in cohort.sources],
        features=features,
        items=diagnostics,
    )


def _cohort_context(cohort: Cohort, diagnostics: list[ItemDiagnostic]) -> dict[str, object]:
    return {
        "cohort_id": cohort.id,
        "lines": describe_lines(cohort.sources),
        "n_items": len(cohort.items),
        "n_all_correct": sum("all_correct" in d.flags for d in diagnostics),
        "n_all_wrong": sum("all_wrong" in d.flags for d in diagnostics),
        "n_disagree": sum("disagree" in d.flags for d in diagnostics),
    }


def describe_lines(sources: Sequence[Source]) -> str:
    """Where a cohort is, for messages: "line 7", "lines 3-6, 9", "lines a.jsonl:3-4, b.jsonl:1"."""
    paths = list(dict.fromkeys(s.path for s in sources))
    parts: list[str] = []
    for path in paths:
        lines = sorted({s.line for s in sources if s.path == path})
        prefix = f"{path}:" if len(paths) > 1 else ""
        parts += [prefix + (f"{a}" if a == b else f"{a}-{b}") for a, b in _ranges(lines)]
    if len(parts) > _MAX_RANGES_SHOWN:
        parts = [*parts[:_MAX_RANGES_SHOWN], "..."]
    single = len(sources) == 1 or (len(parts) == 1 and "-" not in parts[0])
    return ("line " if single else "lines ") + ", ".join(parts)


def _ranges(lines: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for line in lines:
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], line)
        else:
            ranges.append((line, line))
    return ranges
