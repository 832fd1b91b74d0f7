"""Fit the lift predictor on a calibration store and export it to ONNX with its card.

The ONNX graph takes one float32 input ``features`` of shape (n, 23) in the order stored in the
metadata key ``datalint.features`` (JSON list); NaN means missing. Its metadata also carries
``datalint.version``, ``datalint.training_data_hash``, ``datalint.label`` and
``datalint.metrics`` (JSON). The card (JSON beside it) repeats these for people.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from datalint import __version__
from datalint.calibrate.dataset import CalibrationSet, Label
from datalint.calibrate.models import MONOTONE, XGB_PARAMS, fit_xgboost
from datalint.extras import MissingExtra
from datalint.features_names import FEATURE_NAMES

INPUT_NAME = "features"
CARD_METRICS = (
    "pairwise_accuracy",
    "spearman",
    "kendall_tau",
    "top10_gain_over_random",
    "top10_gain_sd",
    "oracle_fraction",
    "loso_top10_gain",
    "loso_top10_gain_sd",
    "loso_spearman",
)
CARD_BASELINES = ("random", "frac_nondegenerate", "mean_p1p", "pass_rate", "adv_std", "ridge")


def to_onnx(model: Any, metadata: dict[str, str]) -> Any:
    """Convert a fitted xgboost regressor to an ONNX ModelProto carrying ``metadata``."""
    try:
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        raise MissingExtra("calibrate", "onnxmltools") from None
    onx = convert_xgboost(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(FEATURE_NAMES)]))],
        target_opset=15,
    )
    for key, value in metadata.items():
        prop = onx.metadata_props.add()
        prop.key = key
        prop.value = value
    return onx


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> float, recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.floating | float):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else round(f, 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


def card_metrics(evaluation: dict[str, Any], label: Label) -> tuple[dict, dict]:
    scorers = evaluation["labels"][label]["scorers"]
    pick = lambda m: {k: m.get(k) for k in CARD_METRICS}  # noqa: E731
    return pick(scorers["predictor"]), {b: pick(scorers[b]) for b in CARD_BASELINES}


def _versus(scorers: dict[str, Any], keys: tuple[str, str], where: str) -> str:
    """One sentence comparing the predictor with the best baseline on two metrics."""
    ours = scorers["predictor"]
    rivals = {b: scorers[b] for b in CARD_BASELINES if b != "random" and b in scorers}
    parts, wins = [], []
    for key in keys:
        best = max(rivals, key=lambda b: _num(rivals[b].get(key)))
        win = _num(ours.get(key)) > _num(rivals[best].get(key))
        wins.append(win)
        parts.append(
            f"{key} {_num(ours.get(key)):.3f} vs best baseline {best} "
            f"{_num(rivals[best].get(key)):.3f}"
        )
    detail = "; ".join(parts)
    if all(wins):
        return f"{where}: the predictor beats every baseline ({detail})."
    if not any(wins):
        return f"{where}: the predictor does NOT beat the best baseline ({detail})."
    return f"{where}: mixed, the predictor beats the baselines on one measure only ({detail})."


def _num(value: Any) -> float:
    return float("-inf") if value is None or math.isnan(value) else float(value)


def verdict(evaluation: dict[str, Any], label: Label) -> str:
    """Plain sentences: does the predictor beat the best single feature and ridge, pooled
    (cross-validated by cohort) and on subjects it never saw (leave one subject out)?"""
    scorers = evaluation["labels"][label]["scorers"]
    pooled = _versus(scorers, ("pairwise_accuracy", "top10_gain_sd"), "Cross-validated")
    if math.isnan(_nan(scorers["predictor"].get("loso_spearman"))):
        return pooled
    loso = _versus(scorers, ("loso_spearman", "loso_top10_gain_sd"), "Unseen subject (LOSO)")
    return f"{pooled} {loso}"


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def fit_predictor(
    cset: CalibrationSet,
    evaluation: dict[str, Any],
    out_path: str | Path,
    label: Label = "nll",
    build_command: str = "",
    seed: int = 0,
    sweep: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit on every cohort, write the ONNX file and its JSON card; returns the card."""
    y = cset.label(label)
    keep = ~np.isnan(y)
    model = fit_xgboost(cset.features[keep], y[keep], seed=seed)
    ours, baselines = card_metrics(evaluation, label)
    res = evaluation["labels"][label]
    out_path = Path(out_path)
    card: dict[str, Any] = {
        "name": out_path.stem,
        "datalint_version": __version__,
        "label": label,
        "label_meaning": (
            "NLL-lift: mean per-token NLL of the probe's gold answers before minus after GRPO"
            if label == "nll"
            else "reward-lift: mean P(gold) over the probe after minus before GRPO"
        ),
        "features": list(FEATURE_NAMES),
        "monotone_constraints": MONOTONE,
        "missing_values": "NaN = missing; xgboost learns a default branch per split (kept in ONNX)",
        "xgboost_params": XGB_PARAMS,
        "n_cohorts": int(keep.sum()),
        "n_seeds": len(cset.seeds),
        "subjects": sorted(set(cset.subjects)),
        "grpo_settings": cset.settings,
        "model_fingerprint": cset.model_fingerprint,
        "probe_hash": cset.probe_hash,
        "training_data_hash": cset.data_hash,
        "build_command": build_command,
        "cv": res["cv"],
        "metrics": ours,
        "baselines": baselines,
        "oracle": res["oracle"],
        "noise_ceiling": res["noise_ceiling"],
        "label_validation": res["validation"],
        "label_comparison": evaluation.get("label_comparison"),
        "verdict": verdict(evaluation, label),
        "ratio_note": (
            "top10_gain_over_random is mean(top 10%) / mean(all) - 1, null where the mean lift "
            "is not positive (a ratio over a mean near or below zero means nothing); "
            "top10_gain_sd is the same gain in standard deviations of the lift"
        ),
        "grpo_sweep": sweep,
    }
    card = _clean(card)
    metadata = {
        "datalint.features": json.dumps(list(FEATURE_NAMES)),
        "datalint.version": __version__,
        "datalint.training_data_hash": cset.data_hash,
        "datalint.label": label,
        "datalint.metrics": json.dumps(card["metrics"]),
    }
    onx = to_onnx(model, metadata)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(onx.SerializeToString())
    card_path(out_path).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card


def card_path(onnx_path: str | Path) -> Path:
    return Path(onnx_path).with_suffix(".json")
