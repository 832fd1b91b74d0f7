"""The calibration store as arrays: one row per cohort, one column per seed for the labels."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from datalint.calibrate.hashing import stable_hash
from datalint.calibrate.store import CalibrationStore, RunRecord
from datalint.features_names import COLUMN_NAMES, FEATURE_NAMES, SIGNAL_NAMES

Label = Literal["nll", "reward"]


class CalibrationDataError(ValueError):
    pass


@dataclass(slots=True)
class CalibrationSet:
    cohort_keys: list[str]
    cohort_ids: list[str]
    subjects: list[str]
    features: np.ndarray  # (n_cohorts, 23), NaN = missing
    nll_lifts: np.ndarray  # (n_cohorts, n_seeds), NaN where a seed is missing
    reward_lifts: np.ndarray  # (n_cohorts, n_seeds)
    mean_p1p: np.ndarray  # (n_cohorts,): mean over the cohort's items of p(1-p)
    seeds: list[int]
    settings: dict[str, Any]
    model_fingerprint: str
    probe_hash: str
    data_hash: str
    world: str = ""  # the world (policy model) these cohorts were measured on
    # (n_cohorts, len(SIGNAL_NAMES)): gradient signals, NaN where not measured (older stores)
    signals: np.ndarray | None = None
    similarity_method: str = "unknown"  # "minilm" | "char-ngram" | "none" | "unknown" (older store)

    @property
    def n_cohorts(self) -> int:
        return len(self.cohort_keys)

    def lifts(self, label: Label) -> np.ndarray:
        return self.nll_lifts if label == "nll" else self.reward_lifts

    def label(self, label: Label) -> np.ndarray:
        """The label a predictor learns: mean lift over the seeds each cohort has."""
        lifts = self.lifts(label)
        counts = (~np.isnan(lifts)).sum(axis=1)
        sums = np.nansum(lifts, axis=1)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def feature(self, name: str) -> np.ndarray:
        return self.features[:, FEATURE_NAMES.index(name)]

    @property
    def columns(self) -> np.ndarray:
        """(n_cohorts, len(COLUMN_NAMES)): the 23 features, then the signals."""
        signals = self.signals
        if signals is None:
            signals = np.full((self.n_cohorts, len(SIGNAL_NAMES)), np.nan)
        return np.hstack([self.features, signals])

    def column(self, name: str) -> np.ndarray:
        return self.columns[:, COLUMN_NAMES.index(name)]

    def subset(self, rows: np.ndarray) -> CalibrationSet:
        """The same set restricted to ``rows`` (indices or a boolean mask)."""
        idx = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        return replace(
            self,
            cohort_keys=[self.cohort_keys[i] for i in idx],
            cohort_ids=[self.cohort_ids[i] for i in idx],
            subjects=[self.subjects[i] for i in idx],
            features=self.features[idx],
            nll_lifts=self.nll_lifts[idx],
            reward_lifts=self.reward_lifts[idx],
            mean_p1p=self.mean_p1p[idx],
            signals=None if self.signals is None else self.signals[idx],
        )


def similarity_method_of(records: list[RunRecord]) -> str:
    """The similarity method the runs' target_similarity was computed with (recorded in their
    settings since the key existed; "unknown" for older runs; "mixed" if runs disagree)."""
    methods = {str(r.settings.get("similarity_method", "unknown")) for r in records}
    if len(methods) == 1:
        return methods.pop()
    known = methods - {"unknown"}
    return known.pop() if len(known) == 1 else "mixed"


def _group_of(rec: RunRecord) -> tuple[str, str, str]:
    return (rec.key.model_fingerprint, rec.key.probe_hash, rec.key.settings_hash)


def load_calibration_set(
    store: CalibrationStore, settings_hash: str | None = None, world: str | None = None
) -> CalibrationSet:
    """Cohorts measured under one (model, probe, settings): the group with most runs, or the one
    whose settings hash starts with ``settings_hash``. Cohorts missing a seed keep NaN there.
    ``world`` names the set (default: the first 12 hex digits of its model fingerprint)."""
    records = list(store.runs())
    if not records:
        raise CalibrationDataError(f"{store.path}: the store holds no runs")
    groups = Counter(_group_of(r) for r in records)
    if settings_hash:
        chosen = [g for g in groups if g[2].startswith(settings_hash)]
        if not chosen:
            raise CalibrationDataError(f"{store.path}: no runs with settings hash {settings_hash}")
        group = max(chosen, key=lambda g: groups[g])
    else:
        group = groups.most_common(1)[0][0]
    records = [r for r in records if _group_of(r) == group]

    by_cohort: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        by_cohort[r.key.cohort_key].append(r)
    seeds = sorted({r.key.seed for r in records})
    seed_col = {s: i for i, s in enumerate(seeds)}
    keys = sorted(by_cohort, key=lambda k: (by_cohort[k][0].cohort_id, k))
    n = len(keys)
    features = np.full((n, len(FEATURE_NAMES)), np.nan)
    signals = np.full((n, len(SIGNAL_NAMES)), np.nan)
    nll = np.full((n, len(seeds)), np.nan)
    rew = np.full((n, len(seeds)), np.nan)
    p1p = np.full(n, np.nan)
    ids: list[str] = []
    subjects: list[str] = []
    for i, key in enumerate(keys):
        runs = by_cohort[key]
        first = runs[0]
        ids.append(first.cohort_id)
        subjects.append(first.subject or "unknown")
        for j, name in enumerate(FEATURE_NAMES):
            value = first.features.get(name)
            features[i, j] = np.nan if value is None else float(value)
        for j, name in enumerate(SIGNAL_NAMES):
            value = first.features.get(name)
            signals[i, j] = np.nan if value is None else float(value)
        rates = np.asarray(first.item_pass_rates, dtype=float)
        if rates.size:
            p1p[i] = float(np.mean(rates * (1.0 - rates)))
        for r in runs:
            nll[i, seed_col[r.key.seed]] = r.lift
            if r.reward_lift is not None:
                rew[i, seed_col[r.key.seed]] = r.reward_lift
    data_hash = stable_hash(
        [[r.key.cohort_key, r.key.seed, r.lift, r.reward_lift, r.features] for r in records]
    )
    return CalibrationSet(
        cohort_keys=keys,
        cohort_ids=ids,
        subjects=subjects,
        features=features,
        nll_lifts=nll,
        reward_lifts=rew,
        mean_p1p=p1p,
        seeds=seeds,
        settings=records[0].settings,
        model_fingerprint=group[0],
        probe_hash=group[1],
        data_hash=data_hash,
        world=world or group[0][:12],
        similarity_method=similarity_method_of(records),
        signals=signals,
    )
