"""Adaptive k: 2 rollouts per problem, then 4 and 8 where the full group could still disagree,
within a budget; the empirical-Bayes prior and posterior; the cache rows it shares with fixed k;
the features of stopped groups; ``--adaptive-k`` on check and rollout."""

from __future__ import annotations

import dataclasses
import json
import operator
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.features import Group, Unseen, compute_cohort_features
from datalint.grade import Grading
from datalint.load.records import Item, Rollout, Source
from datalint.rollout import adaptive
from datalint.rollout.adaptive import (
    AdaptiveBudget,
    BetaPrior,
    adaptive_rollouts,
    agreeing_side,
    chance_open,
    passes,
    stage_sizes,
)
from datalint.rollout.base import SamplingParams
from datalint.rollout.stage import RolloutStats, obtain_rollouts

ROOT = Path(__file__).resolve().parent.parent


class ScriptedBackend:
    """Rollout j of a prompt is fixed by the prompt's kind: right -> always "3"; wrong -> always
    "9"; mixed -> "3", "9", "3", ...; late -> "9", "9", "3", "3", ... (its first two agree and
    fail; its 3rd and 4th pass). It samples every group from rollout 0 (not prefix-stable)."""

    name = "scripted"

    def __init__(self) -> None:
        self.hash_memo = None
        self.sampled: list[tuple[str, int]] = []  # (prompt, rollouts generated) per group

    def fingerprint(self) -> str:
        return "scripted:1"

    def render(self, item: Item) -> str:
        return item.prompt_text

    def generate(self, prompts, params, seeds, start=0):  # type: ignore[no-untyped-def]
        out = []
        for prompt in prompts:
            self.sampled.append((prompt, params.n - start))
            kind = prompt.split()[0]
            answers = [self._answer(kind, j) for j in range(start, params.n)]
            out.append([Rollout(a, logprobs=[-0.5], entropies=[0.1], n_tokens=1) for a in answers])
        return out

    @staticmethod
    def _answer(kind: str, j: int) -> str:
        if kind == "right":
            return "3"
        if kind == "mixed":
            return "3" if j % 2 == 0 else "9"
        if kind == "late":
            return "9" if j < 2 else "3"
        return "9"


class PrefixStableBackend(ScriptedBackend):
    """The same rollouts, and it can extend a group: ``start=h`` gives rollouts h .. n - 1."""

    prefix_stable = True


def _items() -> list[Item]:
    kinds = ["right", "wrong", "mixed", "late"]
    return [
        Item(source=Source("d.jsonl", i + 1), prompt=f"{k} 1+2=", answer="3", verifier="exact")
        for i, k in enumerate(kinds)
    ]


def _obtain(backend: ScriptedBackend, cache_dir: Path):  # type: ignore[no-untyped-def]
    def obtain(items, params, prefixes=None):  # type: ignore[no-untyped-def]
        return obtain_rollouts(
            items,
            backend_name="scripted",
            model=None,
            params=params,
            rollouts_file=None,
            cache_dir=str(cache_dir),
            use_cache=True,
            progress=False,
            backend=backend,
            stats=RolloutStats(),
            prefixes=prefixes,
        )

    return obtain


# The four items' first two rollouts pass 2, 0, 1 and 0 times. By hand, the prior's moments:
# mean m = (3 + 1/2) / (2 * 4 + 1) = 7/18; shares 1, 0, 1/2, 0 have mean 3/8 and population
# variance 11/64; rho = (2 * 11/64 / (7/18 * 11/18) - 1) / (2 - 1) = 81/56 - 1 = 25/56;
# a + b = 56/25 - 1 = 31/25, a = 7/18 * 31/25, b = 11/18 * 31/25.
PRIOR_A, PRIOR_B = 7 / 18 * 31 / 25, 11 / 18 * 31 / 25


