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
from datalint.calibrate.hashing import stable_hash
from datalint.calibrate.lowo import FREE_SIGNALS, pooled
from datalint.calibrate.models import MONOTONE, XGB_PARAMS
from datalint.calibrate.variants import (
    INTERVAL_QUANTILES,
    LINEAR_INPUT,
    SIGNAL_MONOTONE,
    FittedPredictor,
    Variant,
    fit_variant,
    isotonic_fit,
)
from datalint.extras import MissingExtra
from datalint.features_names import FEATURE_NAMES, REWARD_FEATURES
from datalint.predict.scaled_interval import METADATA_KEY as SCALED_KEY
from datalint.predict.scaled_interval import describe as describe_scaled

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


def to_onnx(model: Any, metadata: dict[str, str], width: int = len(FEATURE_NAMES)) -> Any:
    """Convert a fitted xgboost regressor to an ONNX ModelProto carrying ``metadata``."""
    try:
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        raise MissingExtra("calibrate", "onnxmltools") from None
    onx = convert_xgboost(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, width]))],
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


SCALE_FREE_FEATURES = REWARD_FEATURES
"""The features that mean the same on every model and tokenizer (docs/features.md): functions of
the 0/1 rewards alone. Worlds are profiled on these for the domain check's nearest world."""


def world_profile(cset: CalibrationSet) -> dict[str, Any]:
    """A world as the card lists it: name, model, size, and its scale-free feature profile."""
    cols = [FEATURE_NAMES.index(n) for n in SCALE_FREE_FEATURES]
    x = cset.features[:, cols]
    with np.errstate(all="ignore"):
        means, sds = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    return {
        "name": cset.world,
        "model_fingerprint": cset.model_fingerprint,
        "n_cohorts": int((~np.isnan(cset.label("nll"))).sum()),
        "similarity_method": cset.similarity_method,
        "profile": {
            "features": list(SCALE_FREE_FEATURES),
            "mean": [float(v) for v in means],
            "sd": [float(v) for v in sds],
        },
    }


def signal_map(sets: list[CalibrationSet], name: str, label: Label) -> dict[str, list[float]]:
    """Isotonic map of a free signal onto the training lifts (nats), so that a dataset score
    that falls back to the signal still reads in nats."""
    from datalint.calibrate.lowo import free_signal

    xs, ys = [], []
    for c in sets:
        y = c.label(label)
        ok = ~np.isnan(y)
        xs.append(free_signal(c, name)[ok])
        ys.append(y[ok])
    kx, ky = isotonic_fit(np.concatenate(xs), np.concatenate(ys))
    return {"x": [float(v) for v in kx], "y": [float(v) for v in ky]}


def _single_card_parts(evaluation: dict[str, Any], label: Label) -> dict[str, Any]:
    """What the card says from one store's cross-validated evaluation (as before worlds)."""
    ours, baselines = card_metrics(evaluation, label)
    res = evaluation["labels"][label]
    return {
        "cv": res["cv"],
        "metrics": ours,
        "baselines": baselines,
        "oracle": res["oracle"],
        "noise_ceiling": res["noise_ceiling"],
        "label_validation": res["validation"],
        "label_comparison": evaluation.get("label_comparison"),
        "verdict": verdict(evaluation, label),
    }


