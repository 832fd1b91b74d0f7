"""Replay of precomputed rollouts: inline in the data, or from a ``datalint rollout`` file.

The rollouts file is JSONL. Its first line is a header,
``{"datalint": "rollouts", "version": 1, "backend": ..., "model": ..., "fingerprint": ...,
"params": {...}}``; every other line holds one item:
``{"id": ..., "path": ..., "line": ..., "prompt_sha256": ..., "rollouts": [{"completion": ...,
"logprobs": [...], "entropies": [...], "n_tokens": ...}, ...]}``.

Matching rule: an item with an ``id`` takes the line with that id; an item without one takes a
line with the sha256 of its prompt text (duplicated prompts take such lines in file order, then
share the last one). An id match whose prompt hash differs is refused: the rollouts were made for
an earlier version of that item. Path and line are written for people, never matched: files move.

Core install only: no torch here.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from datalint.load import ROLLOUTS_HEADER_KIND, InputError
from datalint.load.records import Item, Rollout
from datalint.rollout.base import prompt_hash, rollout_from_dict, rollout_to_dict
from datalint.rollout.readable import Unreadable

HEADER_KIND = ROLLOUTS_HEADER_KIND
FORMAT_VERSION = 1


class ReplayError(InputError):
    """A rollouts file that cannot be read, or that lacks an item (one line, names file:line)."""


@dataclass(slots=True)
class RolloutsFile:
    path: str
    header: dict[str, Any] = field(default_factory=dict)
    by_id: dict[str, tuple[int, str, list[Rollout]]] = field(default_factory=dict)
    by_hash: dict[str, list[list[Rollout]]] = field(default_factory=lambda: defaultdict(list))
    _hash_taken: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # prompt sha256 -> why the model that wrote the file could not read it (S022 / S023)
    unreadable: dict[str, Unreadable] = field(default_factory=dict)

    def verdict(self, item: Item) -> Unreadable | None:
        """The file's "cannot read this prompt" verdict for the item, if it has one."""
        return self.unreadable.get(prompt_hash(item.prompt_text))

    def lookup(self, item: Item) -> list[Rollout]:
        text_hash = prompt_hash(item.prompt_text)
        if item.id is not None:
            entry = self.by_id.get(str(item.id))
            if entry is not None:
                line, recorded_hash, rollouts = entry
                if recorded_hash and recorded_hash != text_hash:
                    raise ReplayError(
                        f"{self.path}:{line}: rollouts for id {item.id!r} were made for another "
                        f"prompt than the one at {item.source}; run 'datalint rollout' again"
                    )
                return rollouts
        candidates = self.by_hash.get(text_hash)
        if not candidates:
            who = f"id {item.id!r}" if item.id is not None else "its prompt"
            raise ReplayError(
                f"{self.path}: no rollouts for the item at {item.source} (matched by {who}); "
                "run 'datalint rollout' on this data again"
            )
        taken = self._hash_taken[text_hash]
        self._hash_taken[text_hash] = taken + 1
        return candidates[min(taken, len(candidates) - 1)]


def read_rollouts_file(path: str) -> RolloutsFile:
    """Parses a rollouts file; a bad line raises ReplayError naming file and line."""
    result = RolloutsFile(path=path)
    try:
        with _open_text(path) as fh:
            for number, raw in enumerate(fh, start=1):
                if raw.strip():
                    _read_line(result, raw, number)
    except OSError as error:
        raise ReplayError(
            f"{path}: cannot read rollouts file: {error.strerror or error}"
        ) from error
    except UnicodeDecodeError as error:
        raise ReplayError(f"{path}: not a UTF-8 text file ({error.reason})") from error
    return result


def _open_text(path: str) -> IO[str]:
    if Path(path).suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _read_line(result: RolloutsFile, raw: str, number: int) -> None:
    where = f"{result.path}:{number}"
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ReplayError(f"{where}: invalid JSON ({error.msg})") from error
    if not isinstance(record, dict):
        raise ReplayError(f"{where}: each line must be a JSON object")
    if record.get("datalint") == HEADER_KIND:
        result.header = record
        return
    raw_rollouts = record.get("rollouts")
    if not isinstance(raw_rollouts, list):
        raise ReplayError(f"{where}: a line needs a 'rollouts' list")
    try:
        rollouts = [rollout_from_dict(r) for r in raw_rollouts]
    except ValueError as error:
        raise ReplayError(f"{where}: {error}") from error
    text_hash = record.get("prompt_sha256")
    if text_hash is not None and not isinstance(text_hash, str):
        raise ReplayError(f"{where}: 'prompt_sha256' must be a string")
    why = record.get("unreadable")
    if why is not None:
        if not (isinstance(why, dict) and text_hash):
            raise ReplayError(f"{where}: 'unreadable' must be an object beside a 'prompt_sha256'")
        try:
            result.unreadable[text_hash] = Unreadable.from_dict(why)
        except TypeError as error:
            raise ReplayError(f"{where}: 'unreadable': {error}") from error
    item_id = record.get("id")
    if item_id is not None:
        result.by_id.setdefault(str(item_id), (number, text_hash or "", rollouts))
    if text_hash:
        result.by_hash[text_hash].append(rollouts)
    elif item_id is None:
        raise ReplayError(f"{where}: a line needs an 'id' or a 'prompt_sha256' to match an item")


def replay_rollouts(
    items: list[Item],
    rollouts_file: RolloutsFile | None,
    inline: list[list[Rollout] | None] | None = None,
) -> list[list[Rollout]]:
    """Rollouts for every item: the trusted inline ones first (``inline``, parallel to ``items``;
    None means no inline rollouts count), else from the file; ReplayError if neither."""
    results: list[list[Rollout]] = []
    for index, item in enumerate(items):
        given = inline[index] if inline is not None else None
        if given is not None:
            results.append(given)
        elif rollouts_file is not None:
            results.append(rollouts_file.lookup(item))
        else:
            raise ReplayError(f"{item.source}: item has no rollouts and no rollouts file was given")
    return results


def rollouts_line(
    item: Item, rollouts: list[Rollout], unreadable: Unreadable | None = None
) -> dict[str, Any]:
    """The JSON object of one item in a rollouts file; ``unreadable`` when the model could not
    read its prompt (no rollouts then), so that replaying the file reports S022 / S023 too."""
    line: dict[str, Any] = {}
    if item.id is not None:
        line["id"] = item.id
    line["path"] = item.source.path
    line["line"] = item.source.line
    line["prompt_sha256"] = prompt_hash(item.prompt_text)
    line["rollouts"] = [rollout_to_dict(r) for r in rollouts]
    if unreadable is not None:
        line["unreadable"] = asdict(unreadable)
    return line


def header_line(
    *, backend: str, model: str | None, fingerprint: str, params: dict[str, Any]
) -> dict[str, Any]:
    return {
        "datalint": HEADER_KIND,
        "version": FORMAT_VERSION,
        "backend": backend,
        "model": model,
        "fingerprint": fingerprint,
        "params": params,
    }
