"""D002: a prompt that nearly repeats an earlier one (Jaccard similarity of word shingles).

``feed`` only appends each normalised prompt's UTF-8 bytes to a batch; every ~1 MB of text the
batch is tokenised (see :func:`tokenize`) and processed in numpy:

1. shingles: hashes of ``shingle_words`` consecutive tokens, as a sorted set per prompt, which
   go to a temporary file (they are needed again only for the few candidate pairs);
2. MinHash (multiply-shift hashing, one row per permutation) folded into one 8-byte key per LSH
   band, kept in memory.

So memory per prompt is fixed (an 8-byte key per band, ~140 bytes in all with its Source),
whatever the prompt's length; the shingles cost 4 bytes a token of disk. ``finish`` then:

3. pairs prompts that agree on a band key. Inside a bucket each prompt is paired with the
   bucket's first prompt and with its predecessor, which keeps a bucket of thousands (a shared
   preamble) linear instead of quadratic;
4. verifies every candidate pair with the exact Jaccard similarity of the two shingle sets.

Tokens are runs of word characters or single punctuation characters of the UTF-8 bytes, so
"12+3" is three tokens and a change of one number changes the shingles that contain it. A prompt
shorter than ``shingle_words`` tokens is one shingle. Prompts that exactly repeat an earlier one
are left to D001 and take no part here. The value reported for a prompt is its highest
similarity to any earlier prompt among the candidates, naming that prompt.

Two prompts are near-duplicates only when they also pose the same problem: the same gold answer
(after trimming, case folding and collapsing whitespace) and the same numbers in the same order.
Real RLVR data is templated: "Convert 1011 to base 10" and "Convert 1101 to base 10" share almost
every shingle but are different problems, and two grids that differ in a few cells may even share
their answer; a reworded copy keeps both. An item without a usable answer (empty) is compared by
its numbers alone.
"""

from __future__ import annotations

import re
import tempfile
from array import array
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np

from datalint.engine import Gate
from datalint.load.records import Item, Source
from datalint.static.base import describe_other
from datalint.static.text import digest16, prompt_identity

FEATURE = "near_duplicate_similarity"
_BATCH_BYTES = 1 << 20
_WORD, _SPACE = 1, 2
_BYTE_KIND = np.zeros(256, dtype=np.uint8)  # 0: a byte that is a token on its own
_BYTE_KIND[[*range(48, 58), *range(65, 91), *range(97, 123), 95]] = _WORD  # [0-9A-Za-z_]
_BYTE_KIND[[9, 10, 11, 12, 13, 32]] = _SPACE  # what bytes regex \s matches
_SHINGLES_PER_CHUNK = 1 << 17
_HASHES_PER_CHUNK = 1 << 20  # shingles x rows hashed at once in one band (8 MB of uint64)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_TARGET_RECALL = 0.995
_NUMBER = re.compile(r"\b\d+\b")  # whole numbers, not the digits of "w19" or "x2"


