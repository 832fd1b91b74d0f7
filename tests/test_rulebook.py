"""Rule files parsed, checked and rendered, called directly (the shipped rules are also loaded at
collection time by tests/test_rule_examples.py, where no test can see what parsing did)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from datalint import rulebook
from datalint.rulebook import Rule, RuleFileError, load_rules, parse_rule, threshold_problem

RULE = '''
code = "S900"
name = "too-many-things"
summary = "More things than allowed."
scope = "cohort"
feature = "things"
must_be_at_most = 3
threshold_range = [0, 10]
level = "warning"
message = "{value} things, at most {threshold}; see {where}"
requires = "model"
default = false

[docs]
what = "Counts things."
why = "Things hurt."
fix = "Remove things."

[[examples]]
kind = "fail"
data = """{"prompt": "a", "answer": "1"}"""
probe = "p.jsonl"
options = { seed = 1 }

[[examples]]
kind = "pass"
data = ""
'''


def test_parse_rule_reads_every_field() -> None:
    rule = parse_rule(RULE, "S900.toml")
    assert (rule.code, rule.name, rule.summary) == (
        "S900",
        "too-many-things",
        "More things than allowed.",
    )
    assert (rule.scope, rule.feature, rule.level) == ("cohort", "things", "warning")
    assert (rule.comparator, rule.threshold, rule.threshold_range) == (
        "must_be_at_most",
        3.0,
        (0.0, 10.0),
    )
    assert type(rule.threshold) is float
    assert (rule.what, rule.why, rule.fix) == ("Counts things.", "Things hurt.", "Remove things.")
    assert rule.default is False and rule.requires == "model"
    assert rule.family == "S"
    fail, ok = rule.examples
    assert (fail.kind, fail.data, fail.probe, fail.options) == (
        "fail",
        '{"prompt": "a", "answer": "1"}',
        "p.jsonl",
        {"seed": 1},
    )
    assert (ok.kind, ok.data, ok.probe, ok.options) == ("pass", "", None, {})


def test_parse_rule_defaults() -> None:
    text = RULE.replace('requires = "model"\n', "").replace("default = false\n", "")
    text = text.replace("threshold_range = [0, 10]\n", "")
    rule = parse_rule(text, "S900.toml")
    assert rule.default is True and rule.requires is None
    assert rule.threshold_range == (-math.inf, math.inf)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code = ", "S900.toml: invalid TOML: "),
        (
            RULE.replace('scope = "cohort"', 'scope = "galaxy"'),
            "S900.toml: scope: 'galaxy' is not one of",
        ),
        (
            RULE.replace('code = "S900"\n', ""),
            "S900.toml: (top level): 'code' is a required property",
        ),
        (
            RULE.replace("must_be_at_most = 3", "must_be_at_most = 11"),
            "S900.toml: must_be_at_most = 11 lies outside its threshold_range",
        ),
        (
            RULE.replace("must_be_at_most = 3", "must_be_at_most = -1"),
            "S900.toml: must_be_at_most = -1 lies outside its threshold_range",
        ),
        (
            RULE.replace("must_be_at_most = 3", "must_be_at_most = nan").replace(
                "threshold_range = [0, 10]", "threshold_range = [-inf, inf]"
            ),
            "S900.toml: must_be_at_most = nan lies outside its threshold_range",
        ),
    ],
)
def test_a_bad_rule_file_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(RuleFileError) as err:
        parse_rule(text, "S900.toml")
    assert str(err.value).startswith(message), str(err.value)


def test_thresholds_at_the_ends_of_their_range_are_accepted() -> None:
    for value in ("0", "10"):
        rule = parse_rule(RULE.replace("must_be_at_most = 3", f"must_be_at_most = {value}"), "x")
        assert rule.threshold == float(value)


@pytest.mark.parametrize(
    ("comparator", "threshold", "passing", "failing"),
    [
        ("must_be_less_than", 2, [1, 1.99], [2, 3]),
        ("must_be_at_most", 2, [1, 2], [2.01, 3]),
        ("must_be_greater_than", 2, [2.01, 3], [1, 2]),
        ("must_be_at_least", 2, [2, 3], [1, 1.99]),
        ("must_equal", 0, [0], [1, -1]),
    ],
)
def test_comparators_at_their_boundaries(comparator, threshold, passing, failing) -> None:
    rule = parse_rule(RULE, "x").with_overrides({comparator: threshold})
    assert [rule.passes(v) for v in passing] == [True] * len(passing)
    assert [rule.passes(v) for v in failing] == [False] * len(failing)
    assert rule.passes(float("nan")) is True  # a missing metric never fires


def test_conditions_read_as_phrases() -> None:
    rule = parse_rule(RULE, "x")
    assert rule.condition == "things must be at most 3"
    assert (
        rule.with_overrides({"must_be_less_than": 0.25}).condition
        == "things must be less than 0.25"
    )
    assert (
        rule.with_overrides({"must_be_greater_than": 1}).condition
        == "things must be greater than 1"
    )
    assert rule.with_overrides({"must_be_at_least": 2}).condition == "things must be at least 2"
    assert rule.with_overrides({"must_equal": 0}).condition == "things must be equal to 0"


def test_overrides_change_level_and_threshold_and_ignore_other_keys() -> None:
    rule = parse_rule(RULE, "x")
    changed = rule.with_overrides({"level": "error", "must_be_greater_than": 5, "select": True})
    assert (changed.level, changed.comparator, changed.threshold) == (
        "error",
        "must_be_greater_than",
        5.0,
    )
    assert type(changed.threshold) is float
    assert (changed.code, changed.feature, changed.message) == (
        rule.code,
        rule.feature,
        rule.message,
    )
    assert rule.with_overrides({}) == rule
    only_level = rule.with_overrides({"level": "error"})
    assert (only_level.comparator, only_level.threshold) == ("must_be_at_most", 3.0)


def test_render_fills_the_message_and_falls_back_on_a_missing_key() -> None:
    rule = parse_rule(RULE, "x")
    assert rule.render(4.0, {"where": "line 2"}) == "4 things, at most 3; see line 2"
    assert rule.render(0.1234, {"where": "w"}) == "0.123 things, at most 3; see w"
    # a context value may override the formatted value
    assert rule.render(4.0, {"where": "w", "value": "four"}) == "four things, at most 3; see w"
    fallback = "More things than allowed. (things must be at most 3; got 4)"
    assert rule.render(4.0, {}) == fallback
    assert rule.with_overrides({}).render(4.0, {"where": "w"}).endswith("see w")
    for message in ("{0} things", "{where!z}"):
        broken = Rule(**{**_fields(rule), "message": message})
        assert broken.render(4.0, {"where": "w"}) == fallback


def _fields(rule: Rule) -> dict:
    return {name: getattr(rule, name) for name in Rule.__slots__}


def test_fmt_writes_integers_plainly_and_three_significant_digits_otherwise() -> None:
    fmt = rulebook._fmt
    assert (fmt(3.0), fmt(0.5), fmt(1234.5678), fmt(-2.0), fmt(7), fmt("x")) == (
        "3",
        "0.5",
        "1.23e+03",
        "-2",
        "7",
        "x",
    )


def test_docs_markdown_has_every_section_and_example() -> None:
    rule = parse_rule(RULE, "x")
    assert rule.docs_markdown() == (
        "# S900 too-many-things\n\nMore things than allowed.\n\n"
        "Level: warning. Scope: cohort. Condition: `things must be at most 3`. "
        "Off by default: enable it with `select`.\n\n"
        "## What it does\nCounts things.\n\n## Why it matters\nThings hurt.\n\n"
        "## How to fix\nRemove things.\n\n"
        '## Example that fails\n```jsonl\n{"prompt": "a", "answer": "1"}\n```\n\n'
        "## Example that passes\n```jsonl\n(an empty file)\n```\n"
    )
    on = Rule(**{**_fields(rule), "default": True, "examples": ()})
    assert "Off by default" not in on.docs_markdown()
    assert on.docs_markdown().endswith("## How to fix\nRemove things.\n")


def test_as_dict() -> None:
    assert parse_rule(RULE, "x").as_dict() == {
        "code": "S900",
        "name": "too-many-things",
        "summary": "More things than allowed.",
        "scope": "cohort",
        "feature": "things",
        "condition": "things must be at most 3",
        "comparator": "must_be_at_most",
        "threshold": 3.0,
        "level": "warning",
        "default": False,
        "requires": "model",
    }


@pytest.mark.parametrize(
    ("low", "high", "value", "problem"),
    [
        (0, 10, 0, None),
        (0, 10, 10, None),
        (0, 10, 5.5, None),
        (0, 10, 11, "must be between 0 and 10 for things (got 11)"),
        (0, 10, -0.5, "must be between 0 and 10 for things (got -0.5)"),
        (1, math.inf, 0, "must be at least 1 for things (got 0)"),
        (-math.inf, 1, 2, "must be at most 1 for things (got 2)"),
        (-math.inf, math.inf, float("nan"), "must be a finite number (got nan)"),
        (-math.inf, math.inf, math.inf, "must be a finite number (got inf)"),
        (-math.inf, math.inf, -1e300, None),
    ],
)
def test_threshold_problem(low, high, value, problem) -> None:
    rule = Rule(**{**_fields(parse_rule(RULE, "x")), "threshold_range": (low, high)})
    assert threshold_problem(rule, value) == problem


def _rules_folder(tmp_path: Path, files: dict[str, str], monkeypatch) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, "utf-8")
    monkeypatch.setattr(rulebook, "rules_dir", lambda: tmp_path)
    load_rules.cache_clear()


@pytest.fixture
def fresh_rules():
    load_rules.cache_clear()
    yield
    load_rules.cache_clear()


def test_load_rules_reads_toml_files_sorted_by_name(tmp_path, monkeypatch, fresh_rules) -> None:
    second = RULE.replace("S900", "S901")
    _rules_folder(
        tmp_path, {"S901.toml": second, "S900.toml": RULE, "README.md": "not a rule"}, monkeypatch
    )
    assert [r.code for r in load_rules()] == ["S900", "S901"]
    assert rulebook.rules_by_code()["S901"].code == "S901"


def test_load_rules_wants_the_file_named_by_its_code(tmp_path, monkeypatch, fresh_rules) -> None:
    _rules_folder(tmp_path, {"S123.toml": RULE}, monkeypatch)
    with pytest.raises(RuleFileError, match=r"^S123.toml: rename it to S900.toml \(its code\)$"):
        load_rules()


def test_load_rules_refuses_duplicate_codes(tmp_path, monkeypatch, fresh_rules) -> None:
    # two files, one code: only reachable on a case-insensitive name clash, so fake the folder
    class Entry:
        def __init__(self, name: str) -> None:
            self.name = name

        def read_text(self, encoding: str) -> str:
            return RULE

    class Folder:
        def iterdir(self):
            return [Entry("S900.toml"), Entry("S900.toml")]

    monkeypatch.setattr(rulebook, "rules_dir", lambda: Folder())
    with pytest.raises(RuleFileError, match=r"^duplicate rule codes: S900$"):
        load_rules()


def test_the_shipped_rules_folder_is_the_checkout_rules_folder() -> None:
    folder = rulebook.rules_dir()
    assert (Path(str(folder)) / "S007.toml").is_file()
    shipped = load_rules()
    assert [r.code for r in shipped] == sorted(r.code for r in shipped)


def test_a_default_rule_says_nothing_about_selection() -> None:
    rule = Rule(**{**_fields(parse_rule(RULE, "x")), "default": True})
    lines = rule.docs_markdown().splitlines()
    assert lines[4] == "Level: warning. Scope: cohort. Condition: `things must be at most 3`."


def test_more_formatting_and_nested_errors_and_the_wheel_folder(tmp_path, monkeypatch) -> None:
    assert rulebook._fmt(1234.0) == "1234"  # a whole number stays whole, however large
    with pytest.raises(RuleFileError) as err:
        parse_rule(RULE.replace('what = "Counts things."', 'what = ""'), "S900.toml")
    assert str(err.value) == "S900.toml: docs/what: '' should be non-empty"
    packaged = tmp_path / "_data" / "rules"
    packaged.mkdir(parents=True)
    monkeypatch.setattr(rulebook.resources, "files", lambda package: tmp_path)
    assert Path(str(rulebook.rules_dir())) == packaged
