"""Verifiers: each built-in on hand-picked completions, plug-ins, and failures as records."""

from __future__ import annotations

import math
import sys
import threading
import types

import pytest

from datalint.extras import MissingExtra
from datalint.grade import (
    Grading,
    GradingError,
    UnknownVerifier,
    UntrustedVerifier,
    get_verifier,
    grade,
    grade_items,
)
from datalint.grade.mcq import chosen_letter
from datalint.grade.numeric import parse_number
from datalint.load.records import Item, Rollout, Source


def item(answer, verifier=None, line=1, **kw) -> Item:
    return Item(source=Source("data.jsonl", line), answer=answer, verifier=verifier, **kw)


@pytest.mark.parametrize(
    ("completion", "reward"),
    [
        ("85", 1.0),
        ("  85 \n", 1.0),
        ("85.", 1.0),
        ("85 junk", 0.0),  # the tiny world: text before EOS is the answer, as is
        ("8 5", 0.0),
        ("", 0.0),
    ],
)
def test_exact_on_tiny_world_completions(completion: str, reward: float) -> None:
    assert grade(item("85"), completion) == reward  # "exact" is the default verifier


def test_exact_normalizes_case_and_whitespace() -> None:
    assert grade(item("New  York", "exact"), "new york.") == 1.0
    assert grade(item("New York", "exact"), "New Yorker") == 0.0


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234", 1234.0),
        ("3/4", 0.75),
        ("-3 / 4", -0.75),
        ("1e-3", 0.001),
        ("+2.50", 2.5),
        (".5", 0.5),
        ("50%", 0.5),
        ("42.", 42.0),
        ("12,34", None),
        ("85 junk", None),
        ("1/0", None),
        ("e5", None),
        ("", None),
    ],
)
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    ("gold", "completion", "reward"),
    [
        ("1234", "1,234", 1.0),
        (0.75, "3/4", 1.0),
        ("0.001", "1e-3", 1.0),
        ("85", "85 junk", 0.0),  # taken as is: not a number, and no answer marker
        ("85", "86", 0.0),
        ("7", "Adding them up, the answer is 7.", 1.0),
        ("7", "#### 7", 1.0),
        ("7", r"so \boxed{7}", 1.0),
        ("7", "The answer is 3. No, wait: the answer is 7.", 1.0),  # the last marker wins
        ("7", "the answer is 7, I think", 1.0),  # the comma after it is not part of the number
        ("3", "The answer is 3. No, wait: the answer is 7.", 0.0),
        ("7", "#### 3 ... answer: 5 ... \\boxed{7}", 1.0),
    ],
)
def test_numeric(gold, completion: str, reward: float) -> None:
    assert grade(item(gold, "numeric"), completion) == reward


def test_numeric_tolerance_is_configurable() -> None:
    loose = get_verifier("numeric", rel_tol=1e-3)
    strict = get_verifier("numeric")
    # |100.05 - 100| / 100.05 = 5.0e-4: inside rel 1e-3, outside rel 1e-6
    assert loose("100.05", item("100")) == 1.0
    assert strict("100.05", item("100")) == 0.0
    assert strict("100.00000001", item("100")) == 1.0  # 1e-10 relative


def test_numeric_gold_that_is_no_number_is_an_error() -> None:
    with pytest.raises(GradingError, match="not a number"):
        grade(item("seven", "numeric"), "7")


@pytest.mark.parametrize(
    ("completion", "letter"),
    [
        ("B", "B"),
        ("(B)", "B"),
        ("b.", "B"),
        ("Answer: B", "B"),
        ("the answer is b.", "B"),
        ("The answer is (C) because the rest are wrong", "C"),
        ("I first thought A, but the answer is D", "D"),
        ("Answer: A. On reflection, the answer is C", "C"),  # the last marker wins
        ("answer: b ... Answer: D ... the answer is (a).", "A"),
        ("B) 42", "B"),
        ("the answer is a prime", None),  # lower-case "a" here is an article
        ("I do not know", None),
    ],
)
def test_mcq_letter_extraction(completion: str, letter: str | None) -> None:
    assert chosen_letter(completion) == letter


def test_mcq_without_a_gold_answer_is_a_grading_error() -> None:
    with pytest.raises(GradingError) as err:
        grade(item([], "mcq"), "A")
    assert str(err.value) == "the item has no gold answer"


def test_mcq_gold_letter_or_choice_text() -> None:
    choices = ["Paris", "Rome", "Berlin"]
    assert grade(item("B", "mcq", choices=choices), "Answer: B") == 1.0
    assert grade(item("B", "mcq", choices=choices), "Answer: C") == 0.0
    assert grade(item("Rome", "mcq", choices=choices), "(b)") == 1.0
    assert grade(item("Rome", "mcq", choices=choices), "rome") == 1.0  # choice text as the answer
    with pytest.raises(GradingError, match="neither an option letter"):
        grade(item("Madrid", "mcq", choices=choices), "A")
    with pytest.raises(GradingError):
        grade(item("D", "mcq", choices=choices), "D")  # only three options


