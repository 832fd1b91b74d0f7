"""The load stage: data files -> :class:`Item` records, each keeping its path and line.

The public names are re-exported here lazily: ``datalint.load.records`` is imported by the gate
(``Source``), and the readers import the gate, so an eager re-export would be an import cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Cohort": "datalint.load.records",
    "Item": "datalint.load.records",
    "Rollout": "datalint.load.records",
    "Source": "datalint.load.records",
    "InputError": "datalint.load.errors",
    "DATA_SUFFIXES": "datalint.load.discover",
    "discover_files": "datalint.load.discover",
    "DEFAULT_MAX_LINE_BYTES": "datalint.load.stream",
    "FileStats": "datalint.load.filestate",
    "ROLLOUTS_FILE_NOTE": "datalint.load.jsonl",
    "ROLLOUTS_HEADER_KIND": "datalint.load.jsonl",
    "iter_items": "datalint.load.stream",
    "item_validator": "datalint.load.parse",
    "parse_record": "datalint.load.parse",
    "ProblemCollector": "datalint.load.quiet",
    "read_items_quietly": "datalint.load.quiet",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'datalint.load' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
