"""Loader internals: the fast validity path never accepts what the schema rejects; cohorts."""

from __future__ import annotations

import gzip
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from datalint.cohorts import make_cohorts
from datalint.engine import Gate
from datalint.load import item_validator, iter_items
from datalint.load.parse import _looks_valid
from datalint.load.records import Item, Source
from datalint.rulebook import load_rules

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=3)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)
keys = st.sampled_from(
    [
        "prompt",
        "messages",
        "answer",
        "id",
        "subject",
        "verifier",
        "choices",
        "cohort",
        "meta",
        "rollouts",
        "x",
    ]
)
records = st.dictionaries(keys, values, max_size=6) | st.fixed_dictionaries(
    {
        "prompt": st.text(max_size=5),
        "answer": st.one_of(st.text(max_size=3), st.integers(), st.floats(allow_nan=False)),
    },
    optional={
        "id": values,
        "subject": values,
        "verifier": values,
        "cohort": values,
        "meta": values,
    },
)


@settings(max_examples=400, deadline=None)
@given(records)
def test_fast_path_only_accepts_schema_valid_records(obj: dict) -> None:
    if _looks_valid(obj):
        assert item_validator().is_valid(obj), obj


def test_lines_are_kept_through_blank_lines_bom_and_gzip(tmp_path: Path) -> None:
    raw = b'\xef\xbb\xbf{"prompt": "a", "answer": "1"}\r\n\n{"prompt": "b", "answer": 2}\n'
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(raw)
    packed = tmp_path / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(raw))
    gate = Gate(load_rules())
    items = list(iter_items([str(plain), str(packed)], gate))
    assert [(Path(i.source.path).name, i.source.line, i.prompt) for i in items] == [
        ("a.jsonl", 1, "a"),
        ("a.jsonl", 3, "b"),
        ("b.jsonl.gz", 1, "a"),
        ("b.jsonl.gz", 3, "b"),
    ]
    assert gate.findings == []


def _item(line: int, cohort: str | None = None, path: str = "f.jsonl") -> Item:
    return Item(source=Source(path, line), answer="1", prompt=f"p{line}", cohort=cohort)


def test_cohort_field_groups_across_the_file_and_chunks_fill_the_rest() -> None:
    items = [_item(1, "x"), _item(2), _item(3, "y"), _item(4), _item(5, "x"), _item(6), _item(7)]
    cohorts = make_cohorts(items, cohort_size=2)
    assert [(c.id, [i.source.line for i in c.items]) for c in cohorts] == [
        ("x", [1, 5]),
        ("f.jsonl:2", [2, 4]),
        ("y", [3]),
        ("f.jsonl:6", [6, 7]),
    ]


def test_chunks_never_span_files() -> None:
    items = [_item(1), _item(2), _item(1, path="g.jsonl")]
    assert [c.id for c in make_cohorts(items, cohort_size=4)] == ["f.jsonl:1", "g.jsonl:1"]


def test_fast_path_leaves_an_empty_verifier_to_the_schema(tmp_path: Path) -> None:
    empty = {"prompt": "a", "answer": "1", "verifier": ""}
    assert not item_validator().is_valid(empty)  # the schema: minLength 1
    assert not _looks_valid(empty)
    assert _looks_valid({"prompt": "a", "answer": "1", "subject": "s", "verifier": "exact"})
    data = tmp_path / "d.jsonl"
    data.write_text(
        '{"prompt": "a", "answer": "1", "verifier": ""}\n{"prompt": "b", "answer": 2}\n'
    )
    gate = Gate(load_rules())
    items = list(iter_items([str(data)], gate))
    assert [i.prompt for i in items] == ["b"]
    assert [(f.code, f.line) for f in gate.findings] == [("S002", 1)]


def test_a_line_of_exactly_the_byte_limit_is_read_and_one_byte_more_is_skipped(
    tmp_path: Path,
) -> None:
    def record(prompt_len: int) -> bytes:
        return b'{"prompt": "' + b"p" * prompt_len + b'", "answer": "1"}'

    limit = len(record(10))  # the limit counts the record's bytes, not its newline
    data = tmp_path / "d.jsonl"
    data.write_bytes(record(10) + b"\n" + record(11) + b"\n" + record(10))  # last: no newline
    rules = [
        r.with_overrides({"must_be_at_most": limit}) if r.code == "S007" else r
        for r in load_rules()
    ]
    gate = Gate(rules)
    items = list(iter_items([str(data)], gate, max_line_bytes=limit))
    assert [(i.source.line, len(i.prompt)) for i in items] == [(1, 10), (3, 10)]
    assert [(f.code, f.line) for f in gate.findings] == [("S007", 2)]
