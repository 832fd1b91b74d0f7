"""Model fingerprints: what identifies a model for the rollout cache.

A local model directory is fingerprinted by the sha256 of every file in it that can change the
samples (config, generation config, tokenizer files, weights). Hashing multi-GB weights on each
run would cost seconds, so a file's hash is memoised by (absolute path, size, mtime) in a
``HashMemo`` (the rollout cache provides one); a touched or replaced file is hashed again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

_SKIPPED_SUFFIXES = {".md", ".txt", ".png", ".jpg", ".lock"}
_CHUNK = 1 << 20


class HashMemo(Protocol):
    def get_hash(self, path: str, size: int, mtime_ns: int) -> str | None: ...

    def put_hash(self, path: str, size: int, mtime_ns: int, sha256: str) -> None: ...


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint_model(model: str, memo: HashMemo | None = None) -> str:
    """sha256 over the model directory's relevant files; for a non-directory, of its name."""
    root = Path(model)
    if not root.is_dir():
        return hashlib.sha256(f"name:{model}".encode()).hexdigest()
    combined = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.suffix in _SKIPPED_SUFFIXES or rel.startswith("."):
            continue
        combined.update(f"{rel}\0{_memoised_sha256(path, memo)}\0".encode())
    return combined.hexdigest()


def _memoised_sha256(path: Path, memo: HashMemo | None) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo is not None and (known := memo.get_hash(*key)) is not None:
        return known
    digest = file_sha256(path)
    if memo is not None:
        memo.put_hash(*key, digest)
    return digest
