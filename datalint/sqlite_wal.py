"""Opening a SQLite file in WAL mode, the one way every datalint store does it.

SQLite does not call the busy handler for the ``PRAGMA journal_mode = WAL`` switch in every lock
state: while another process is creating the same file, the switch fails at once with "database
is locked" although ``busy_timeout`` is set. So the switch is retried here, with a short backoff,
until the busy timeout has passed; only then does the error reach the caller.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def is_busy(error: sqlite3.Error) -> bool:
    """Whether ``error`` is SQLite saying another connection holds the lock."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES  # extended codes keep the primary code in the low byte
    text = str(error)
    return "database is locked" in text or "database table is locked" in text


def connect_wal(
    path: str | Path, *, busy_timeout_s: float, isolation_level: str | None = ""
) -> sqlite3.Connection:
    """A connection to ``path`` with ``busy_timeout`` set, in WAL mode, ``synchronous=NORMAL``.

    ``isolation_level`` is passed to :func:`sqlite3.connect` (``None``: autocommit, the caller
    issues BEGIN/COMMIT itself). Raises :class:`sqlite3.OperationalError` when the file stays
    locked past the busy timeout, and whatever SQLite raises for a file that is not a database.
    """
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=isolation_level)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        _switch_to_wal(conn, deadline=time.monotonic() + busy_timeout_s)
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _switch_to_wal(conn: sqlite3.Connection, *, deadline: float) -> None:
    pause = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as error:
            if not is_busy(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