def _stay(weight: float, total: float, seen: int, full: int) -> float:
    """P(every one of rollouts seen .. full - 1 lands on the side the first `seen` all took),
    a product of Polya-urn draws: prod over j of (weight + j) / (total + j)."""
    out = 1.0
    for j in range(seen, full):
        out *= (weight + j) / (total + j)
    return out


def test_the_prior_is_fitted_by_moments_by_hand() -> None:
    prior = BetaPrior.fit([2, 0, 1, 0], 2)
    assert prior.a == pytest.approx(PRIOR_A) and prior.b == pytest.approx(PRIOR_B)
    # the pass shares of 0, 0, 0, 1 of 1: n = 1 leaves the spread unidentified, a + b = 1
    one = BetaPrior.fit([0, 0, 0, 1], 1)
    assert one.a == pytest.approx(1.5 / 5) and one.b == pytest.approx(3.5 / 5)
    # no spread at all between items (every item 1 of 2): rho is clipped to 0.01, a + b = 99
    flat = BetaPrior.fit([1, 1, 1, 1], 2)
    assert flat.a + flat.b == pytest.approx(99) and flat.a == pytest.approx(99 * 4.5 / 9)
    # items that all pass or all fail, half and half: rho clipped to 0.99, a + b = 1/99
    split = BetaPrior.fit([2, 0, 2, 0], 2)
    assert split.a + split.b == pytest.approx(1 / 0.99 - 1)
    assert BetaPrior.fit([], 2).a == pytest.approx(0.5)  # no item: mean 1/2, a + b = 1


def test_the_posterior_predictive_is_laplace_under_a_uniform_prior() -> None:
    # Beta(1, 1), 2 of 2 passed, 2 more: P(j) = C(2, j) B(3 + j, 3 - j) / B(3, 1):
    # j = 0: (1/30) / (1/3) = 0.1; j = 1: 2 * (1/20) / (1/3) = 0.3; j = 2: (1/5) / (1/3) = 0.6
    chances = BetaPrior(1.0, 1.0).unseen(2, 2, 2).chances
    assert chances == pytest.approx((0.1, 0.3, 0.6))
    # 1 of 3 passed, 1 more: the posterior mean (1 + 1) / (2 + 3) = 0.4
    assert BetaPrior(1.0, 1.0).unseen(1, 3, 1).chances == pytest.approx((0.6, 0.4))
    assert BetaPrior(0.3, 0.7).unseen(0, 2, 0).chances == pytest.approx((1.0,))


def test_chance_open_by_hand() -> None:
    prior = BetaPrior(PRIOR_A, PRIOR_B)
    total = PRIOR_A + PRIOR_B
    assert chance_open(prior, [1.0, 1.0], 8) == pytest.approx(1 - _stay(PRIOR_A, total, 2, 8))
    assert chance_open(prior, [0.0, 0.0], 8) == pytest.approx(1 - _stay(PRIOR_B, total, 2, 8))
    assert chance_open(prior, [0.0, 0.2], 4) == pytest.approx(1 - _stay(PRIOR_B, total, 2, 4))
    assert chance_open(prior, [1.0, 0.0], 8) == 1.0  # disagreeing already
    assert chance_open(prior, [1.0, 1.0], 2) == pytest.approx(0.0)  # nothing left unseen
    # the pass side is the more open one under this prior (a < b): right grows before wrong
    assert 1 - _stay(PRIOR_A, total, 2, 8) == pytest.approx(0.6156, abs=1e-4)
    assert 1 - _stay(PRIOR_B, total, 2, 8) == pytest.approx(0.4446, abs=1e-4)


def test_agreeing_side_and_stage_sizes() -> None:
    assert agreeing_side([1.0, 0.7]) is True
    assert agreeing_side([0.5, 1.0]) is True  # 0.5 passes
    assert passes([0.5, 0.49, 1.0, 0.0]) == 2
    assert agreeing_side([0.0, 0.2]) is False  # 0.2 fails the 0.5 pass threshold
    assert agreeing_side([1.0, 0.0]) is None
    assert agreeing_side([]) is None
    assert stage_sizes(2, 8) == [2, 4, 8]
    assert stage_sizes(3, 8) == [3, 6, 8]
    assert stage_sizes(2, 5) == [2, 4, 5]
    assert stage_sizes(1, 2) == [1, 2]


