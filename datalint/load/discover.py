"""Which files a list of paths names: directories expand to the data files under them.

A directory walk never skips silently: a subdirectory that cannot be listed, or a name that is
not valid UTF-8 (it could not be shown in any report), is an :class:`InputError` that names the
path in printable form, so the CLI exits 2 rather than passing data it did not read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from datalint.load.errors import InputError

DATA_SUFFIXES = (
    ".jsonl",
    ".jsonl.gz",
    ".jsonl.zst",
    ".parquet",
    ".arrow",
    ".json",
)
# Written by ``datasets`` (save_to_disk, the hub) beside arrow or parquet files: metadata.
SAVE_TO_DISK_METADATA = frozenset(
    {"dataset_info.json", "dataset_infos.json", "state.json", "dataset_dict.json"}
)
_SUFFIX_WORDS = ", ".join(DATA_SUFFIXES[:-1]) + f" or {DATA_SUFFIXES[-1]}"


def printable_path(path: str) -> str:
    """A path as it can be shown: undecodable bytes as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _check_name(path: str) -> None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"{printable_path(path)}: the name is not valid UTF-8; rename it to read it"
        ) from None


def discover_files(paths: Iterable[str], *, exclude: Iterable[str] = ()) -> list[str]:
    """Expand directories to the data files under them (sorted); keep files as named.

    ``exclude`` names files to leave out of a directory walk (the operator's own ``--rollouts``
    file sitting beside the data)."""
    skip = {os.path.realpath(p) for p in exclude if p}
    found: list[str] = []
    for raw in paths:
        _check_name(raw)
        p = Path(raw)
        if p.is_dir():
            inside = _walk(raw, skip)
            if not inside:
                raise InputError(f"{raw}: directory holds no {_SUFFIX_WORDS} files")
            found.extend(inside)
        elif p.is_file():
            found.append(raw)
        elif p.exists():
            raise InputError(f"{raw}: not a regular file")
        else:
            raise InputError(f"{raw}: no such file or directory")
    return found


def _walk(top: str, skip: set[str]) -> list[str]:
    def fail(err: OSError) -> None:
        where = printable_path(str(err.filename or top))
        raise InputError(f"{where}: cannot read directory: {err.strerror or err}")

    files: list[str] = []
    seen: set[tuple[int, int]] = set()
    for folder, dirnames, filenames in os.walk(top, onerror=fail, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        for name in dirnames:
            _check_name(os.path.join(folder, name))
        is_saved_dataset = "dataset_dict.json" in filenames or any(
            n.endswith((".arrow", ".parquet")) for n in filenames
        )
        for name in filenames:
            path = os.path.join(folder, name)
            if not name.endswith(DATA_SUFFIXES):
                continue
            _check_name(path)
            if is_saved_dataset and name in SAVE_TO_DISK_METADATA:
                continue
            if os.path.realpath(path) in skip or not os.path.isfile(path):
                continue
            files.append(path)
        dirnames.sort()
    return sorted(files)
