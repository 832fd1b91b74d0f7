"""calibrate fails like check: an item it cannot grade stops it before any GRPO run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.calibrate.preflight import PreflightError, preflight, require_preflight
from datalint.cli import cli
from datalint.load.records import Item, Source

SHIPPED = Path(__file__).resolve().parent.parent / "pretrained" / "tiny-policy"


def _item(line: int, verifier: str | None = None) -> Item:
    return Item(source=Source("d.jsonl", line), answer="2", prompt="1+1=", verifier=verifier)


def test_usable_verifiers_pass() -> None:
    items = [_item(1), _item(2, "numeric"), _item(3, "exact")]
    assert preflight(items) == []
    assert preflight(items, default_verifier="numeric") == []
    # mcq cannot use a gold "2" without choices (check's S014)
    assert [p.source.line for p in preflight(items, default_verifier="mcq")] == [1]


def test_unknown_and_unimportable_verifiers_are_problems_at_their_lines() -> None:
    items = [
        _item(1),
        _item(2, "no_such_verifier"),
        _item(3, "datalint_no_such_module:grade"),
        _item(4, "no_such_verifier"),
    ]
    problems = preflight(items)
    assert [(p.source.line, str(p).split(": ", 1)[0]) for p in problems] == [
        (2, "d.jsonl:2"),
        (3, "d.jsonl:3"),
        (4, "d.jsonl:4"),
    ]
    assert "unusable-verifier 'no_such_verifier': no verifier has this name" in problems[0].message
    # an import string in the data is never imported (check's S012)
    assert problems[1].message.startswith("untrusted-verifier 'datalint_no_such_module:grade'")


def test_an_unusable_default_verifier_is_a_problem_for_every_item_without_one() -> None:
    problems = preflight([_item(1), _item(2, "exact")], default_verifier="bogus")
    assert [p.source.line for p in problems] == [1]


def test_require_preflight_names_the_first_problem_and_counts_the_rest() -> None:
    with pytest.raises(PreflightError) as err:
        require_preflight([_item(5, "nope"), _item(7, "nope")], default_verifier="exact")
    message = str(err.value)
    assert message.startswith("d.jsonl:5: unusable-verifier 'nope'")
    assert message.endswith("(and 1 more); nothing was trained") and "\n" not in message


needs_calibrate = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "trl", "datasets"))
    or not (SHIPPED / "config.json").is_file(),
    reason="needs the 'calibrate' extra and the shipped tiny policy",
)


@needs_calibrate
def test_calibrate_refuses_an_item_that_names_an_import_string(tmp_path: Path) -> None:
    rows = [
        {"prompt": "1+1=", "answer": "2", "cohort": "a"},
        {"prompt": "2+2=", "answer": "4", "cohort": "a", "verifier": "datalint_nope_mod:grade"},
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "p.jsonl").write_text('{"prompt": "3+3=", "answer": "6"}\n')
    store = tmp_path / "store.sqlite"
    args = ["calibrate", str(tmp_path / "d.jsonl"), "--probe", str(tmp_path / "p.jsonl")]
    args += ["--store", str(store), "--steps", "1", "--seeds", "1", "--workers", "1"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--model", str(SHIPPED)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and "internal error" not in line
    assert f"{tmp_path / 'd.jsonl'}:2: untrusted-verifier 'datalint_nope_mod:grade'" in line
    assert not store.exists()  # stopped before the store, the baseline and any GRPO run