def test_agreeing_items_grow_in_stages_and_disagreeing_ones_stop(tmp_path: Path) -> None:
    backend = PrefixStableBackend()
    params = SamplingParams(n=8, seed=0)
    rollouts, budget = adaptive_rollouts(
        _items(),
        params,
        _obtain(backend, tmp_path),
        Grading(default_verifier="exact"),
        budget=1.0,
        extends=True,
    )
    # mixed disagrees on its first 2 and stops; late disagrees once it has 4; right and wrong
    # agree on 4 (P(open) is still above 0.05) and grow to 8
    assert budget.kept == [8, 8, 2, 4]
    assert budget.spent == [8, 8, 2, 4]  # each stage generates only the rollouts it lacked
    assert [len(r) for r in rollouts] == [8, 8, 2, 4]
    assert [r.completion for r in rollouts[3]] == ["9", "9", "3", "3"]
    assert all(r.reward is None for rs in rollouts for r in rs)  # the reward stage grades them
    assert backend.sampled == [
        *[(f"{k} 1+2=", 2) for k in ("right", "wrong", "mixed", "late")],
        *[(f"{k} 1+2=", 2) for k in ("right", "wrong", "late")],  # rollouts 2 and 3
        *[(f"{k} 1+2=", 4) for k in ("right", "wrong")],  # rollouts 4 to 7
    ]
    assert budget.prior == BetaPrior.fit([2, 0, 1, 0], 2)
    prov = budget.provenance(range(4))
    assert prov["rollouts_per_item"] == [8, 8, 2, 4]
    assert prov["rollouts_spent"] == 22
    assert prov["items_grown"] == 2
    assert prov["rule"].startswith("adaptive: 2 -> 4 -> 8, growing agreeing items")
    assert "within 1 of fixed k; Beta(0.482, 0.758)" in prov["rule"]


def test_the_budget_grows_the_most_open_item_first(tmp_path: Path) -> None:
    # 32 rollouts at fixed k; a budget of 10 leaves 2 after the first stage: one item grows to
    # 4, the most open: right (P(open) 0.616 against 0.445 for wrong and late), though last
    backend = PrefixStableBackend()
    last = list(reversed(_items()))  # late, mixed, wrong, right
    _, budget = adaptive_rollouts(
        last,
        SamplingParams(n=8),
        _obtain(backend, tmp_path),
        Grading(),
        budget=10 / 32,
        extends=True,
    )
    assert budget.kept == [2, 2, 2, 4]
    assert sum(budget.spent) == 10
    # 16: the 3 agreeing items to 4 (6), then nothing can reach 8 within the 2 left
    _, half = adaptive_rollouts(
        _items(),
        SamplingParams(n=8),
        _obtain(PrefixStableBackend(), tmp_path / "b"),
        Grading(),
        budget=0.5,
        extends=True,
    )
    assert half.kept == [4, 4, 2, 4] and sum(half.spent) == 14


def test_an_item_no_more_open_than_the_threshold_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # right's P(open) after its first 2 is exactly the threshold: it stops (growth needs more)
    prior = BetaPrior.fit([2, 0, 1, 0], 2)
    monkeypatch.setattr(adaptive, "OPEN_ABOVE", chance_open(prior, [1.0, 1.0], 8))
    _, budget = adaptive_rollouts(
        _items(),
        SamplingParams(n=8),
        _obtain(PrefixStableBackend(), tmp_path),
        Grading(),
        budget=1.0,
        extends=True,
    )
    assert budget.kept == [2, 2, 2, 2]  # wrong and late are less open still


