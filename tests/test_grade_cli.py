"""`check` with the config's [verifiers], answer-extraction and the grading pre-flight."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli import cli


def half_credit(completion: str, item) -> float:
    return 0.5


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(cli, ["check", *args], catch_exceptions=False)


def write_data(tmp_path: Path, records: list[dict]) -> None:
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


SMOL = {
    "prompt": "What is 50 - 30?",
    "answer": "20",
    "verifier": "numeric",
    "rollouts": [{"completion": "50 - 30 is 20."}, {"completion": "It is 21."}],
}


def item_pass_rates(stdout: str) -> list[float]:
    report = json.loads(stdout)
    return [it["pass_rate"] for c in report["cohorts"] for it in c["items"]]


def test_a_configured_name_grades_with_the_users_function(tmp_path, monkeypatch) -> None:
    (tmp_path / "datalint.toml").write_text(
        '[verifiers]\nhalf = "tests.test_grade_cli:half_credit"\n'
    )
    write_data(tmp_path, [{**SMOL, "verifier": "half"}])
    result = run(
        tmp_path,
        monkeypatch,
        "data.jsonl",
        "--format",
        "json",
        "--select",
        "S011,S012",
        "--trust-rollouts",
    )
    assert result.exit_code == 0, result.output
    # both rollouts got 0.5 (>= 0.5 counts as correct); numeric would have given 0.0
    assert item_pass_rates(result.stdout) == [1.0]


def test_pyproject_verifiers_table(tmp_path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.datalint.verifiers]\nhalf = "tests.test_grade_cli:half_credit"\n'
    )
    write_data(tmp_path, [{**SMOL, "verifier": "half"}])
    result = run(tmp_path, monkeypatch, "data.jsonl", "--format", "json", "--static-only")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[verifiers]\nunits = "not an import string"\n', "verifiers.units: expected"),
        ("[verifiers]\nunits = 3\n", "verifiers.units: expected"),
        ('[verifiers]\nmath = "a.b:c"\n', "verifiers.math: 'math' is a built-in"),
        ('[verifiers]\n"a:b" = "a.b:c"\n', "verifiers.a:b: a verifier name"),
        ('[verifiers]\nunits = "no_such_module_xyz:fn"\n', "verifiers.units: cannot import"),
        ('[verifiers]\nunits = "json:no_such_fn"\n', "verifiers.units: module 'json' has no"),
        ('answer-extraction = "regex"\n', "answer-extraction: unknown mode 'regex'"),
    ],
)
def test_bad_verifier_config_is_exit_2_naming_the_key(
    tmp_path, monkeypatch, toml: str, message: str
) -> None:
    (tmp_path / "datalint.toml").write_text(toml)
    write_data(tmp_path, [SMOL])
    result = run(tmp_path, monkeypatch, "data.jsonl", "--static-only")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "datalint.toml" in result.stderr
    assert "Traceback" not in result.output


def test_default_verifier_must_be_a_known_name(tmp_path, monkeypatch) -> None:
    write_data(tmp_path, [SMOL])
    result = run(tmp_path, monkeypatch, "data.jsonl", "--default-verifier", "shutil:rmtree")
    assert result.exit_code == 2
    assert "default verifier 'shutil:rmtree' is not a known verifier" in result.stderr


def test_answer_extraction_flag_and_config(tmp_path, monkeypatch) -> None:
    write_data(tmp_path, [SMOL])
    args = ("data.jsonl", "--format", "json", "--select", "S011", "--trust-rollouts")
    strict = run(tmp_path, monkeypatch, *args)
    assert item_pass_rates(strict.stdout) == [0.0]
    flag = run(tmp_path, monkeypatch, *args, "--answer-extraction", "last-number")
    assert item_pass_rates(flag.stdout) == [0.5]
    (tmp_path / "datalint.toml").write_text('answer-extraction = "last-number"\n')
    config = run(tmp_path, monkeypatch, *args)
    assert item_pass_rates(config.stdout) == [0.5]
    bad = run(tmp_path, monkeypatch, *args, "--answer-extraction", "nope")
    assert bad.exit_code == 2


def test_ungradable_items_are_findings_and_get_no_rollouts(tmp_path, monkeypatch) -> None:
    rollouts = [{"completion": "4"}, {"completion": "5"}]
    write_data(
        tmp_path,
        [
            {"prompt": "a", "answer": "4", "verifier": "shutil:rmtree", "rollouts": rollouts},
            {"prompt": "b", "answer": "4", "verifier": "numerc", "rollouts": rollouts},
            {"prompt": "c", "answer": "proof", "verifier": "math", "rollouts": rollouts},
            {"prompt": "d", "answer": "4", "verifier": "numeric", "rollouts": rollouts},
        ],
    )
    result = run(
        tmp_path,
        monkeypatch,
        "data.jsonl",
        "--format",
        "json",
        "--cohort-size",
        "1",
        "--trust-rollouts",
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    found = sorted((f["code"], f["line"]) for f in report["findings"] if f["code"] < "S1")
    assert found == [("S012", 1), ("S013", 3), ("S014", 2)]
    assert [c["id"] for c in report["cohorts"]] == ["data.jsonl:4"]  # only line 4 was graded
    assert "3 items left out of sampling" in result.stderr


def calibrate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "probe.jsonl").write_text('{"prompt": "1+1=", "answer": "2"}\n')
    return CliRunner().invoke(
        cli,
        ["calibrate", "data.jsonl", "--probe", "probe.jsonl", "--store", "s.db", *args],
        catch_exceptions=False,
    )


def test_calibrate_reads_the_verifiers_table_and_refuses_a_bad_one(tmp_path, monkeypatch) -> None:
    write_data(tmp_path, [SMOL])
    (tmp_path / "datalint.toml").write_text('[verifiers]\nunits = "no_such_module_xyz:fn"\n')
    result = calibrate(tmp_path, monkeypatch)
    assert result.exit_code == 2
    assert "verifiers.units: cannot import" in result.stderr
    assert not (tmp_path / "s.db").exists()


def test_calibrate_stops_before_any_run_on_an_ungradable_item(tmp_path, monkeypatch) -> None:
    pytest.importorskip("trl")
    write_data(
        tmp_path,
        [
            {"prompt": "What is 1+1?", "answer": "2", "verifier": "numeric"},
            {"prompt": "What is 2+2?", "answer": "4", "verifier": "shutil:rmtree"},
            {"prompt": "What is 3+3?", "answer": "6", "verifier": "numerc"},
        ],
    )
    result = calibrate(tmp_path, monkeypatch)
    assert result.exit_code == 2
    assert "data.jsonl:2: untrusted-verifier 'shutil:rmtree'" in result.stderr
    assert "and 1 more" in result.stderr
    assert not (tmp_path / "s.db").exists()


def test_calibrate_jobs_carry_the_configured_names_to_their_workers() -> None:
    import pickle

    from datalint.calibrate.jobs import cohort_reward
    from datalint.grade import Grading
    from datalint.load.records import Item, Source

    grading = Grading.build(verifiers={"half": "tests.test_grade_cli:half_credit"})
    items = (
        Item(Source("d.jsonl", 1), "20", verifier="half"),
        Item(Source("d.jsonl", 2), "20", verifier="json:loads"),
    )
    reward = cohort_reward(items, pickle.loads(pickle.dumps(grading)))
    assert reward(["x", "20"], [0, 1]) == [0.5, 0.0]  # the data's import string scores 0
