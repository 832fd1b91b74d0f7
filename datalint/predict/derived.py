"""Derived inputs of a predictor, computed from the 23 features of the cohorts being scored.

``rank:NAME``: the percentile rank of feature NAME among the cohorts scored together (the
checked dataset), 0 lowest, 1 highest, 0.5 for a lone cohort, missing where NAME is missing.
Calibration computes the same within each world (``datalint.calibrate.variants``); the two
share this function's arithmetic through ``percentile_ranks``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile_ranks(column: np.ndarray) -> np.ndarray:
    """0..1 rank of each value among the non-missing ones (ties averaged); NaN stays NaN."""
    column = np.asarray(column, dtype=float)
    out = np.full(len(column), np.nan)
    ok = ~np.isnan(column)
    n = int(ok.sum())
    if n == 1:
        out[ok] = 0.5
    elif n > 1:
        values = column[ok]
        order = np.argsort(values, kind="mergesort")
        ranks = np.empty(n)
        sorted_v = values[order]
        i = 0
        while i < n:  # average rank over ties
            j = i
            while j + 1 < n and sorted_v[j + 1] == sorted_v[i]:
                j += 1
            ranks[order[i : j + 1]] = (i + j) / 2.0
            i = j + 1
        out[ok] = ranks / (n - 1.0)
    return out


def derived_inputs(
    x: np.ndarray, feature_order: Sequence[str], inputs: Sequence[str]
) -> np.ndarray:
    """``x`` (cohorts x features) extended to ``inputs`` (features, then ``rank:NAME``)."""
    columns = [x]
    for name in inputs[len(feature_order) :]:
        source = x[:, list(feature_order).index(name.partition(":")[2])]
        columns.append(percentile_ranks(source)[:, None])
    return np.hstack(columns).astype(np.float32)
