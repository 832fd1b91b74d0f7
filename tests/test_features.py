"""The 23 cohort features against values computed by hand (formulas in docs/features.md)."""

from __future__ import annotations

import math

import pytest

from datalint.features import Group, compute_cohort_features, group_advantages, item_diagnostics
from datalint.features_names import FAMILIARITY_FEATURES, FEATURE_NAMES
from datalint.load.records import Item, Rollout, Source

LOGPROB_FEATURES = FAMILIARITY_FEATURES


def rewards_only(*groups: list[float]) -> list[Group]:
    return [
        Group(rewards=list(r), rollouts=[Rollout("x" * 3, reward=v) for v in r]) for r in groups
    ]


def seed_worked_example() -> list[Group]:
    # "3x + 7 = 22": ✓X✓✓X✓X✓ (5/8); "2 + 2": 8/8; "Riemann": 0/8
    return rewards_only([1, 0, 1, 1, 0, 1, 0, 1], [1.0] * 8, [0.0] * 8)


def test_seed_worked_example_reward_features() -> None:
    f = compute_cohort_features(seed_worked_example())
    # Group 5/8: mean 0.625; deviations +0.375 (x5), -0.625 (x3); sum of squares
    # 5 * 0.140625 + 3 * 0.390625 = 1.875; unbiased std s = sqrt(1.875 / 7) = 0.5175492;
    # s + 1e-4 = 0.5176492. Advantages +0.375 / 0.5176492 = +0.7244289 (x5) and
    # -0.625 / 0.5176492 = -1.2073814 (x3). The 8/8 and 0/8 groups: all 16 advantages 0.
    # The 24 pooled advantages have mean 0, so
    # adv_std = sqrt(1.875 / 0.5176492^2 / 24) = 0.5399574 (sqrt(7/24) = 0.54006 without eps)
    # adv_absmean = (5 * 0.375 + 3 * 0.625) / 0.5176492 / 24 = 3.75 / 12.42358 = 0.3018454
    assert f["adv_std"] == pytest.approx(0.5399574, abs=1e-6)
    assert f["adv_absmean"] == pytest.approx(0.3018454, abs=1e-6)
    # one group of three disagrees, one is all correct, one all wrong
    assert f["frac_nondegenerate"] == pytest.approx(1 / 3)
    assert f["frac_all_correct"] == pytest.approx(1 / 3)
    assert f["frac_all_wrong"] == pytest.approx(1 / 3)
    # 13 of 24 rewards are 1: mean 13/24; population std of 0/1 values sqrt(p(1 - p))
    assert f["reward_mean"] == pytest.approx(13 / 24)
    assert f["reward_std"] == pytest.approx(math.sqrt(13 / 24 * 11 / 24))  # 0.4982609
    assert f["pass_rate"] == pytest.approx(13 / 24)
    # group pass rates 0.625, 1, 0: mean 0.5416667; deviations 0.0833, 0.4583, -0.5417;
    # squares 0.006944 + 0.210069 + 0.293403 = 0.510417; / 3 = 0.170139; sqrt = 0.4124790
    assert f["group_passrate_mean"] == pytest.approx(1.625 / 3)
    assert f["group_passrate_std"] == pytest.approx(0.4124790, abs=1e-6)
    assert f["n_groups"] == 3
    assert f["target_similarity"] is None


def test_features_are_exactly_the_23_in_canonical_order() -> None:
    f = compute_cohort_features(seed_worked_example(), target_similarity=0.42)
    assert tuple(f) == FEATURE_NAMES
    assert f["target_similarity"] == 0.42


def test_advantages_match_trl_group_normalisation() -> None:
    # [1, 0]: mean 0.5, unbiased std sqrt(0.5) = 0.7071068; 0.5 / 0.7072068 = 0.7070068
    assert group_advantages([1, 0]).tolist() == pytest.approx([0.7070068, -0.7070068], abs=1e-7)
    torch = pytest.importorskip("torch")
    nanstd = pytest.importorskip("trl.trainer.utils").nanstd
    rewards = torch.tensor([[1.0, 0, 1, 1, 0, 1, 0, 1], [0.2, 0.9, 0.4, 0.4, 1, 0, 0, 0.5]])
    mean = rewards.mean(dim=1, keepdim=True)
    trl_adv = (rewards - mean) / (nanstd(rewards, dim=1).unsqueeze(1) + 1e-4)
    for row, expected in zip(rewards.tolist(), trl_adv.tolist(), strict=True):
        assert group_advantages(row).tolist() == pytest.approx(expected, abs=1e-6)