class NearDuplicates:
    """Reports ``near_duplicate_similarity`` for each prompt with a similar earlier prompt."""

    def __init__(
        self,
        *,
        min_similarity: float = 0.9,
        shingle_words: int = 2,
        permutations: int = 128,
        batch_bytes: int = _BATCH_BYTES,
    ) -> None:
        self.shingle_words = shingle_words
        self.rows, self.bands = band_layout(min_similarity, permutations)
        self.batch_bytes = batch_bytes
        rng = np.random.default_rng(0x5EED)
        shape = (self.bands, self.rows)
        self._mult = rng.integers(1, 2**63, size=shape, dtype=np.uint64) * np.uint64(2) + 1
        self._add = rng.integers(0, 2**63, size=shape, dtype=np.uint64)
        self._batch_text = bytearray()  # UTF-8 prompts, each followed by a newline
        self._batch_ends = array("Q")
        # per band, one small array per batch: appending to one big array would realloc it
        # again and again, and the freed copies fragment the heap (RSS grows past live memory)
        self._band_keys: list[list[np.ndarray]] = [[] for _ in range(self.bands)]
        self._offsets = array("Q", [0])  # of each prompt's shingle set in the spill file
        self._spill = tempfile.TemporaryFile(prefix="datalint-shingles-")  # noqa: SIM115
        self._keys = array("Q")
        self._problems = array("Q")  # digest of what makes it a problem: answer and numbers
        self._file = array("I")
        self._line = array("Q")
        self._paths: list[str] = []
        self._path_index: dict[str, int] = {}

    def feed(self, item: Item, gate: Gate) -> None:
        identity = prompt_identity(item)
        if not identity:
            return
        self._batch_text += identity.encode("utf-8", "surrogatepass")
        self._batch_ends.append(len(self._batch_text))
        self._batch_text += b"\n"
        self._keys.append(int.from_bytes(digest16(identity)[:8], "little"))
        self._problems.append(problem_key(identity, item.answer_text))
        index = self._path_index.get(item.source.path)
        if index is None:
            index = self._path_index[item.source.path] = len(self._paths)
            self._paths.append(item.source.path)
        self._file.append(index)
        self._line.append(item.source.line)
        if len(self._batch_text) >= self.batch_bytes:
            self._flush()

    def finish(self, gate: Gate) -> None:
        self._flush()
        try:
            if len(self._keys) >= 2:
                for later, earlier, similarity in self._matches():
                    here, there = self._source(later), self._source(earlier)
                    gate.observe(
                        FEATURE, similarity, here, near_duplicate_of=describe_other(there, here)
                    )
        finally:
            self._spill.close()
            self._band_keys = []

    def _flush(self) -> None:
        """Shingle the batch, spill the shingle sets, keep one MinHash key per band."""
        if not self._batch_ends:
            return
        tokens, token_starts = tokenize(np.frombuffer(self._batch_text, dtype=np.uint8))
        byte_ends = np.frombuffer(self._batch_ends, dtype=np.uint64).astype(np.int64)
        ends = np.searchsorted(token_starts, byte_ends)  # a prompt's tokens start before its end
        starts = np.concatenate(([0], ends[:-1]))
        shingles, offsets = shingle_sets(tokens, starts, ends, self.shingle_words, out=tokens)
        for band, keys in enumerate(self._band_keys):
            keys.append(_band_keys(shingles, offsets, self._mult[band], self._add[band]))
        shingles.tofile(self._spill)
        self._offsets.frombytes((offsets[1:] + self._offsets[-1]).astype(np.uint64).tobytes())
        del tokens, shingles
        self._batch_text, self._batch_ends = bytearray(), array("Q")

    def _matches(self) -> list[tuple[int, int, float]]:
        """(later, earlier, similarity) by feed order, for each prompt with a candidate."""
        keep = np.flatnonzero(_first_occurrences(np.frombuffer(self._keys, dtype=np.uint64)))
        bands = (np.concatenate(keys)[keep] for keys in self._band_keys)
        pairs = keep[candidate_pairs(bands, len(keep))]
        problems = np.frombuffer(self._problems, dtype=np.uint64)
        pairs = pairs[problems[pairs[:, 0]] == problems[pairs[:, 1]]]  # templated variants differ
        self._spill.flush()
        best = best_matches(pairs, SpilledSets(self._spill, self._offsets))
        return [(j, i, sim) for j, (i, sim) in sorted(best.items())]

    def _source(self, index: int) -> Source:
        return Source(self._paths[self._file[index]], self._line[index])


def problem_key(prompt: str, answer: str) -> int:
    """64 bits of the gold answer (trimmed, case-folded, whitespace collapsed) and the sequence
    of numbers in the normalised prompt."""
    normal = " ".join(answer.split()).casefold()
    numbers = "\x1f".join(_NUMBER.findall(prompt))
    return int.from_bytes(digest16(f"{normal}\x00{numbers}")[:8], "little")


