"""The dataset layouts people train on, read as they are: detection per file and the mapping of
each layout's columns onto an :class:`Item`.

Detection looks at the columns of a file's first record (a parquet or arrow file's schema) and
locks the layout for the whole file. Precedence where layouts overlap, first match wins:

1. ``verl`` -- ``prompt`` plus a ``reward_model`` object holding ``ground_truth``;
   ``skywork-or1`` when that ground truth is a string holding a JSON list of answers.
2. ``native`` -- ``prompt`` with ``answer`` (a trl GRPO file with an ``answer`` column is native);
   ``trl`` -- ``prompt`` with ``solution`` and no ``answer``; any other ``prompt`` record is read
   as native (and its schema problems reported as such).
3. ``numinamath`` -- ``problem`` with ``problem_is_valid`` or ``solution_is_valid``;
   ``open-r1`` (also DeepScaleR) -- any other ``problem`` record.
4. ``native`` -- ``messages`` (chat) records.
5. ``reasoning-gym`` -- ``question`` with ``metadata``; ``polaris`` -- other ``question`` records.
6. ``openrlhf`` -- ``label`` with ``input`` or ``context_messages``.

The gold answer is the ``answer`` column where the record has one; only where it has none is the
``solution`` used: its last ``\\boxed{...}`` content, else the whole solution text. An explicit
mapping (``[tool.datalint.fields]`` or ``--field``) wins over detection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

MAPPABLE_FIELDS = ("prompt", "answer", "solution", "id", "subject", "cohort", "verifier", "choices")
_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    prompt: str = "prompt"  # dotted path of the prompt: a string or a chat list
    answer: str | None = "answer"  # dotted path of the gold answer
    solution: str | None = None  # fallback gold where the record has no answer
    id: str | None = None
    subject: str | None = None
    cohort: str | None = None
    verifier: str | None = None
    choices: str | None = None
    json_list_answer: bool = False  # the answer is a string holding a JSON list of answers
    keeps_native_fields: bool = False  # a mapping over native records keeps meta, rollouts, ...
    signature: tuple[str, ...] = ()  # the columns that identify it ("nearest layout")

    @property
    def is_native(self) -> bool:
        return self.name == "native"

    def columns(self) -> str:
        return ", ".join(self.signature)


NATIVE = Layout("native", signature=("prompt", "answer"))
VERL = Layout(
    "verl",
    answer="reward_model.ground_truth",
    id="extra_info.index",
    subject="data_source",
    signature=("data_source", "prompt", "ability", "reward_model", "extra_info"),
)
SKYWORK = replace(VERL, name="skywork-or1", json_list_answer=True)
TRL = Layout("trl", solution="solution", signature=("prompt", "solution"))
OPEN_R1 = Layout(
    "open-r1", prompt="problem", solution="solution", id="uuid",
    signature=("problem", "answer", "solution"),
)  # fmt: skip
NUMINAMATH = Layout(
    "numinamath",
    prompt="problem",
    solution="solution",
    subject="source",
    signature=(
        "problem", "answer", "solution", "question_type", "source", "problem_is_valid",
        "solution_is_valid",
    ),
)  # fmt: skip
POLARIS = Layout("polaris", prompt="question", signature=("question", "answer"))
REASONING_GYM = Layout(
    "reasoning-gym", prompt="question", signature=("question", "answer", "metadata")
)
OPENRLHF = Layout("openrlhf", prompt="input", answer="label", signature=("input", "label"))
OPENRLHF_CHAT = replace(OPENRLHF, prompt="context_messages")
LAYOUTS = (NATIVE, VERL, SKYWORK, TRL, OPEN_R1, NUMINAMATH, POLARIS, REASONING_GYM, OPENRLHF)


def detect(record: Mapping[str, Any]) -> Layout | None:
    """The layout a record is written in (see the module docs for the precedence), or None."""
    has = record.__contains__
    if has("prompt"):
        rm = record.get("reward_model")
        if isinstance(rm, dict) and "ground_truth" in rm:
            return SKYWORK if _is_json_answer_list(rm["ground_truth"]) else VERL
        if not has("answer") and has("solution"):
            return TRL
        return NATIVE
    if has("problem"):
        return NUMINAMATH if has("problem_is_valid") or has("solution_is_valid") else OPEN_R1
    if has("messages"):
        return NATIVE
    if has("question"):
        return REASONING_GYM if has("metadata") else POLARIS
    if has("label"):
        if has("input"):
            return OPENRLHF
        if has("context_messages"):
            return OPENRLHF_CHAT
    return None


def detect_columns(columns: list[str], first_row: Mapping[str, Any] | None) -> Layout | None:
    """Detection from a columnar schema; the first row decides verl versus Skywork-OR1."""
    if first_row is not None:
        return detect(first_row)
    return detect(dict.fromkeys(columns))


def nearest(keys: list[str]) -> Layout:
    """The known layout sharing most columns with a record that fits none."""
    present = set(keys)
    return max(LAYOUTS, key=lambda lay: len(present.intersection(lay.signature)))


def with_fields(base: Layout | None, fields: Mapping[str, str]) -> Layout:
    """The user's explicit mapping over the detected layout (or over native names)."""
    layout = base or NATIVE
    name = f"{layout.name} with the field mapping" if base else "the field mapping"
    return replace(layout, name=name, keeps_native_fields=layout.is_native, **dict(fields))


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``reward_model.ground_truth``), or _MISSING."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def to_native(record: Mapping[str, Any], layout: Layout) -> tuple[dict[str, Any] | None, str]:
    """Map a record onto native fields; (None, problem) when a required column is missing.

    The columns not consumed are kept in ``meta`` (verl's ``extra_info``, reasoning-gym's
    ``metadata``, ...), so that plug-in verifiers and reports can still reach them.
    """
    native: dict[str, Any] = {}
    prompt = lookup(record, layout.prompt)
    if prompt is _MISSING:
        return None, f"'{layout.prompt}' is a required column"
    native["prompt"] = prompt
    used = {_root(layout.prompt)}
    answer = _MISSING if layout.answer is None else lookup(record, layout.answer)
    if answer is not _MISSING:
        used.add(_root(layout.answer))  # type: ignore[arg-type]
    elif layout.solution is not None:
        solution = lookup(record, layout.solution)
        if isinstance(solution, str):
            answer = last_boxed(solution) or solution.strip()
            used.add(_root(layout.solution))
    if answer is _MISSING:
        wanted = layout.answer or layout.solution
        extra = f" (or '{layout.solution}')" if layout.solution and layout.answer else ""
        return None, f"'{wanted}'{extra} is a required column"
    if layout.json_list_answer:
        answer = _json_answer_list(answer)
    native["answer"] = answer
    for name in ("id", "subject", "cohort", "verifier", "choices"):
        path = getattr(layout, name)
        if path is not None:
            value = lookup(record, path)
            if value is not _MISSING and value is not None and _fits(name, value):
                native[name] = value
    if layout.keeps_native_fields:
        for name in _NATIVE_REST:
            if name not in native and name in record:
                native[name] = record[name]
        return native, ""
    meta = {k: v for k, v in record.items() if k not in used}
    if meta:
        native["meta"] = meta
    return native, ""


