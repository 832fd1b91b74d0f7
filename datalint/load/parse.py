"""One raw JSONL line -> an :class:`Item`, or a format problem reported to the gate."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema

from datalint.load.records import Item, Rollout, Source

if TYPE_CHECKING:
    from datalint.engine import Gate


@cache
def item_validator() -> jsonschema.protocols.Validator:
    text = resources.files("datalint.load.schema").joinpath("item.schema.json").read_text("utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def parse_record(raw: bytes, src: Source, gate: Gate) -> Item | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        gate.observe("utf8_errors", 1, src, detail=f"invalid UTF-8 at byte {exc.start}")
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        detail = exc.msg
        if "\x00" in text:
            detail += " (the line contains NUL bytes)"
        gate.observe("json_errors", 1, src, detail=f"{detail} at column {exc.colno}")
        return None
    except RecursionError:
        gate.observe("json_errors", 1, src, detail="nesting too deep")
        return None
    if not _looks_valid(obj):
        problem = _schema_problem(obj)
        if problem is not None:
            gate.observe("schema_errors", 1, src, detail=problem)
            return None
    return _to_item(obj, src)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_MISSING = object()


def _looks_valid(obj: Any) -> bool:
    """A fast check that only ever says True for records the JSON Schema accepts.

    Validating a million records with jsonschema costs more than everything else in the static
    stage, so plain records skip it; anything unusual goes to the full validator, which then
    writes the message. tests/test_io.py checks the implication on generated records.
    """
    if type(obj) is not dict or "messages" in obj or "choices" in obj or "rollouts" in obj:
        return False
    get = obj.get
    if type(get("prompt")) is not str or type(get("answer")) not in _ANSWER_TYPES:
        return False
    for key in ("subject", "verifier"):
        v = get(key, _MISSING)
        if v is not _MISSING and (type(v) is not str or v == ""):
            return False
    for key in ("id", "cohort"):
        v = get(key, _MISSING)
        if v is not _MISSING and type(v) not in _ID_TYPES:
            return False
    meta = get("meta", _MISSING)
    return meta is _MISSING or type(meta) is dict


_ANSWER_TYPES = (str, int, float)
_ID_TYPES = (str, int)


def _schema_problem(obj: Any) -> str | None:
    errors = sorted(item_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    err = errors[0]
    where = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "anyOf" and not where:
        return "record needs a 'prompt' (string) or 'messages' (chat list)"
    if err.validator == "type" and not where:
        return f"record must be a JSON object, not {_json_type(obj)}"
    message = err.message
    if len(message) > 160:
        message = message[:157] + "..."
    return f"{where}: {message}" if where else message


def _json_type(obj: Any) -> str:
    if isinstance(obj, list):
        return "an array"
    if isinstance(obj, str):
        return "a string"
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    return "a number"


def _to_item(obj: dict[str, Any], src: Source) -> Item:
    get = obj.get
    rollouts = get("rollouts")
    ident = get("id")
    cohort = get("cohort")
    return Item(
        src,
        obj["answer"],
        get("prompt"),
        get("messages"),
        None if ident is None else str(ident),
        get("subject"),
        get("verifier"),
        get("choices"),
        None if cohort is None else str(cohort),
        get("meta"),
        None if rollouts is None else [_to_rollout(r) for r in rollouts],
    )


def _to_rollout(r: dict[str, Any]) -> Rollout:
    reward = r.get("reward")
    return Rollout(
        completion=r["completion"],
        reward=None if reward is None else float(reward),
        logprobs=r.get("logprobs"),
        entropies=r.get("entropies"),
        n_tokens=r.get("n_tokens"),
    )
