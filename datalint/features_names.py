"""The 23 cohort features of the seed design, in the predictor's canonical order."""

REWARD_FEATURES: tuple[str, ...] = (
    "adv_std",
    "frac_nondegenerate",
    "adv_absmean",
    "frac_all_correct",
    "frac_all_wrong",
    "reward_mean",
    "reward_std",
    "pass_rate",
    "group_passrate_mean",
    "group_passrate_std",
)
RELEVANCE_FEATURES: tuple[str, ...] = ("target_similarity",)
SHAPE_FEATURES: tuple[str, ...] = ("len_mean", "len_std", "n_groups")
FAMILIARITY_FEATURES: tuple[str, ...] = (
    "mean_logprob",
    "surprisal_mean",
    "entropy_mean",
    "logprob_p10",
    "logprob_p50",
    "logprob_p90",
    "confidence_slope",
    "redundancy_mean",
    "min_logprob_mean",
)
FEATURE_NAMES: tuple[str, ...] = (
    REWARD_FEATURES + RELEVANCE_FEATURES + SHAPE_FEATURES + FAMILIARITY_FEATURES
)
assert len(FEATURE_NAMES) == 23

# Signals beyond the 23, computed from the model itself (datalint.signals): reported apart from
# the features ("signals" in JSON) and usable as predictor inputs. Missing (None) when they cannot
# be computed (no probe, or no in-process model to take gradients of).
GRADIENT_SIGNALS: tuple[str, ...] = ("grad_align_adam", "grad_align_cos", "grad_align_sgd")
SIGNAL_NAMES: tuple[str, ...] = GRADIENT_SIGNALS
# every name a predictor may take as an input column (before derived rank:NAME inputs)
COLUMN_NAMES: tuple[str, ...] = FEATURE_NAMES + SIGNAL_NAMES
