"""D003: training prompts that overlap a probe / evaluation file (``--probe FILE``).

The metric is the fraction of the item's n-grams that occur in any probe prompt, on normalised
text (casefolded, whitespace collapsed):

* prompts of at least ``ngram`` words (default 8): word n-grams (runs of letters and digits;
  punctuation is dropped, so "2+2=4" and "2 + 2 = 4" read the same);
* shorter prompts: character n-grams (default 13) that start at a word start, so a short
  question copied into a longer probe prompt is still found (an index of every character
  n-gram of the probe would cost ~100x more memory);
* a prompt equal to a probe prompt is 1.0 whatever its length (even under 13 characters).

The probe named is the one holding the most of the item's matched n-grams (the earliest on ties).
The index maps Python ``hash`` of each n-gram to the first probe holding it: the hashes are only
compared within this process, and a 64-bit collision among a probe's n-grams is negligible.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from datalint.engine import Gate
from datalint.load.records import Item, Source
from datalint.static.text import normalize, words

FEATURE = "probe_ngram_overlap"


class ProbeContamination:
    """Reports ``probe_ngram_overlap`` for each item sharing n-grams with a probe prompt."""

    def __init__(self, probe_items: Sequence[Item], *, ngram: int = 8, char_ngram: int = 13):
        self.ngram = ngram
        self.char_ngram = char_ngram
        self._sources: list[Source] = []
        self._positions: list[int] = []  # of each indexed probe in ``probe_items``
        self._exact: dict[str, int] = {}
        self._word_index: dict[int, int] = {}
        self._char_index: dict[int, int] = {}
        for position, probe in enumerate(probe_items):
            text = normalize(probe.prompt_text)
            if not text:
                continue
            index = len(self._sources)
            self._sources.append(probe.source)
            self._positions.append(position)
            self._exact.setdefault(text, index)
            for gram in self._word_grams(words(text)):
                self._word_index.setdefault(gram, index)
            for gram in self._char_grams(text):
                self._char_index.setdefault(gram, index)

    def feed(self, item: Item, gate: Gate) -> None:
        found = self.overlaps(item)
        if found is None:
            return
        hits, total, unit = found
        if unit == "exact":
            (exact,) = hits
            gate.observe(
                FEATURE, 1.0, item.source, probe_match=str(self._sources[exact]), overlap="exact"
            )
            return
        matched = sum(hits.values())
        top = min(hits, key=lambda probe: (-hits[probe], probe))
        gate.observe(
            FEATURE,
            matched / total,
            item.source,
            probe_match=str(self._sources[top]),
            overlap=f"{matched}/{total} {unit}-grams",
        )

    def overlaps(self, item: Item) -> tuple[Counter[int], int, str] | None:
        """The item's matched n-grams per probe (by its index in the probe list), how many n-grams
        the item has, and their unit ("word 8", "char 13", or "exact": the prompt equals probe
        ``hits``' one key); None when nothing matches."""
        text = normalize(item.prompt_text)
        if not text:
            return None
        exact = self._exact.get(text)
        if exact is not None:
            return Counter({exact: 1}), 1, "exact"
        tokens = words(text)
        if len(tokens) >= self.ngram:
            grams, index, unit = self._word_grams(tokens), self._word_index, f"word {self.ngram}"
        else:
            grams, index, unit = self._char_grams(text), self._char_index, f"char {self.char_ngram}"
        total = 0
        hits: Counter[int] = Counter()
        for gram in grams:
            total += 1
            found = index.get(gram)
            if found is not None:
                hits[found] += 1
        return (hits, total, unit) if hits else None

    def probe_position(self, probe_index: int) -> int:
        """Where the probe of an :meth:`overlaps` key sits in the ``probe_items`` given."""
        return self._positions[probe_index]

    def source_of(self, probe_index: int) -> Source:
        return self._sources[probe_index]

    def finish(self, gate: Gate) -> None:
        return None

    def _word_grams(self, tokens: list[str]) -> Iterable[int]:
        n = self.ngram
        if len(tokens) < n:
            return ()
        return map(hash, zip(*(tokens[k:] for k in range(n)), strict=False))

    def _char_grams(self, text: str) -> Iterable[int]:
        """Hashes of the ``char_ngram``-character windows of normalised text at word starts."""
        n = self.char_ngram
        starts = [0, *(i + 1 for i, ch in enumerate(text) if ch == " ")]
        return (hash(text[i : i + n]) for i in starts if i + n <= len(text))
