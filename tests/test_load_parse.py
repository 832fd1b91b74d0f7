"""One record -> an Item or one S002 finding, called directly: the schema messages, the column
names of other layouts, and every field carried over."""

from __future__ import annotations

import pytest

from datalint.engine import Gate
from datalint.load.parse import (
    _is_number,
    _schema_problem,
    native_builder,
    native_item,
    parse_record,
)
from datalint.load.records import Item, Rollout, Source
from datalint.rulebook import load_rules

HERE = Source("d.jsonl", 4)


@pytest.mark.parametrize(
    ("obj", "origin", "problem"),
    [
        ([1], None, "record must be a JSON object, not an array"),
        ("s", None, "record must be a JSON object, not a string"),
        (None, None, "record must be a JSON object, not null"),
        (True, None, "record must be a JSON object, not a boolean"),
        (3.5, None, "record must be a JSON object, not a number"),
        ({"answer": "1"}, None, "record needs a 'prompt' (string) or 'messages' (chat list)"),
        ({"prompt": "a"}, None, "'answer' is a required property"),
        (
            {"prompt": "a"},
            {"answer": "reward_model.ground_truth"},
            "'reward_model.ground_truth' is a required column",
        ),
        ({"prompt": "a"}, {"prompt": "question"}, "'answer' is a required property"),
        (
            {"prompt": "a", "answer": None},
            None,
            "answer: must be a string, a number, or a non-empty list of them",
        ),
        (
            {"prompt": 3, "answer": "1"},
            None,
            "prompt: must be a string or a chat list of {role, content}",
        ),
        (
            {"prompt": 3, "answer": "1"},
            {"prompt": "question"},
            "question: must be a string or a chat list of {role, content}",
        ),
        (
            {"prompt": "a", "answer": "1", "verifier": ""},
            {"verifier": "extra.v"},
            "extra.v: '' should be non-empty",
        ),
        (
            {"prompt": "a", "answer": "1", "choices": ["a", 1]},
            None,
            "choices.1: 1 is not of type 'string'",
        ),
        (
            {"prompt": "a", "answer": [1, None]},
            None,
            "answer: must be a string, a number, or a non-empty list of them",
        ),
        (
            {"prompt": "a", "answer": "1", "rollouts": [{"completion": 3}]},
            None,
            "rollouts.0.completion: 3 is not of type 'string'",
        ),
        ({"prompt": "a", "answer": "1", "unknown": 1}, None, None),
        # the first problem in path order: choices before verifier
        (
            {"prompt": "a", "answer": "1", "verifier": "", "choices": "x"},
            None,
            "choices: 'x' is not of type 'array'",
        ),
    ],
)
def test_schema_problem_messages(obj, origin, problem) -> None:
    assert _schema_problem(obj, origin) == problem


def test_a_long_schema_message_is_cut_to_160_characters() -> None:
    problem = _schema_problem({"prompt": "a", "answer": "1", "meta": "x" * 200})
    assert problem is not None
    where, message = problem.split(": ", 1)
    assert where == "meta"
    assert len(message) == 160 and message.endswith("...")
    assert message == "'" + "x" * 156 + "..."
    exact = _schema_problem({"prompt": "a", "answer": "1", "meta": "x" * 134})
    # "'xxx...' is not of type 'object'" is 2 + 134 + 24 = 160 characters: kept whole
    assert exact == "meta: '" + "x" * 134 + "' is not of type 'object'"
    over = _schema_problem({"prompt": "a", "answer": "1", "meta": "x" * 135})  # 161: cut
    assert over == "meta: " + ("'" + "x" * 135 + "' is not of type 'object'")[:157] + "..."


def _gate() -> Gate:
    return Gate(load_rules())


def test_native_item_reports_a_schema_problem_as_one_s002() -> None:
    gate = _gate()
    assert native_item({"prompt": 3, "answer": "1"}, HERE, gate) is None
    (finding,) = gate.findings
    assert (finding.code, finding.path, finding.line) == ("S002", "d.jsonl", 4)
    assert "prompt: must be a string or a chat list of {role, content}" in finding.message


def test_another_layout_names_its_column_and_the_layout() -> None:
    gate = _gate()
    origin = {"answer": "reward_model.ground_truth"}
    assert native_item({"prompt": "a"}, HERE, gate, layout="verl", origin=origin) is None
    (finding,) = gate.findings
    assert (
        "'reward_model.ground_truth' is a required column (read as layout verl)" in finding.message
    )
    item = native_item({"prompt": "a", "answer": "1"}, HERE, gate, layout="verl", origin=origin)
    assert item is not None and item.layout == "verl" and item.prompt == "a"
    # a record the fast path sends to the full validator, valid all the same
    slow = native_item(
        {"messages": [{"role": "user", "content": "q"}], "answer": 2}, HERE, gate, layout="trl"
    )
    assert (
        slow is not None
        and slow.messages == [{"role": "user", "content": "q"}]
        and slow.layout == "trl"
    )
    assert len(gate.findings) == 1


