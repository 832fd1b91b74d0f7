"""The operator's own inputs (config, flags, predictor) are checked before any work starts.

Each bad value is a one-line error (exit 2) that names the key or the file; the boundary values
themselves are accepted.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.config import ConfigError, load_config
from datalint.features_names import FEATURE_NAMES
from datalint.predict import LiftPredictor, PredictorError
from datalint.rulebook import RuleFileError, load_rules, parse_rule, rules_by_code

RULES = load_rules()
REPO = Path(__file__).resolve().parent.parent


def _load(tmp_path: Path, text: str, name: str = "datalint.toml"):  # type: ignore[no-untyped-def]
    cfg = tmp_path / name
    cfg.write_text(text)
    return load_config(str(cfg), RULES)


# -- numeric config values ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("cohort-size = 0\n", "cohort-size: must be at least 1 (got 0)"),
        ("rollouts-per-item = 0\n", "rollouts-per-item: must be at least 1 (got 0)"),
        ("temperature = -1\n", "temperature: must be at least 0 (got -1)"),
        ("temperature = nan\n", "temperature: must be a finite number (got nan)"),
        ("temperature = inf\n", "temperature: must be a finite number (got inf)"),
        ("max-new-tokens = 0\n", "max-new-tokens: must be at least 1 (got 0)"),
        ("seed = -1\n", "seed: must be at least 0 (got -1)"),
        ("fail-under = nan\n", "fail-under: must be a finite number (got nan)"),
        ("fail-under = -inf\n", "fail-under: must be a finite number (got -inf)"),
        ("[rules.S007]\nmust_be_at_most = -1\n", "rules.S007.must_be_at_most: must be at least 1"),
        ("[rules.S007]\nmust_be_at_most = 0.5\n", "rules.S007.must_be_at_most: must be at least 1"),
        ("[rules.RW001]\nmust_be_at_most = 1.5\n", "rules.RW001.must_be_at_most: must be between"),
        ("[rules.RW003]\nmust_be_at_least = -0.1\n", "rules.RW003.must_be_at_least: must be"),
        ("[rules.D002]\nmust_be_less_than = nan\n", "rules.D002.must_be_less_than: must be a fin"),
        ("[rules.P001]\nmust_be_greater_than = inf\n", "rules.P001.must_be_greater_than: must"),
    ],
)
def test_out_of_range_values_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert needle in str(err.value) and str(tmp_path / "datalint.toml") in str(err.value)


def test_the_boundary_values_themselves_are_accepted(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        "cohort-size = 1\nrollouts-per-item = 1\ntemperature = 0\nmax-new-tokens = 1\n"
        "seed = 0\nfail-under = -0.5\n[rules.S007]\nmust_be_at_most = 1\n"
        "[rules.RW001]\nmust_be_at_most = 1.0\n[rules.P001]\nmust_be_greater_than = -3\n",
    )
    assert config.get("cohort-size") == 1 and config.get("temperature") == 0
    assert config.get("rules")["S007"] == {"must_be_at_most": 1}


def test_every_shipped_threshold_lies_in_its_own_range() -> None:
    for rule in RULES:
        low, high = rule.threshold_range
        assert low <= rule.threshold <= high, rule.code
    assert rules_by_code()["S007"].threshold_range == (1.0, math.inf)
    assert rules_by_code()["RW001"].threshold_range == (0.0, 1.0)


def test_a_rule_file_whose_threshold_leaves_its_range_is_refused() -> None:
    text = (REPO / "rules" / "S007.toml").read_text()
    broken = text.replace("must_be_at_most = 8388608", "must_be_at_most = 0")
    with pytest.raises(RuleFileError, match="outside its threshold_range"):
        parse_rule(broken, "S007.toml")


def test_an_s007_limit_of_minus_one_is_a_config_error_not_a_pass(tmp_path: Path, monkeypatch):
    # Before: the loader read every line as longer than -1 bytes, skipped it, and passed.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datalint.toml").write_text("[rules.S007]\nmust_be_at_most = -1\n")
    (tmp_path / "d.jsonl").write_text("{bad json\n")
    result = CliRunner().invoke(cli, ["check", "d.jsonl", "--static-only"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "rules.S007.must_be_at_most" in result.stderr


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--fail-under", "nan"),
        ("--fail-under", "inf"),
        ("--temperature", "nan"),
        ("--temperature", "-1"),
        ("--seed", "-1"),
        ("--cohort-size", "0"),
        ("--rollouts-per-item", "0"),
        ("--max-new-tokens", "0"),
    ],
)
def test_bad_numeric_flags_are_usage_errors(tmp_path: Path, flag: str, value: str) -> None:
    (tmp_path / "d.jsonl").write_text('{"prompt": "1+1=", "answer": "2"}\n')
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "d.jsonl"), flag, value])
    assert result.exit_code == 2
    assert flag in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("flag", ["--temperature", "--lr"])
def test_calibrate_refuses_nan_floats_before_any_work(tmp_path: Path, flag: str) -> None:
    args = ["calibrate", "d.jsonl", "--probe", "p.jsonl", "--store", "s.sqlite", flag, "nan"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "not a finite number" in result.stderr


# -- datalint.toml takes the same [tool.datalint] table as pyproject.toml ---------------------
def readme_config_snippets() -> list[str]:
    text = (REPO / "README.md").read_text("utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    snippets = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    assert snippets, "the README's Configuration section has no toml snippet"
    return snippets


@pytest.mark.parametrize("snippet", readme_config_snippets())
def test_the_readme_snippets_work_in_both_files(tmp_path: Path, monkeypatch, snippet: str) -> None:
    assert "[tool.datalint]" in snippet
    loaded = {}
    for name in ("datalint.toml", "pyproject.toml"):
        folder = tmp_path / name.split(".")[0]
        (folder / "eval").mkdir(parents=True)
        (folder / name).write_text(snippet)
        (folder / "eval" / "probe.jsonl").write_text('{"prompt": "9+9=", "answer": "18"}\n')
        (folder / "d.jsonl").write_text(
            '{"prompt": "1+1=", "answer": "2"}\n{"prompt": "1+1=", "answer": "2"}\n{oops\n'
        )
        loaded[name] = load_config(str(folder / name), RULES).options
        monkeypatch.chdir(folder)
        result = CliRunner().invoke(
            cli, ["check", "d.jsonl", "--static-only", "--format", "json", "--no-cache"]
        )
        assert result.exit_code == 1, result.output  # findings, not a config error
        codes = {f["code"] for f in json.loads(result.stdout)["findings"]}
        assert codes == {"S001", "D001"}  # select = S, D, RW with D002 ignored: the file's picks
    assert loaded["datalint.toml"] == loaded["pyproject.toml"]
    assert loaded["datalint.toml"]["rules"]["RW001"] == {"must_be_at_most": 0.75, "level": "error"}


def test_datalint_toml_top_level_and_table_are_the_same(tmp_path: Path) -> None:
    flat = _load(tmp_path, 'select = ["S"]\ncohort-size = 2\n').options
    table = _load(tmp_path, '[tool.datalint]\nselect = ["S"]\ncohort-size = 2\n').options
    assert flat == table == {"select": ["S"], "cohort-size": 2}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('select = ["S"]\n[tool.datalint]\nignore = ["D"]\n', "select: put it under"),
        ('[tool.datalint]\nselect = ["S"]\n[tool.ruff]\nx = 1\n', "tool.ruff: unknown table"),
        ("[tool.datalint]\ncohort-size = 0\n", "tool.datalint.cohort-size: must be at least 1"),
        ("[tool.datalint]\nbogus = 1\n", "tool.datalint.bogus: unknown option"),
        ("[tool.other]\nx = 1\n", "tool: unknown option"),
    ],
)
def test_datalint_toml_table_errors_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert needle in str(err.value)


# -- the predictor ----------------------------------------------------------------------------
onnx_models = pytest.importorskip("tests.onnx_models", reason="needs the onnx package")


def _features() -> dict[str, float]:
    return {name: float(i + 1) for i, name in enumerate(FEATURE_NAMES)}


def test_the_feature_order_is_the_one_in_the_onnx_metadata(tmp_path: Path) -> None:
    rotated = list(FEATURE_NAMES[5:] + FEATURE_NAMES[:5])
    path = onnx_models.column(tmp_path / "p.onnx", 0, rotated)
    # A card beside it in the canonical order: the model reads its metadata's order, not the card's.
    (tmp_path / "p.json").write_text(json.dumps({"features": list(FEATURE_NAMES)}))
    predictor = LiftPredictor.load(path)
    assert predictor.feature_order == tuple(rotated)
    # column 0 of the rotated order is FEATURE_NAMES[5], whose value is 6
    assert predictor.predict([_features()]).tolist() == [6.0]
    last = onnx_models.column(tmp_path / "q.onnx", len(rotated) - 1, rotated)
    assert LiftPredictor.load(last).predict([_features()]).tolist() == [5.0]


def test_a_subset_of_features_in_the_metadata_is_honoured(tmp_path: Path) -> None:
    path = onnx_models.column(tmp_path / "p.onnx", 1, ["pass_rate", "adv_std"])
    assert LiftPredictor.load(path).predict([{"adv_std": 0.5, "pass_rate": 0.25}]).tolist() == [0.5]


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda p: onnx_models.constant(p, 0.1, out_shape="wide"), "outputs shape [2, 23]"),
        (onnx_models.double_input, "model input is tensor(double), expected tensor(float)"),
        (onnx_models.two_inputs, "model takes 2 inputs, expected 1"),
        (lambda p: onnx_models.column(p, 0, ["adv_std", "not_a_feature"]), "'not_a_feature'"),
        (lambda p: onnx_models.column(p, 0, ["adv_std", "adv_std"]), "names a feature twice"),
    ],
)
def test_a_broken_predictor_fails_at_load(tmp_path: Path, build, needle: str) -> None:
    with pytest.raises(PredictorError) as err:
        LiftPredictor.load(build(tmp_path / "bad.onnx"))
    assert needle in str(err.value) and "bad.onnx" in str(err.value)


def test_a_card_naming_other_features_is_refused(tmp_path: Path) -> None:
    path = onnx_models.constant(tmp_path / "p.onnx", 0.1)
    (tmp_path / "p.json").write_text(json.dumps({"features": ["adv_std"]}))
    with pytest.raises(PredictorError, match="card's features differ"):
        LiftPredictor.load(path)
    (tmp_path / "p.json").write_text("{not json")
    with pytest.raises(PredictorError, match="unreadable predictor card"):
        LiftPredictor.load(path)


def test_the_shipped_predictor_passes_its_own_checks() -> None:
    predictor = LiftPredictor.load(None)
    assert not predictor.is_fallback
    # the 23 in their order, then the gradient signals it reads
    assert predictor.feature_order == (*FEATURE_NAMES, "grad_align_adam", "grad_align_cos")


def test_nan_predictions_are_an_error(tmp_path: Path) -> None:
    predictor = LiftPredictor.load(onnx_models.constant(tmp_path / "nan.onnx", math.nan))
    with pytest.raises(PredictorError, match="predicted NaN or infinity for 2 of 2 cohorts"):
        predictor.predict([{}, {}])


# -- through check: a lift score exactly at --fail-under passes ---------------------------------
def _replay_setup(tmp_path: Path) -> list[str]:
    prompts = [("1+1=", "2"), ("2+2=", "4"), ("3+3=", "6"), ("4+4=", "8")]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "answer": a}) + "\n" for p, a in prompts))
    header = {"datalint": "rollouts", "version": 1, "backend": "transformers", "params": {}}
    lines = [json.dumps(header)]
    for p, a in prompts:
        completions = [a, "0", a, "1"]
        lines.append(
            json.dumps(
                {
                    "prompt_sha256": hashlib.sha256(p.encode()).hexdigest(),
                    "rollouts": [{"completion": c} for c in completions],
                }
            )
        )
    (tmp_path / "r.rollouts.jsonl").write_text("\n".join(lines) + "\n")
    return [str(data), "--rollouts", str(tmp_path / "r.rollouts.jsonl"), "--no-cache"]


def test_a_lift_score_exactly_at_fail_under_passes(tmp_path: Path) -> None:
    base = _replay_setup(tmp_path)
    predictor = onnx_models.constant(tmp_path / "quarter.onnx", 0.25)
    base += ["--predictor", str(predictor), "--select", "S", "--format", "json", "-q"]
    at = CliRunner().invoke(cli, ["check", *base, "--fail-under", "0.25"])
    assert at.exit_code == 0, at.output
    summary = json.loads(at.stdout)["summary"]
    assert summary["lift_score"] == 0.25 and summary["passed"] is True
    above = CliRunner().invoke(cli, ["check", *base, "--fail-under", "0.2500001"])
    assert above.exit_code == 1 and json.loads(above.stdout)["summary"]["passed"] is False


def test_a_nan_predictor_exits_2_instead_of_disabling_fail_under(tmp_path: Path) -> None:
    base = _replay_setup(tmp_path)
    predictor = onnx_models.constant(tmp_path / "nan.onnx", math.nan)
    result = CliRunner().invoke(
        cli, ["check", *base, "--predictor", str(predictor), "--fail-under", "1000"]
    )
    assert result.exit_code == 2
    assert "nan.onnx: predicted NaN" in result.stderr and result.stderr.count("\n") == 1


def test_a_predictor_with_the_wrong_output_fails_before_any_rollout(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"prompt": "1+1=", "answer": "2"}\n')
    wide = onnx_models.constant(tmp_path / "wide.onnx", 0.1, out_shape="wide")
    # No --rollouts and no inline rollouts: a run would sample; the predictor fails first.
    result = CliRunner().invoke(
        cli, ["check", str(tmp_path / "d.jsonl"), "--predictor", str(wide), "--no-cache"]
    )
    assert result.exit_code == 2
    assert "wide.onnx: model outputs shape [2, 23]" in result.stderr
    assert "internal error" not in result.stderr