def test_single_rollout_groups_have_zero_advantage() -> None:
    # trl: num_generations == 1 -> std 0 -> advantage (r - r) / (0 + 1e-4) = 0; a single reward
    # is "all equal", so no group disagrees
    f = compute_cohort_features(rewards_only([1.0], [0.0], [1.0]))
    assert f["adv_std"] == 0.0 and f["adv_absmean"] == 0.0
    assert f["frac_nondegenerate"] == 0.0
    assert f["frac_all_correct"] == pytest.approx(2 / 3)
    assert f["frac_all_wrong"] == pytest.approx(1 / 3)
    assert f["pass_rate"] == pytest.approx(2 / 3)


def test_float_rewards() -> None:
    f = compute_cohort_features(rewards_only([0.5, 1.0], [0.2, 0.2]))
    # [0.5, 1]: mean 0.75, unbiased std sqrt(2 * 0.0625 / 1) = 0.3535534; advantages
    # +-0.25 / 0.3536534 = +-0.7069068. [0.2, 0.2]: 0, 0. Pooled [0.707, -0.707, 0, 0]:
    # adv_std = sqrt(2 * 0.7069068^2 / 4) = 0.4998586; adv_absmean = 2 * 0.7069068 / 4
    assert f["adv_std"] == pytest.approx(0.4998586, abs=1e-6)
    assert f["adv_absmean"] == pytest.approx(0.3534534, abs=1e-6)
    assert f["frac_nondegenerate"] == 0.5
    assert f["frac_all_correct"] == 0.0  # 0.5 < 1
    assert f["frac_all_wrong"] == 0.0  # 0.2 > 0
    assert f["reward_mean"] == pytest.approx(0.475)  # 1.9 / 4
    # rewards >= 0.5: 0.5 and 1.0 -> 2 of 4; group pass rates 1.0 and 0.0
    assert f["pass_rate"] == 0.5
    assert f["group_passrate_mean"] == 0.5 and f["group_passrate_std"] == 0.5


def test_logprob_features_by_hand() -> None:
    groups = [
        Group([1.0, 0.0], [Rollout("ab", 1.0, [-1.0, -3.0], [0.5, 1.5])]),
        Group([0.0], [Rollout("abcd", 0.0, [-2.0, -4.0, -6.0], [1.0, 1.0, 2.0]), Rollout("")]),
    ]
    f = compute_cohort_features(groups)
    # pooled tokens -1 -3 -2 -4 -6; the third rollout has no logprobs and is left out
    assert f["mean_logprob"] == pytest.approx(-16 / 5)
    # per-rollout mean -logprob: 2 and 4
    assert f["surprisal_mean"] == pytest.approx(3.0)
    # entropies 0.5 1.5 1 1 2 -> 6 / 5
    assert f["entropy_mean"] == pytest.approx(1.2)
    # sorted -6 -4 -3 -2 -1: p10 at rank 0.4 -> -6 + 0.4 * 2; p50 rank 2; p90 rank 3.6 -> -2 + 0.6
    assert f["logprob_p10"] == pytest.approx(-5.2)
    assert f["logprob_p50"] == pytest.approx(-3.0)
    assert f["logprob_p90"] == pytest.approx(-1.4)
    # [-1 | -3]: -3 - -1 = -2; [-2 | -4 -6]: -5 - -2 = -3; mean -2.5
    assert f["confidence_slope"] == pytest.approx(-2.5)
    expected_prob = sum(math.exp(x) for x in (-1, -3, -2, -4, -6)) / 5  # 0.1147593
    assert f["redundancy_mean"] == pytest.approx(expected_prob)
    # minima -3 and -6
    assert f["min_logprob_mean"] == pytest.approx(-4.5)
    # lengths 2, 4, 0 over all rollouts: mean 2, population std sqrt(8 / 3)
    assert f["len_mean"] == pytest.approx(2.0)
    assert f["len_std"] == pytest.approx(math.sqrt(8 / 3))


def test_confidence_slope_needs_two_tokens_and_nonfinite_values_are_dropped() -> None:
    groups = [Group([1.0], [Rollout("a", 1.0, [-0.5]), Rollout("b", 1.0, [-1.0, float("-inf")])])]
    f = compute_cohort_features(groups)
    # -inf dropped: tokens -0.5 and -1.0, each rollout one token -> no slope
    assert f["confidence_slope"] is None
    assert f["mean_logprob"] == pytest.approx(-0.75)
    assert f["entropy_mean"] is None  # no entropies recorded


def test_missing_logprobs_leave_reward_features_and_mark_the_rest_missing() -> None:
    f = compute_cohort_features(seed_worked_example())
    for name in LOGPROB_FEATURES:
        assert f[name] is None, name
    assert f["len_mean"] == 3.0 and f["len_std"] == 0.0
    assert f["adv_std"] is not None and f["adv_std"] > 0


def test_cohort_with_nothing_graded() -> None:
    f = compute_cohort_features([Group([], [Rollout("9")])])
    assert f["n_groups"] == 0
    assert f["adv_std"] is None and f["pass_rate"] is None and f["frac_all_wrong"] is None
    assert f["len_mean"] == 1.0


