"""datalint loop: draws, picks, predictor, store and report as units; then a tiny real loop
(2 rounds, 2 candidates, 1 seed, 2 GRPO steps) end to end through CliRunner and as a
subprocess killed mid-way with SIGKILL and resumed."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.loop.draws import argmax, candidate_draws, pairwise_accuracy, random_pick
from datalint.loop.report import bootstrap_interval, summarise
from datalint.loop.store import LoopStore, RoundRow

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "pretrained" / "tiny-policy"
needs_calibrate = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "trl", "xgboost")),
    reason="needs the 'calibrate' extra",
)


# units ------------------------------------------------------------------------------------------
def test_draws_never_repeat_a_cohort_and_do_not_depend_on_rounds():
    draws = candidate_draws(10, loop_seed=3, rounds=5, candidates=2)
    flat = [i for d in draws for i in d]
    assert len(flat) == len(set(flat)) == 10 and sorted(flat) == list(range(10))
    assert candidate_draws(10, 3, 2, 2) == draws[:2]  # more rounds extend, never reshuffle
    assert candidate_draws(10, 3, 5, 2) == draws  # a function of the seed alone
    assert candidate_draws(10, 4, 5, 2) != draws
    with pytest.raises(ValueError, match="need 12 cohorts"):
        candidate_draws(10, 0, 3, 4)


def test_random_pick_is_reproducible_by_seed():
    picks = [random_pick(7, r, 4) for r in range(50)]
    assert picks == [random_pick(7, r, 4) for r in range(50)]
    assert set(picks) == {0, 1, 2, 3}  # uses every candidate
    assert picks != [random_pick(8, r, 4) for r in range(50)]


def test_argmax_skips_nan_and_breaks_ties_early():
    assert argmax([0.1, math.nan, 0.3, 0.3]) == 2
    assert argmax([math.nan, math.nan]) == 0


def test_pairwise_accuracy_by_hand():
    # pairs (0,1) right, (0,2) wrong, (1,2) wrong -> 1/3
    assert pairwise_accuracy([3.0, 2.0, 1.0], [0.5, 0.1, 0.9]) == pytest.approx(1 / 3)
    assert pairwise_accuracy([1.0, 1.0], [0.0, 1.0]) == 0.5  # a tied score counts half
    assert pairwise_accuracy([1.0, 2.0], [0.2, 0.2]) is None  # nothing to judge


def test_bootstrap_interval_brackets_the_mean():
    lo, hi = bootstrap_interval([1.0, 2.0, 3.0, 4.0])
    assert 1.0 <= lo < 2.5 < hi <= 4.0
    assert bootstrap_interval([2.0]) == [2.0, 2.0]


def _rows(nll: dict[tuple[int, str], list[float]]) -> list[RoundRow]:
    rows = []
    for (seed, arm), curve in nll.items():
        before = 1.0
        for r, after in enumerate(curve):
            n_trained = 2 if arm == "oracle" else 1
            secs = {
                "scoring": 1.0,
                "training": 4.0,
                "probe": 0.0,
                "save": 0.0,
                "n_trained": n_trained,
            }
            rank = {"predicted": 1.0, "prior": 0.0} if arm == "oracle" else None
            entry = {
                "predictor_version": "refit@1" if r else "prior:x",
                "seconds": secs,
                "rank_accuracy": rank,
            }
            rows.append(RoundRow(seed, arm, r, f"ck{r}", before, after, entry))
            before = after
    return rows


def test_summary_advantage_is_random_minus_learned_at_the_last_round():
    nll = {
        (0, "learned"): [0.9, 0.8], (0, "random"): [1.0, 1.0],
        (1, "learned"): [0.9, 0.7], (1, "random"): [0.95, 0.9],
        (2, "learned"): [0.9, 0.9], (2, "random"): [0.9, 0.8],  # learned loses this seed
    }  # fmt: skip
    opts = SimpleNamespace(arms=("learned", "random"), rounds=2, seeds=3, candidates=2)
    s = summarise(_rows(nll), opts, base_nll=1.0)
    (cmp,) = s["comparisons"]
    assert (cmp["arm"], cmp["versus"]) == ("learned", "random")
    assert cmp["advantage_mean"] == pytest.approx((0.2 + 0.2 - 0.1) / 3)
    assert cmp["wins"] == 2 and cmp["n_seeds"] == 3
    assert cmp["excludes_zero"] is None  # 3 seeds: too few for a bootstrap interval
    assert s["arms"]["learned"]["by_round"][0]["mean"] == 1.0  # round 0 is the base policy
    assert s["arms"]["random"]["final_nll_mean"] == pytest.approx(0.9)
    assert s["learned_refit_engaged_at_round"] == 1
    assert s["cost"]["learned"]["scoring_over_training_k"] == pytest.approx(1.0 / (2 * 4.0))


def test_interval_verdict_needs_five_seeds():
    nll = {}
    for seed in range(5):
        nll[(seed, "learned")] = [0.9, 0.8 - 0.01 * seed]
        nll[(seed, "random")] = [0.9, 0.9]
    opts = SimpleNamespace(arms=("learned", "random"), rounds=2, seeds=5, candidates=2)
    (cmp,) = summarise(_rows(nll), opts, base_nll=1.0)["comparisons"]
    assert cmp["excludes_zero"] is True and cmp["ci95"][0] > 0
    nll[(4, "learned")] = [0.9, 1.5]  # one seed far the other way: the interval spans 0
    (cmp,) = summarise(_rows(nll), opts, base_nll=1.0)["comparisons"]
    assert cmp["excludes_zero"] is False and cmp["ci95"][0] < 0 < cmp["ci95"][1]


def test_summary_counts_only_seeds_every_arm_finished():
    nll = {(0, "learned"): [0.9, 0.8], (0, "random"): [1.0, 1.0], (1, "learned"): [0.9],
           (1, "random"): [0.9, 0.9]}  # fmt: skip
    opts = SimpleNamespace(arms=("learned", "random"), rounds=2, seeds=2, candidates=2)
    s = summarise(_rows(nll), opts, base_nll=1.0)
    assert s["seeds_complete"] == [0]


def test_loop_store_commits_a_round_once(tmp_path):
    row = RoundRow(0, "learned", 0, "ck", 1.0, 0.9, {"x": 1})
    with LoopStore(tmp_path / "s.sqlite") as store:
        assert store.commit_round("h", row, [])
        assert not store.commit_round("h", row, [])
        assert [r.entry for r in store.rounds("h")] == [{"x": 1}]
        assert store.rounds("other") == []


# the real loop ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    from datalint.world import cohort_records, draw_problem, make_cohorts, problem_record

    tmp = tmp_path_factory.mktemp("loop")
    if (SHIPPED / "config.json").is_file():
        model = SHIPPED
    else:
        from tests.tiny_hf_model import build_tiny_model

        model = build_tiny_model(tmp / "model")
    pool = tmp / "pool.jsonl"
    with pool.open("w") as fh:
        for cohort in make_cohorts(5, ["add", "mul"], seed=3, size=2, scrambled_share=0.0):
            for record in cohort_records(cohort):
                fh.write(json.dumps(record) + "\n")
    import random

    rng = random.Random(1)
    probe = tmp / "probe.jsonl"
    with probe.open("w") as fh:
        for i, subject in enumerate(["add", "sub", "mul"]):
            fh.write(json.dumps(problem_record(draw_problem(rng, subject, 1), f"p{i}")) + "\n")
    return {"tmp": tmp, "model": model, "pool": pool, "probe": probe}


def _args(tiny: dict[str, Path], store: Path, seeds: int = 1) -> list[str]:
    return [
        "loop", str(tiny["pool"]), "--probe", str(tiny["probe"]), "--store", str(store),
        "--model", str(tiny["model"]), "--rounds", "2", "--candidates", "2",
        "--seeds", str(seeds), "--steps", "2", "--workers", "1", "--max-new-tokens", "8",
        "--min-labels", "2",
        "--cache-dir", str(tiny["tmp"] / "cache"), "--out", str(store.parent / "out"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def ran(tiny) -> dict:
    store = tiny["tmp"] / "run1" / "store.sqlite"
    store.parent.mkdir()
    result = CliRunner().invoke(cli, _args(tiny, store), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    log = json.loads((store.parent / "out" / "loop-log.json").read_text())
    return {"store": store, "result": result, "log": log, "out": store.parent / "out"}


@needs_calibrate
def test_loop_end_to_end(ran):
    assert "8 new rounds, 0 already stored, 8 in all" in ran["result"].stdout
    assert "learned vs random: advantage" in ran["result"].stdout
    entries = ran["log"]["rounds"]
    assert sorted((e["arm"], e["round"]) for e in entries) == sorted(
        (a, r) for a in ("learned", "random", "p1p", "oracle") for r in (0, 1)
    )
    for e in entries:
        assert len(e["candidates"]) == 2
        assert e["realised_lift"] == pytest.approx(e["nll_before"] - e["nll_after"])
        assert e["seconds"]["scoring"] > 0 and e["seconds"]["training"] > 0
        assert e["seconds"]["n_trained"] == (2 if e["arm"] == "oracle" else 1)
        # --min-labels 2: only the oracle (2 labels a round) tries a refit by round 1, and its
        # 2 labels come from one round, so there is none to hold out: the prior scores it
        assert e["predictor_version"] == "prior:lift-predictor.onnx"
        tried = e["arm"] == "oracle" and e["round"] == 1
        assert (e["predictor_gate"] is not None) == tried
        if tried:
            assert e["predictor_reason"].startswith("under 2 rounds of labels")
        assert Path(e["checkpoint"], "model.safetensors").is_file()
        if e["round"] == 1:  # weights persist: round 1 starts where the arm's round 0 ended
            first = next(f for f in entries if f["arm"] == e["arm"] and f["round"] == 0)
            assert e["start_checkpoint"] == first["checkpoint"]
            assert e["nll_before"] == first["nll_after"]
    summary = json.loads((ran["out"] / "loop-summary.json").read_text())
    assert summary["n_seeds_complete"] == 1
    assert (ran["out"] / "loop-nll.png").stat().st_size > 0
    assert (ran["out"] / "loop-rank-accuracy.png").stat().st_size > 0


@needs_calibrate
def test_arms_see_identical_draws_and_random_follows_its_seed(ran):
    from datalint.calibrate.run import load_items
    from datalint.cohorts import make_cohorts

    entries = ran["log"]["rounds"]
    n_pool = 5
    draws = candidate_draws(n_pool, 0, 2, 2)
    ids = [c.id for c in make_cohorts(load_items([str(ran["store"].parent.parent / "pool.jsonl")]))]
    for e in entries:
        assert [c["pool_index"] for c in e["candidates"]] == draws[e["round"]]
        assert [c["cohort_id"] for c in e["candidates"]] == [ids[i] for i in draws[e["round"]]]
        if e["arm"] == "random":
            assert e["chosen"] == random_pick(0, e["round"], 2)
        if e["arm"] == "p1p":
            assert e["chosen"] == argmax([c["mean_p1p"] for c in e["candidates"]])
        if e["arm"] == "learned":
            assert e["chosen"] == argmax([c["predicted"] for c in e["candidates"]])
    # round 0: same base weights and draws, so every arm measured the same features
    scores0 = {tuple(c["mean_p1p"] for c in e["candidates"]) for e in entries if e["round"] == 0}
    assert len(scores0) == 1


@needs_calibrate
def test_oracle_trains_every_candidate_and_keeps_the_best(ran):
    for e in ran["log"]["rounds"]:
        if e["arm"] != "oracle":
            continue
        lifts = [c["realised_lift"] for c in e["candidates"]]
        assert None not in lifts
        assert e["chosen"] == max(range(len(lifts)), key=lambda i: (lifts[i], -i))
        assert e["realised_lift"] == pytest.approx(max(lifts))
        assert e["rank_accuracy"] is not None


@needs_calibrate
def test_online_records_are_tagged_and_kept_out_of_base_fits(ran, tmp_path):
    db = sqlite3.connect(ran["store"])
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0  # calibrate's table
    rows = db.execute(
        "SELECT arm, round, chosen, settings, model_fingerprint, lift, nll_before, nll_after "
        "FROM online_runs"
    ).fetchall()
    assert len(rows) == 2 * (1 + 1 + 1 + 2)  # 2 rounds: one run per arm, two for the oracle
    from datalint.rollout.fingerprint import fingerprint_model

    entries = {(e["arm"], e["round"]): e for e in ran["log"]["rounds"]}
    for arm, rnd, _chosen, settings, fingerprint, lift, before, after in rows:
        assert json.loads(settings)["online"] is True
        assert lift == pytest.approx(before - after)
        # the round's starting weights, not the base model's, after round 0
        assert fingerprint == entries[(arm, rnd)]["start_fingerprint"]
        assert fingerprint == fingerprint_model(entries[(arm, rnd)]["start_checkpoint"])
    assert sum(r[2] for r in rows) == 8  # one kept run per arm and round

    base = CliRunner().invoke(cli, ["fit", str(ran["store"]), "-o", str(tmp_path / "p.onnx")])
    assert base.exit_code == 2 and "holds no runs" in base.stderr  # not mixed in by default
    asked = CliRunner().invoke(
        cli, ["fit", str(ran["store"]), "-o", str(tmp_path / "p.onnx"), "--include-online"]
    )
    assert asked.exit_code == 0, asked.output
    card = json.loads((tmp_path / "p.json").read_text())
    assert card["n_cohorts"] >= 1


@needs_calibrate
def test_rerun_resumes_with_nothing_to_do(ran, tiny):
    again = CliRunner().invoke(cli, _args(tiny, ran["store"]), catch_exceptions=False)
    assert again.exit_code == 0 and "0 new rounds, 8 already stored" in again.stdout
    db = sqlite3.connect(ran["store"])
    assert db.execute("SELECT COUNT(*) FROM loop_rounds").fetchone()[0] == 8


def _count(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        return (
            sqlite3.connect(store, timeout=5)
            .execute("SELECT COUNT(*) FROM loop_rounds")
            .fetchone()[0]
        )
    except sqlite3.OperationalError:
        return 0


@needs_calibrate
def test_sigkill_mid_run_then_resume_loses_nothing_and_counts_nothing_twice(ran, tiny):
    store = tiny["tmp"] / "run2" / "store.sqlite"
    store.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "datalint", *_args(tiny, store)]
    proc = subprocess.Popen(
        cmd, cwd=tiny["tmp"], env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while _count(store) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    at_kill = _count(store)
    assert 3 <= at_kill < 8, "the kill must land mid-run"
    before = {
        r[:4]: r[4]
        for r in sqlite3.connect(store).execute(
            "SELECT loop_seed, arm, round, nll_after, created_at FROM loop_rounds"
        )
    }

    done = subprocess.run(cmd, cwd=tiny["tmp"], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{8 - at_kill} new rounds, {at_kill} already stored, 8 in all" in done.stdout
    db = sqlite3.connect(store)
    rows = db.execute("SELECT loop_seed, arm, round, nll_after, created_at FROM loop_rounds")
    after = {r[:4]: r[4] for r in rows}
    assert len(after) == 8
    assert all(after[k] == v for k, v in before.items())  # committed rounds were not redone
    n_runs = db.execute("SELECT COUNT(*) FROM online_runs").fetchone()[0]
    assert n_runs == 10
    # the killed-and-resumed loop ends exactly where the uninterrupted one did
    straight = {(e["seed"], e["arm"], e["round"]): e["nll_after"] for e in ran["log"]["rounds"]}
    assert {k[:3]: k[3] for k in after} == pytest.approx(straight)


def test_bad_settings_are_one_line_errors(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(
            json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1), "cohort": f"c{i}"}) + "\n"
            for i in range(3)
        )
    )
    base = ["loop", str(pool), "--probe", str(pool), "--store", str(tmp_path / "s.sqlite")]
    if importlib.util.find_spec("trl") is not None:
        small = CliRunner().invoke(cli, [*base, "--rounds", "2", "--candidates", "2"])
        assert small.exit_code == 2 and "pool holds 3" in small.stderr
        assert "Traceback" not in small.stderr
        arm = CliRunner().invoke(cli, [*base, "--arms", "learned,best"])
        assert arm.exit_code == 2 and "unknown arm(s) best" in arm.stderr
        prior = CliRunner().invoke(cli, [*base, "--prior", str(tmp_path / "none.onnx")])
        assert prior.exit_code == 2 and "none.onnx" in prior.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "1+1=", "answer": "2"}\n{not json\n')
    bad = CliRunner().invoke(cli, ["loop", str(broken), "--probe", str(pool), "--store",
                                   str(tmp_path / "t.sqlite")])  # fmt: skip
    assert bad.exit_code == 2 and "broken.jsonl:2" in bad.stderr


def test_live_table_shows_each_seed_and_arm():
    from rich.console import Console

    from datalint.loop.live import LiveTable
    from datalint.loop.run import Chain

    opts = SimpleNamespace(arms=("learned", "random"), rounds=3, seeds=2)
    chains = {(s, a): Chain(s, a, 0, "base", 0.7) for s in range(2) for a in opts.arms}
    live = LiveTable(opts, chains, 0.7, enabled=False)
    live.update({"seed": 1, "arm": "learned", "round": 0, "nll_after": 0.6512,
                 "predictor_version": "prior:p.onnx"})  # fmt: skip
    console = Console(width=200, record=True)
    console.print(live._table())
    text = console.export_text()
    assert "r1 0.6512" in text and "prior:p.onnx" in text and text.count("r0 0.7000") == 3


def test_tables_script_renders_a_summary():
    sys.path.insert(0, str(REPO / "bench"))
    from loop_tables import tables

    nll = {(0, "learned"): [0.9, 0.8], (0, "random"): [1.0, 1.0], (1, "learned"): [0.9, 0.7],
           (1, "random"): [0.95, 0.9]}  # fmt: skip
    opts = SimpleNamespace(arms=("learned", "random"), rounds=2, seeds=2, candidates=2)
    text = tables(summarise(_rows(nll), opts, base_nll=1.0))
    assert "| learned vs random | +0.2000 |" in text
    assert "| learned | 0.7500 |" in text
    # round 1 of each seed was scored by the refit (the rows' version refit@1)
    assert (
        "The learned arm's refit first scored a round at round 1. The prior scored 2 of its 4 "
        "rounds, the refit 2." in text
    )


def test_combine_script_reuses_arms_only_across_predictor_settings():
    sys.path.insert(0, str(REPO / "bench"))
    from loop_combine import _same_but_predictor

    settings = {"grpo": {"lr": 2e-5}, "candidates": 4, "min_labels": 4, "ridge_alpha": 10.0}
    base = {"pool_hash": "p", "probe_hash": "q", "base_fingerprint": "f", "base_nll": 0.7,
            "prior": "lift-predictor.onnx:h", "settings": settings}  # fmt: skip
    learned = {**base, "settings": {**settings, "ridge_alpha": 400.0, "refit": "r"}}
    assert _same_but_predictor(base, learned) == []
    other_pool = {**learned, "pool_hash": "p2"}
    assert _same_but_predictor(base, other_pool) == ["pool_hash"]
    more_candidates = {**learned, "settings": {**learned["settings"], "candidates": 8}}
    (diff,) = _same_but_predictor(base, more_candidates)
    assert diff.startswith("settings ")


def _rounds(store: Path) -> list[tuple]:
    rows = sqlite3.connect(store).execute(
        "SELECT loop_seed, arm, round, nll_after FROM loop_rounds ORDER BY loop_seed, arm, round"
    )
    return [tuple(r) for r in rows]


@needs_calibrate
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray extra not installed")
def test_loop_on_a_ray_cluster_stores_what_the_process_pool_stores(ran, tiny):
    """--executor ray: a private 2-CPU cluster started and stopped by the loop; every round a
    task, committed by the driver; the same rounds, picks and probe NLLs as the process run."""
    store = tiny["tmp"] / "ray" / "store.sqlite"
    store.parent.mkdir()
    args = _args(tiny, store)
    args[args.index("--workers") + 1] = "2"
    result = CliRunner().invoke(cli, [*args, "--executor", "ray"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "8 new rounds, 0 already stored, 8 in all" in result.stdout
    got, want = _rounds(store), _rounds(ran["store"])
    assert [g[:3] for g in got] == [w[:3] for w in want]
    assert [g[3] for g in got] == pytest.approx([w[3] for w in want], abs=1e-6)
    log = json.loads((store.parent / "out" / "loop-log.json").read_text())
    picks = {(e["arm"], e["round"]): e["chosen"] for e in log["rounds"]}
    assert picks == {(e["arm"], e["round"]): e["chosen"] for e in ran["log"]["rounds"]}
    again = CliRunner().invoke(cli, [*args, "--executor", "ray"], catch_exceptions=False)
    assert "0 new rounds, 8 already stored" in again.stdout  # nothing to run: no cluster


def test_loop_executor_ray_without_the_extra_names_it(tmp_path, monkeypatch):
    import datalint.loop.run as loop_run
    from datalint.extras import MissingExtra
    from datalint.loop.options import LoopOptions

    real = loop_run.importlib.util.find_spec
    monkeypatch.setattr(
        loop_run.importlib.util, "find_spec", lambda m: None if m == "ray" else real(m)
    )
    opts = LoopOptions(pool=[], probe="p", store="s", executor="ray")
    with pytest.raises(MissingExtra, match="ray"):
        loop_run._check_executor(opts)
    loop_run._check_executor(LoopOptions(pool=[], probe="p", store="s"))  # process: fine
