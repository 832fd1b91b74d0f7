"""Answer extraction modes, several accepted golds, RE2 patterns and the pre-flight of grading."""

from __future__ import annotations

import importlib.util

import pytest

from datalint.grade import Grading, GradingError, grade
from datalint.grade.extract import gsm8k_answer, last_boxed, last_number
from datalint.grade.numeric import answer_number
from datalint.grade.preflight import gold_problem, problem, verifier_problem
from datalint.load.records import Item, Source

HAS_MATH_VERIFY = importlib.util.find_spec("math_verify") is not None


def item(answer, verifier=None, **kw) -> Item:
    return Item(source=Source("data.jsonl", 3), answer=answer, verifier=verifier, **kw)


@pytest.mark.parametrize(
    ("text", "content"),
    [
        ("so \\boxed{42}.", "42"),
        ("\\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # the last one, nested braces
        ("\\boxed {7}", "7"),
        ("\\fbox{x+1}", "x+1"),
        ("\\boxed{\\sqrt{2", None),  # unbalanced
        ("no box here {3}", None),
        ("\\boxed7", None),
    ],
)
def test_last_boxed(text: str, content: str | None) -> None:
    assert last_boxed(text) == content


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("4 + 3 = 7\n#### 7", "7"),
        ("#### 1,234 is it", "1234"),
        ("#### 3\nno, #### -5", "-5"),  # the last one
        ("####7", None),  # verl's pattern wants the space
        ("the answer is 7", None),
    ],
)
def test_gsm8k_answer(text: str, token: str | None) -> None:
    assert gsm8k_answer(text) == token


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("50 - 30 is 20.", "20"),
        ("1,000 apples and 2.5 pears", "2.5"),
        ("minus: -3", "-3"),
        ("no digits", None),
    ],
)
def test_last_number(text: str, token: str | None) -> None:
    assert last_number(text) == token


@pytest.mark.parametrize(
    ("completion", "mode", "value"),
    [
        ("50 - 30 is 20.", "strict", None),  # a sentence, no marker
        ("50 - 30 is 20.", "last-number", 20.0),
        ("so \\boxed{3/4}", "boxed", 0.75),
        ("#### 12 and later 13", "gsm8k", 12.0),
        ("The answer is 9", "strict", 9.0),
        ("The answer is 9", "boxed", None),
    ],
)
def test_numeric_answer_under_each_mode(completion: str, mode: str, value: float | None) -> None:
    assert answer_number(completion, mode) == value


def test_numeric_extraction_mode_changes_the_reward() -> None:
    smol = "50 - 30 is 20."  # what SmolLM2-135M-Instruct writes for "What is 50 - 30?"
    assert grade(item("20", "numeric"), smol) == 0.0
    assert grade(item("20", "numeric"), smol, Grading(extraction="last-number")) == 1.0
    assert grade(item("20", "numeric"), "\\boxed{20}", Grading(extraction="gsm8k")) == 0.0


def test_every_builtin_accepts_any_of_several_golds() -> None:
    assert grade(item(["Paris", "paris, france"], "exact"), "Paris, France") == 1.0
    assert grade(item(["Paris", "Lyon"], "exact"), "Nice") == 0.0
    assert grade(item(["1/2", "0.5"], "numeric"), "0.5") == 1.0
    assert grade(item([3, "4"], "numeric"), "4") == 1.0
    assert grade(item(["A", "7"], "mcq", choices=["7", "8"]), "A") == 1.0
    assert grade(item(["B", "C"], "mcq", choices=["1", "2", "3"]), "Answer: C") == 1.0
    assert grade(item(["B", "C"], "mcq", choices=["1", "2", "3"]), "A") == 0.0
    assert grade(item([r"\d+ cm", r"\d+ mm"], "regex"), "4 mm") == 1.0
    with pytest.raises(GradingError, match="not a number"):
        grade(item(["3", "three"], "numeric"), "3")


