"""One raw JSONL line -> an :class:`Item`, or a format problem reported to the gate."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema

from datalint.load.decode import FAILED, decode_line
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
    """One native-layout JSONL line -> an Item, or None after reporting the problem."""
    obj = decode_line(raw, src, gate)
    if obj is FAILED:
        return None
    return native_item(obj, src, gate)


def native_builder(gate: Gate) -> Callable[[Any, Source], Item | None]:
    """The per-record function for a native file: the fast path first, one call per record."""

    def build(obj: Any, src: Source) -> Item | None:
        if _looks_valid(obj):
            return _to_item(obj, src)
        return native_item(obj, src, gate)

    return build


def native_item(
    obj: Any,
    src: Source,
    gate: Gate,
    *,
    layout: str = "native",
    origin: dict[str, str] | None = None,
) -> Item | None:
    """A decoded record in the native shape -> an Item, or None after an S002 finding.

    ``origin`` maps a native field to the column it was read from in another layout, so that a
    schema message names the column the user sees (``reward_model.ground_truth``, not ``answer``).
    """
    if _looks_valid(obj):
        item = _to_item(obj, src)
    else:
        problem = _schema_problem(obj, origin)
        if problem is not None:
            if layout != "native":
                problem = f"{problem} (read as layout {layout})"
            gate.observe("schema_errors", 1, src, detail=problem)
            return None
        item = _to_item(obj, src)
    if layout != "native":
        item.layout = layout
    return item


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


_ANY_OF_WORDS = {
    "prompt": "must be a string or a chat list of {role, content}",
    "answer": "must be a string, a number, or a non-empty list of them",
}


def _schema_problem(obj: Any, origin: dict[str, str] | None = None) -> str | None:
    errors = sorted(item_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    err = errors[0]
    path = [str(p) for p in err.absolute_path]
    if origin and path and path[0] in origin:
        path[0] = origin[path[0]]
    where = ".".join(path)
    if err.validator == "anyOf" and not where:
        return "record needs a 'prompt' (string) or 'messages' (chat list)"
    if err.validator == "type" and not where:
        return f"record must be a JSON object, not {_json_type(obj)}"
    if err.validator == "required" and origin and not where:
        missing = str(err.message).split("'")[1] if "'" in err.message else ""
        if missing in origin:
            return f"'{origin[missing]}' is a required column"
    message = err.message
    if err.validator == "anyOf" and len(err.absolute_path) == 1:
        message = _ANY_OF_WORDS.get(str(err.absolute_path[0]), message)
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
    prompt = get("prompt")
    messages = get("messages")
    if type(prompt) is list:  # trl's conversational prompt is a chat list
        prompt, messages = None, prompt
    answer = obj["answer"]
    if type(answer) is list:
        answer = [str(a) for a in answer]
    return Item(
        src,
        answer,
        prompt,
        messages,
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
