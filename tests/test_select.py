"""datalint select: criteria on hand-computed pass rates, round trips per layout and file type,
rejects and their reasons, cache reuse, provenance, CLI exit codes."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.select.criteria import CriteriaError, Top, parse_band, parse_top
from tests.fake_backend import FakeBackend

LAYOUTS = Path(__file__).parent / "layouts"
REPO = Path(__file__).resolve().parents[1]

# cohort a: 0/10, 1/10, 2/10, 3/10 right; cohort b: 5/10, 6/10, 10/10 (hand-set inline rollouts)
RATES = {"a": [0, 1, 2, 3], "b": [5, 6, 10]}


def _rows() -> list[dict]:
    rows, n = [], 0
    for cohort, rates in RATES.items():
        for right in rates:
            n += 1
            rollouts = [{"completion": str(n) if i < right else "wrong"} for i in range(10)]
            rows.append(
                {
                    "id": f"{cohort}{n}",
                    "prompt": f"What is item {n}?",
                    "answer": str(n),
                    "cohort": cohort,
                    "verifier": "exact",
                    "rollouts": rollouts,
                }
            )
    return rows


def _write(path: Path, rows: list[dict], bad_after: int | None = None) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            fh.write(json.dumps(row) + "\n")
            if i == bad_after:
                fh.write("{not json\n\n")
    return path


def select(*args: str) -> object:
    return CliRunner().invoke(cli, ["select", "-q", *args], catch_exceptions=False)


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return _write(tmp_path / "d.jsonl", _rows(), bad_after=2)


def test_pass_band_by_item_is_strict_by_default(data: Path, tmp_path: Path) -> None:
    kept, bad = tmp_path / "k.jsonl", tmp_path / "r.jsonl"
    result = select(
        str(data),
        "-o",
        str(kept),
        "--rejects",
        str(bad),
        "--pass-band",
        "0.1,0.6",
        "--by",
        "item",
        "--trust-rollouts",
    )
    assert result.exit_code == 0, result.output
    # 0.1 and 0.6 sit on the band's ends: strict, as open-r1 (0.1 < rate < 0.6)
    assert _ids(kept) == ["a3", "a4", "b5"]
    lines = bad.read_text().splitlines()
    assert "{not json" in lines  # the invalid line, raw
    rejected = {
        json.loads(x)["id"]: json.loads(x)["datalint_reasons"] for x in lines if x != "{not json"
    }
    assert rejected == {k: ["outside-pass-band"] for k in ("a1", "a2", "b6", "b7")}


def test_band_inclusive_keeps_the_ends(data: Path, tmp_path: Path) -> None:
    kept = tmp_path / "k.jsonl"
    result = select(
        str(data),
        "-o",
        str(kept),
        "--pass-band",
        "0.1,0.6",
        "--band-inclusive",
        "--by",
        "item",
        "--trust-rollouts",
    )
    assert result.exit_code == 0
    assert _ids(kept) == ["a2", "a3", "a4", "b5", "b6"]


def test_preset_open_r1_is_the_strict_item_band(data: Path, tmp_path: Path) -> None:
    kept = tmp_path / "k.jsonl"
    assert (
        select(str(data), "-o", str(kept), "--preset", "open-r1", "--trust-rollouts").exit_code == 0
    )
    assert _ids(kept) == ["a3", "a4", "b5"]


def test_pass_band_by_cohort_uses_the_cohort_mean(data: Path, tmp_path: Path) -> None:
    # a: (0 + .1 + .2 + .3) / 4 = 0.15 in (0.1, 0.6); b: (.5 + .6 + 1) / 3 = 0.7 out
    kept = tmp_path / "k.jsonl"
    assert (
        select(str(data), "-o", str(kept), "--pass-band", "0.1,0.6", "--trust-rollouts").exit_code
        == 0
    )
    assert _ids(kept) == ["a1", "a2", "a3", "a4"]


def _lifts(data: Path) -> dict[str, float]:
    out = CliRunner().invoke(
        cli, ["check", str(data), "--trust-rollouts", "--format", "json", "-q"]
    )
    return {c["id"]: c["predicted_lift"] for c in json.loads(out.output)["cohorts"]}


def test_top_and_min_lift_follow_the_predictor(data: Path, tmp_path: Path) -> None:
    lifts = _lifts(data)
    best = max(lifts, key=lambda k: lifts[k])
    kept, bad = tmp_path / "k.jsonl", tmp_path / "r.jsonl"
    result = select(
        str(data),
        "-o",
        str(kept),
        "--rejects",
        str(bad),
        "--top",
        "1",
        "--trust-rollouts",
        "--format",
        "json",
    )
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert {i[0] for i in _ids(kept)} == {best}
    assert summary["lift"]["kept"] == pytest.approx(lifts[best])
    n = {"a": 4, "b": 3}
    whole = sum(lifts[c] * n[c] for c in n) / 7
    assert summary["lift"]["whole"] == pytest.approx(whole)
    assert summary["kept"] == n[best] and summary["rejected"] == 7 - n[best]
    assert summary["invalid"] == [{"path": str(data), "line": 4, "reasons": ["S001"]}]
    floor = min(lifts.values())
    # --min-lift at the lower lift keeps both (>=); just above it keeps only the best
    select(str(data), "-o", str(kept), "--min-lift", repr(floor), "--trust-rollouts")
    assert len(_ids(kept)) == 7
    select(str(data), "-o", str(kept), "--min-lift", repr(floor + 1e-12), "--trust-rollouts")
    assert {i[0] for i in _ids(kept)} == {best}


def test_both_criteria_list_every_reason(data: Path, tmp_path: Path) -> None:
    lifts = _lifts(data)
    worst = min(lifts, key=lambda k: lifts[k])
    kept, bad = tmp_path / "k.jsonl", tmp_path / "r.jsonl"
    select(
        str(data),
        "-o",
        str(kept),
        "--rejects",
        str(bad),
        "--top",
        "50%",  # ceil(0.5*2)=1
        "--pass-band",
        "0.1,0.6",
        "--by",
        "cohort",
        "--trust-rollouts",
    )
    reasons = {
        json.loads(x)["id"]: json.loads(x)["datalint_reasons"]
        for x in bad.read_text().splitlines()
        if x.startswith('{"')
    }
    for key, why in reasons.items():
        if key[0] == worst:
            assert "not-top" in why
        if key[0] == "b":
            assert "outside-pass-band" in why


def test_top_rounding() -> None:
    assert parse_top("30%").keeps(7) == 3  # 2.1 rounds up
    assert parse_top("50%").keeps(4) == 2
    assert parse_top("1%").keeps(7) == 1
    assert parse_top("100%").keeps(7) == 7
    assert parse_top("10").keeps(3) == 3
    assert Top("2", count=2).keeps(5) == 2
    for bad in ("0", "0%", "150%", "x", "-3", "nan%"):
        with pytest.raises(CriteriaError):
            parse_top(bad)
    assert parse_band("0.1, 0.6") == (0.1, 0.6)
    for bad in ("0.6,0.1", "1", "a,b", "0,2"):
        with pytest.raises(CriteriaError):
            parse_band(bad)


# ---- round trips: kept + rejects = input, each row once, rows unchanged -------------------------


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> list[FakeBackend]:
    made: list[FakeBackend] = []

    def make(*args: object, **kwargs: object) -> FakeBackend:
        made.append(FakeBackend())
        return made[-1]

    monkeypatch.setattr("datalint.rollout.stage.make_backend", make)
    return made


def _jsonl_rows(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    elif raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
    return [line for line in raw.splitlines() if line.strip()]


def _strip_reasons(line: bytes) -> object:
    obj = json.loads(line)
    assert isinstance(obj["datalint_reasons"], list) and obj["datalint_reasons"]
    obj.pop("datalint_reasons")
    return obj


def _compress(src: Path, dest: Path, how: str) -> Path:
    data = src.read_bytes()
    if how == "gz":
        dest.write_bytes(gzip.compress(data))
    elif how == "zst":
        import zstandard

        dest.write_bytes(zstandard.ZstdCompressor().compress(data))
    else:
        dest.write_bytes(data)
    return dest


LAYOUT_FILES = sorted(p.name for p in LAYOUTS.glob("*.jsonl"))


@pytest.mark.parametrize("how", ["plain", "gz", "zst"])
@pytest.mark.parametrize("name", LAYOUT_FILES)
def test_jsonl_round_trip(
    name: str,
    how: str,
    tmp_path: Path,
    fake: list,
) -> None:
    suffix = {"plain": ".jsonl", "gz": ".jsonl.gz", "zst": ".jsonl.zst"}[how]
    src = _compress(LAYOUTS / name, tmp_path / f"in{suffix}", how)
    kept, bad = tmp_path / f"k{suffix}", tmp_path / f"r{suffix}"
    result = select(
        str(src),
        "-o",
        str(kept),
        "--rejects",
        str(bad),
        "--top",
        "50%",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--cohort-size",
        "2",
        "--ignore",
        "RW",  # the fake policy fails every item: waive the dead-end rules
        *(("--field", "prompt=query", "--field", "answer=ref.final") if "custom" in name else ()),
    )
    assert result.exit_code == 0, result.output
    if how != "plain":
        assert kept.read_bytes()[:2] == src.read_bytes()[:2]  # same compression
    original = _jsonl_rows(LAYOUTS / name)
    kept_rows = _jsonl_rows(kept)
    assert kept_rows, "the top half keeps something"
    rest = [_strip_reasons(x) for x in _jsonl_rows(bad)]
    assert Counter(kept_rows) <= Counter(original)  # byte-identical lines
    heads = {x.rstrip()[:-1] for x in original}  # a reject is its row plus one field at the end
    assert all(any(x.startswith(h) for h in heads) for x in _jsonl_rows(bad))
    together = [json.loads(x) for x in kept_rows] + rest
    assert sorted(map(json.dumps, together)) == sorted(json.dumps(json.loads(x)) for x in original)


@pytest.mark.parametrize("minified", [False, True])
def test_json_array_round_trip(minified: bool, tmp_path: Path, fake: list) -> None:
    rows = [json.loads(x) for x in _jsonl_rows(LAYOUTS / "openr1_math.jsonl")]
    rows.insert(1, {"problem": 3})  # not a valid record (a schema error), kept out raw
    src = tmp_path / "in.json"
    src.write_text(json.dumps(rows) if minified else json.dumps(rows, indent=1))
    kept, bad = tmp_path / "k.json", tmp_path / "r.json"
    result = select(
        str(src),
        "-o",
        str(kept),
        "--rejects",
        str(bad),
        "--top",
        "50%",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--cohort-size",
        "2",
        "--ignore",
        "RW",  # the fake policy fails every item: waive the dead-end rules
    )
    assert result.exit_code == 0, result.output
    got_kept, got_bad = json.loads(kept.read_text()), json.loads(bad.read_text())
    assert got_kept and {"problem": 3} in got_bad
    rest = [r for r in got_bad if r != {"problem": 3}]
    assert all(r.pop("datalint_reasons") for r in rest)
    assert sorted(map(json.dumps, got_kept + rest + [{"problem": 3}])) == sorted(
        map(json.dumps, rows)
    )


def _table(name: str):
    import pyarrow as pa

    return pa.Table.from_pylist([json.loads(x) for x in _jsonl_rows(LAYOUTS / name)])


@pytest.mark.parametrize("name", ["verl_gsm8k.jsonl", "openr1_math.jsonl", "dapo_math.jsonl"])
def test_parquet_round_trip(name: str, tmp_path: Path, fake: list) -> None:
    import pyarrow.parquet as pq

    table = _table(name)
    src = tmp_path / "in.parquet"
    pq.write_table(table, src)
    kept, bad = tmp_path / "k.parquet", tmp_path / "r.parquet"
    result = select(
        str(src),
        "-o",
        str(kept),
        "--rejects",
        str(bad),
        "--top",
        "50%",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--cohort-size",
        "2",
        "--ignore",
        "RW",  # the fake policy fails every item: waive the dead-end rules
    )
    assert result.exit_code == 0, result.output
    k, r = pq.read_table(kept), pq.read_table(bad)
    assert k.schema == table.schema
    assert r.column_names == [*table.column_names, "datalint_reasons"]
    assert k.num_rows > 0 and k.num_rows + r.num_rows == table.num_rows
    together = k.to_pylist() + r.drop_columns(["datalint_reasons"]).to_pylist()
    assert sorted(map(json.dumps, together)) == sorted(map(json.dumps, table.to_pylist()))


def test_save_to_disk_folder_round_trip(tmp_path: Path, fake: list) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(x) for x in _jsonl_rows(LAYOUTS / "openr1_math.jsonl")]
    src = tmp_path / "saved"
    datasets.Dataset.from_list(rows).save_to_disk(str(src))
    kept, bad = tmp_path / "kept", tmp_path / "rejects"
    result = select(
        str(src),
        "-o",
        str(kept),
        "--rejects",
        str(bad),
        "--top",
        "50%",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--cohort-size",
        "2",
        "--ignore",
        "RW",  # the fake policy fails every item: waive the dead-end rules
    )
    assert result.exit_code == 0, result.output
    k = datasets.load_from_disk(str(kept))
    r = datasets.load_from_disk(str(bad))
    assert k.features == datasets.load_from_disk(str(src)).features
    assert len(k) > 0 and len(k) + len(r) == len(rows)
    together = k.to_list() + r.remove_columns(["datalint_reasons"]).to_list()
    whole = datasets.load_from_disk(str(src)).to_list()
    assert sorted(map(json.dumps, together)) == sorted(map(json.dumps, whole))


def test_several_inputs_need_a_folder(tmp_path: Path, fake: list) -> None:
    a = str(shutil.copy(LAYOUTS / "polaris.jsonl", tmp_path / "a.jsonl"))
    b = str(shutil.copy(LAYOUTS / "deepscaler.jsonl", tmp_path / "b.jsonl"))
    out = tmp_path / "out"
    result = select(
        a, b, "-o", str(out), "--top", "100%", "--ignore", "RW", "--cache-dir", str(tmp_path / "c")
    )
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out)) == ["a.jsonl", "b.jsonl"]
    assert (out / "a.jsonl").read_bytes() == Path(a).read_bytes()


# ---- the cache, untrusted rollouts, provenance ------------------------------------------------


def _plain(tmp_path: Path) -> Path:
    rows = [{k: v for k, v in r.items() if k != "rollouts"} for r in _rows()]
    return _write(tmp_path / "plain.jsonl", rows)


def test_select_after_check_samples_nothing(tmp_path: Path, fake: list) -> None:
    data, cache = _plain(tmp_path), str(tmp_path / "cache")
    CliRunner().invoke(cli, ["check", str(data), "--cache-dir", cache, "-q"])
    assert fake[-1].sampled_prompts  # check sampled every prompt
    result = select(str(data), "-o", str(tmp_path / "k.jsonl"), "--top", "1", "--cache-dir", cache)
    assert result.exit_code == 0
    assert fake[-1].calls == []  # select read them all from the cache


def test_inline_rollouts_are_untrusted_by_default(data: Path, tmp_path: Path, fake: list) -> None:
    kept = tmp_path / "k.jsonl"
    select(
        str(data),
        "-o",
        str(kept),
        "--pass-band",
        "0.1,0.6",
        "--by",
        "item",
        "--cache-dir",
        str(tmp_path / "c"),
    )
    assert len(fake[-1].sampled_prompts) == 7  # the vendor's rollouts were not used


def test_provenance_sidecar_replays_and_columns(tmp_path: Path, fake: list) -> None:
    data = _plain(tmp_path)
    side, kept = tmp_path / "prov.jsonl", tmp_path / "k.jsonl"
    result = select(
        str(data),
        "-o",
        str(kept),
        "--pass-band",
        "0,1",
        "--band-inclusive",
        "--by",
        "item",
        "--provenance",
        str(side),
        "--provenance-columns",
        "--no-cache",
        "--rollouts-per-item",
        "4",
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in side.read_text().splitlines()]
    assert lines[0]["datalint"] == "rollouts" and lines[0]["fingerprint"] == "fake:fake-model"
    assert lines[0]["datalint_version"]
    first = lines[1]
    assert first["k"] == 4 and len(first["grades"]) == 4 and first["verifier"] == "exact"
    assert first["pass_rate"] == sum(g >= 0.5 for g in first["grades"]) / 4
    assert first["params"]["n"] == 4 and first["fingerprint"] == "fake:fake-model"
    rows = [json.loads(x) for x in kept.read_text().splitlines()]
    by_id = {x["id"]: x for x in lines[1:]}
    for row in rows:
        assert row["pass_rate"] == by_id[row["id"]]["pass_rate"]
        assert row["pass_rate_rewards"] == by_id[row["id"]]["grades"]
        assert len(row["pass_rate_generations"]) == 4
        assert row["datalint_provenance"]["model"]
    # read back with --rollouts: nothing sampled, the same verdicts
    n_backends = len(fake)
    again = tmp_path / "k2.jsonl"
    select(
        str(data),
        "-o",
        str(again),
        "--pass-band",
        "0,1",
        "--band-inclusive",
        "--by",
        "item",
        "--rollouts",
        str(side),
        "--provenance-columns",
        "--no-cache",
    )
    assert len(fake) == n_backends
    assert [json.loads(x)["pass_rate"] for x in again.read_text().splitlines()] == [
        r["pass_rate"] for r in rows
    ]


# ---- exit codes --------------------------------------------------------------------------------


def test_usage_errors_exit_2(data: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "k.jsonl")
    assert select(str(data), "-o", out).exit_code == 2  # no criterion
    assert select(str(data), "-o", out, "--top", "0%").exit_code == 2
    assert select(str(data), "-o", out, "--pass-band", "0.6,0.1").exit_code == 2
    assert select(str(tmp_path / "missing.jsonl"), "-o", out, "--top", "1").exit_code == 2
    assert select(str(data), "-o", str(data), "--top", "1").exit_code == 2  # its own input


def test_subprocess_exit_codes(data: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    kept = tmp_path / "k.jsonl"
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "datalint",
            "select",
            str(data),
            "-o",
            str(kept),
            "--preset",
            "open-r1",
            "--trust-rollouts",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["kept"] == 3
    bad = subprocess.run(
        [sys.executable, "-m", "datalint", "select", str(data), "-o", str(kept), "--top", "x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.count("\n") == 1


def _check(*args: str) -> object:
    return CliRunner().invoke(cli, ["check", "-q", *args], catch_exceptions=False)


def test_check_provenance_sidecar_and_replay_notes(tmp_path: Path, fake: list) -> None:
    data, side = _plain(tmp_path), tmp_path / "side.jsonl"
    first = _check(str(data), "--provenance", str(side), "--no-cache", "--rollouts-per-item", "3")
    assert first.exit_code in (0, 1)
    lines = [json.loads(x) for x in side.read_text().splitlines()]
    assert len(lines) == 1 + 7 and all(x["k"] == 3 for x in lines[1:])
    n_backends = len(fake)
    # same decoding, same model: replayed silently, nothing sampled
    same = _check(str(data), "--rollouts", str(side), "--rollouts-per-item", "3", "--model", "m")
    assert "note" not in same.stderr and len(fake) == n_backends + 1  # only fingerprinted
    assert fake[-1].calls == []
    # other decoding: said so
    other = _check(str(data), "--rollouts", str(side), "--rollouts-per-item", "8")
    assert "sampled with other decoding: n 3 (asked 8)" in other.stderr
    # another model's file: said so
    lines[0]["fingerprint"] = "transformers:somebody-else"
    side.write_text("".join(json.dumps(x) + "\n" for x in lines))
    moved = _check(str(data), "--rollouts", str(side), "--rollouts-per-item", "3", "--model", "m")
    assert "made by model transformers:somebody-else, not the --model given" in moved.stderr


def test_parquet_provenance_columns(tmp_path: Path, fake: list) -> None:
    import pyarrow.parquet as pq

    table = _table("openr1_math.jsonl")
    src = tmp_path / "in.parquet"
    pq.write_table(table, src)
    kept = tmp_path / "k.parquet"
    result = select(
        str(src),
        "-o",
        str(kept),
        "--top",
        "100%",
        "--ignore",
        "RW",
        "--provenance-columns",
        "--no-cache",
        "--rollouts-per-item",
        "2",
    )
    assert result.exit_code == 0, result.output
    k = pq.read_table(kept)
    added = ["pass_rate", "pass_rate_rewards", "pass_rate_generations", "datalint_provenance"]
    assert k.column_names == [*table.column_names, *added]
    assert k.drop_columns(added).to_pylist() == table.to_pylist()
    assert all(len(g) == 2 for g in k.column("pass_rate_rewards").to_pylist())
    assert k.column("datalint_provenance").to_pylist()[0]["fingerprint"] == "fake:fake-model"


def test_rollout_provenance_sidecar(tmp_path: Path, fake: list) -> None:
    data, out, side = _plain(tmp_path), tmp_path / "r.jsonl", tmp_path / "side.jsonl"
    result = CliRunner().invoke(
        cli,
        ["rollout", str(data), "-o", str(out), "--provenance", str(side), "--no-cache",
         "--rollouts-per-item", "2", "-q"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in side.read_text().splitlines()]
    assert lines[0]["fingerprint"] == "fake:fake-model" and len(lines) == 8
    for line in lines[1:]:
        # the fake policy answers one digit; items 1..7 are right when it says their number
        right = [c["completion"] == line["id"][1:] for c in line["rollouts"]]
        assert line["grades"] == [float(r) for r in right]
        assert line["pass_rate"] == sum(right) / 2 and line["k"] == 2
    # the rollouts file itself stays as it was: no grades in it
    assert "grades" not in out.read_text()


def test_rejects_keep_the_row_bytes_and_add_one_field() -> None:
    from datalint.select.write import _with_fields

    add = {"datalint_reasons": ["not-top"]}
    assert (
        _with_fields(b'{"a":1,"b":"x"}\n', add) == b'{"a":1,"b":"x","datalint_reasons":["not-top"]}'
    )
    assert _with_fields(b'{"a": 1, "b": "\\u00e9"}  \n', add) == (
        b'{"a": 1, "b": "\\u00e9", "datalint_reasons": ["not-top"]}'
    )
    assert _with_fields(b"{ }", add) == b'{"datalint_reasons":["not-top"]}'
    # a forged datalint_reasons is replaced, not written twice
    out = _with_fields(b'{"a": 1, "datalint_reasons": []}', add)
    assert json.loads(out) == {"a": 1, "datalint_reasons": ["not-top"]}
    assert out.count(b"datalint_reasons") == 1
    assert _with_fields(b"[1, 2]", add) is None


def test_an_unwritable_output_is_exit_2(data: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    result = select(str(data), "-o", str(tmp_path / "taken"), "--top", "1", "--trust-rollouts")
    assert result.exit_code == 2
    assert "cannot write" in result.stderr and "internal error" not in result.stderr
