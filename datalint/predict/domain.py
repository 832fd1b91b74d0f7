"""Is the user's model one the predictor was fit on? And which score gates the dataset if not.

The card lists the worlds (policy models, by fingerprint) the predictor was fit on; an older
card names one ``model_fingerprint``. A check is *in domain* when the rollouts' model is one of
them. Otherwise ``nearest_world`` is the world whose scale-free feature profile (means of the
reward features, in that world's standard deviations) is closest to the checked dataset's, and
the dataset's lift score falls back to the free signal the card's leave-one-world-out table chose
(``out_of_domain_score``), mapped to nats on the training lifts (``signal_maps``), unless that
table showed the predictor better on held-out worlds. Per-cohort ``predicted_lift`` is always the
predictor's own output. Rollouts replayed from the data carry no model fingerprint: their domain
is unknown (``in_domain: null``), said so, and the predictor's score is kept. A ``--rollouts``
file names its model in its header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datalint.findings import CohortReport

DEFAULT_FALLBACK = "mean_p1p"


@dataclass(slots=True)
class Domain:
    in_domain: bool | None  # None: the rollouts' model is unknown (inline rollouts replayed)
    nearest_world: str | None
    model: str | None  # the checked model's fingerprint (without the backend prefix)
    worlds: list[str]
    lift_score_source: str  # "predictor" or the free signal that gates out of domain
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "in_domain": self.in_domain,
            "nearest_world": self.nearest_world,
            "model": self.model,
            "worlds": list(self.worlds),
            "lift_score_source": self.lift_score_source,
            "reason": self.reason,
        }


def _bare(fingerprint: str | None) -> str | None:
    """``transformers:abc`` -> ``abc``: the cache key carries the backend, the store does not."""
    if not fingerprint:
        return None
    return fingerprint.rpartition(":")[2]


def card_worlds(card: dict[str, Any]) -> list[dict[str, Any]]:
    worlds = card.get("worlds")
    if isinstance(worlds, list) and worlds:
        return [w for w in worlds if isinstance(w, dict) and w.get("model_fingerprint")]
    fp = card.get("model_fingerprint")
    return [{"name": card.get("name", "training world"), "model_fingerprint": fp}] if fp else []


def cohort_signal(report: CohortReport, name: str) -> float:
    if name == "mean_p1p":
        rates = np.asarray([d.pass_rate for d in report.items], dtype=float)
        return float(np.mean(rates * (1 - rates))) if rates.size else float("nan")
    value = report.features.get(name)
    return float("nan") if value is None else float(value)


def _nearest(worlds: list[dict[str, Any]], reports: Sequence[CohortReport]) -> str | None:
    best, best_d = None, float("inf")
    for w in worlds:
        prof = w.get("profile") or {}
        names, mean, sd = prof.get("features"), prof.get("mean"), prof.get("sd")
        if not names or not reports:
            continue
        x = np.array([[cohort_signal(r, n) for n in names] for r in reports], dtype=float)
        with np.errstate(all="ignore"):
            ours = np.nanmean(x, axis=0)
            z = (ours - np.asarray(mean, float)) / (np.asarray(sd, float) + 0.05)
        d = float(np.sqrt(np.nanmean(z**2))) if np.isfinite(z).any() else float("inf")
        if d < best_d:
            best, best_d = str(w.get("name")), d
    if best is None and worlds:
        return str(worlds[0].get("name"))
    return best


def predictor_domain(
    card: dict[str, Any],
    model_fingerprint: str | None,
    reports: Sequence[CohortReport],
    *,
    signals_fed: bool | None = None,
) -> Domain:
    """``signals_fed``: whether the predictor was fed the gradient signals (None: whether every
    cohort has them)."""
    worlds = card_worlds(card)
    ours = _bare(model_fingerprint)
    match = next((w for w in worlds if _bare(w["model_fingerprint"]) == ours), None)
    names = [str(w.get("name")) for w in worlds]
    if not worlds:
        return Domain(
            None, None, ours, [], "predictor", "the predictor's card names no training worlds"
        )
    if match is not None:
        return Domain(True, str(match.get("name")), ours, names, "predictor", "model in the card")
    if ours is None:
        return Domain(
            None,
            _nearest(worlds, reports),
            None,
            names,
            "predictor",
            "the rollouts' model is unknown (inline rollouts carry no fingerprint): domain not "
            "checked",
        )
    decision = card.get("out_of_domain_score") or {}
    if signals_fed is None:
        signals_fed = not reports or all(r.signals for r in reports)
    if not signals_fed:
        # the card judged the predictor with its signals; without them, by that table instead
        decision = card.get("out_of_domain_score_without_signals") or decision
    source = str(decision.get("score") or DEFAULT_FALLBACK)
    maps = card.get("signal_maps") or {}
    if source != "predictor" and source not in maps:
        source, why = (
            "predictor",
            f"the card has no map for {decision.get('score') or DEFAULT_FALLBACK}",
        )
    else:
        why = str(decision.get("reason") or "no leave-one-world-out table in the card")
    return Domain(False, _nearest(worlds, reports), ours, names, source, why)


def fallback_lift_score(
    card: dict[str, Any], source: str, reports: Sequence[CohortReport]
) -> float | None:
    """The size-weighted mean over cohorts of the free signal mapped to nats."""
    knots = (card.get("signal_maps") or {}).get(source)
    if not knots or not reports:
        return None
    kx, ky = np.asarray(knots["x"], float), np.asarray(knots["y"], float)
    values = np.array([cohort_signal(r, source) for r in reports])
    sizes = np.array([len(r.items) or len(r.lines) for r in reports], dtype=float)
    ok = ~np.isnan(values) & (sizes > 0)
    if not ok.any():
        return None
    mapped = np.interp(values[ok], kx, ky) if len(kx) > 1 else np.full(ok.sum(), ky[0])
    return float(np.sum(mapped * sizes[ok]) / np.sum(sizes[ok]))