def test_regex_fullmatch_on_stripped_completion() -> None:
    assert grade(item(r"\d+ (cm|mm)", "regex"), " 12 cm\n") == 1.0
    assert grade(item(r"\d+ (cm|mm)", "regex"), "12 cm long") == 0.0
    with pytest.raises(GradingError, match="regular expression"):
        grade(item("([", "regex"), "x")


def test_math_verifier_equivalent_forms() -> None:
    pytest.importorskip("math_verify")
    assert grade(item("3/4", "math"), r"The answer is $\frac{3}{4}$") == 1.0
    assert grade(item("0.75", "math"), "so x = 0.75") == 1.0
    assert grade(item("5", "math"), "I think 6") == 0.0


def test_math_verifier_runs_in_a_thread() -> None:
    pytest.importorskip("math_verify")
    out: list[float] = []
    worker = threading.Thread(target=lambda: out.append(grade(item("3/4", "math"), "0.75")))
    worker.start()
    worker.join()
    assert out == [1.0]


def test_math_verifier_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "math_verify", None)  # makes `import math_verify` fail
    with pytest.raises(MissingExtra, match=r"datalint\[math\]"):
        grade(item("1/3", "math"), "1/3")


CALLS: list[str] = []


def _plugin_module(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("my_graders")
    module.starts_with_gold = lambda completion, it: completion.startswith(it.answer_text)
    module.half = lambda completion, it: 0.5
    module.broken = lambda completion, it: 1 / 0
    module.not_a_number = lambda completion, it: "yes"
    module.spy = lambda completion, it: CALLS.append(completion) or 1.0
    monkeypatch.setitem(sys.modules, "my_graders", module)
    CALLS.clear()


CONFIGURED = Grading.build(
    verifiers={
        "starts": "my_graders:starts_with_gold",
        "half": "my_graders:half",
        "broken": "my_graders:broken",
        "nan": "my_graders:not_a_number",
        "missing": "my_graders:missing",
        "nomodule": "no_such_module_xyz:fn",
    }
)


def test_configured_verifier_names_map_to_code(monkeypatch: pytest.MonkeyPatch) -> None:
    _plugin_module(monkeypatch)
    assert grade(item("85", "starts"), "85 junk", CONFIGURED) == 1.0
    assert grade(item("85", "half"), "x", CONFIGURED) == 0.5
    with pytest.raises(GradingError) as err:
        grade(item("85", "nan"), "x", CONFIGURED)
    assert str(err.value) == "verifier 'nan' returned 'yes', not a finite number"
    with pytest.raises(GradingError, match="has no verifier"):
        get_verifier("missing", CONFIGURED)
    with pytest.raises(GradingError, match="cannot import"):
        get_verifier("nomodule", CONFIGURED)


def test_an_import_string_in_the_data_is_never_imported_or_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _plugin_module(monkeypatch)
    for name in ("my_graders:spy", "shutil:rmtree", "builtins:print", "os:_exit"):
        with pytest.raises(UntrustedVerifier, match="not imported"):
            grade(item("85", name), "85", CONFIGURED)
    assert CALLS == []
    monkeypatch.delitem(sys.modules, "my_graders")
    with pytest.raises(UntrustedVerifier):
        get_verifier("my_graders:spy")
    assert "my_graders" not in sys.modules  # not even an import was tried
    # the same string is followed only when the user's config maps a name to it
    spy = Grading.build(verifiers={"spy": "my_graders:spy"})
    with pytest.raises(UntrustedVerifier):
        grade(item("85", "my_graders:spy"), "85", spy)


def test_plugin_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    from datalint.grade import plugins

    class FakeEntryPoint:
        name = "always"

        def load(self):
            return lambda completion, it: True

    monkeypatch.setattr(plugins, "entry_points", lambda group: [FakeEntryPoint()])
    get_verifier.cache_clear()
    plugins.entry_point_names.cache_clear()
    try:
        assert grade(item("x", "always"), "anything") == 1.0
        with pytest.raises(UnknownVerifier, match="unknown verifier 'nope'"):
            get_verifier("nope")
    finally:
        get_verifier.cache_clear()
        plugins.entry_point_names.cache_clear()


def test_default_verifier_applies_when_item_names_none() -> None:
    assert grade(item("1,000"), "1000") == 0.0  # exact by default
    assert grade(item("1,000"), "1000", Grading(default_verifier="numeric")) == 1.0


def test_grade_items_regrades_replayed_rewards_and_reports_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _plugin_module(monkeypatch)
    items = [
        item("85", line=1),
        item("85", "broken", line=2),
        item("([", "regex", line=3),
    ]
    given = Rollout("wrong", reward=1.0)
    rollouts = [
        [Rollout("85"), Rollout("84"), given],
        [Rollout("85"), Rollout("85", reward=0.0)],
        [Rollout("a"), Rollout("b")],
    ]
    grades = grade_items(items, rollouts, grading=CONFIGURED)
    rewards, failures = grades.rewards, grades.failures
    assert rewards == [[1.0, 0.0, 0.0], [], []]
    assert rollouts[0][0].reward == 1.0 and rollouts[0][1].reward == 0.0
    assert given.reward == 0.0  # a replayed reward is a claim: the verifier decides
    assert rollouts[1][0].reward is None and rollouts[1][1].reward is None  # verifier raised
    assert [(f.item_index, f.source.line, f.n_failed, f.n_rollouts) for f in failures] == [
        (1, 2, 2, 2),
        (2, 3, 2, 2),
    ]
    # the forged 1.0 is contradicted; the claim on the ungradable item is S011's business
    assert [
        (m.item_index, m.source.line, m.n_mismatched, m.n_claimed, m.claimed, m.graded)
        for m in grades.mismatches
    ] == [(0, 1, 1, 1, 1.0, 0.0)]
    assert "division by zero" in failures[0].message
    assert failures[1].verifier == "regex"
    assert "regular expression" in failures[1].message


def test_grade_items_unknown_verifier_is_a_failure_not_a_crash() -> None:
    grades = grade_items([item("1", "no-such-verifier")], [[Rollout("1")]])
    rewards, failures = grades.rewards, grades.failures
    assert rewards == [[]]
    assert len(failures) == 1 and "unknown verifier" in failures[0].message


def test_grade_items_regrades_non_finite_replayed_rewards_and_flags_them() -> None:
    rollouts = [[Rollout("1", reward=float("nan")), Rollout("1", reward=1.0), Rollout("2")]]
    grades = grade_items([item("1")], rollouts)
    assert grades.rewards == [[1.0, 1.0, 0.0]] and grades.failures == []
    (mismatch,) = grades.mismatches
    assert (mismatch.n_mismatched, mismatch.n_claimed, mismatch.graded) == (1, 2, 1.0)
    assert math.isnan(mismatch.claimed)


def test_a_replayed_reward_within_one_millionth_is_the_same_reward() -> None:
    items = [item("85"), item("85", line=2)]
    rollouts = [[Rollout("84", reward=1e-6)], [Rollout("84", reward=2e-6)]]  # both graded 0.0
    grades = grade_items(items, rollouts)
    assert grades.rewards == [[0.0], [0.0]]
    assert [(m.source.line, m.claimed) for m in grades.mismatches] == [(2, 2e-6)]


def test_regex_without_a_gold_answer_is_a_grading_error() -> None:
    with pytest.raises(GradingError) as err:
        grade(item([], "regex"), "A")
    assert str(err.value) == "the item has no gold answer"


def test_without_re2_the_regex_package_runs_with_a_time_limit(monkeypatch) -> None:
    from datalint.grade import text
    from datalint.grade.budget import item_budget

    monkeypatch.setitem(sys.modules, "re2", None)  # import re2 -> ImportError
    text.compile_pattern.cache_clear()
    try:
        assert grade(item("a+b", "regex"), " aab \n") == 1.0
        assert grade(item("a+b", "regex"), "aabc") == 0.0  # a full match, not a search
        with pytest.raises(GradingError) as err:
            text.compile_pattern("(unclosed")
        assert str(err.value).startswith("gold answer is not a valid regular expression: ")
        timeouts: list[float] = []

        class Slow:
            def fullmatch(self, text: str, timeout: float):
                timeouts.append(timeout)
                raise TimeoutError

        fake = types.ModuleType("regex")
        fake.compile = lambda pattern: Slow()
        fake.error = ValueError
        monkeypatch.setitem(sys.modules, "regex", fake)
        text.compile_pattern.cache_clear()
        slow = text.compile_pattern("(a+)+$")
        with pytest.raises(GradingError) as err:
            slow("a" * 40 + "b")
        assert str(err.value) == "the gold pattern ran past its time budget"
        with item_budget(-1.0), pytest.raises(GradingError):  # the item's budget is spent
            slow("a")
        assert timeouts == [1.0, 0.001]  # the per-call budget; never 0, which means no limit
        monkeypatch.setitem(sys.modules, "regex", None)
        text.compile_pattern.cache_clear()
        with pytest.raises(GradingError) as err:
            text.compile_pattern("x")
        assert str(err.value) == (
            "the regex verifier needs google-re2 (pip install google-re2) or the regex package"
        )
    finally:
        text.compile_pattern.cache_clear()
