"""Model fingerprints: what identifies a model for the rollout cache.

A local model directory is fingerprinted by the sha256 of every file in it that can change the
samples (config, generation config, tokenizer files, weights), and of nothing else. Hashing
multi-GB weights on each run would cost seconds, so a file's hash is memoised by (absolute path,
size, mtime) in a ``HashMemo`` (the rollout cache provides one); a touched or replaced file is
hashed again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

# The files of a Hugging Face tokenizer (and chat template) that a model folder may hold.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "chat_template.json",
    "chat_template.jinja",
)
# Only the files that change what the model samples: weights, configs, tokenizer. Training logs,
# model cards and evaluation results beside them must not invalidate the cache.
_RELEVANT_NAMES = {"config.json", "generation_config.json", *TOKENIZER_FILES}
_RELEVANT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".model", ".tiktoken")
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
        if rel.startswith(".") or not is_relevant(path.name):
            continue
        combined.update(f"{rel}\0{_memoised_sha256(path, memo)}\0".encode())
    return combined.hexdigest()


def is_relevant(name: str) -> bool:
    return (
        name in _RELEVANT_NAMES
        or name.endswith(_RELEVANT_SUFFIXES)
        or name.endswith(".index.json")  # sharded weights' index
    )


def _memoised_sha256(path: Path, memo: HashMemo | None) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo is not None and (known := memo.get_hash(*key)) is not None:
        return known
    digest = file_sha256(path)
    if memo is not None:
        memo.put_hash(*key, digest)
    return digest


class FingerprintedModel:
    """For backends over a local model directory: the fingerprint, computed once per backend."""

    name: str
    model_dir: str
    hash_memo: HashMemo | None
    _fingerprint: str | None = None

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            digest = fingerprint_model(self.model_dir, self.hash_memo)
            self._fingerprint = f"{self.name}:{digest}"
        return self._fingerprint
