"""Stable content hashes for the calibration store's keys (cohorts, probes, settings, data)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datalint.load.records import Item


def stable_hash(obj: Any) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON of ``obj``."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def items_hash(items: Iterable[Item]) -> str:
    """What a GRPO run sees of the items: prompt, gold answer and verifier, in order."""
    return stable_hash([[it.prompt_text, it.answer_text, it.verifier] for it in items])


def files_hash(paths: Iterable[str | Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(str(p) for p in paths):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]
