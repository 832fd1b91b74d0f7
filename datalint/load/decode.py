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

# A key is a string followed by a colon; counting these over-counts (a string value may hold
# `":`) but never under-counts the keys written in the text.
_KEY_COLON = re.compile(r'"\s*:')
_SURROGATE_ESCAPE = ("\\ud", "\\uD")
_DIGIT_LIMIT_HINT = "integer string conversion"


def decode_line(raw: bytes, src: Source, gate: Gate) -> Any:
    """One JSONL line -> its JSON value, or FAILED after reporting why."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        gate.observe("utf8_errors", 1, src, detail=f"invalid UTF-8 at byte {exc.start}")
        return FAILED
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        detail = exc.msg
        if "\x00" in text:
            detail += " (the line contains NUL bytes)"
        gate.observe("json_errors", 1, src, detail=f"{detail} at column {exc.colno}")
        return FAILED
    except RecursionError:
        gate.observe("json_errors", 1, src, detail="nesting too deep")
        return FAILED
    except ValueError as exc:
        gate.observe("json_errors", 1, src, detail=_value_error_detail(exc))
        return FAILED
    return obj if text_is_safe(text, obj, src, gate) else FAILED


def _value_error_detail(exc: ValueError) -> str:
    if _DIGIT_LIMIT_HINT in str(exc):
        return "a number has more than 4300 digits"
    return str(exc)[:160]


def text_is_safe(text: str, obj: Any, src: Source, gate: Gate) -> bool:
    """Whether a decoded record is free of lone surrogates and duplicate keys (else reported)."""
    if (_SURROGATE_ESCAPE[0] in text or _SURROGATE_ESCAPE[1] in text) and _has_lone_surrogate(obj):
        gate.observe("lone_surrogates", 1, src, detail=_first_surrogate(text))
        return False
    if (type(obj) is dict or type(obj) is list) and _may_repeat_a_key(text, obj):
        duplicate = _duplicate_key(text, obj)
        if duplicate is not None:
            gate.observe("duplicate_keys", 1, src, key=_shorten(duplicate))
            return False
    return True


def _may_repeat_a_key(text: str, obj: Any) -> bool:
    """False only when the text provably writes each key once: as many `":` as keys parsed."""
    return (
        text.count('":') != _count_keys(obj)
        or '" ' in text
        or '"\t' in text
        or '"\n' in text
        or '"\r' in text
    )


def _count_keys(obj: Any) -> int:
    n = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if type(o) is dict:
            n += len(o)
            stack.extend(v for v in o.values() if type(v) is dict or type(v) is list)
        else:
            stack.extend(v for v in o if type(v) is dict or type(v) is list)
    return n


def _duplicate_key(text: str, obj: Any) -> str | None:
    """The first key written twice in one object, or None (a slow parse, run only on suspicion)."""
    if len(_KEY_COLON.findall(text)) <= _count_keys(obj):
        return None
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return found[0] if found else None


def _has_lone_surrogate(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_SURROGATE = re.compile(r"\\u[dD]([89abAB]|[c-fC-F])[0-9a-fA-F]{2}")


def _first_surrogate(text: str) -> str:
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
    return f"lone surrogate escape {pending_high.group(0)} at column {pending_high.start() + 1}"


def _shorten(key: str) -> str:
    return key if len(key) <= 60 else key[:57] + "..."
