"""A SQLite cache of rollouts keyed by (model fingerprint, sampling params, prompt, seed).

Why SQLite: one file, atomic commits, and WAL mode lets one process write while others read.
Each batch of finished items is committed at once, so a Ctrl-C or a kill loses at most the
batch in flight. Concurrent writers wait on each other (busy timeout) instead of failing, and so
do processes that create the file at the same moment (:func:`datalint.sqlite_wal.connect_wal`).
A cache file that SQLite cannot read is moved aside with a one-line warning and rebuilt: a cache
is never worth a crash.

A prompt the model cannot read (``readable.Unreadable``) is stored in its row in place of the
rollouts, so a warm run reports it exactly as the cold run did. Rows of empty rollouts written
before that flag existed are read as misses, so they are assessed again rather than scored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from datalint.load.records import Rollout
from datalint.rollout.base import prompt_hash, rollouts_from_json, rollouts_to_json
from datalint.rollout.readable import Unreadable
from datalint.sqlite_wal import connect_wal

CACHE_FILENAME = "rollouts.sqlite3"
SCHEMA_VERSION = "1"
_BUSY_TIMEOUT_MS = 60_000
_CORRUPT_ERRORS = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rollouts (
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    prompt_sha256 TEXT NOT NULL,
    seed INTEGER NOT NULL,
    rollouts TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (model, params, prompt_sha256, seed)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (path, size, mtime_ns)
) WITHOUT ROWID;
"""

CacheKey = tuple[str, int]
"""(prompt text, seed) of one item; model and params are fixed per cache view."""
Cached = list[Rollout] | Unreadable
"""What a row holds: the item's rollouts, or why the model cannot read its prompt."""


def default_cache_dir() -> Path:
    """$DATALINT_CACHE_DIR, else the platform's user cache directory + /datalint."""
    if explicit := os.environ.get("DATALINT_CACHE_DIR"):
        return Path(explicit)
    if sys.platform == "win32" and (local := os.environ.get("LOCALAPPDATA")):
        return Path(local) / "datalint" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "datalint"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "datalint"


def _is_corruption(error: sqlite3.DatabaseError) -> bool:
    name = getattr(error, "sqlite_errorname", "")
    if name:
        return name in _CORRUPT_ERRORS
    text = str(error)
    return "not a database" in text or "malformed" in text


_KEYS_PER_SELECT = 500  # well under SQLite's smallest bound-parameter limit (999)


class RolloutCache:
    """Rollouts of one model under one set of sampling params, stored in ``directory``."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.path = self.directory / CACHE_FILENAME
        self._conn = self._open()

    # -- opening and recovery -------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as error:
            if not _is_corruption(error):
                raise
            self._move_aside(error)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True)
        conn = connect_wal(self.path, busy_timeout_s=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            with _transaction(conn):
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                    (SCHEMA_VERSION,),
                )
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self, error: sqlite3.DatabaseError) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        print(
            f"datalint: warning: rollout cache {self.path} is unreadable ({error}); "
            f"moved to {aside.name} and starting a new one",
            file=sys.stderr,
        )
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                part.replace(Path(f"{aside}{suffix}"))

    def _recover(self, error: sqlite3.DatabaseError) -> None:
        if not _is_corruption(error):
            raise error
        self._conn.close()
        self._move_aside(error)
        self._conn = self._connect()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> RolloutCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rollouts ---------------------------------------------------------------------------
    def get_many(self, model: str, params: str, keys: Iterable[CacheKey]) -> dict[CacheKey, Cached]:
        """The cached rollouts of those keys that are present (a corrupt cache reads as empty).

        One SELECT per :data:`_KEYS_PER_SELECT` keys (``prompt_sha256 IN (...)`` on the primary
        key's prefix), not one per key: an edit of 1% of the items reads the other 99% back.
        """
        wanted: dict[tuple[str, int], list[CacheKey]] = {}
        for prompt, seed in keys:
            wanted.setdefault((prompt_hash(prompt), seed), []).append((prompt, seed))
        hashes = list(dict.fromkeys(h for h, _ in wanted))
        found: dict[CacheKey, Cached] = {}
        try:
            for start in range(0, len(hashes), _KEYS_PER_SELECT):
                part = hashes[start : start + _KEYS_PER_SELECT]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    "SELECT prompt_sha256, seed, rollouts FROM rollouts"
                    f" WHERE model = ? AND params = ? AND prompt_sha256 IN ({marks})",
                    (model, params, *part),
                ).fetchall()
                for digest, seed, blob in rows:
                    owners = wanted.get((digest, seed))
                    if owners is None:  # the same prompt under another seed
                        continue
                    rollouts = _decode(blob)
                    if rollouts is None:  # an unreadable row is a miss: regenerated, replaced
                        continue
                    for key in owners:
                        found[key] = rollouts
        except sqlite3.DatabaseError as error:
            self._recover(error)
            return {}
        return found

    def put_many(self, model: str, params: str, entries: Iterable[tuple[CacheKey, Cached]]) -> None:
        """Stores finished items in one transaction, committed before returning."""
        now = time.time()
        rows = [
            (model, params, prompt_hash(prompt), seed, _encode(value), now)
            for (prompt, seed), value in entries
        ]
        try:
            self._write(rows)
        except sqlite3.DatabaseError as error:
            self._recover(error)
            self._write(rows)

    def _write(self, rows: list[tuple[str, str, str, int, str, float]]) -> None:
        with _transaction(self._conn):
            self._conn.executemany(
                "INSERT OR REPLACE INTO rollouts"
                " (model, params, prompt_sha256, seed, rollouts, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM rollouts").fetchone()[0])

    # -- file hash memo (fingerprint.HashMemo) ------------------------------------------------
    def get_hash(self, path: str, size: int, mtime_ns: int) -> str | None:
        try:
            row = self._conn.execute(
                "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?",
                (path, size, mtime_ns),
            ).fetchone()
        except sqlite3.DatabaseError as error:
            self._recover(error)
            return None
        return None if row is None else str(row[0])

    def put_hash(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        try:
            with _transaction(self._conn):
                self._conn.execute(
                    "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, sha256)"
                    " VALUES (?, ?, ?, ?)",
                    (path, size, mtime_ns, sha256),
                )
        except sqlite3.DatabaseError as error:
            self._recover(error)


def _encode(value: Cached) -> str:
    return value.to_json() if isinstance(value, Unreadable) else rollouts_to_json(value)


def _decode(text: str) -> Cached | None:
    """Rows are written by this module, so the fast path trusts their shape (a warm re-run is
    mostly this); anything odd goes through the validating reader or counts as a miss."""
    if text.startswith("{"):
        try:
            return Unreadable.from_dict(json.loads(text)["unreadable"])
        except (KeyError, TypeError, ValueError):
            return None
    rollouts = _decode_rollouts(text)
    if rollouts and all(r.n_tokens == 0 and not r.completion for r in rollouts):
        return None  # empty rollouts of an unfit prompt from before the flag: assess again
    return rollouts


def _decode_rollouts(text: str) -> list[Rollout] | None:
    try:
        return [
            Rollout(
                completion=d["completion"],
                logprobs=d["logprobs"],
                entropies=d["entropies"],
                n_tokens=d["n_tokens"],
            )
            for d in json.loads(text)
        ]
    except (KeyError, TypeError, ValueError):
        try:
            return rollouts_from_json(text)
        except ValueError:
            return None


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
    # instead of one failing with "database is locked" when it upgrades a read lock.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