_NATIVE_REST = ("messages", "id", "subject", "cohort", "verifier", "choices", "meta", "rollouts")


def _fits(name: str, value: Any) -> bool:
    """Optional columns of a known layout are taken only in a shape datalint reads; an explicit
    mapping of a wrongly typed column then reports the type through the schema."""
    if name in ("id", "cohort"):
        return isinstance(value, (str, int)) and not isinstance(value, bool)
    if name in ("subject", "verifier"):
        return isinstance(value, str) and value != ""
    return True


def _root(path: str) -> str:
    return path.split(".", 1)[0]


def origin_of(layout: Layout) -> dict[str, str]:
    """Native field -> the column it came from, for messages that name the user's column."""
    origin = {"prompt": layout.prompt}
    gold = layout.answer if layout.answer is not None else layout.solution
    if gold is not None:
        origin["answer"] = gold
    for name in ("id", "subject", "cohort", "verifier", "choices"):
        path = getattr(layout, name)
        if path is not None:
            origin[name] = path
    return origin


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (braces balanced), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        start = text.rfind("\\fbox{")
        if start < 0:
            return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i:j].strip() or None
    return None


def _is_json_answer_list(value: Any) -> bool:
    return isinstance(value, str) and _json_answer_list(value) is not value


def _json_answer_list(value: Any) -> Any:
    """A string holding a JSON list of strings -> that list; anything else unchanged."""
    if not isinstance(value, str) or not value.startswith("[") or len(value) > 1_000_000:
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    if isinstance(parsed, list) and parsed and all(isinstance(a, str) for a in parsed):
        return parsed
    return value
