"""Upkeep of the rollout cache: when each row was last used, which model it belongs to, and
``datalint cache info|prune``.

Two side tables beside ``rollouts`` (same file, created on first use, so older caches work):
``rollout_use`` holds the last time a run read or wrote each row (a row without one counts as
used when it was created), and ``model_labels`` a human name per model fingerprint (the model
directory, or the served model and its URL). A run records its use in one transaction at the end
of the rollout stage.

Pruning deletes rows, then runs VACUUM so the file shrinks. In WAL mode a reader in another
process keeps reading its snapshot meanwhile; the file reaches its new size once no reader holds
the old pages (the next checkpoint).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from datalint.errors import DatalintError
from datalint.rollout.base import prompt_hash

_BUSY_TIMEOUT_S = 60.0
_ROW_OVERHEAD_BYTES = 32
USE_GRANULARITY_S = 3600  # the seed, the timestamps and SQLite's record header, roughly

_SIDE_TABLES = """
CREATE TABLE IF NOT EXISTS rollout_use (
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    prompt_sha256 TEXT NOT NULL,
    seed INTEGER NOT NULL,
    used REAL NOT NULL,
    PRIMARY KEY (model, params, prompt_sha256, seed)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS model_labels (
    model TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    last_used REAL NOT NULL
) WITHOUT ROWID
"""


class CacheUpkeepError(DatalintError):
    pass


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
    return conn


def _ensure_side_tables(conn: sqlite3.Connection) -> None:
    for statement in _SIDE_TABLES.split(";"):
        conn.execute(statement)


def record_use(
    cache_path: Path,
    model: str,
    params: str,
    keys: Iterable[tuple[str, int]],
    *,
    name: str,
    label: str,
    now: float | None = None,
) -> None:
    """Marks the rows of ``keys`` (prompt text, seed) as used now, and names the model."""
    now = time.time() if now is None else now
    rows = [(model, params, prompt_hash(prompt), seed, now) for prompt, seed in keys]
    conn = _connect(cache_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _ensure_side_tables(conn)
            # A row used within the hour is left as it is: a warm re-run then writes almost
            # nothing, and an hour is far finer than pruning by days needs.
            conn.executemany(
                "INSERT INTO rollout_use VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (model, params, prompt_sha256, seed) DO UPDATE"
                f" SET used = excluded.used WHERE used < excluded.used - {USE_GRANULARITY_S}",
                rows,
            )
            conn.execute(
                "INSERT OR REPLACE INTO model_labels VALUES (?, ?, ?, ?)",
                (model, name, label, now),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


# -- info -------------------------------------------------------------------------------------
@dataclass(slots=True)
class ModelUsage:
    fingerprint: str
    name: str | None
    label: str | None
    rows: int
    last_used: float
    bytes: int


@dataclass(slots=True)
class CacheInfo:
    path: Path
    exists: bool
    size_bytes: int = 0
    rows: int = 0
    models: list[ModelUsage] = field(default_factory=list)


def disk_size(path: Path) -> int:
    """The database file with its write-ahead log (not the -shm index of the log: a few pages
    that come and go with the connections)."""
    total = 0
    for suffix in ("", "-wal"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            total += part.stat().st_size
    return total


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def _used_expr(conn: sqlite3.Connection) -> tuple[str, str]:
    """(FROM clause, expression of a row's last use) with or without the side table."""
    if _has_table(conn, "rollout_use"):
        return (
            "rollouts r LEFT JOIN rollout_use u USING (model, params, prompt_sha256, seed)",
            "COALESCE(u.used, r.created)",
        )
    return "rollouts r", "r.created"


_ROW_BYTES = (
    "(length(r.rollouts) + length(r.model) + length(r.params) + length(r.prompt_sha256) + "
    f"{_ROW_OVERHEAD_BYTES})"
)


def cache_info(cache_path: Path) -> CacheInfo:
    """What is in the cache, read without writing (a missing file is reported, not created)."""
    if not cache_path.exists():
        return CacheInfo(path=cache_path, exists=False)
    try:
        conn = sqlite3.connect(
            f"{cache_path.resolve().as_uri()}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT_S
        )
    except sqlite3.Error as error:
        raise CacheUpkeepError(f"{cache_path}: cannot open the rollout cache: {error}") from None
    try:
        if not _has_table(conn, "rollouts"):
            raise CacheUpkeepError(f"{cache_path}: not a datalint rollout cache")
        source, used = _used_expr(conn)
        labels: dict[str, tuple[str, str]] = {}
        if _has_table(conn, "model_labels"):
            labels = {
                m: (n, lab)
                for m, n, lab in conn.execute("SELECT model, name, label FROM model_labels")
            }
        models = [
            ModelUsage(
                fingerprint=model,
                name=labels.get(model, (None, None))[0],
                label=labels.get(model, (None, None))[1],
                rows=int(rows),
                last_used=float(last),
                bytes=int(size),
            )
            for model, rows, last, size in conn.execute(
                f"SELECT r.model, COUNT(*), MAX({used}), SUM({_ROW_BYTES}) FROM {source}"
                " GROUP BY r.model ORDER BY MAX(" + used + ") DESC"
            )
        ]
    except sqlite3.DatabaseError as error:
        raise CacheUpkeepError(f"{cache_path}: cannot read the rollout cache: {error}") from None
    finally:
        conn.close()
    return CacheInfo(
        path=cache_path,
        exists=True,
        size_bytes=disk_size(cache_path),
        rows=sum(m.rows for m in models),
        models=models,
    )


# -- prune ------------------------------------------------------------------------------------
@dataclass(slots=True)
class PruneResult:
    path: Path
    dry_run: bool
    rows_before: int
    rows_deleted: int
    size_before: int
    size_after: int
    deleted_by_model: dict[str, int] = field(default_factory=dict)


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1.5GiB``, ``100kb``, ``4096``: bytes, units are powers of 1024."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise CacheUpkeepError(f"--max-size {text!r}: expected a size such as 500M or 2G")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def resolve_models(conn: sqlite3.Connection, selector: str) -> list[str]:
    """Fingerprints that ``selector`` names: a fingerprint, a unique prefix of one, or a model's
    name or label (every fingerprint with that name)."""
    fingerprints = [m for (m,) in conn.execute("SELECT DISTINCT model FROM rollouts")]
    if selector in fingerprints:
        return [selector]
    if _has_table(conn, "model_labels"):
        named = [
            m
            for (m,) in conn.execute(
                "SELECT model FROM model_labels WHERE name = ? OR label = ?", (selector, selector)
            )
            if m in fingerprints
        ]
        if named:
            return sorted(named)
    prefixed = [m for m in fingerprints if m.startswith(selector)]
    if len(prefixed) == 1 and len(selector) >= 8:
        return prefixed
    if len(prefixed) > 1:
        raise CacheUpkeepError(
            f"--model {selector!r} is ambiguous ({len(prefixed)} models start with it)"
        )
    raise CacheUpkeepError(
        f"--model {selector!r}: no such model in the cache (see `datalint cache info`)"
    )


def prune(
    cache_path: Path,
    *,
    older_than_days: float | None = None,
    max_size: int | None = None,
    model: str | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneResult:
    """Deletes rows unused for ``older_than_days``, then the least recently used rows until the
    file fits ``max_size``; ``model`` limits both to that model (alone, it deletes its rows)."""
    if older_than_days is None and max_size is None and model is None:
        raise CacheUpkeepError("cache prune needs --older-than, --max-size or --model")
    if not cache_path.exists():
        raise CacheUpkeepError(f"{cache_path}: no rollout cache there")
    now = time.time() if now is None else now
    size_before = disk_size(cache_path)
    conn = _connect(cache_path)
    try:
        if not _has_table(conn, "rollouts"):
            raise CacheUpkeepError(f"{cache_path}: not a datalint rollout cache")
        if not dry_run:
            _ensure_side_tables(conn)
        scope = resolve_models(conn, model) if model is not None else None
        rows_before = int(conn.execute("SELECT COUNT(*) FROM rollouts").fetchone()[0])
        if dry_run:
            doomed = _doomed(conn, scope, older_than_days, max_size, now)
            return PruneResult(
                cache_path,
                True,
                rows_before,
                len(doomed),
                size_before,
                size_before,
                _count_by_model(doomed),
            )
        deleted: list[tuple[str, str, str, int]] = []
        for _ in range(3):  # the size estimate may be off: check the real file and go again
            doomed = _doomed(conn, scope, older_than_days, max_size, now)
            if not doomed:
                break
            _delete(conn, doomed)
            deleted.extend(doomed)
            _vacuum(conn)
            if max_size is None or disk_size(cache_path) <= max_size:
                break
        if not deleted:
            _vacuum(conn)
        return PruneResult(
            cache_path,
            False,
            rows_before,
            len(deleted),
            size_before,
            disk_size(cache_path),
            _count_by_model(deleted),
        )
    except sqlite3.DatabaseError as error:
        raise CacheUpkeepError(f"{cache_path}: cannot prune the rollout cache: {error}") from None
    finally:
        conn.close()


def _doomed(
    conn: sqlite3.Connection,
    scope: list[str] | None,
    older_than_days: float | None,
    max_size: int | None,
    now: float,
) -> list[tuple[str, str, str, int]]:
    source, used = _used_expr(conn)
    rows = conn.execute(
        f"SELECT r.model, r.params, r.prompt_sha256, r.seed, {used}, {_ROW_BYTES} FROM {source}"
        f" ORDER BY {used} DESC, r.model, r.params, r.prompt_sha256, r.seed"
    ).fetchall()
    in_scope = (lambda m: True) if scope is None else set(scope).__contains__
    doomed: set[tuple[str, str, str, int]] = set()
    if older_than_days is not None:
        cutoff = now - older_than_days * 86400
        doomed.update(r[:4] for r in rows if in_scope(r[0]) and r[4] < cutoff)
    if max_size is not None:
        total = sum(r[5] for r in rows)
        # Rows' own bytes scaled to the pages in use (what the file is after VACUUM and a
        # checkpoint: pages, indexes, the other tables), whatever the WAL holds right now.
        ratio = _pages_in_use(conn) / total if total else 1.0
        kept = 0.0
        for r in rows:
            if r[:4] in doomed:
                continue
            if (kept + r[5]) * ratio <= max_size or not in_scope(r[0]):
                kept += r[5]
            else:
                doomed.add(r[:4])
    if scope is not None and older_than_days is None and max_size is None:
        doomed.update(r[:4] for r in rows if in_scope(r[0]))
    return [r[:4] for r in rows if r[:4] in doomed]


def _pages_in_use(conn: sqlite3.Connection) -> int:
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * page_size


def _delete(conn: sqlite3.Connection, keys: list[tuple[str, str, str, int]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in ("rollouts", "rollout_use"):
            conn.executemany(
                f"DELETE FROM {table}"
                " WHERE model = ? AND params = ? AND prompt_sha256 = ? AND seed = ?",
                keys,
            )
        conn.execute("DELETE FROM model_labels WHERE model NOT IN (SELECT model FROM rollouts)")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _vacuum(conn: sqlite3.Connection) -> None:
    conn.execute("VACUUM")
    # Shrinks the WAL back. It would wait the whole busy timeout for another process's reads
    # to end; without the wait it just reports busy, and that reader's next checkpoint finishes.
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")


def _count_by_model(keys: list[tuple[str, str, str, int]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key[0]] = counts.get(key[0], 0) + 1
    return counts
