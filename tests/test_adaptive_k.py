"""Adaptive k: 2 rollouts per problem, the full group only where those 2 disagree; the cache rows
it shares with fixed k; the features on unequal groups; ``--adaptive-k`` on check and rollout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.features import Group, compute_cohort_features
from datalint.grade import Grading
from datalint.load.records import Item, Rollout, Source
from datalint.rollout.adaptive import adaptive_rollouts, outcome_open
from datalint.rollout.base import SamplingParams
from datalint.rollout.stage import RolloutStats, obtain_rollouts

ROOT = Path(__file__).resolve().parent.parent


class ScriptedBackend:
    """Rollout j of a prompt is fixed by the prompt's kind (prefix-stable, as transformers is):
    right -> always "3"; wrong -> always "9"; mixed -> "3", "9", "3", ...; late -> "9", "9",
    then "3" (its first two agree, so adaptive k never sees its later successes)."""

    name = "scripted"

    def __init__(self) -> None:
        self.hash_memo = None
        self.sampled: list[tuple[str, int]] = []  # (prompt, n) per generated group

    def fingerprint(self) -> str:
        return "scripted:1"

    def render(self, item: Item) -> str:
        return item.prompt_text

    def generate(self, prompts, params, seeds):  # type: ignore[no-untyped-def]
        out = []
        for prompt in prompts:
            self.sampled.append((prompt, params.n))
            kind = prompt.split()[0]
            answers = [self._answer(kind, j) for j in range(params.n)]
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


def _items() -> list[Item]:
    kinds = ["right", "wrong", "mixed", "late"]
    return [
        Item(source=Source("d.jsonl", i + 1), prompt=f"{k} 1+2=", answer="3", verifier="exact")
        for i, k in enumerate(kinds)
    ]


def _obtain(backend: ScriptedBackend, cache_dir: Path):  # type: ignore[no-untyped-def]
    def obtain(items, params):  # type: ignore[no-untyped-def]
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
        )

    return obtain


def test_outcome_is_open_only_when_the_grades_disagree() -> None:
    assert outcome_open([1.0, 0.0])
    assert not outcome_open([1.0, 1.0])
    assert not outcome_open([0.0, 0.0, 0.2])  # 0.2 fails the 0.5 pass threshold
    assert not outcome_open([])


def test_only_the_items_whose_first_two_disagree_get_the_full_group(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    params = SamplingParams(n=8, seed=0)
    rollouts, budget = adaptive_rollouts(
        _items(), params, _obtain(backend, tmp_path), Grading(default_verifier="exact")
    )
    assert [len(r) for r in rollouts] == [2, 2, 8, 2]
    assert budget.kept == [2, 2, 8, 2]
    assert budget.spent == [2, 2, 10, 2]  # 16 rollouts where fixed k spends 32
    assert [r.completion for r in rollouts[2]] == ["3", "9"] * 4
    assert all(r.reward is None for rs in rollouts for r in rs)  # the reward stage grades them
    assert backend.sampled == [
        ("right 1+2=", 2),
        ("wrong 1+2=", 2),
        ("mixed 1+2=", 2),
        ("late 1+2=", 2),
        ("mixed 1+2=", 8),
    ]
    prov = budget.provenance(range(4))
    assert prov["rollouts_per_item"] == [2, 2, 8, 2]
    assert prov["rollouts_spent"] == 16
    assert prov["items_grown"] == 1


def test_adaptive_and_fixed_k_share_the_full_group_rows_of_the_cache(tmp_path: Path) -> None:
    params = SamplingParams(n=8, seed=0)
    grading = Grading(default_verifier="exact")
    first = ScriptedBackend()
    adaptive_rollouts(_items(), params, _obtain(first, tmp_path), grading)
    fixed = ScriptedBackend()
    _obtain(fixed, tmp_path)(_items(), params)
    # the grown item's group of 8 is the fixed-k row: only the other three are sampled
    assert fixed.sampled == [("right 1+2=", 8), ("wrong 1+2=", 8), ("late 1+2=", 8)]
    again = ScriptedBackend()
    adaptive_rollouts(_items(), params, _obtain(again, tmp_path), grading)
    assert again.sampled == []  # both stages come from the cache


def test_adaptive_with_a_group_of_two_or_less_is_fixed_k(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    _, budget = adaptive_rollouts(
        _items(), SamplingParams(n=2), _obtain(backend, tmp_path), Grading()
    )
    assert budget.kept == [2, 2, 2, 2] and budget.spent == [2, 2, 2, 2]
    assert len(backend.sampled) == 4


def test_the_features_on_unequal_groups_by_hand() -> None:
    # group A stopped at 2 (both right), group B grew to 8 (3 of 8 right)
    a = Group([1.0, 1.0], [Rollout("3", logprobs=[-1.0], n_tokens=1)] * 2)
    b_rewards = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    b = Group(b_rewards, [Rollout("33", logprobs=[-2.0], n_tokens=1)] * 8)
    f = compute_cohort_features([a, b], target_similarity=None)
    assert f["n_groups"] == 2
    assert f["frac_nondegenerate"] == 0.5  # per group, whatever its size
    assert f["frac_all_correct"] == 0.5
    assert f["group_passrate_mean"] == pytest.approx((1.0 + 3 / 8) / 2)
    assert f["pass_rate"] == pytest.approx(5 / 10)  # pooled over the 10 rollouts sampled
    assert f["reward_mean"] == pytest.approx(5 / 10)
    assert f["len_mean"] == pytest.approx((2 * 1 + 8 * 2) / 10)
    assert f["mean_logprob"] == pytest.approx((2 * -1.0 + 8 * -2.0) / 10)
    # as adaptive k weighs them: group A's 2 rollouts stand for 8 (weight 4)
    a.weight = 4
    w = compute_cohort_features([a, b], target_similarity=None)
    assert w["n_groups"] == 2 and w["frac_nondegenerate"] == 0.5
    assert w["group_passrate_mean"] == f["group_passrate_mean"]
    assert w["pass_rate"] == pytest.approx((8 + 3) / 16)
    assert w["len_mean"] == pytest.approx((8 * 1 + 8 * 2) / 16)
    assert w["logprob_p10"] == pytest.approx(-2.0) and w["logprob_p90"] == pytest.approx(-1.0)
    assert w["logprob_p50"] == pytest.approx(-1.5)  # 8 of each: the median is between
    # pooled advantages have mean 0 here: std = sqrt(sum a^2 / N), N from 10 to 16
    assert w["adv_std"] == pytest.approx(f["adv_std"] * (10 / 16) ** 0.5)


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
    for cohort in cohorts:
        sampling = cohort["sampling"]
        kept = sampling["rollouts_per_item"]
        assert len(kept) == 4 and set(kept) <= {2, 8}
        assert [d["n_rollouts"] for d in cohort["items"]] == kept
        grown = sum(1 for k in kept if k == 8)
        assert sampling["items_grown"] == grown
        assert sampling["rollouts_spent"] == 2 * 4 + 8 * grown
        # an item kept at 2 agreed on both; a grown one disagreed on its first 2 at least
        for d, k in zip(cohort["items"], kept, strict=True):
            if k == 2:
                assert d["pass_rate"] in (0.0, 1.0)
    fixed = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert "sampling" not in json.loads(fixed.stdout)["cohorts"][0]


def test_rollout_command_adaptive_k_as_a_subprocess(tmp_path: Path) -> None:
    data = _data(tmp_path)
    out = tmp_path / "rollouts.jsonl"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "datalint", "rollout", str(data), "-o", str(out)),
            *("--adaptive-k", "--cache-dir", str(tmp_path / "cache")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "adaptive k:" in proc.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["params"]["adaptive"].startswith("adaptive: 2 per item")
    sizes = [len(json.loads(line)["rollouts"]) for line in lines[1:]]
    assert len(sizes) == 8 and set(sizes) <= {2, 8}


def test_a_first_stage_of_three_catches_the_late_item(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    rollouts, budget = adaptive_rollouts(
        _items(), SamplingParams(n=8), _obtain(backend, tmp_path), Grading(), first=3
    )
    # late's 3rd rollout is right: its first 3 disagree, so it grows as mixed does
    assert budget.kept == [3, 3, 8, 8]
    assert budget.spent == [3, 3, 11, 11]
    assert [budget.weight(i) for i in range(4)] == [2, 2, 1, 1]  # 8 // 3 for the stopped
    assert [r.completion for r in rollouts[3]] == ["9", "9"] + ["3"] * 6


def test_check_refuses_an_adaptive_first_stage_of_zero(tmp_path: Path) -> None:
    data = _data(tmp_path)
    result = CliRunner().invoke(cli, ["check", str(data), "--adaptive-k", "--adaptive-first", "0"])
    assert result.exit_code == 2
    assert "--adaptive-first" in result.stderr
