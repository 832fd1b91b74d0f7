"""The two learners: monotone gradient-boosted trees (the predictor) and ridge (its baseline).

Missing features are NaN: the logprob group when rollouts were replayed without logprobs, and
target_similarity when ``check`` runs without ``--probe``. xgboost handles NaN natively (each
split has a default branch for it, and the ONNX export keeps that branch), but calibration data
always has these features, so the default branches would be arbitrary. So the training rows are
shown to xgboost four times: as measured, without the logprob features, without
target_similarity, and without both (same labels). The trees then learn from real data what to
predict when a group is missing. Ridge imputes each missing value with the training mean, which
after standardization is 0, so a missing feature contributes nothing to its prediction.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from datalint.extras import MissingExtra
from datalint.features_names import FAMILIARITY_FEATURES, FEATURE_NAMES, RELEVANCE_FEATURES

# The seed's prior, imposed as constraints: more disagreement -> more lift; more dead ends -> less.
MONOTONE: dict[str, int] = {
    "frac_nondegenerate": 1,
    "adv_std": 1,
    "adv_absmean": 1,
    "frac_all_wrong": -1,
    "frac_all_correct": -1,
}

# Small, strongly regularised trees: a few hundred noisy labels. Chosen by 10-fold CV among 8
# settings (depth 1-3, 60-300 trees, min_child_weight 3-60) on a 160-cohort store of the shipped
# policy at lr 3e-5, a different set of GRPO runs from the shipped predictor's (lr 2e-5).
XGB_PARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "max_depth": 2,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 10.0,  # counted over the 4 copies of each row (with_missing_groups)
    "reg_lambda": 1.0,
    "n_jobs": 1,
    "tree_method": "hist",
    "max_bin": 64,  # a few hundred cohorts: 64 bins lose nothing and fit 3x faster
}


def monotone_vector(feature_names: tuple[str, ...] = FEATURE_NAMES) -> tuple[int, ...]:
    return tuple(MONOTONE.get(name, 0) for name in feature_names)


OPTIONAL_GROUPS: tuple[tuple[str, ...], ...] = (FAMILIARITY_FEATURES, RELEVANCE_FEATURES)


def with_missing_groups(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows as measured, then again with each combination of optional groups blanked."""
    columns = [[FEATURE_NAMES.index(n) for n in group] for group in OPTIONAL_GROUPS]
    xs, ys = [x], [y]
    for mask in range(1, 2 ** len(columns)):
        blank = x.copy()
        for bit, cols in enumerate(columns):
            if mask & (1 << bit):
                blank[:, cols] = np.nan
        xs.append(blank)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def fit_xgboost(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Any:
    """xgboost regressor fitted on plain numpy (names f0..fN, which the ONNX export needs)."""
    try:
        import xgboost
    except ImportError:
        raise MissingExtra("calibrate", "xgboost") from None
    model = xgboost.XGBRegressor(
        **XGB_PARAMS, monotone_constraints=monotone_vector(), random_state=seed
    )
    x_all, y_all = with_missing_groups(np.asarray(x, dtype=np.float32), np.asarray(y, dtype=float))
    model.fit(x_all, y_all.astype(np.float32))
    return model


def predict_xgboost(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(np.asarray(x, dtype=np.float32)), dtype=float)


@dataclass(slots=True)
class RidgeModel:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=float) - self.mean) / self.scale
        z = np.where(np.isnan(z), 0.0, z)
        return z @ self.coef + self.intercept


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float = 10.0) -> RidgeModel:
    """Closed-form ridge on standardized features: coef = (Z'Z + alpha I)^-1 Z'(y - mean y)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    with warnings.catch_warnings():  # an all-missing column is expected, handled just below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(x, axis=0)
        scale = np.nanstd(x, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    # a constant or all-missing column standardizes to 0 rather than dividing by zero
    scale = np.where(np.isnan(scale) | (scale < 1e-12), 1.0, scale)
    z = np.where(np.isnan(x), 0.0, (x - mean) / scale)
    intercept = float(y.mean())
    gram = z.T @ z + alpha * np.eye(z.shape[1])
    coef = np.linalg.solve(gram, z.T @ (y - intercept))
    return RidgeModel(mean=mean, scale=scale, coef=coef, intercept=intercept)
