"""Which files a list of paths names: directories expand to the data files under them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from datalint.load.errors import InputError

DATA_SUFFIXES = (".jsonl", ".jsonl.gz")


def discover_files(paths: Iterable[str]) -> list[str]:
    """Expand directories to the data files under them (sorted); keep files as named."""
    found: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            inside = sorted(
                str(q) for q in p.rglob("*") if q.is_file() and q.name.endswith(DATA_SUFFIXES)
            )
            if not inside:
                raise InputError(f"{raw}: directory holds no .jsonl or .jsonl.gz files")
            found.extend(inside)
        elif p.is_file():
            found.append(raw)
        elif p.exists():
            raise InputError(f"{raw}: not a regular file")
        else:
            raise InputError(f"{raw}: no such file or directory")
    return found
