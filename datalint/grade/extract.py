"""Answer extraction the way RL reward functions read a completion, each linear in its length.

- ``strict``: the verifier's own reading (numeric: the whole text as a number, else the number
  after the last answer marker; math: math-verify on the whole completion).
- ``boxed``: the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), nested braces
  included, as verl's math reward reads it.
- ``gsm8k``: the number after the last ``#### `` (verl's gsm8k reward, strict format).
- ``last-number``: the last number in the completion (verl's gsm8k "flexible" format).
- ``math-verify``: math-verify's own extraction over the whole completion (open-r1's accuracy
  reward); for ``numeric`` this grades the way ``math`` does.
"""

from __future__ import annotations

import re

_BOX_KEYWORDS = ("\\boxed", "\\fbox")
_GSM8K = re.compile(r"#### (-?[0-9.,]+)")
_LAST_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``, braces balanced, or None."""
    start = max(text.rfind(k) for k in _BOX_KEYWORDS)
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0 or text[start:i].strip() not in _BOX_KEYWORDS:
        return None
    depth = 0
    for j in range(i, len(text)):
        ch = text[j]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def gsm8k_answer(text: str) -> str | None:
    """The token after the last ``#### ``, commas and dollar signs removed (as verl does)."""
    found = None
    for m in _GSM8K.finditer(text):
        found = m.group(1)
    return found.replace(",", "").replace("$", "") if found is not None else None


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (thousands commas dropped), or None."""
    found = None
    for m in _LAST_NUMBER.finditer(text):
        found = m.group(0)
    return found.replace(",", "").rstrip(".") if found is not None else None


def extracted_text(completion: str, mode: str) -> str | None:
    """The answer text ``mode`` reads from a completion (None: no answer there).

    ``strict`` and ``math-verify`` return the whole completion: their verifier reads it itself.
    """
    if mode == "boxed":
        return last_boxed(completion)
    if mode == "gsm8k":
        return gsm8k_answer(completion)
    if mode == "last-number":
        return last_number(completion)
    return completion
