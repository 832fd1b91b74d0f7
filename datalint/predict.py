"""The lift predictor that ``check`` loads: an ONNX model run with onnxruntime (a core dependency).

Default: the shipped ``pretrained/lift-predictor.onnx`` (inside the wheel as
``datalint/_data/pretrained``, else the checkout's ``pretrained/``). When no predictor file exists
the predictor falls back to the cohort's ``adv_std`` as its predicted lift, the way the seed's
online loop cold-starts, and says so in ``predictor_name``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from datalint.errors import DatalintError
from datalint.features_names import FEATURE_NAMES

DEFAULT_NAME = "lift-predictor.onnx"
FALLBACK_NAME = "adv_std fallback"
FALLBACK_FEATURE = "adv_std"


class PredictorError(DatalintError, RuntimeError):
    pass


def pretrained_dir() -> Path:
    """The shipped pretrained folder: in the wheel as ``datalint/_data/pretrained``, else the
    checkout's top-level ``pretrained/`` (mirrors :func:`datalint.rulebook.rules_dir`)."""
    packaged = resources.files("datalint").joinpath("_data", "pretrained")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "pretrained"


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
            session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own unrelated exception types
            raise PredictorError(f"{path}: not a readable ONNX model ({exc})") from None
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        raw_order = metadata.get("datalint.features")
        try:
            order = tuple(json.loads(raw_order)) if raw_order else FEATURE_NAMES
        except json.JSONDecodeError:
            raise PredictorError(f"{path}: metadata datalint.features is not JSON") from None
        width = session.get_inputs()[0].shape[-1]
        if isinstance(width, int) and width != len(order):
            raise PredictorError(
                f"{path}: model takes {width} features but its metadata names {len(order)}"
            )
        return cls(session, order, path.name, metadata)

    def matrix(self, features: Sequence[dict[str, float | None]]) -> np.ndarray:
        """Rows in the predictor's feature order; None or absent -> NaN (missing)."""
        x = np.full((len(features), len(self.feature_order)), np.nan, dtype=np.float32)
        for i, row in enumerate(features):
            for j, name in enumerate(self.feature_order):
                value = row.get(name)
                if value is not None:
                    x[i, j] = float(value)
        return x

    def predict(self, features: Sequence[dict[str, float | None]]) -> np.ndarray:
        """Predicted lift per cohort (float64). The fallback returns adv_std (NaN if missing)."""
        if not features:
            return np.zeros(0)
        x = self.matrix(features)
        if self._session is None:
            return x[:, 0].astype(float)
        input_name = self._session.get_inputs()[0].name
        out = self._session.run(None, {input_name: x})[0]
        return np.asarray(out, dtype=float).reshape(-1)


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
