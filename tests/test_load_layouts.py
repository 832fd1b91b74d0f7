"""Layouts people train on, read as they are (issue 9): each fixture in tests/layouts/ has the
real dataset's column names and nesting; each is checked through the CLI and item by item."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.load import Item, ProblemCollector, iter_items
from datalint.load.layouts import last_boxed

LAYOUTS = Path(__file__).resolve().parent / "layouts"
READ_PROBLEMS = {"S001", "S002", "S003", "S005", "S006", "S015", "S016", "S017", "S020"}


def run_check(*args: str) -> tuple[int, dict, str]:
    result = CliRunner().invoke(
        cli, ["check", *args, "--static-only", "--format", "json", "--no-cache"]
    )
    return result.exit_code, json.loads(result.stdout), result.stderr


def items_of(path: Path | str, fields: dict[str, str] | None = None) -> list[Item]:
    gate = ProblemCollector()
    items = list(iter_items([str(path)], gate, fields=fields))
    assert gate.problems == []
    return items


CASES = [
    ("verl_gsm8k.jsonl", "verl", 3, ()),
    ("dapo_math.jsonl", "verl", 2, ()),
    ("skywork_or1.jsonl", "skywork-or1", 2, ()),
    ("trl_conversational.jsonl", "trl", 2, ()),
    ("trl_standard.jsonl", "trl", 2, ()),
    ("trl_prompt_answer.jsonl", None, 2, ()),  # native: no layout note
    ("openr1_math.jsonl", "open-r1", 2, ()),
    ("deepscaler.jsonl", "open-r1", 2, ()),
    ("numinamath_1_5.jsonl", "numinamath", 2, ()),
    ("polaris.jsonl", "polaris", 2, ()),
    ("reasoning_gym.jsonl", "reasoning-gym", 2, ()),
    ("openrlhf.jsonl", "openrlhf", 2, ()),
    ("openrlhf_chat.jsonl", "openrlhf", 2, ()),
    (
        "custom_keys.jsonl",
        "the field mapping",
        2,
        ("--input-key", "query", "--label-key", "ref.final"),
    ),
]


@pytest.mark.parametrize(("name", "layout", "n_items", "args"), CASES, ids=[c[0] for c in CASES])
def test_each_layout_reads_through_the_cli(
    name: str, layout: str | None, n_items: int, args: tuple[str, ...], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, report, stderr = run_check(str(LAYOUTS / name), *args)
    assert {f["code"] for f in report["findings"]} & READ_PROBLEMS == set(), report["findings"]
    assert report["summary"]["n_items"] == n_items
    assert code in (0, 1)
    if layout is None:
        assert "read as layout" not in stderr
    else:
        assert f"{name}: read as layout {layout}" in stderr


def test_verl_maps_prompt_messages_ground_truth_index_and_source() -> None:
    first, second, _ = items_of(LAYOUTS / "verl_gsm8k.jsonl")
    assert first.layout == "verl"
    assert first.prompt is None and first.messages is not None
    assert first.messages[0]["role"] == "user"
    assert first.prompt_text.startswith("Natalia sold clips")
    assert (first.answer, second.answer) == ("72", "10")
    assert (first.id, second.id) == ("0", "1")
    assert first.subject == "openai/gsm8k"
    assert first.meta is not None
    assert first.meta["ability"] == "math"
    assert first.meta["extra_info"]["split"] == "train"
    assert "prompt" not in first.meta and "reward_model" not in first.meta


def test_skywork_ground_truth_json_list_becomes_a_list_of_answers() -> None:
    one, two = items_of(LAYOUTS / "skywork_or1.jsonl")
    assert one.answer == ["5"]
    assert two.answer == ["\\frac{1}{2}", "0.5"]
    assert two.answers == ["\\frac{1}{2}", "0.5"]
    assert two.answer_text == "\\frac{1}{2}"
    assert two.layout == "skywork-or1"


def test_a_verl_ground_truth_that_looks_like_an_interval_stays_a_string(tmp_path: Path) -> None:
    rows = [
        {
            "data_source": "math",
            "prompt": [{"role": "user", "content": "Solve x^2 < 1."}],
            "reward_model": {"style": "rule", "ground_truth": "[-1, 1]"},
        }
    ]
    path = tmp_path / "v.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (item,) = items_of(path)
    assert item.layout == "verl"
    assert item.answer == "[-1, 1]"


def test_trl_solution_gives_its_boxed_content_else_the_whole_text() -> None:
    boxed = items_of(LAYOUTS / "trl_conversational.jsonl")
    assert [i.answer for i in boxed] == ["\\frac{63}{400}", "2"]
    assert boxed[0].messages is not None and boxed[0].messages[0]["role"] == "system"
    plain = items_of(LAYOUTS / "trl_standard.jsonl")
    assert [(i.prompt, i.answer) for i in plain] == [
        ("What is 17 * 3?", "51"),
        ("What is the square root of 144?", "12"),
    ]


def test_trl_prompt_with_answer_is_native_and_answer_wins_over_solution() -> None:
    chat, text = items_of(LAYOUTS / "trl_prompt_answer.jsonl")
    assert (chat.layout, text.layout) == ("native", "native")
    assert chat.answer == "15" and chat.messages == [{"role": "user", "content": "What is 7 + 8?"}]
    assert text.prompt == "What is 9 - 4?"


def test_open_r1_uses_the_answer_column_not_the_boxed_solution() -> None:
    first, second = items_of(LAYOUTS / "openr1_math.jsonl")
    assert first.layout == "open-r1"
    assert first.answer.startswith("v_{R}=4")  # the answer column, although the solution boxes 10
    assert first.id == "586fd646-76d6-5070-8c81-9993ab9d8559"
    assert second.meta is not None and second.meta["pass_rate_rewards"][:3] == [1, 0, 1]
    assert "messages" in second.meta  # R1's conversation is metadata, never the prompt
    assert second.prompt is not None and second.prompt.startswith("3. (6 points)")


def test_numinamath_is_told_from_open_r1_by_its_validity_columns() -> None:
    algebra, proof = items_of(LAYOUTS / "numinamath_1_5.jsonl")
    assert (algebra.layout, proof.layout) == ("numinamath", "numinamath")
    assert (algebra.answer, proof.answer) == ("\\pm2", "proof")
    assert algebra.subject == "olympiads"
    assert proof.meta is not None and proof.meta["question_type"] == "proof"


def test_open_r1_without_an_answer_column_falls_back_to_the_solution(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"problem": "1+1?", "solution": "So $\\boxed{2}$."}) + "\n")
    (item,) = items_of(path)
    assert (item.layout, item.answer) == ("open-r1", "2")


def test_polaris_reasoning_gym_and_openrlhf() -> None:
    polaris = items_of(LAYOUTS / "polaris.jsonl")
    assert [(i.prompt, i.answer) for i in polaris][1] == ("Compute $\\sum_{k=1}^{10} k$.", "55")
    assert polaris[0].meta == {"difficulty": "4/8"}
    gym = items_of(LAYOUTS / "reasoning_gym.jsonl")
    assert gym[0].meta is not None
    assert gym[0].meta["metadata"]["source_dataset"] == "basic_arithmetic"
    assert gym[1].answer == "owl, dog, cat"
    rlhf = items_of(LAYOUTS / "openrlhf.jsonl")
    assert [(i.prompt, i.answer) for i in rlhf] == [
        ("What is 12 / 4?", "3"),
        ("What is 2 ** 5?", "32"),
    ]
    chat = items_of(LAYOUTS / "openrlhf_chat.jsonl")
    assert chat[0].messages == [{"role": "user", "content": "What is 12 / 4?"}]


def test_an_explicit_mapping_wins_over_detection() -> None:
    # verl would take reward_model.ground_truth; the mapping takes the raw GSM8K answer text.
    items = items_of(LAYOUTS / "verl_gsm8k.jsonl", {"answer": "extra_info.answer"})
    assert items[0].answer.endswith("#### 72")
    assert items[0].layout == "verl with the field mapping"
    assert items[0].messages is not None


def test_a_mapping_over_native_records_keeps_their_native_fields(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    row = {"question_text": "2+2?", "answer": "4", "id": "q1", "meta": {"k": 1}, "cohort": "c"}
    path.write_text(json.dumps(row) + "\n")
    (item,) = items_of(path, {"prompt": "question_text", "answer": "answer"})
    assert (item.prompt, item.answer, item.id, item.cohort, item.meta) == (
        "2+2?",
        "4",
        "q1",
        "c",
        {"k": 1},
    )


def test_field_options_and_config_table(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "What is 2+3?", "target": {"value": "5"}}) + "\n")
    code, report, _ = run_check(str(data))
    assert code == 1 and [f["code"] for f in report["findings"]] == ["S020"]
    code, report, stderr = run_check(
        str(data), "--field", "prompt=text", "--field", "answer=target.value"
    )
    assert (code, report["findings"]) == (0, [])
    assert "read as layout the field mapping" in stderr
    (tmp_path / "datalint.toml").write_text('[fields]\nprompt = "text"\nanswer = "target.value"\n')
    code, report, _ = run_check(str(data))
    assert (code, report["findings"]) == (0, [])
    # the command line wins over the config, field by field
    code, report, _ = run_check(str(data), "--field", "answer=target")
    assert code == 1
    assert "target: must be a string" in report["findings"][0]["message"]


@pytest.mark.parametrize(
    ("args", "toml", "words"),
    [
        (("--field", "prompt"), None, "--field prompt: expected TARGET=COLUMN"),
        (("--field", "question=text"), None, "--field question: unknown field"),
        (("--field", "answer=a..b"), None, "expected a column name or dotted path"),
        ((), "[fields]\nprompt = 3\n", "datalint.toml: fields.prompt: expected a column name"),
        ((), '[fields]\nlabel = "x"\n', "datalint.toml: fields.label: unknown field"),
    ],
)
def test_bad_mappings_exit_2_naming_the_key(
    args: tuple[str, ...], toml: str | None, words: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.jsonl").write_text('{"prompt": "a", "answer": "1"}\n')
    if toml:
        (tmp_path / "datalint.toml").write_text(toml)
    result = CliRunner().invoke(cli, ["check", "d.jsonl", "--static-only", *args])
    assert result.exit_code == 2
    assert words in result.stderr


def test_an_unknown_layout_names_the_fields_seen_and_the_nearest_layout(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps({"question_text": "2+2?", "solution": "4", "problem_id": 7}) + "\n")
    code, report, _ = run_check(str(path))
    assert code == 1
    (finding,) = report["findings"]
    assert finding["code"] == "S020" and finding["line"] == 1
    assert "fields: question_text, solution, problem_id" in finding["message"]
    assert "nearest is trl (prompt, solution)" in finding["message"]


def test_a_layout_missing_its_answer_column_names_that_column(tmp_path: Path) -> None:
    good = json.loads((LAYOUTS / "verl_gsm8k.jsonl").read_text().splitlines()[0])
    bad = dict(good, reward_model={"style": "rule"})
    path = tmp_path / "v.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    code, report, _ = run_check(str(path))
    assert code == 1
    (finding,) = report["findings"]
    assert (finding["code"], finding["line"]) == ("S002", 2)
    assert (
        "'reward_model.ground_truth' is a required column (read as layout verl)"
        in finding["message"]
    )


def test_last_boxed_balances_braces() -> None:
    assert last_boxed("a \\boxed{1} then \\boxed{\\frac{1}{2}} end") == "\\frac{1}{2}"
    assert last_boxed("\\boxed{x") is None
    assert last_boxed("no box") is None


# ---- file types ------------------------------------------------------------------------------

VERL_ROWS = [json.loads(line) for line in (LAYOUTS / "verl_gsm8k.jsonl").read_text().splitlines()]


def test_jsonl_gz_and_zst(tmp_path: Path) -> None:
    raw = (LAYOUTS / "verl_gsm8k.jsonl").read_bytes()
    gz = tmp_path / "train.jsonl.gz"
    gz.write_bytes(gzip.compress(raw))
    assert [i.answer for i in items_of(gz)] == ["72", "10", "5"]
    zstandard = pytest.importorskip("zstandard")
    zst = tmp_path / "train.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(raw))
    assert [i.answer for i in items_of(zst)] == ["72", "10", "5"]
    code, report, stderr = run_check(str(tmp_path))
    assert code == 1  # the gzip and zstd copies hold the same prompts: D001
    assert report["summary"]["n_items"] == 6 and report["summary"]["n_files"] == 2
    assert "train.jsonl.zst: read as layout verl" in stderr


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text(json.dumps(VERL_ROWS, indent=2))
    assert [i.answer for i in items_of(path)] == ["72", "10", "5"]
    code, report, stderr = run_check(str(path))
    assert (code, report["findings"]) == (0, [])
    assert "a JSON array, not JSONL" in stderr
    # findings name the line where the element starts
    rows = [{"prompt": "a", "answer": "1"}, {"prompt": "b"}]
    bad = tmp_path / "bad.json"
    bad.write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")
    code, report, _ = run_check(str(bad))
    assert [(f["code"], f["line"]) for f in report["findings"]] == [("S002", 3)]


def test_a_json_file_that_is_jsonl_is_read_as_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text('{"prompt": "a", "answer": "1"}\n{"prompt": "b", "answer": "2"}\n')
    assert [i.answer for i in items_of(path)] == ["1", "2"]


def test_parquet_rows_number_the_findings(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    rows = [*VERL_ROWS, dict(VERL_ROWS[0], reward_model={"style": "rule", "ground_truth": None})]
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=2)
    items = items_of_with_problems(path)
    assert [i.answer for i in items] == ["72", "10", "5"]
    assert [i.source.line for i in items] == [1, 2, 3]
    code, report, stderr = run_check(str(path))
    assert code == 1
    assert [(f["code"], f["line"]) for f in report["findings"]] == [("S002", 4)]
    assert "reward_model.ground_truth" in report["findings"][0]["message"]
    assert "train.parquet: read as layout verl" in stderr


def items_of_with_problems(path: Path) -> list[Item]:
    return list(iter_items([str(path)], ProblemCollector()))


def test_a_datasets_save_to_disk_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "saved"
    datasets.Dataset.from_list(VERL_ROWS).save_to_disk(str(folder))
    assert (folder / "dataset_info.json").exists() and (folder / "state.json").exists()
    code, report, stderr = run_check(str(folder))
    assert (code, report["findings"]) == (0, [])
    assert report["summary"]["n_files"] == 1 and report["summary"]["n_items"] == 3
    assert ".arrow: read as layout verl" in stderr
    # a DatasetDict: one folder per split beside dataset_dict.json
    dd = tmp_path / "dd"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(VERL_ROWS[:2]),
            "test": datasets.Dataset.from_list(VERL_ROWS[2:]),
        }
    ).save_to_disk(str(dd))
    code, report, _ = run_check(str(dd))
    assert (code, report["summary"]["n_items"], report["summary"]["n_files"]) == (0, 3, 2)


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    import sys

    path = tmp_path / "train.parquet"
    path.write_bytes(b"PAR1 not really")
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    result = CliRunner().invoke(cli, ["check", str(path), "--static-only"])
    assert result.exit_code == 2
    assert "'parquet' extra" in result.stderr and "pip install 'datalint[parquet]'" in result.stderr


def test_a_corrupt_parquet_file_is_a_finding(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "train.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64)
    code, report, _ = run_check(str(path))
    assert code == 1
    assert [(f["code"], f["line"]) for f in report["findings"]] == [("S005", 1), ("S017", 1)]


def test_directory_discovery_picks_up_every_data_suffix(tmp_path: Path) -> None:
    from datalint.load import discover_files

    for name in ("a.jsonl", "b.jsonl.gz", "c.jsonl.zst", "d.parquet", "e.json", "f.arrow", "g.txt"):
        (tmp_path / name).write_bytes(b"")
    found = [Path(p).name for p in discover_files([str(tmp_path)])]
    assert found == ["a.jsonl", "b.jsonl.gz", "c.jsonl.zst", "d.parquet", "e.json", "f.arrow"]


def test_hub_metadata_beside_parquet_is_not_data_but_a_lone_json_is(tmp_path: Path) -> None:
    from datalint.load import discover_files

    hub = tmp_path / "hub"
    hub.mkdir()
    for name in ("train-00000-of-00001.parquet", "dataset_infos.json", "state.json"):
        (hub / name).write_bytes(b"")
    assert [Path(p).name for p in discover_files([str(hub)])] == ["train-00000-of-00001.parquet"]
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "state.json").write_bytes(b"")
    assert [Path(p).name for p in discover_files([str(plain)])] == ["state.json"]


def test_rollout_and_calibrate_take_the_same_field_mapping(tmp_path: Path, monkeypatch) -> None:
    """--field reaches every command that reads data, not only check."""
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "2+3=", "target": {"value": "5"}}) + "\n")
    mapping = ["--field", "prompt=text", "--field", "answer=target.value"]
    out = tmp_path / "r.rollouts.jsonl"
    args = ["rollout", str(data), "-o", str(out), "--no-cache", "--rollouts-per-item", "2"]
    result = CliRunner().invoke(cli, [*args, "--max-new-tokens", "3", *mapping])
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text().splitlines()[1])["rollouts"]) == 2
    # without the mapping the record fits no layout: rollout has no item to sample
    assert CliRunner().invoke(cli, args).exit_code == 2
    # calibrate reads the records through the mapping: a wrong one stops it at the record
    probe = tmp_path / "probe.jsonl"
    probe.write_text('{"prompt": "1+1=", "answer": "2"}\n')
    store = tmp_path / "s.sqlite"
    base = ["calibrate", str(data), "--probe", str(probe), "--store", str(store), "--steps", "1"]
    bad = CliRunner().invoke(cli, [*base, "--field", "prompt=text", "--field", "answer=nope"])
    assert bad.exit_code == 2 and "d.jsonl:1" in bad.stderr, bad.output
