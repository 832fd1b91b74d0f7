"""Raw bytes of one record -> a JSON value, with every hostile form reported as a finding.

Besides plain syntax errors (S001) and bad UTF-8 (S003), a record can be valid JSON that no
later stage could use safely: an integer past Python's 4,300-digit conversion limit, a lone
surrogate escape (``"\\ud800"``, a string that cannot be written back as UTF-8 anywhere), or an
object that names one key twice (which value a trainer sees depends on its parser). Each is a
finding at the record's line and the record is not read; the run goes on.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datalint.engine import Gate
    from datalint.load.records import Source

FAILED: Any = object()  # a record that was reported and must not be read

_DIGIT_LIMIT_HINT = "integer string conversion"


class DuplicateKey(Exception):
    """Raised through the JSON scanner by an object that names one key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Builds each JSON object; one key written twice raises (cheaper than any text scan)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_strict_object)


def decode_line(raw: bytes, src: Source, gate: Gate) -> Any:
    """One JSONL line -> its JSON value, or FAILED after reporting why."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        gate.observe("utf8_errors", 1, src, detail=f"invalid UTF-8 at byte {exc.start}")
        return FAILED
    try:
        obj = STRICT_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        detail = exc.msg
        if "\x00" in text:
            detail += " (the line contains NUL bytes)"
        gate.observe("json_errors", 1, src, detail=f"{detail} at column {exc.colno}")
        return FAILED
    except DuplicateKey as dup:
        report_duplicate(dup.key, src, gate)
        return FAILED
    except RecursionError:
        gate.observe("json_errors", 1, src, detail="nesting too deep")
        return FAILED
    except ValueError as exc:
        gate.observe("json_errors", 1, src, detail=value_error_detail(exc))
        return FAILED
    if "\\" in text and not text_is_safe(text, obj, src, gate):
        return FAILED
    return obj


def value_error_detail(exc: ValueError) -> str:
    if _DIGIT_LIMIT_HINT in str(exc):
        return "a number has more than 4300 digits"
    return str(exc)[:160]


def report_duplicate(key: str, src: Source, gate: Gate) -> None:
    key = _shorten(key)
    gate.observe("duplicate_keys", 1, src, key=key, detail=f"the key '{key}' twice")


def text_is_safe(text: str, obj: Any, src: Source, gate: Gate, *, column: int = 0) -> bool:
    """Whether a decoded record is free of lone surrogate escapes (else reported).

    Only an escape can make one (raw UTF-8 cannot encode a surrogate), so text without
    ``\\ud``/``\\uD`` is safe without looking at the value. ``column`` is where the text
    starts on its line (an element of a JSON array), for the column in the message.
    """
    if "\\u" in text and ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(obj):
        gate.observe("lone_surrogates", 1, src, detail=_first_surrogate(text, column))
        return False
    return True


def _has_lone_surrogate(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_SURROGATE = re.compile(r"\\u[dD]([89abAB]|[c-fC-F])[0-9a-fA-F]{2}")


def _first_surrogate(text: str, column: int = 0) -> str:
    """Name the first escape that is not half of a pair (a pair is one valid character)."""
    pending_high: re.Match[str] | None = None
    for m in _SURROGATE.finditer(text):
        is_high = m.group(1) in "89abAB"
        if pending_high is not None:
            if not is_high and m.start() == pending_high.end():
                pending_high = None
                continue
            break
        if not is_high:
            pending_high = m
            break
        pending_high = m
    if pending_high is None:
        return "lone surrogate escape"
    where = column + pending_high.start() + 1
    return f"lone surrogate escape {pending_high.group(0)} at column {where}"


def _shorten(key: str) -> str:
    return key if len(key) <= 60 else key[:57] + "..."