def test_item_diagnostics_flags() -> None:
    item = Item(source=Source("d.jsonl", 7), answer="4")
    five_of_eight = item_diagnostics(item, [1, 0, 1, 1, 0, 1, 0, 1])
    assert (five_of_eight.path, five_of_eight.line) == ("d.jsonl", 7)
    assert five_of_eight.pass_rate == 0.625 and five_of_eight.n_rollouts == 8
    assert five_of_eight.flags == ["disagree"]
    assert item_diagnostics(item, [1.0] * 8).flags == ["all_correct"]
    assert item_diagnostics(item, [0.0] * 8).flags == ["all_wrong"]
    assert item_diagnostics(item, [0.5, 0.5]).flags == []  # agree, but neither dead end
    ungraded = item_diagnostics(item, [])
    assert ungraded.flags == ["ungraded"] and ungraded.n_rollouts == 0
    assert (ungraded.path, ungraded.line, ungraded.pass_rate) == ("d.jsonl", 7, 0.0)
    assert type(ungraded.pass_rate) is float


@pytest.mark.parametrize("n", [1, 2, 5, 37])
def test_percentiles_match_numpy_linear(n: int) -> None:
    import numpy as np

    from datalint.features import _percentiles

    values = np.random.default_rng(n).normal(size=n)
    assert _percentiles(values, (10, 50, 90)) == pytest.approx(
        np.percentile(values, [10, 50, 90]).tolist()
    )


def test_rollout_with_only_nonfinite_logprobs_is_left_out() -> None:
    groups = [
        Group([1.0], [Rollout("a", 1.0, [float("nan"), float("-inf")]), Rollout("b", 1.0, [-2.0])])
    ]
    f = compute_cohort_features(groups)
    # only the second rollout counts: one token of -2
    assert f["surprisal_mean"] == 2.0 and f["min_logprob_mean"] == -2.0


def test_confidence_slope_puts_the_middle_token_of_an_odd_rollout_in_the_second_half() -> None:
    # 3 tokens [-1 | -1 -4]: floor(3/2) = 1 token in the first half; slope -2.5 - -1 = -1.5.
    # (With ceil the halves would be [-1 -1 | -4]: -4 - -1 = -3.)
    f = compute_cohort_features([Group([1.0], [Rollout("abc", 1.0, [-1.0, -1.0, -4.0])])])
    assert f["confidence_slope"] == pytest.approx(-1.5)
    # 4 tokens [-1 -3 | -2 -2]: each half's mean divides by its 2 tokens; slope -2 - -2 = 0.
    # With a second rollout [-1 | -1 -4] (-1.5): mean of 0 and -1.5 is -0.75.
    two = [Rollout("abcd", 1.0, [-1.0, -3.0, -2.0, -2.0]), Rollout("abc", 1.0, [-1.0, -1.0, -4.0])]
    f = compute_cohort_features([Group([1.0, 1.0], two)])
    assert f["confidence_slope"] == pytest.approx(-0.75)


def test_item_pass_rate_counts_a_reward_of_exactly_one_half_as_passed() -> None:
    item = Item(source=Source("d.jsonl", 2), answer="4")
    # rewards >= 0.5 pass: 0.5 and 1.0 of four
    assert item_diagnostics(item, [0.5, 0.0, 1.0, 0.25]).pass_rate == 0.5
    assert item_diagnostics(item, [0.5, 0.5]).pass_rate == 1.0


def test_a_cohort_without_rollouts_has_no_length_features() -> None:
    f = compute_cohort_features([Group([], [])])
    assert f["len_mean"] is None and f["len_std"] is None and f["n_groups"] == 0


def test_nonfinite_entropies_are_dropped() -> None:
    rollout = Rollout("ab", 1.0, [-1.0, -2.0], [0.5, float("nan"), float("inf"), 1.5])
    f = compute_cohort_features([Group([1.0], [rollout])])
    assert f["entropy_mean"] == pytest.approx(1.0)  # (0.5 + 1.5) / 2
    only_bad = Rollout("ab", 1.0, [-1.0], [float("nan")])
    assert compute_cohort_features([Group([1.0], [only_bad])])["entropy_mean"] is None


def test_segments_keep_nonfinite_values_unless_asked() -> None:
    from datalint.features import _segments

    kept = _segments([[1.0, float("inf")], [], [2.0]])
    assert kept is not None and kept.values.size == 3 and kept.counts.tolist() == [2, 1]
    dropped = _segments([[1.0, float("inf")], [], [2.0]], finite_only=True)
    assert dropped is not None and dropped.values.tolist() == [1.0, 2.0]
    assert dropped.ids.tolist() == [0, 1]
    assert _segments([[], []]) is None
    assert _segments([[float("nan")]], finite_only=True) is None
