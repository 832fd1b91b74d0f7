"""Text normalisation shared by the static checks, so "the same prompt" means one thing."""

from __future__ import annotations

import re
from hashlib import blake2b

from datalint.load.records import Item

_WORD = re.compile(r"\w+")


def normalize(text: str) -> str:
    """Casefold, collapse runs of whitespace to one space, strip the ends."""
    return " ".join(text.casefold().split())


def prompt_identity(item: Item) -> str:
    """The normalised text that makes two items "the same problem".

    The prompt alone, except that multiple-choice items also carry their choices: "Which of these
    is prime?" asked over two different choice lists is two problems, not a duplicate.
    """
    text = normalize(item.prompt_text)
    if item.choices:
        text += "\x1f" + "\x1f".join(normalize(str(c)) for c in item.choices)
    return text


def digest16(text: str) -> bytes:
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def words(normalized: str) -> list[str]:
    """Word tokens (letters, digits, underscore) of already-normalised text; punctuation dropped."""
    return _WORD.findall(normalized)
