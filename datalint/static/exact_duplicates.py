"""D001: a prompt that repeats an earlier one (after casefolding and collapsing whitespace).

Identity is the normalised prompt (plus the choices of a multiple-choice item), not prompt and
answer: the same question twice is a duplicate whatever its answers say, and a repeat with a
*different* answer is worse (two labels for one problem), which the message says.

Memory: one dict entry per distinct prompt, keyed by a 16-byte blake2b digest, whose value packs
the first occurrence (file index, line) and a 64-bit hash of its answer into one int; about
150 bytes per distinct prompt, so a million prompts stay near 150 MB.
"""

from __future__ import annotations

from datalint.engine import Gate
from datalint.load.records import Item, Source
from datalint.static.base import describe_other
from datalint.static.text import digest16, prompt_identity

FEATURE = "exact_duplicate"
_LINE_BITS = 40
_FILE_BITS = 24
_ANSWER_SHIFT = _LINE_BITS + _FILE_BITS
_ANSWER_MASK = (1 << 64) - 1


class ExactDuplicates:
    """Reports ``exact_duplicate`` = 1 for every item whose prompt an earlier item already had."""

    def __init__(self) -> None:
        self._first: dict[bytes, int] = {}
        self._paths: list[str] = []
        self._path_index: dict[str, int] = {}

    def feed(self, item: Item, gate: Gate) -> None:
        identity = prompt_identity(item)
        if not identity:
            return  # empty prompts are S008's business, not a thousand duplicates of each other
        key = digest16(identity)
        answer = _answer_digest(item)
        packed = self._first.get(key)
        if packed is None:
            self._first[key] = self._pack(item.source, answer)
            return
        first, first_answer = self._unpack(packed)
        note = "" if first_answer == answer else " with a different answer (conflicting labels)"
        gate.observe(
            FEATURE,
            1,
            item.source,
            duplicate_of=describe_other(first, item.source),
            answer_note=note,
        )

    def finish(self, gate: Gate) -> None:
        return None

    def _pack(self, source: Source, answer: int) -> int:
        index = self._path_index.get(source.path)
        if index is None:
            index = self._path_index[source.path] = len(self._paths)
            self._paths.append(source.path)
        return (answer << _ANSWER_SHIFT) | (index << _LINE_BITS) | source.line

    def _unpack(self, packed: int) -> tuple[Source, int]:
        line = packed & ((1 << _LINE_BITS) - 1)
        index = (packed >> _LINE_BITS) & ((1 << _FILE_BITS) - 1)
        return Source(self._paths[index], line), packed >> _ANSWER_SHIFT


def _answer_digest(item: Item) -> int:
    # only compared within this run, so the process-salted built-in hash is enough (and cheap)
    return hash(item.answer_text.strip().casefold()) & _ANSWER_MASK
