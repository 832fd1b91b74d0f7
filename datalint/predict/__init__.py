"""The lift predictor that ``check`` loads: an ONNX model run with onnxruntime (a core dependency).

Default: the shipped ``pretrained/lift-predictor.onnx`` (inside the wheel as
``datalint/_data/pretrained``, else the checkout's ``pretrained/``). When no predictor file exists
the predictor falls back to the cohort's ``adv_std`` as its predicted lift, the way the seed's
online loop cold-starts, and says so in ``predictor_name``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from datalint.errors import DatalintError
from datalint.features_names import COLUMN_NAMES, FEATURE_NAMES, SIGNAL_NAMES
from datalint.predict.scaled_interval import METADATA_KEY as SCALED_INTERVAL_KEY
from datalint.predict.scaled_interval import ScaledInterval, scaled_band

DEFAULT_NAME = "lift-predictor.onnx"
FALLBACK_NAME = "adv_std fallback"
FALLBACK_FEATURE = "adv_std"
LINE_INPUT = "grad_align_adam"  # what a first-order predictor's line reads


class PredictorError(DatalintError, RuntimeError):
    pass


def pretrained_dir() -> Path:
    """The shipped pretrained folder: in the wheel as ``datalint/_data/pretrained``, else the
    checkout's top-level ``pretrained/`` (mirrors :func:`datalint.rulebook.rules_dir`)."""
    packaged = resources.files("datalint").joinpath("_data", "pretrained")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "pretrained"


def default_predictor_path() -> Path:
    return pretrained_dir() / DEFAULT_NAME