@pytest.mark.skipif(not HAS_MATH_VERIFY, reason="needs the 'math' extra")
def test_math_modes_and_several_golds() -> None:
    assert grade(item(["\\frac{1}{2}", "2"], "math"), "I get $2$") == 1.0
    boxed = Grading(extraction="boxed")
    # the whole completion holds 1/2 too, but boxed reads only the last box
    assert grade(item("\\frac{1}{2}", "math"), "1/2? no: \\boxed{3}", boxed) == 0.0
    assert grade(item("\\frac{1}{2}", "math"), "so \\boxed{0.5}", boxed) == 1.0
    assert grade(item("\\frac{1}{2}", "math"), "no box", boxed) == 0.0
    assert grade(item("12", "numeric"), "We get $12$.", Grading(extraction="math-verify")) == 1.0


def test_regex_runs_on_re2_in_linear_time_and_refuses_backreferences() -> None:
    assert grade(item("(a+)+$", "regex"), "a" * 40 + "b") == 0.0  # answers at once on RE2
    assert grade(item("(a+)+$", "regex"), "a" * 40) == 1.0
    with pytest.raises(GradingError, match="RE2"):
        grade(item(r"(a)\1", "regex"), "aa")
    with pytest.raises(GradingError, match="limit"):
        grade(item("a" * 10_001, "regex"), "a")


CONFIG = Grading.build(verifiers={"units": "tests.test_grade_extraction:item"})


@pytest.mark.parametrize(
    ("it", "kind"),
    [
        (item("4", "numeric"), None),
        (item("4", "units"), None),  # configured
        (item("4", "shutil:rmtree"), "untrusted-verifier"),
        (item("4", "tests.test_grade_extraction:item"), "untrusted-verifier"),  # the data's own
        (item("4", "numerc"), "unusable-verifier"),
        (item("B", "mcq"), "unusable-verifier"),  # a letter, no choices
        (item("b)", "mcq"), "unusable-verifier"),
        (item("D", "mcq", choices=["1", "2"]), "unusable-verifier"),  # out of range
        (item("2", "mcq", choices=["1", "2"]), None),  # the text of a choice
        (item("B", "mcq", choices=["1", "2"]), None),
    ],
)
def test_verifier_problem(it: Item, kind: str | None) -> None:
    found = verifier_problem(it, CONFIG)
    assert (found.kind if found else None) == kind


@pytest.mark.parametrize(
    ("it", "reason"),
    [
        (item("proof", "math"), "placeholder"),
        (item("NotFound", "exact"), "placeholder"),
        (item("  ", "exact"), "empty"),
        ([], "no gold answer"),
        (item(["3", ""], "exact"), "empty"),
        (item("seven", "numeric"), "not a number"),
        (item("seven", "exact"), None),
        (item("3/4", "numeric"), None),
        (item(0, "numeric"), None),
    ],
)
def test_gold_problem(it: Item | list, reason: str | None) -> None:
    target = item([], "exact") if isinstance(it, list) else it
    found = gold_problem(target, Grading())
    assert (found is None) == (reason is None)
    if reason:
        assert reason in found.reason


def test_the_default_verifier_decides_for_items_without_one() -> None:
    assert problem(item("seven"), Grading(default_verifier="numeric")).kind == "unverifiable-gold"
    assert problem(item("seven"), Grading()) is None


@pytest.mark.skipif(not HAS_MATH_VERIFY, reason="needs the 'math' extra")
def test_math_grading_is_bounded_per_call_and_per_item() -> None:
    from datalint.grade import grade_items
    from datalint.load.records import Rollout

    tower = "The answer is $9^{9^{9^9}}$"
    grades = grade_items([item("5", "math")], [[Rollout(tower) for _ in range(8)]])
    rewards, failures = grades.rewards, grades.failures
    # each slow call scores 0 (wrong), and once the item's 2 s are spent the rest are failures
    assert rewards[0] and set(rewards[0]) == {0.0}
    assert len(rewards[0]) + failures[0].n_failed == 8 and failures[0].n_failed >= 4
    assert "budget" in failures[0].message

    nested = "(" * 400 + "1" + ")" * 400
    grades = grade_items([item(nested, "math")], [[Rollout("1") for _ in range(8)]])
    rewards, failures = grades.rewards, grades.failures
    assert rewards == [[]]  # a gold that cannot be parsed in time grades nothing
    assert failures[0].n_failed == 8