def fit_predictor(
    csets: CalibrationSet | list[CalibrationSet],
    evaluation: dict[str, Any],
    out_path: str | Path,
    label: Label = "nll",
    build_command: str = "",
    seed: int = 0,
    sweep: dict[str, Any] | None = None,
    *,
    variant: Variant | None = None,
    lowo: dict[str, Any] | None = None,
    similarity_method: str | None = None,
    local: list[CalibrationSet] | None = None,
    local_weight: float | None = None,
) -> dict[str, Any]:
    """Fit on every cohort of every world, write the ONNX file and its JSON card; returns the
    card. ``evaluation`` is one store's ``evaluate`` result (a single world) or, for several
    worlds, ``{"worlds": {name: evaluate(...)}}``; ``lowo`` the nested leave-one-world-out
    table; ``variant`` the chosen variant (default ``raw``). With ``local`` (local calibration,
    ``fit --prior``) ``csets`` are the prior worlds and the local rows weigh ``local_weight``
    each (default: as much in all as the prior rows)."""
    sets = [csets] if isinstance(csets, CalibrationSet) else list(csets)
    local = list(local or [])
    variant = variant or Variant()
    every = sets + local
    x, y, groups = pooled(every, label)
    weights = np.ones(len(y))
    if local:
        n_local = sum(int((~np.isnan(c.label(label))).sum()) for c in local)
        n_prior = len(y) - n_local
        local_weight = local_weight or max(1.0, n_prior / max(n_local, 1))
        weights[n_prior:] = local_weight
    model = fit_variant(variant, x, y, groups, weights=weights, seed=seed)
    out_path = Path(out_path)
    first = every[0]
    if "worlds" in evaluation:
        parts: dict[str, Any] = {"in_world": evaluation["worlds"]}
        first_eval = next(iter(evaluation["worlds"].values()), None)
        if len(every) == 1 and first_eval is not None:
            parts = {**_single_card_parts(first_eval, label), **parts}
    else:
        parts = _single_card_parts(evaluation, label)
    lowo_summary = (lowo or {}).get("summary") or {}
    decision = lowo_summary.get("out_of_domain_score") or {
        "score": "mean_p1p",
        "reason": "not measured on a held-out world (fit on one world): out of domain the "
        "dataset score falls back to mean p(1-p), the free signal issue 10 measured best on a "
        "world the single-world predictor never saw",
    }
    card: dict[str, Any] = {
        "name": out_path.stem,
        "datalint_version": __version__,
        "label": label,
        "label_meaning": (
            "NLL-lift: mean per-token NLL of the probe's gold answers before minus after GRPO"
            if label == "nll"
            else "reward-lift: mean P(gold) over the probe after minus before GRPO"
        ),
        "features": list(variant.base_inputs),
        "inputs": list(variant.inputs),
        "derived_inputs": {
            name: f"percentile rank of {name[5:]} among the cohorts of the same world "
            "(training) or the same checked dataset (check); 0 lowest, 1 highest"
            for name in variant.inputs
            if name.startswith("rank:")
        },
        "variant": variant.name,
        "output_map": (
            "isotonic map of the ranking score onto the training lifts (nats)"
            if model.output_map is not None
            else "identity (trained on lifts in nats)"
        ),
        "interval": {
            "quantiles": list(INTERVAL_QUANTILES),
            "meaning": "80% interval of the lift in nats from quantile trees "
            "(reg:quantileerror), clipped to contain the point prediction",
            "scaled": describe_scaled(model.scaled),
            "coverage_on_held_out_worlds": lowo_summary.get("interval_coverage_80"),
        },
        "monotone_constraints": {**MONOTONE, **SIGNAL_MONOTONE},
        "first_order": (
            {
                "input": LINEAR_INPUT,
                "beta": model.linear[1],
                "alpha": model.linear[2],
                "meaning": "predicted lift = beta * grad_align_adam + alpha (nats) where the "
                "signal is measured; the trees where it is missing",
            }
            if model.linear is not None
            else None
        ),
        "missing_values": "NaN = missing; xgboost learns a default branch per split (kept in ONNX)",
        "xgboost_params": XGB_PARAMS,
        "n_cohorts": len(y),
        "n_seeds": len(first.seeds),
        "subjects": sorted({s for c in every for s in c.subjects}),
        "grpo_settings": first.settings,
        "similarity_method": similarity_method or first.similarity_method,
        "model_fingerprint": first.model_fingerprint,
        "worlds": [world_profile(c) for c in every],
        "probe_hash": first.probe_hash,
        "training_data_hash": stable_hash([c.data_hash for c in every])
        if len(every) > 1
        else first.data_hash,
        "build_command": build_command,
        **parts,
        "leave_one_world_out": lowo,
        "out_of_domain_score": decision,
        "out_of_domain_score_without_signals": lowo_summary.get(
            "out_of_domain_score_without_signals"
        ),
        "signal_maps": {name: signal_map(every, name, label) for name in FREE_SIGNALS},
        "local_calibration": (
            {
                "prior_worlds": [c.world for c in sets],
                "local_worlds": [c.world for c in local],
                "local_weight": local_weight,
            }
            if local
            else None
        ),
        "ratio_note": (
            "top10_gain_over_random is mean(top 10%) / mean(all) - 1, null where the mean lift "
            "is not positive (a ratio over a mean near or below zero means nothing); "
            "top10_gain_sd is the same gain in standard deviations of the lift"
        ),
        "grpo_sweep": sweep,
    }
    card = _clean(card)
    metadata = {
        "datalint.features": json.dumps(list(variant.base_inputs)),
        "datalint.inputs": json.dumps(list(variant.inputs)),
        "datalint.outputs": json.dumps(list(OUTPUTS)),
        "datalint.version": __version__,
        "datalint.training_data_hash": card["training_data_hash"],
        "datalint.label": label,
        "datalint.metrics": json.dumps(card.get("metrics") or lowo_summary),
        "datalint.worlds": json.dumps(
            [
                {"name": w["name"], "model_fingerprint": w["model_fingerprint"]}
                for w in card["worlds"]
            ]
        ),
        "datalint.similarity_method": card["similarity_method"],
    }
    if model.output_map is not None:
        kx, ky = model.output_map
        metadata["datalint.output_map"] = json.dumps({"x": kx.tolist(), "y": ky.tolist()})
    if model.scaled is not None:
        metadata[SCALED_KEY] = model.scaled.as_metadata()
    onx = predictor_to_onnx(model, metadata)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(onx.SerializeToString())
    card_path(out_path).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card


