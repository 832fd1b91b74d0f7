"""The rollout cache via ``obtain_rollouts``: hits, misses, edits, kills, concurrency, damage."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_backend import FakeBackend, fake_rollouts

from datalint.load.records import Item, Source
from datalint.rollout.base import SamplingParams, item_seed, prompt_hash
from datalint.rollout.cache import CACHE_FILENAME, RolloutCache, default_cache_dir
from datalint.rollout.stage import RolloutStats, obtain_rollouts

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
PARAMS = SamplingParams(n=3, max_new_tokens=8, seed=7)


def make_items(prompts: list[str]) -> list[Item]:
    return [
        Item(source=Source("d.jsonl", i + 1), answer="0", prompt=p) for i, p in enumerate(prompts)
    ]


def run(
    items: list[Item], backend: FakeBackend, cache_dir: Path | None, **kw: object
) -> tuple[list, RolloutStats]:
    stats = RolloutStats()
    out = obtain_rollouts(
        items,
        backend_name="fake",
        model=None,
        params=kw.pop("params", PARAMS),  # type: ignore[arg-type]
        rollouts_file=None,
        cache_dir=str(cache_dir) if cache_dir else None,
        use_cache=bool(kw.pop("use_cache", True)),
        progress=False,
        backend=backend,
        stats=stats,
        trust_inline=bool(kw.pop("trust_inline", False)),
    )
    return out, stats


def test_cold_then_warm_then_one_edit(tmp_path: Path) -> None:
    prompts = [f"{i}+{i}=" for i in range(10)]
    cold = FakeBackend()
    first, stats = run(make_items(prompts), cold, tmp_path)
    assert sorted(cold.sampled_prompts) == sorted(prompts)
    assert (stats.generated, stats.cached) == (10, 0)
    expected = [fake_rollouts(p, item_seed(7, p), 3) for p in prompts]
    assert first == expected

    warm = FakeBackend()
    second, stats = run(make_items(prompts), warm, tmp_path)
    assert warm.calls == []  # an unchanged re-run generates nothing
    assert (stats.generated, stats.cached) == (0, 10)
    assert second == first

    edited = list(prompts)
    edited[4] = "4+5="
    one = FakeBackend()
    third, stats = run(make_items(edited), one, tmp_path)
    assert one.sampled_prompts == ["4+5="]  # only the edited item is regenerated
    assert third[:4] == first[:4] and third[5:] == first[5:]


def test_other_model_or_params_miss(tmp_path: Path) -> None:
    run(make_items(["1+1="]), FakeBackend(), tmp_path)
    other_model = FakeBackend(model_id="other")
    run(make_items(["1+1="]), other_model, tmp_path)
    assert other_model.sampled_prompts == ["1+1="]
    other_params = FakeBackend()
    run(
        make_items(["1+1="]),
        other_params,
        tmp_path,
        params=SamplingParams(n=3, max_new_tokens=9, seed=7),
    )
    assert other_params.sampled_prompts == ["1+1="]


def test_no_cache_writes_and_reads_nothing(tmp_path: Path) -> None:
    run(make_items(["1+1="]), FakeBackend(), tmp_path, use_cache=False)
    assert not (tmp_path / CACHE_FILENAME).exists()


def test_duplicated_prompts_are_sampled_once_but_get_their_own_objects(tmp_path: Path) -> None:
    backend = FakeBackend()
    out, _ = run(make_items(["9+9=", "9+9="]), backend, tmp_path)
    assert backend.sampled_prompts == ["9+9="]
    assert out[0] == out[1]
    assert out[0][0] is not out[1][0]


def test_trusted_inline_rollouts_are_used_and_not_sampled(tmp_path: Path) -> None:
    items = make_items(["1+1=", "2+2="])
    items[0].rollouts = fake_rollouts("inline", 0, 2)
    backend = FakeBackend()
    out, stats = run(items, backend, tmp_path, trust_inline=True)
    assert backend.sampled_prompts == ["2+2="]
    assert out[0] == fake_rollouts("inline", 0, 2)
    assert (stats.replayed, stats.untrusted) == (1, 0)


def test_untrusted_inline_rollouts_are_ignored_and_sampled(tmp_path: Path) -> None:
    items = make_items(["1+1=", "2+2="])
    items[0].rollouts = fake_rollouts("inline", 0, 2)
    backend = FakeBackend()
    out, stats = run(items, backend, tmp_path)
    assert backend.sampled_prompts == ["1+1=", "2+2="]
    assert out[0] != fake_rollouts("inline", 0, 2)
    assert (stats.replayed, stats.untrusted, stats.generated) == (0, 1, 2)


def test_corrupt_cache_file_warns_once_and_is_rebuilt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / CACHE_FILENAME).write_bytes(b"this is not a sqlite database at all" * 100)
    backend = FakeBackend()
    _, stats = run(make_items(["1+1="]), backend, tmp_path)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unreadable" in err and "Traceback" not in err
    assert stats.generated == 1
    assert list(tmp_path.glob(f"{CACHE_FILENAME}.corrupt-*"))
    warm = FakeBackend()
    run(make_items(["1+1="]), warm, tmp_path)
    assert warm.calls == []


def test_unusable_cache_dir_warns_and_runs_uncached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out, stats = run(make_items(["1+1="]), FakeBackend(), blocker / "sub")
    assert stats.generated == 1 and len(out) == 1
    assert "rollout cache unavailable" in capsys.readouterr().err


def test_default_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATALINT_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("DATALINT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / "xdg" / "datalint"


def test_file_hash_memo_round_trip(tmp_path: Path) -> None:
    with RolloutCache(tmp_path) as cache:
        assert cache.get_hash("/m/w.safetensors", 10, 5) is None
        cache.put_hash("/m/w.safetensors", 10, 5, "abc")
        assert cache.get_hash("/m/w.safetensors", 10, 5) == "abc"
        assert cache.get_hash("/m/w.safetensors", 10, 6) is None  # touched file: hash again


def _rows(cache_dir: Path) -> int:
    conn = sqlite3.connect(cache_dir / CACHE_FILENAME)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM rollouts").fetchone()[0])
    except sqlite3.OperationalError:  # the worker has not created the schema yet
        return 0
    finally:
        conn.close()


def _worker(tmp_path: Path, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(TESTS / "rollout_cache_worker.py"), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_mid_run_keeps_every_finished_item(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    proc = _worker(tmp_path, cache_dir, 0, 200, 0.05)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (cache_dir / CACHE_FILENAME).exists() and _rows(cache_dir) >= 5:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    kept = _rows(cache_dir)
    assert 5 <= kept < 200
    # The resumed run samples exactly the items the killed one had not finished.
    resumed = _worker(tmp_path, cache_dir, 0, 200, 0.0)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert out.split() == ["done", str(200 - kept)]
    assert _rows(cache_dir) == 200


def test_two_processes_write_one_cache_without_corruption(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    # Overlapping ranges: both write items 20..39, each writes its own 20 more.
    first = _worker(tmp_path, cache_dir, 0, 40, 0.002)
    second = _worker(tmp_path, cache_dir, 20, 60, 0.002)
    for proc in (first, second):
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    assert _rows(cache_dir) == 60
    conn = sqlite3.connect(cache_dir / CACHE_FILENAME)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    # And every stored row is the one a fresh run would compute.
    backend = FakeBackend()
    items = [Item(source=Source("d", i), answer="0", prompt=f"{i}*{i}=") for i in range(60)]
    out, _ = run(items, backend, cache_dir)
    assert backend.calls == []
    assert out == [fake_rollouts(f"{i}*{i}=", item_seed(7, f"{i}*{i}="), 3) for i in range(60)]


def test_a_cache_write_failure_warns_once_and_keeps_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def locked(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(RolloutCache, "put_many", locked)
    backend = FakeBackend(chunk_rows=3)  # one item per chunk: three writes would be tried
    out, stats = run(make_items(["1=", "2=", "3="]), backend, tmp_path)
    assert stats.generated == 3 and len(out) == 3
    assert capsys.readouterr().err.count("rollout cache write failed") == 1


def test_an_unreadable_row_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    run(make_items(["1=", "2="]), FakeBackend(), tmp_path)
    conn = sqlite3.connect(tmp_path / CACHE_FILENAME)
    with conn:
        conn.execute(
            "UPDATE rollouts SET rollouts = '[{\"oops\": 1}]' WHERE prompt_sha256 = ?",
            (prompt_hash("2="),),
        )
    conn.close()
    again = FakeBackend()
    out, _ = run(make_items(["1=", "2="]), again, tmp_path)
    assert again.sampled_prompts == ["2="]
    assert out[1] == fake_rollouts("2=", item_seed(7, "2="), 3)
    later = FakeBackend()
    run(make_items(["1=", "2="]), later, tmp_path)
    assert later.calls == []


def test_get_many_reads_more_keys_than_one_select_holds(tmp_path: Path) -> None:
    """1200 keys span three batched SELECTs; a row of the same prompt under another seed, or of
    another params key, is not a hit; every stored key comes back with its own rollouts."""
    with RolloutCache(tmp_path) as cache:
        stored = [(f"p{i}", i) for i in range(0, 1200, 2)]  # every other prompt
        cache.put_many("m", "n=2", [(k, fake_rollouts(k[0], k[1], 2)) for k in stored])
        cache.put_many("m", "n=2", [(("p1", 999), fake_rollouts("p1", 999, 2))])  # seed 999
        cache.put_many("m", "n=3", [(("p3", 3), fake_rollouts("p3", 3, 3))])  # other params
        asked = [(f"p{i}", i) for i in range(1200)]
        found = cache.get_many("m", "n=2", asked)
    assert sorted(found) == sorted(stored)
    assert [r.completion for r in found[("p1198", 1198)]] == [
        r.completion for r in fake_rollouts("p1198", 1198, 2)
    ]