class LiftPredictor:
    """Predicts a cohort's lift from its features; see :meth:`load`."""

    def __init__(
        self,
        session: Any | None,
        feature_order: tuple[str, ...],
        name: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self._session = session
        self.feature_order = feature_order
        self.predictor_name = name
        self.metadata = metadata or {}
        self.inputs: tuple[str, ...] = feature_order  # plus derived ``rank:NAME`` inputs
        self.output_map: tuple[np.ndarray, np.ndarray] | None = None
        self.scaled_interval: ScaledInterval | None = None  # first-order, fit on 2+ worlds
        self.interval_scaled = False  # whether the last predict_with_interval applied it
        self.card: dict[str, Any] = {}

    @property
    def similarity_method(self) -> str | None:
        """The method its training stores computed target_similarity with, when recorded."""
        method = self.metadata.get("datalint.similarity_method") or self.card.get(
            "similarity_method"
        )
        return str(method) if method else None

    @property
    def has_interval(self) -> bool:
        """Its metadata ``datalint.outputs`` names the interval's outputs after the lift."""
        try:
            outputs = json.loads(self.metadata.get("datalint.outputs", "[]"))
        except json.JSONDecodeError:
            return False
        return isinstance(outputs, list) and outputs[:3] == ["lift", "lift_lo", "lift_hi"]

    @property
    def uses_signals(self) -> bool:
        """Whether an input is a signal beyond the 23 (gradient alignment with the probe)."""
        return any(name in SIGNAL_NAMES for name in self.feature_order)

    @property
    def is_fallback(self) -> bool:
        return self._session is None

    @property
    def name(self) -> str:
        return self.predictor_name

    def dataset_lift_score(
        self, predictions: Sequence[float], sizes: Sequence[int]
    ) -> float | None:
        return dataset_lift_score(predictions, sizes)

    @classmethod
    def load(cls, path: str | Path | None = None) -> LiftPredictor:
        """Load ``path`` (an explicit path must exist), else the shipped predictor, else the
        adv_std fallback."""
        if path is None:
            path = default_predictor_path()
            if not path.is_file():
                return cls(None, (FALLBACK_FEATURE,), FALLBACK_NAME)
        path = Path(path)
        if not path.is_file():
            raise PredictorError(f"{path}: predictor file not found")
        import onnxruntime

        try:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # errors only: its warnings are not the user's business
            session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own unrelated exception types
            raise PredictorError(f"{path}: not a readable ONNX model ({exc})") from None
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        order = _feature_order(path, metadata)
        inputs = _inputs(path, metadata, order)
        _check_signature(path, session, len(inputs))
        card = _check_card(path, order)
        predictor = cls(session, order, path.name, metadata)
        predictor.inputs = inputs
        predictor.output_map = _output_map(path, metadata)
        predictor.scaled_interval = _scaled_interval(path, metadata)
        predictor.card = card or {}
        return predictor

    def matrix(self, features: Sequence[dict[str, float | None]]) -> np.ndarray:
        """Rows in the predictor's feature order; None or absent -> NaN (missing)."""
        x = np.full((len(features), len(self.feature_order)), np.nan, dtype=np.float32)
        for i, row in enumerate(features):
            for j, name in enumerate(self.feature_order):
                value = row.get(name)
                if value is not None:
                    x[i, j] = float(value)
        return x

    def design(self, features: Sequence[dict[str, float | None]]) -> np.ndarray:
        """The model's input: the features, then derived ``rank:NAME`` inputs ranked among
        these cohorts (the checked dataset), in the order of ``inputs``."""
        x = self.matrix(features)
        if len(self.inputs) == len(self.feature_order):
            return x
        from datalint.predict.derived import derived_inputs

        return derived_inputs(x, self.feature_order, self.inputs)

    def predict(self, features: Sequence[dict[str, float | None]]) -> np.ndarray:
        """Predicted lift per cohort (float64, nats). The fallback returns adv_std (NaN if
        missing)."""
        return self.predict_with_interval(features)[0]

    def predict_with_interval(
        self, features: Sequence[dict[str, float | None]]
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(lift, low, high) per cohort; low and high are None for a predictor without an
        interval (an older model, or the fallback)."""
        if not features:
            return np.zeros(0), None, None
        if self._session is None:
            return self.matrix(features)[:, 0].astype(float), None, None
        outputs = _run_all(self._session, self.design(features))
        if not self.has_interval:
            outputs = outputs[:1]
        out = outputs[0]
        if self.output_map is not None:
            out = np.interp(out, *self.output_map)
        self._check_finite(out)
        if len(outputs) < 3:
            return out, None, None
        lo, hi = outputs[1], outputs[2]
        self._check_finite(lo)
        self._check_finite(hi)
        lo, hi = np.minimum(np.minimum(lo, hi), out), np.maximum(np.maximum(lo, hi), out)
        self.interval_scaled = False
        if self.scaled_interval is not None:
            by_line = np.array([_finite(row.get(LINE_INPUT)) for row in features], dtype=bool)
            lo, hi, self.interval_scaled = scaled_band(out, lo, hi, by_line, self.scaled_interval)
        return out, lo, hi

    def _check_finite(self, out: np.ndarray) -> None:
        bad = ~np.isfinite(out)
        if bad.any():
            rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad)[:5])
            raise PredictorError(
                f"{self.predictor_name}: predicted NaN or infinity for {int(bad.sum())} of "
                f"{len(out)} cohorts (number {rows} in report order); a lift predictor must "
                "give every cohort a number"
            )


def _run(session: Any, x: np.ndarray) -> np.ndarray:
    return _run_all(session, x)[0]


def _run_all(session: Any, x: np.ndarray) -> list[np.ndarray]:
    """Every output as a float64 vector: the lift, then (when present) the interval's ends."""
    outs = session.run(None, {session.get_inputs()[0].name: x})
    return [np.asarray(o, dtype=float).reshape(-1) for o in outs[:3]]


def _inputs(path: Path, metadata: dict[str, str], order: tuple[str, ...]) -> tuple[str, ...]:
    """metadata ``datalint.inputs``: the features, then derived ``rank:NAME`` inputs."""
    raw = metadata.get("datalint.inputs")
    if not raw:
        return order
    try:
        inputs = json.loads(raw)
    except json.JSONDecodeError:
        raise PredictorError(f"{path}: metadata datalint.inputs is not JSON") from None
    if not isinstance(inputs, list) or not all(isinstance(n, str) for n in inputs):
        raise PredictorError(f"{path}: metadata datalint.inputs must be a list of names")
    if tuple(inputs[: len(order)]) != order:
        raise PredictorError(f"{path}: metadata datalint.inputs must start with its features")
    for name in inputs[len(order) :]:
        kind, _, of = name.partition(":")
        if kind != "rank" or of not in order:
            raise PredictorError(
                f"{path}: metadata datalint.inputs names {name!r}, not a derived input "
                "datalint computes (rank:FEATURE)"
            )
    return tuple(inputs)


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _scaled_interval(path: Path, metadata: dict[str, str]) -> ScaledInterval | None:
    """metadata ``datalint.scaled_interval``: a first-order predictor's dataset-scaled band."""
    raw = metadata.get(SCALED_INTERVAL_KEY)
    if raw is None:
        return None
    try:
        return ScaledInterval.from_metadata(raw)
    except ValueError as exc:
        raise PredictorError(f"{path}: metadata {SCALED_INTERVAL_KEY} {exc}") from None


def _output_map(path: Path, metadata: dict[str, str]) -> tuple[np.ndarray, np.ndarray] | None:
    """metadata ``datalint.output_map``: isotonic knots mapping the score to nats."""
    raw = metadata.get("datalint.output_map")
    if not raw:
        return None
    try:
        knots = json.loads(raw)
        kx = np.asarray(knots["x"], dtype=float)
        ky = np.asarray(knots["y"], dtype=float)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise PredictorError(
            f"{path}: metadata datalint.output_map must be {{x: [], y: []}}"
        ) from None
    if (
        kx.ndim != 1
        or kx.shape != ky.shape
        or not kx.size
        or not (np.isfinite(kx).all() and np.isfinite(ky).all())
        or np.any(np.diff(kx) < 0)
        or np.any(np.diff(ky) < 0)
    ):
        raise PredictorError(
            f"{path}: metadata datalint.output_map must be finite, non-decreasing knots"
        )
    return kx, ky


def _feature_order(path: Path, metadata: dict[str, str]) -> tuple[str, ...]:
    """The columns the model was trained on, in its order: metadata ``datalint.features``
    (the shipped order when absent). Every name must be a feature datalint computes."""
    raw = metadata.get("datalint.features")
    if not raw:
        return FEATURE_NAMES
    try:
        order = json.loads(raw)
    except json.JSONDecodeError:
        raise PredictorError(f"{path}: metadata datalint.features is not JSON") from None
    if not isinstance(order, list) or not order or not all(isinstance(n, str) for n in order):
        raise PredictorError(f"{path}: metadata datalint.features must be a list of names")
    unknown = [n for n in order if n not in COLUMN_NAMES]
    if unknown:
        raise PredictorError(
            f"{path}: metadata datalint.features names {unknown[0]!r}, not a datalint feature"
        )
    if len(set(order)) != len(order):
        raise PredictorError(f"{path}: metadata datalint.features names a feature twice")
    return tuple(order)


def _check_signature(path: Path, session: Any, width: int) -> None:
    """One float32 input of shape (cohorts, ``width``) and one number out per cohort, checked
    on a trial batch now, before any rollout is sampled, rather than after all of them."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise PredictorError(f"{path}: model takes {len(inputs)} inputs, expected 1")
    tensor = inputs[0]
    if tensor.type != "tensor(float)":
        raise PredictorError(f"{path}: model input is {tensor.type}, expected tensor(float)")
    shape = tensor.shape
    if len(shape) != 2:
        raise PredictorError(f"{path}: model input has rank {len(shape)}, expected 2")
    if isinstance(shape[-1], int) and shape[-1] != width:
        raise PredictorError(
            f"{path}: model takes {shape[-1]} features but its metadata names {width}"
        )
    if not session.get_outputs():
        raise PredictorError(f"{path}: model has no output")
    trial = np.zeros((2, width), dtype=np.float32)
    try:
        out = session.run(None, {tensor.name: trial})[0]
    except Exception as exc:  # onnxruntime raises its own unrelated exception types
        raise PredictorError(f"{path}: model fails on a trial batch ({exc})") from None
    out = np.asarray(out)
    if out.dtype.kind not in "fiu":
        raise PredictorError(f"{path}: model outputs {out.dtype}, expected numbers")
    if out.shape not in ((2,), (2, 1)):
        raise PredictorError(
            f"{path}: model outputs shape {list(out.shape)} for 2 cohorts, "
            "expected one lift per cohort ([2] or [2, 1])"
        )


def _check_card(path: Path, order: tuple[str, ...]) -> dict[str, Any] | None:
    """The card beside the model (``NAME.json``), when there is one, must name the same
    features; the order the model reads is its metadata's. Returns the card."""
    card = path.with_suffix(".json")
    if not card.is_file():
        return None
    try:
        data = json.loads(card.read_text("utf-8"))
        features = data.get("features")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise PredictorError(f"{card}: unreadable predictor card ({exc})") from None
    if features is None:
        return data
    if not isinstance(features, list) or set(features) != set(order):
        raise PredictorError(
            f"{card}: the card's features differ from the ones {path.name} was built with"
        )
    return data


def dataset_lift_score(predictions: Sequence[float], sizes: Sequence[int]) -> float | None:
    """The dataset's lift score: the mean of the cohorts' predicted lifts, each weighted by its
    number of items (a dataset is worth what its items are worth, and a short trailing cohort
    should not count as much as a full one). Cohorts with no prediction (NaN) are left out;
    None when nothing is left."""
    p = np.asarray(predictions, dtype=float)
    w = np.asarray(sizes, dtype=float)
    if p.shape != w.shape:
        raise ValueError("predictions and sizes differ in length")
    ok = ~np.isnan(p) & (w > 0)
    if not ok.any():
        return None
    return float(np.sum(p[ok] * w[ok]) / np.sum(w[ok]))
