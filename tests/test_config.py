"""Config discovery, rule selection by code and prefix, overrides, and strict errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.config import ConfigError, find_config, load_config, select_rules
from datalint.rulebook import load_rules

RULES = load_rules()


def codes(rules) -> list[str]:
    return [r.code for r in rules]


def test_default_selection_skips_opt_in_rules() -> None:
    active = codes(
        select_rules(RULES, select=None, extend_select=None, ignore=None, overrides=None)
    )
    assert "S001" in active
    assert all(r.code in active for r in RULES if r.default)
    assert not any(r.code in active for r in RULES if not r.default)


def test_select_by_prefix_and_ignore_longer_prefix_wins() -> None:
    active = codes(
        select_rules(RULES, select=["S"], extend_select=None, ignore=["S00"], overrides=None)
    )
    assert active and all(c.startswith("S") and not c.startswith("S00") for c in active)
    active = codes(
        select_rules(RULES, select=["S00"], extend_select=None, ignore=["S"], overrides=None)
    )
    assert active == [c for c in codes(RULES) if c.startswith("S00")]


def test_ignore_beats_select_on_a_tie_and_extend_select_adds() -> None:
    assert (
        codes(
            select_rules(
                RULES, select=["S001"], extend_select=None, ignore=["S001"], overrides=None
            )
        )
        == []
    )
    active = codes(
        select_rules(RULES, select=["S001"], extend_select=["S002"], ignore=None, overrides=None)
    )
    assert active == ["S001", "S002"]


def test_override_changes_threshold_and_level() -> None:
    (rule,) = select_rules(
        RULES,
        select=["S007"],
        extend_select=None,
        ignore=None,
        overrides={"S007": {"must_be_at_most": 10, "level": "warning"}},
    )
    assert rule.threshold == 10 and rule.level == "warning"
    assert rule.passes(10) and not rule.passes(11)


def test_nearest_config_wins_and_pyproject_without_table_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "datalint.toml").write_text('select = ["S"]\n')
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(inner) == tmp_path / "datalint.toml"
    (tmp_path / "a" / "pyproject.toml").write_text('[tool.datalint]\nignore = ["D"]\n')
    assert find_config(inner) == tmp_path / "a" / "pyproject.toml"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('selct = ["S"]\n', "selct: unknown option"),
        ('select = ["X9"]\n', "X9: no rule code matches"),
        ('select = "S"\n', "select: expected a list"),
        ("[rules.S999]\nlevel = 'error'\n", "rules.S999: unknown rule code"),
        ("[rules.S007]\nmust_be_big = 3\n", "rules.S007.must_be_big: unknown key"),
        ("[rules.S007]\nlevel = 'fatal'\n", "rules.S007.level"),
        ("select = [\n", "invalid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "datalint.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=None) as err:
        load_config(str(cfg), RULES)
    assert needle in str(err.value) and str(cfg) in str(err.value)


def test_pyproject_errors_carry_the_table_prefix(tmp_path: Path) -> None:
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.datalint]\nfail_under = 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(cfg), RULES)
    assert "tool.datalint.fail_under: unknown option" in str(err.value)


def test_cli_config_error_exits_2_with_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datalint.toml").write_text("bogus = 1\n")
    (tmp_path / "d.jsonl").write_text('{"prompt": "1+1=", "answer": "2"}\n')
    result = CliRunner().invoke(cli, ["check", "d.jsonl", "--static-only"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "bogus: unknown option" in result.stderr


def test_cli_unknown_selector_exits_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.jsonl").write_text('{"prompt": "1+1=", "answer": "2"}\n')
    result = CliRunner().invoke(cli, ["check", "d.jsonl", "--static-only", "--ignore", "ZZ1"])
    assert result.exit_code == 2 and "ZZ1: no rule code matches" in result.stderr


def test_config_select_and_override_apply_to_check(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.datalint]\nselect = ["S001", "S007"]\n'
        '[tool.datalint.rules.S001]\nlevel = "warning"\n'
    )
    (tmp_path / "d.jsonl").write_text('{bad\n{"prompt": "1+1=", "answer": "2"}\n')
    result = CliRunner().invoke(cli, ["check", "d.jsonl", "--static-only", "--format", "json"])
    report = json.loads(result.stdout)
    assert [(f["code"], f["level"]) for f in report["findings"]] == [("S001", "warning")]
    assert result.exit_code == 0
    result = CliRunner().invoke(
        cli, ["check", "d.jsonl", "--static-only", "--format", "json", "--select", "S002"]
    )
    assert json.loads(result.stdout)["findings"] == []