def test_native_items_keep_the_native_layout() -> None:
    gate = _gate()
    fast = native_item({"prompt": "a", "answer": "1"}, HERE, gate)
    slow = native_item({"prompt": "a", "answer": "1", "subject": ""}, HERE, gate)
    assert fast is not None and fast.layout == "native"
    assert slow is not None and slow.layout == "native" and slow.subject == ""
    build = native_builder(gate)
    assert build({"prompt": "b", "answer": 3}, HERE) == Item(HERE, 3, "b")
    assert build({"prompt": 1, "answer": 3}, HERE) is None
    assert [f.code for f in gate.findings] == ["S002"]


def test_every_field_is_carried_over() -> None:
    gate = _gate()
    raw = (
        b'{"prompt": "p", "answer": [1, "x", 2.5], "id": 7, "subject": "algebra",'
        b' "verifier": "numeric",'
        b' "choices": ["a", "b"], "cohort": 3, "meta": {"k": 1},'
        b' "rollouts": [{"completion": "c", "reward": 1, "logprobs": [-0.5], "entropies": [0.25],'
        b' "n_tokens": 1}, {"completion": "d"}]}'
    )
    item = parse_record(raw, HERE, gate)
    assert item == Item(
        source=HERE,
        answer=["1", "x", "2.5"],
        prompt="p",
        messages=None,
        id="7",
        subject="algebra",
        verifier="numeric",
        choices=["a", "b"],
        cohort="3",
        meta={"k": 1},
        rollouts=[Rollout("c", 1.0, [-0.5], [0.25], 1), Rollout("d", None, None, None, None)],
    )
    assert type(item.rollouts[0].reward) is float
    assert gate.findings == []


def test_a_chat_list_prompt_becomes_messages() -> None:
    item = parse_record(
        b'{"prompt": [{"role": "user", "content": "hi"}], "answer": "1"}', HERE, _gate()
    )
    assert item is not None
    assert item.prompt is None and item.messages == [{"role": "user", "content": "hi"}]
    assert (item.id, item.cohort, item.rollouts) == (None, None, None)


def test_parse_record_reports_bad_json_and_bad_records() -> None:
    gate = _gate()
    assert parse_record(b"{not json", HERE, gate) is None
    assert parse_record(b'{"prompt": "a"}', HERE, gate) is None
    assert parse_record(b'{"prompt": "a", "answer": "1"}', HERE, gate) == Item(HERE, "1", "a")
    assert [f.code for f in gate.findings] == ["S001", "S002"]


def test_is_number() -> None:
    assert [_is_number(x) for x in (1, 2.5, -3, True, False, "1", None)] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def test_plain_records_never_reach_the_json_schema_validator(monkeypatch) -> None:
    from datalint.load import parse

    def refuse(*args, **kwargs):
        raise AssertionError("the fast path should have accepted this record")

    monkeypatch.setattr(parse, "_schema_problem", refuse)
    gate = _gate()
    plain = [
        {"prompt": "a", "answer": "1"},
        {"prompt": "a", "answer": 2.5, "id": 3, "cohort": "c", "subject": "s", "verifier": "exact"},
        {"prompt": "a", "answer": "1", "meta": {"k": 1}, "id": "x"},
    ]
    for obj in plain:
        assert parse._looks_valid(obj), obj
        assert native_item(obj, HERE, gate) is not None
    assert gate.findings == []


@pytest.mark.parametrize(
    "extra",
    [
        {"messages": [{"role": "user"}]},
        {"choices": "A"},
        {"rollouts": [{"reward": 1}]},
        {"verifier": 5},
        {"subject": ["s"]},
        {"id": 1.5},
        {"cohort": None},
        {"meta": [1]},
    ],
)
def test_the_fast_path_leaves_anything_unusual_to_the_schema(extra: dict) -> None:
    obj = {"prompt": "a", "answer": "1", **extra}
    assert not _is_fast(obj)
    gate = _gate()
    assert native_item(obj, HERE, gate) is None
    assert [f.code for f in gate.findings] == ["S002"]


def _is_fast(obj: dict) -> bool:
    from datalint.load.parse import _looks_valid

    return _looks_valid(obj)
