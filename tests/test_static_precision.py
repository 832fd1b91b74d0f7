"""D002 and D004 stay precise on templated data: the labelled sample of bench/static_precision.py
(reasoning-gym generators, comparison and options-in-prompt items, planted leaks and copies)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
pytest.importorskip("reasoning_gym", reason="reasoning-gym (the dev extra) builds the sample")

from static_precision import build, findings, scores  # noqa: E402


@pytest.fixture(scope="module")
def sample():  # type: ignore[no-untyped-def]
    rows, leaks, dups = build(11)  # not the seed the D002 threshold was chosen on
    return rows, leaks, dups, findings(rows, REPO)


def test_near_duplicates_find_reworded_copies_and_no_templated_variant(sample) -> None:
    _, _, dups, found = sample
    n, precision, recall = scores(found["D002"], dups)
    assert precision == 1.0, f"{n} findings"
    assert recall >= 0.9


def test_answer_leaks_are_only_answers_stated_as_answers(sample) -> None:
    rows, leaks, _, found = sample
    assert found["D004"] <= leaks  # no operand, option or comparison is called a leak
    detectable = {line for line in leaks if len(rows[line - 1]["answer"].strip()) >= 3}
    assert found["D004"] == detectable
