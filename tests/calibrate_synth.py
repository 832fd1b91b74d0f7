"""A synthetic calibration store for fit/evaluate tests: lift grows with disagreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datalint.calibrate.store import CalibrationStore, RunKey, RunRecord
from datalint.features_names import FEATURE_NAMES

SUBJECTS = ("add", "sub", "mul", "cmp")


def synthetic_store(
    path: Path,
    n_cohorts: int = 60,
    n_seeds: int = 3,
    noise: float = 0.05,
    missing_logprobs: bool = True,
    seed: int = 0,
    model: str = "modelA",
    scale: float = 1.0,
    logprob_shift: float = 0.0,
    familiarity_signal: bool = False,
    settings: dict | None = None,
    alignment_signal: bool = False,
) -> CalibrationStore:
    """``model`` names the world; ``scale`` multiplies its lifts (worlds differ in lift scale);
    with ``familiarity_signal``, mean_logprob carries lift signal relative to the world's own
    mean, shifted by ``logprob_shift`` (logprob scales depend on the model; a within-world rank
    sees through the shift). With ``alignment_signal`` the runs also hold the gradient signals:
    grad_align_adam is the true lift in the world's units, x 1000, plus a little noise."""
    rng = np.random.default_rng(seed)
    store = CalibrationStore(path)
    for c in range(n_cohorts):
        rates = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=4)
        nondeg = float(np.mean((rates > 0) & (rates < 1)))
        feats: dict[str, float | None] = {name: float(rng.normal()) for name in FEATURE_NAMES}
        feats["frac_nondegenerate"] = nondeg
        feats["pass_rate"] = float(rates.mean())
        feats["frac_all_wrong"] = float(np.mean(rates == 0))
        feats["frac_all_correct"] = float(np.mean(rates == 1))
        feats["adv_std"] = nondeg * 0.9
        true_lift = 0.5 * nondeg - 0.1
        if familiarity_signal:
            familiar = float(rng.normal())
            feats["mean_logprob"] = familiar + logprob_shift
            true_lift += 0.1 * familiar
        true_lift *= scale
        if alignment_signal:
            feats["grad_align_adam"] = 1000 * true_lift + 0.02 * scale * rng.normal()
            feats["grad_align_cos"] = float(np.tanh(true_lift))
            feats["grad_align_sgd"] = 10 * true_lift
        if missing_logprobs and c % 3 == 0:
            feats["mean_logprob"] = None
            feats["logprob_p50"] = None
        for s in range(n_seeds):
            lift = true_lift + scale * noise * rng.normal()
            store.add_run(
                RunRecord(
                    key=RunKey(f"ck{c:03d}", s, "settingsA", model, "probeA"),
                    cohort_id=f"cohort-{c:03d}",
                    subject=SUBJECTS[c % len(SUBJECTS)],
                    data_hash="dataA",
                    n_items=4,
                    features=feats,
                    item_pass_rates=rates.tolist(),
                    nll_before=2.0,
                    nll_after=2.0 - lift,
                    pgold_before=0.3,
                    pgold_after=0.3 + lift / 10 + noise * rng.normal() / 10,
                    settings=settings or {"steps": 8, "lr": 5e-5, "feature_seed": 1000},
                    timings={"train_s": 1.0},
                )
            )
    return store