def band_layout(min_similarity: float, permutations: int) -> tuple[int, int]:
    """(rows, bands) with the most rows per band that still finds a pair at ``min_similarity``
    with probability >= 99.5% (more rows per band: fewer false candidates)."""
    s = min(max(min_similarity, 0.05), 1.0)
    for rows in range(permutations, 0, -1):
        bands = permutations // rows
        if 1.0 - (1.0 - s**rows) ** bands >= _TARGET_RECALL:
            return rows, bands
    return 1, permutations


def tokenize(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes and start offsets of the tokens of UTF-8 bytes, vectorised.

    Tokens are what ``re.findall(rb"\\w+|[^\\w\\s]", text)`` finds: runs of ASCII letters,
    digits and underscores, and every other non-whitespace byte on its own. A token's hash is a
    polynomial in its bytes, so equal tokens hash equally wherever they stand.
    """
    b = text
    kind = _BYTE_KIND[b]
    word, space = kind == _WORD, kind == _SPACE
    follows_word = np.concatenate(([False], word[:-1]))
    starts = np.flatnonzero((word & ~follows_word) | ~(word | space))
    if len(starts) == 0:
        return np.zeros(0, dtype=np.uint32), starts
    # offset of each byte inside its token (spaces get a weight too, but contribute zero)
    owner_start = np.zeros(len(b), dtype=np.int64)
    owner_start[starts] = starts
    np.maximum.accumulate(owner_start, out=owner_start)
    inside = np.arange(len(b)) - owner_start
    powers = np.cumprod(np.full(int(inside.max()) + 1, _MIX, dtype=np.uint64))
    weights = np.where(space, np.uint64(0), b.astype(np.uint64) + np.uint64(1)) * powers[inside]
    h = np.add.reduceat(weights[starts[0] :], starts - starts[0])
    h ^= h >> np.uint64(29)
    h *= _MIX
    return (h >> np.uint64(32)).astype(np.uint32), starts


def _first_occurrences(keys: np.ndarray) -> np.ndarray:
    """Boolean mask of the prompts whose normalised text did not occur earlier."""
    _, first = np.unique(keys, return_index=True)
    mask = np.zeros(len(keys), dtype=bool)
    mask[first] = True
    return mask


def shingle_sets(
    tokens: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    width: int,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, de-duplicated 32-bit shingle hashes per prompt, flat, with offsets (n + 1).

    ``out`` may be ``tokens`` itself: a prompt has no more shingles than tokens, so each chunk's
    shingles land at or before the tokens they were made from, after those were read. That
    keeps the peak memory of a batch at one token buffer rather than two.
    """
    flat = np.empty(len(tokens), dtype=np.uint32) if out is None else out
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    written = 0
    lo = 0
    while lo < len(starts):
        budget = starts[lo] + _SHINGLES_PER_CHUNK
        hi = min(max(lo + 1, int(np.searchsorted(ends, budget, side="right"))), len(starts))
        values, owner = _chunk_shingles(tokens, starts[lo:hi], ends[lo:hi], width)
        flat[written : written + len(values)] = values
        written += len(values)
        offsets[lo + 1 : hi + 1] = np.bincount(owner, minlength=hi - lo)
        lo = hi
    np.cumsum(offsets, out=offsets)
    return flat[:written], offsets


def _chunk_shingles(
    tokens: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    lengths = ends - starts
    owner = np.repeat(np.arange(len(starts)), lengths)
    first_slot = np.cumsum(lengths) - lengths
    position = np.repeat(starts - first_slot, lengths) + np.arange(int(lengths.sum()))
    end_of = ends[owner]
    h = np.zeros(len(position), dtype=np.uint64)
    for offset in range(width):
        at = position + offset
        inside = at < end_of
        tok = np.where(inside, tokens[np.minimum(at, len(tokens) - 1)], 0).astype(np.uint64)
        h = h * _MIX + tok + np.uint64(1)
    full = position + width <= end_of
    short_first = (lengths[owner] < width) & (position == starts[owner])
    valid = full | short_first
    h, owner = h[valid], owner[valid]
    h ^= h >> np.uint64(29)
    h *= _MIX
    values = (h >> np.uint64(32)).astype(np.uint32)
    # one sort of (owner, value) packed in 64 bits: sorted sets per prompt, duplicates adjacent
    packed = np.sort((owner.astype(np.uint64) << np.uint64(32)) | values)
    packed = packed[np.concatenate(([True], packed[1:] != packed[:-1]))]
    values = (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return values, (packed >> np.uint64(32)).astype(np.int64)


def candidate_pairs(band_keys: Iterable[np.ndarray], n: int) -> np.ndarray:
    """Candidate (earlier, later) index pairs as an (m, 2) array without repeats, from one
    MinHash key per prompt per band (prompts in feed order)."""
    found: list[np.ndarray] = []
    for keys in band_keys:
        order = np.argsort(keys, kind="stable")  # stable: earlier prompts first in a bucket
        sorted_keys = keys[order]
        same = np.zeros(n, dtype=bool)
        same[1:] = sorted_keys[1:] == sorted_keys[:-1]
        if not same.any():
            continue
        group_start = np.maximum.accumulate(np.where(same, 0, np.arange(n)))
        later = order[same]
        found.append(np.stack((order[group_start[same]], later), axis=1))
        found.append(np.stack((order[np.flatnonzero(same) - 1], later), axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack((codes // n, codes % n), axis=1)


def _band_keys(
    shingles: np.ndarray, offsets: np.ndarray, mult: np.ndarray, add: np.ndarray
) -> np.ndarray:
    n = len(offsets) - 1
    keys = np.empty(n, dtype=np.uint64)
    budget = max(1, _HASHES_PER_CHUNK // len(mult))
    lo = 0
    while lo < n:
        hi = int(np.searchsorted(offsets, offsets[lo] + budget, side="right")) - 1
        hi = min(max(hi, lo + 1), n)
        x = shingles[offsets[lo] : offsets[hi]].astype(np.uint64)
        # one row per permutation: reduceat along a contiguous axis is ~10x faster than across
        hashed = np.multiply(mult[:, None], x[None, :])
        hashed += add[:, None]
        hashed >>= np.uint64(32)
        mins = np.minimum.reduceat(hashed, offsets[lo:hi] - offsets[lo], axis=1)
        key = np.zeros(hi - lo, dtype=np.uint64)
        for row in mins:
            key = key * _MIX + row
        keys[lo:hi] = key
        lo = hi
    return keys


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted arrays of distinct values."""
    if len(a) > len(b):
        a, b = b, a
    at = np.searchsorted(b, a)
    at[at == len(b)] = 0
    common = int(np.count_nonzero(b[at] == a))
    return common / (len(a) + len(b) - common)


class SpilledSets:
    """Shingle sets read back from the spill file with plain reads.

    Not ``mmap``: page-cache read-around would map most of a large file into the process for a
    few thousand scattered reads, and count it as resident memory.
    """

    def __init__(self, spill: BinaryIO, offsets: array) -> None:
        self._spill = spill
        self._offsets = offsets
        self._recent: dict[int, np.ndarray] = {}

    def __getitem__(self, index: int) -> np.ndarray:
        found = self._recent.get(index)
        if found is None:
            lo, hi = self._offsets[index], self._offsets[index + 1]
            self._spill.seek(4 * lo)
            found = np.frombuffer(self._spill.read(4 * (hi - lo)), dtype=np.uint32)
            if len(self._recent) >= 4096:  # bucket leaders recur; anything else rarely does
                self._recent.clear()
            self._recent[index] = found
        return found


def best_matches(
    pairs: np.ndarray, sets: SpilledSets | list[np.ndarray]
) -> dict[int, tuple[int, float]]:
    """For each later prompt of a verified pair: (the earlier prompt most like it, similarity)."""
    best: dict[int, tuple[int, float]] = {}
    for i, j in pairs.tolist():
        similarity = jaccard(sets[i], sets[j])
        current = best.get(j)
        if (
            current is None
            or similarity > current[1]
            or (similarity == current[1] and i < current[0])
        ):
            best[j] = (i, similarity)
    return best
