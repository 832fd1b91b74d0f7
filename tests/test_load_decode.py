"""The loader's decoding of hostile-but-valid JSON: each problem one finding, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datalint.load import ProblemCollector, iter_items
from datalint.load.decode import FAILED, decode_line
from datalint.load.records import Source

SRC = Source("f.jsonl", 7)


class Recorder(ProblemCollector):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, dict]] = []

    def observe(self, feature, value, source, *, cohort=None, **context):  # type: ignore[override]
        self.seen.append((feature, context))


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('{"prompt": "a", "prompt": "b", "answer": "1"}', "prompt"),
        ('{"prompt" : "a", "prompt"\t: "b", "answer": "1"}', "prompt"),  # spaced from the colon
        ('{"prompt": "a", "answer": "1", "meta": {"k": 1, "k": 2}}', "k"),  # nested
        (
            '{"prompt": "a", "answer": "1", "rollouts": [{"completion": "x", "completion": "y"}]}',
            "completion",
        ),
    ],
)
def test_a_key_written_twice_is_reported_with_its_name(line: str, key: str) -> None:
    gate = Recorder()
    assert decode_line(line.encode(), SRC, gate) is FAILED
    assert gate.seen == [("duplicate_keys", {"key": key, "detail": f"the key '{key}' twice"})]


@pytest.mark.parametrize(
    "line",
    [
        '{"prompt": "say \\"a\\": 1 and \\"a\\": 2", "answer": "1"}',  # `":` inside a string
        '{"prompt": "a", "answer": "1", "meta": {"prompt": "b"}}',  # same key, other objects
        '{"prompt": "smile \\ud83d\\ude00", "answer": "1"}',  # a surrogate pair is one character
        '{"prompt": "a \\\\ud800 is text here", "answer": "1"}',  # an escaped backslash
    ],
)
def test_lookalikes_are_read(line: str) -> None:
    gate = Recorder()
    obj = decode_line(line.encode(), SRC, gate)
    assert gate.seen == []
    assert obj == json.loads(line)


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (
            '{"prompt": "half \\ud800 pair", "answer": "1"}',
            "lone surrogate escape \\ud800 at column 18",
        ),
        (
            '{"prompt": "low \\uDFFF first", "answer": "1"}',
            "lone surrogate escape \\uDFFF at column 17",
        ),
        (
            '{"prompt": "ok \\ud83d\\ude00 then \\ud83d", "answer": "1"}',
            "lone surrogate escape \\ud83d at column 34",
        ),
    ],
)
def test_a_lone_surrogate_is_reported_where_it_is(line: str, detail: str) -> None:
    gate = Recorder()
    assert decode_line(line.encode(), SRC, gate) is FAILED
    assert gate.seen == [("lone_surrogates", {"detail": detail})]


def test_a_huge_integer_anywhere_is_one_json_finding() -> None:
    gate = Recorder()
    line = '{"prompt": "a", "answer": "1", "meta": {"x": [1, ' + "7" * 4301 + "]}}"
    assert decode_line(line.encode(), SRC, gate) is FAILED
    assert gate.seen == [("json_errors", {"detail": "a number has more than 4300 digits"})]
    ok = '{"prompt": "a", "answer": "1", "meta": {"x": ' + "7" * 4300 + "}}"
    assert decode_line(ok.encode(), SRC, Recorder()) is not FAILED


def test_json_array_elements_get_the_same_checks(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(
        "[\n"
        '  {"prompt": "a", "answer": "1"},\n'
        '  {"prompt": "b", "prompt": "c", "answer": "2"},\n'
        '  {"prompt": "d \\ud800", "answer": "3"},\n'
        '  {"prompt": "e", "answer": "4"}\n'
        "]\n"
    )
    gate = ProblemCollector()
    items = list(iter_items([str(path)], gate))
    assert [i.answer for i in items] == ["1", "4"]
    assert [i.source.line for i in items] == [2, 5]
    assert gate.problems == [
        f"{path}:3: the key 'prompt' twice",
        f"{path}:4: lone surrogate escape \\ud800 at column 17",
    ]


def test_a_json_array_split_across_read_chunks(tmp_path: Path, monkeypatch) -> None:
    import datalint.load.json_array as json_array

    monkeypatch.setattr(json_array, "_CHUNK", 7)  # every element straddles a chunk boundary
    rows = [{"prompt": f"p{i} é", "answer": str(i)} for i in range(20)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    gate = ProblemCollector()
    items = list(iter_items([str(path)], gate))
    assert gate.problems == []
    assert [i.prompt for i in items] == [r["prompt"] for r in rows]
    assert items[3].source.line == 1 + 3 * 4 + 1  # "[", then 4 lines per element