def test_every_stage_is_graded_with_the_grading_given(tmp_path: Path) -> None:
    # gold "3.0" with no verifier of its own: the numeric default passes "3", exact would not
    items = [dataclasses.replace(it, answer="3.0", verifier=None) for it in _items()]
    _, budget = adaptive_rollouts(
        items,
        SamplingParams(n=8),
        _obtain(PrefixStableBackend(), tmp_path),
        Grading(default_verifier="numeric"),
        budget=1.0,
        extends=True,
    )
    assert budget.prior == BetaPrior.fit([2, 0, 1, 0], 2)
    assert budget.kept == [8, 8, 2, 4]  # late passes its 3rd and 4th: it disagrees at 4


def test_a_group_the_stage_cannot_grow_costs_nothing_more(tmp_path: Path) -> None:
    # a stage that answers with the rollouts the item already has (replayed: they are all
    # there is) spends nothing, and the item keeps them
    calls = []

    def obtain(items, params, prefixes=None):  # type: ignore[no-untyped-def]
        calls.append(params.n)
        if prefixes is not None:
            return [list(p) for p in prefixes]
        return [[Rollout("3"), Rollout("3")] for _ in items]

    _, budget = adaptive_rollouts(_items(), SamplingParams(n=8), obtain, Grading(), extends=True)
    assert calls == [2, 4]  # nothing came back bigger, so nothing is open for the stage of 8
    assert budget.kept == [2, 2, 2, 2] and budget.spent == [2, 2, 2, 2]


def test_a_backend_that_is_not_prefix_stable_pays_each_stage_in_full(tmp_path: Path) -> None:
    backend = ScriptedBackend()  # no prefix_stable: every stage samples its whole group
    _, budget = adaptive_rollouts(
        _items(), SamplingParams(n=8), _obtain(backend, tmp_path), Grading(), budget=1.0
    )
    # 32 - 8 = 24 left; stage 4 costs 4 per item (12 for 3), stage 8 costs 8: only right fits
    assert budget.kept == [8, 4, 2, 4]
    assert budget.spent == [2 + 4 + 8, 2 + 4, 2, 2 + 4]
    assert ("right 1+2=", 4) in backend.sampled and ("right 1+2=", 8) in backend.sampled


def test_adaptive_and_fixed_k_share_the_full_group_rows_of_the_cache(tmp_path: Path) -> None:
    params = SamplingParams(n=8, seed=0)
    grading = Grading(default_verifier="exact")
    first = PrefixStableBackend()
    adaptive_rollouts(_items(), params, _obtain(first, tmp_path), grading, budget=1.0, extends=True)
    fixed = ScriptedBackend()
    rows = _obtain(fixed, tmp_path)(_items(), params)
    # the grown items' groups of 8 (extended from 4) are the fixed-k rows: only the others
    assert fixed.sampled == [("mixed 1+2=", 8), ("late 1+2=", 8)]
    assert [r.completion for r in rows[0]] == ["3"] * 8
    assert [r.completion for r in rows[1]] == ["9"] * 8
    again = PrefixStableBackend()
    adaptive_rollouts(_items(), params, _obtain(again, tmp_path), grading, budget=1.0, extends=True)
    assert again.sampled == []  # every stage comes from the cache