OUTPUTS = ("lift", "lift_lo", "lift_hi")


def predictor_to_onnx(model: FittedPredictor, metadata: dict[str, str]) -> Any:
    """One ONNX graph, one input ``features`` (n, len(inputs)) and three outputs: the point
    score (before the output map) and the interval's low and high quantiles (nats)."""
    import onnx
    from onnx import compose, helper

    width = len(model.inputs)
    parts = [to_onnx(model.point, {}, width)]
    if model.lo is not None and model.hi is not None:
        parts += [to_onnx(model.lo, {}, width), to_onnx(model.hi, {}, width)]
    nodes, inits, outputs, opsets = [], [], [], {}
    for prefix, part in zip(("p_", "lo_", "hi_"), parts, strict=False):
        part = compose.add_prefix(part, prefix)
        graph = part.graph
        for node in graph.node:
            node.input[:] = [INPUT_NAME if n == prefix + INPUT_NAME else n for n in node.input]
        nodes.extend(graph.node)
        inits.extend(graph.initializer)
        outputs.append(graph.output[0])
        for op in part.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
    typed = []
    for name, out in zip(OUTPUTS, outputs, strict=False):
        value = onnx.ValueInfoProto()
        value.CopyFrom(out)
        value.name = name
        typed.append(value)
    outputs = typed
    renames = {"p_": OUTPUTS[0], "lo_": OUTPUTS[1], "hi_": OUTPUTS[2]}
    final_nodes = list(nodes)
    part_outputs = [
        prefix + p.graph.output[0].name
        for prefix, p in zip(("p_", "lo_", "hi_"), parts, strict=False)
    ]
    if model.linear is not None:
        lin_nodes, lin_inits, part_outputs[0] = _linear_point(model.linear, part_outputs[0])
        final_nodes.extend(lin_nodes)
        inits.extend(lin_inits)
    for prefix, part_out in zip(("p_", "lo_", "hi_"), part_outputs, strict=False):
        final_nodes.append(helper.make_node("Identity", [part_out], [renames[prefix]]))
    graph = helper.make_graph(
        final_nodes,
        "datalint_lift_predictor",
        [helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT, [None, width])],
        outputs,
        initializer=inits,
    )
    opsets.setdefault("", 15)  # the Identity nodes that name the outputs
    onx = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()]
    )
    onx.ir_version = parts[0].ir_version
    for key, value in metadata.items():
        prop = onx.metadata_props.add()
        prop.key = key
        prop.value = value
    onnx.checker.check_model(onx)
    return onx


def _linear_point(linear: tuple[int, float, float], trees: str) -> tuple[list, list, str]:
    """first_order's point: ``beta * x[:, column] + alpha`` where that column is measured, the
    trees' output where it is missing (NaN). Returns the nodes, initializers, output name."""
    import numpy as np
    from onnx import helper, numpy_helper

    column, beta, alpha = linear
    consts = {
        "lin_start": np.array([column], dtype=np.int64),
        "lin_end": np.array([column + 1], dtype=np.int64),
        "lin_axis": np.array([1], dtype=np.int64),
        "lin_beta": np.array(beta, dtype=np.float32),
        "lin_alpha": np.array(alpha, dtype=np.float32),
    }
    inits = [numpy_helper.from_array(v, name=k) for k, v in consts.items()]
    nodes = [
        helper.make_node("Slice", [INPUT_NAME, "lin_start", "lin_end", "lin_axis"], ["lin_x"]),
        helper.make_node("Mul", ["lin_x", "lin_beta"], ["lin_scaled"]),
        helper.make_node("Add", ["lin_scaled", "lin_alpha"], ["lin_value"]),
        helper.make_node("IsNaN", ["lin_x"], ["lin_missing"]),
        helper.make_node("Reshape", [trees, "lin_shape"], ["lin_trees"]),
        helper.make_node("Where", ["lin_missing", "lin_trees", "lin_value"], ["lin_point"]),
    ]
    inits.append(numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), name="lin_shape"))
    return nodes, inits, "lin_point"


def card_path(onnx_path: str | Path) -> Path:
    return Path(onnx_path).with_suffix(".json")