def test_adaptive_with_a_group_of_two_or_less_is_fixed_k(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    _, budget = adaptive_rollouts(
        _items(), SamplingParams(n=2), _obtain(backend, tmp_path), Grading()
    )
    assert budget.kept == [2, 2, 2, 2] and budget.spent == [2, 2, 2, 2]
    assert len(backend.sampled) == 4
    assert budget.prior is None  # nothing to grow, nothing to fit
    assert budget.group(0, [1.0, 1.0], []).unseen is None


def _advantages(rewards: list[float]) -> list[float]:
    mean = sum(rewards) / len(rewards)
    std = (sum((r - mean) ** 2 for r in rewards) / (len(rewards) - 1)) ** 0.5
    return [(r - mean) / (std + 1e-4) for r in rewards]


def test_the_features_of_a_stopped_group_are_expectations_by_hand() -> None:
    # group A stopped at 2 of 4 (both right); under Beta(1, 1) its other 2 pass 0, 1, 2 times
    # with chances 0.1, 0.3, 0.6; group B has its 4 (1 right)
    a = Group(
        [1.0, 1.0],
        [Rollout("3", logprobs=[-1.0], n_tokens=1)] * 2,
        weight=2,
        unseen=BetaPrior(1.0, 1.0).unseen(2, 2, 2),
    )
    b = Group([1.0, 0.0, 0.0, 0.0], [Rollout("33", logprobs=[-2.0], n_tokens=1)] * 4)
    f = compute_cohort_features([a, b], target_similarity=None)
    assert f["n_groups"] == 2
    assert f["frac_all_correct"] == pytest.approx((0.6 + 0) / 2)
    assert f["frac_all_wrong"] == 0.0
    assert f["frac_nondegenerate"] == pytest.approx((0.4 + 1) / 2)
    expected_pass_a = 0.1 * 2 / 4 + 0.3 * 3 / 4 + 0.6 * 4 / 4  # 0.875
    assert f["group_passrate_mean"] == pytest.approx((expected_pass_a + 0.25) / 2)  # 0.5625
    square = (0.1 * 0.25 + 0.3 * 0.5625 + 0.6 * 1.0 + 0.0625) / 2
    assert f["group_passrate_std"] == pytest.approx((square - 0.5625**2) ** 0.5)  # 0.33424
    # pooled over 4 + 4 rollouts, A's possible completions weighted by their chances
    assert f["pass_rate"] == pytest.approx((4 * expected_pass_a + 1) / 8)
    assert f["reward_mean"] == pytest.approx(0.5625)
    assert f["reward_std"] == pytest.approx((0.5625 - 0.5625**2) ** 0.5)  # binary rewards
    completions = [([1.0, 1.0, 0.0, 0.0], 0.1), ([1.0, 1.0, 1.0, 0.0], 0.3)]
    completions += [([1.0] * 4, 0.6), ([1.0, 0.0, 0.0, 0.0], 1.0)]
    absolute = sum(c * sum(abs(x) for x in _advantages(r)) for r, c in completions)
    squares = sum(c * sum(x * x for x in _advantages(r)) for r, c in completions)
    assert f["adv_absmean"] == pytest.approx(absolute / 8)  # 0.53070
    assert f["adv_std"] == pytest.approx((squares / 8) ** 0.5)  # every mean advantage is 0
    # length and logprobs: A's 2 rollouts weigh 2 each, as many as B's 4
    assert f["len_mean"] == pytest.approx((4 * 1 + 4 * 2) / 8)
    assert f["mean_logprob"] == pytest.approx((4 * -1.0 + 4 * -2.0) / 8)
    assert f["logprob_p50"] == pytest.approx(-1.5)
    # the order of the groups does not matter (a full group before a stopped one)
    again = compute_cohort_features([b, a], target_similarity=None)
    for name in ("frac_all_correct", "frac_nondegenerate", "pass_rate", "adv_std", "len_mean"):
        assert again[name] == pytest.approx(f[name])


def test_stopped_groups_with_partial_credit_a_failing_side_and_an_empty_group() -> None:
    # A: stopped at 2 of 4 on 0.7 and 0.5 (both pass); chances (0.1, 0.1, 0.3) are renormalised
    # to (0.2, 0.2, 0.6). B: stopped at 2 of 4, both failed, chances (0.5, 0.5). C: no grade.
    a = Group([0.7, 0.5], [], unseen=Unseen((0.1, 0.1, 0.3)))
    b = Group([0.0, 0.0], [], unseen=Unseen((0.5, 0.5, 0.0)))
    c = Group([], [Rollout("x")])
    f = compute_cohort_features([c, a, b], target_similarity=None)
    assert f["n_groups"] == 2
    # A's completions pass 2, 3, 4 of 4 with 0.2, 0.2, 0.6 (0.85 expected); B's 0 or 1 of 4
    assert f["group_passrate_mean"] == pytest.approx((0.85 + 0.125) / 2)
    assert f["frac_all_wrong"] == pytest.approx(0.5 / 2)  # B fails all 4 with chance 0.5
    assert f["frac_all_correct"] == 0.0  # 0.7 and 0.5 are passes but not rewards of 1
    assert f["frac_nondegenerate"] == pytest.approx((1 + 0.5) / 2)
    # pooled rewards: A's values 0.7, 0.5 and j ones; B's 0s and j ones; 8 values in all
    total = (1.2 + 0.2 * 0 + 0.2 * 1 + 0.6 * 2) + (0.5 * 0 + 0.5 * 1)
    assert f["reward_mean"] == pytest.approx(total / 8)
    assert f["pass_rate"] == pytest.approx((0.85 * 4 + 0.125 * 4) / 8)


def test_a_fractional_weight_and_fixed_groups_unchanged() -> None:
    # a group that stopped at 3 of 8 weighs 8/3 per rollout: lengths 1 (x3, weight 8/3) and
    # 2 (x8): weighted mean (8 * 1 + 8 * 2) / 16
    a = Group([0.0] * 3, [Rollout("3", n_tokens=1)] * 3, weight=8 / 3)
    b = Group([1.0] * 8, [Rollout("33", n_tokens=1)] * 8)
    f = compute_cohort_features([a, b], target_similarity=None)
    assert f["len_mean"] == pytest.approx(1.5)
    assert f["len_std"] == pytest.approx(0.5)
    # without ``unseen`` the rewards count as sampled: 3 failures and 8 passes
    assert f["pass_rate"] == pytest.approx(8 / 11)
    assert f["frac_all_wrong"] == 0.5
    plain = compute_cohort_features([Group([0.0] * 3, a.rollouts), b], target_similarity=None)
    assert plain["pass_rate"] == f["pass_rate"]
    assert plain["len_mean"] == pytest.approx((3 * 1 + 8 * 2) / 11)
    # weights 2 and 4, none of them 1: lengths 1 (x2, weight 2) and 2 (x1, weight 4)
    two = Group([1.0], [Rollout("3")] * 2, weight=2)
    four = Group([1.0], [Rollout("33")], weight=4)
    assert compute_cohort_features([two, four])["len_mean"] == pytest.approx((4 + 8) / 8)


def test_the_budget_builds_the_stopped_groups() -> None:
    budget = AdaptiveBudget(first=2, full=8, prior=BetaPrior(1.0, 1.0), kept=[2, 8, 4])
    rollouts = [Rollout("3")] * 2
    stopped = budget.group(0, [1.0, 1.0], rollouts)
    assert stopped.weight == 4 and stopped.unseen is not None
    # Beta(3, 1) after 2 passes: all 6 more pass with chance (3/4)(4/5)...(8/9) = 3/9
    assert stopped.unseen.count == 6 and stopped.unseen.chances[-1] == pytest.approx(1 / 3)
    grown = budget.group(1, [1.0] * 8, [Rollout("3")] * 8)
    assert grown.weight == 1 and grown.unseen is None
    half = budget.group(2, [0.0, 1.0, 0.0], [Rollout("3")] * 4)  # one of 4 ungraded
    assert half.weight == 2
    assert half.unseen is not None and half.unseen.count == 4
    # Beta(2, 3) after 1 pass of 3 graded: all 4 more fail with (3/5)(4/6)(5/7)(6/8) = 3/14
    assert half.unseen.chances[0] == pytest.approx(3 / 14)
    assert budget.group(0, [1.0], [Rollout("3")]).unseen is None  # not the group it kept
    plain = budget.group(1, [1.0] * 8, rollouts * 4)
    assert plain.rewards == [1.0] * 8 and plain.rollouts == rollouts * 4
    assert stopped.rewards == [1.0, 1.0] and stopped.rollouts == rollouts
    # a reward of 0.5 passes: Beta(3, 1) as after 2 passes
    assert budget.group(0, [0.5, 0.5], rollouts).unseen == stopped.unseen
    # a group stopped at 1 (a first stage of 1) stands for its 8; an unreadable item (0) not
    single = AdaptiveBudget(first=1, full=8, prior=BetaPrior(1.0, 1.0), kept=[1, 0])
    one = single.group(0, [0.0], [Rollout("9")])
    assert one.weight == 8 and one.unseen is not None and one.unseen.count == 7
    assert single.group(1, [], []).unseen is None and single.group(1, [], []).weight == 1


def _data(tmp_path: Path) -> Path:
    lines = (ROOT / "examples" / "vendor.jsonl").read_text(encoding="utf-8").splitlines()[:8]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_check_adaptive_k_records_the_budget_per_cohort(tmp_path: Path) -> None:
    data = _data(tmp_path)
    args = ["check", str(data), "--format", "json", "--exit-zero", "--cache-dir", str(tmp_path)]
    adaptive = CliRunner().invoke(cli, [*args, "--adaptive-k"], catch_exceptions=False)
    assert adaptive.exit_code == 0, adaptive.output
    cohorts = json.loads(adaptive.stdout)["cohorts"]
    assert len(cohorts) == 2
    spent = 0
    for cohort in cohorts:
        sampling = cohort["sampling"]
        kept = sampling["rollouts_per_item"]
        assert len(kept) == 4 and set(kept) <= {2, 4, 8}
        assert [d["n_rollouts"] for d in cohort["items"]] == kept
        assert sampling["items_grown"] == sum(1 for k in kept if k == 8)
        # transformers is prefix-stable: a grown item's stages extend its group
        assert sampling["rollouts_spent"] == sum(kept)
        spent += sampling["rollouts_spent"]
        assert "2 -> 4 -> 8" in sampling["rule"] and "within 0.5 of fixed k" in sampling["rule"]
        assert all(v is None or 0 <= v <= 1 for k, v in cohort["features"].items() if "frac" in k)
    assert 8 * 2 <= spent <= 0.5 * 8 * 8
    fixed = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert "sampling" not in json.loads(fixed.stdout)["cohorts"][0]


def test_rollout_command_adaptive_k_as_a_subprocess(tmp_path: Path) -> None:
    data = _data(tmp_path)
    out = tmp_path / "rollouts.jsonl"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "datalint", "rollout", str(data), "-o", str(out)),
            *("--adaptive-k", "--adaptive-budget", "0.75", "--cache-dir", str(tmp_path / "c")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "adaptive k:" in proc.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["params"]["adaptive"].startswith("adaptive: 2 -> 4 -> 8")
    assert "within 0.75 of fixed k" in header["params"]["adaptive"]
    sizes = [len(json.loads(line)["rollouts"]) for line in lines[1:]]
    assert len(sizes) == 8 and set(sizes) <= {2, 4, 8} and sum(sizes) <= 0.75 * 8 * 8


def test_a_first_stage_of_three_stops_the_late_item_early(tmp_path: Path) -> None:
    backend = PrefixStableBackend()
    rollouts, budget = adaptive_rollouts(
        _items(),
        SamplingParams(n=8),
        _obtain(backend, tmp_path),
        Grading(),
        first=3,
        budget=1.0,
        extends=True,
    )
    # late's 3rd rollout is right: its first 3 disagree, so it stops as mixed does; right and
    # wrong grow 3 -> 6 -> 8
    assert budget.kept == [8, 8, 3, 3]
    assert budget.spent == [8, 8, 3, 3]
    assert budget.prior == BetaPrior.fit([3, 0, 2, 1], 3)
    assert [r.completion for r in rollouts[3]] == ["9", "9", "3"]
    group = budget.group(3, [0.0, 0.0, 1.0], rollouts[3])
    assert group.weight == pytest.approx(8 / 3) and group.unseen is not None
    assert group.unseen.count == 5


def test_check_refuses_an_adaptive_first_stage_of_zero(tmp_path: Path) -> None:
    data = _data(tmp_path)
    result = CliRunner().invoke(cli, ["check", str(data), "--adaptive-k", "--adaptive-first", "0"])
    assert result.exit_code == 2
    assert "--adaptive-first" in result.stderr


@pytest.mark.parametrize("share", ["0", "1.5", "nan"])
def test_check_refuses_an_adaptive_budget_outside_0_1(tmp_path: Path, share: str) -> None:
    data = _data(tmp_path)
    result = CliRunner().invoke(
        cli, ["check", str(data), "--adaptive-k", "--adaptive-budget", share]
    )
    assert result.exit_code == 2
    assert "--adaptive-budget" in result.stderr


@pytest.mark.parametrize("share", ["0", "1.01", "-0.5"])
def test_config_refuses_an_adaptive_budget_outside_0_1(tmp_path: Path, share: str) -> None:
    data = _data(tmp_path)
    config = tmp_path / "datalint.toml"
    config.write_text(f"adaptive-k = true\nadaptive-budget = {share}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(data), "--config", str(config)])
    assert result.exit_code == 2
    assert "adaptive-budget" in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_transformers_backend_extends_a_group_to_the_fixed_k_group(tmp_path: Path) -> None:
    """Rollouts 2..7 generated on top of 2 are the rollouts a group of 8 has from scratch."""
    items = [
        Item(source=Source("d.jsonl", i + 1), prompt=p, answer="0", verifier="exact")
        for i, p in enumerate(["12+7=", "s4821=", "93-58=", "7*8="])
    ]

    def obtain(params, cache, prefixes=None):  # type: ignore[no-untyped-def]
        return obtain_rollouts(
            items,
            backend_name="transformers",
            model=None,
            params=params,
            rollouts_file=None,
            cache_dir=str(tmp_path / cache),
            use_cache=True,
            progress=False,
            prefixes=prefixes,
        )

    fixed = obtain(SamplingParams(n=8, max_new_tokens=8), "fixed")
    two = obtain(SamplingParams(n=2, max_new_tokens=8), "adaptive")
    four = obtain(SamplingParams(n=4, max_new_tokens=8), "adaptive", two)
    eight = obtain(SamplingParams(n=8, max_new_tokens=8), "adaptive", four)
    for whole, grown, start in zip(fixed, eight, two, strict=True):
        assert all(map(operator.is_, grown[:2], start))  # the very rollouts it had, then the rest
        assert [r.completion for r in grown] == [r.completion for r in whole]
        for a, b in zip(grown, whole, strict=True):
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)


def test_adaptive_k_with_fed_gradient_signals_warns_of_the_measured_ranking_loss(
    tmp_path: Path,
) -> None:
    data = _data(tmp_path)
    probe = ROOT / "examples" / "probe.jsonl"
    args = ["check", str(data), "--format", "json", "--exit-zero", "--cache-dir", str(tmp_path)]
    signals = CliRunner().invoke(
        cli, [*args, "--probe", str(probe), "--adaptive-k"], catch_exceptions=False
    )
    assert signals.exit_code == 0, signals.output
    assert "--adaptive-k takes them on fewer rollouts" in signals.stderr
    assert "0.740 to 0.645" in signals.stderr
    # no signals fed (none asked for, or fixed k): no such note
    for extra in (["--adaptive-k", "--no-gradient-signals"], []):
        quiet = CliRunner().invoke(
            cli, [*args, "--probe", str(probe), *extra], catch_exceptions=False
        )
        assert quiet.exit_code == 0 and "--adaptive-k takes" not in quiet.stderr
