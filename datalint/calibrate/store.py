"""The calibration store: one SQLite row per measured (cohort, seed) GRPO run.

Schema (version 1)
------------------
``runs``: one row per finished GRPO run; the primary key is what makes a run "the same run":
    cohort_key TEXT        content hash of the cohort (prompts, answers, verifiers)
    seed INTEGER           GRPO training seed (feature rollouts use separate seeds)
    settings_hash TEXT     hash of ``settings`` (steps, lr, samples, ...)
    model_fingerprint TEXT base checkpoint fingerprint
    probe_hash TEXT        content hash of the probe file
    cohort_id TEXT         the cohort's id as the data file names it
    subject TEXT           majority subject of the cohort's items (or NULL)
    data_hash TEXT         content hash of the data file(s) the cohort came from
    n_items INTEGER
    features TEXT          JSON: the 23 features by name (null = missing)
    item_pass_rates TEXT   JSON list: per-item pass rate of the feature rollouts
    nll_before REAL, nll_after REAL, lift REAL     mean per-token probe NLL; lift = before-after
    pgold_before REAL, pgold_after REAL, reward_lift REAL  mean P(gold) on the probe; after-before
    settings TEXT          JSON of the GRPO settings
    setup_s REAL, train_s REAL, probe_s REAL, total_s REAL, peak_rss_mb REAL   timings/cost
    datalint_version TEXT, created_at TEXT (UTC ISO 8601)

``baselines``: the probe NLL / P(gold) of the untouched base model, once per (model, probe).

``claims``: the runs some ``calibrate`` process is measuring right now (the run's key, the
owner's id, host and pid, when it claimed the run and its last heartbeat). A process claims a
run in a write transaction just before it starts it, so two ``calibrate`` processes on one store
share the work and never train the same (cohort, seed) twice. A claim whose owner is gone (a dead
pid on this host, or no heartbeat for ``stale_after_s``) is taken over. Adding the table keeps
schema version 1: older stores gain it when they are opened.

``meta``: key/value, holds ``schema_version``.

The store opens in WAL mode and commits each run as soon as it finishes, so a killed calibration
loses at most the runs in flight; on restart :meth:`CalibrationStore.has_run` skips every run whose
primary key is present, and ``INSERT OR IGNORE`` means a run can never be counted twice.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datalint import __version__
from datalint.features_names import SIGNAL_NAMES
from datalint.sqlite_wal import connect_wal, is_busy

SCHEMA_VERSION = 1
_BUSY_TIMEOUT_S = 30.0

RUN_COLUMNS_DDL = """\
    cohort_key TEXT NOT NULL,
    seed INTEGER NOT NULL,
    settings_hash TEXT NOT NULL,
    model_fingerprint TEXT NOT NULL,
    probe_hash TEXT NOT NULL,
    cohort_id TEXT NOT NULL,
    subject TEXT,
    data_hash TEXT NOT NULL,
    n_items INTEGER NOT NULL,
    features TEXT NOT NULL,
    item_pass_rates TEXT NOT NULL,
    nll_before REAL NOT NULL,
    nll_after REAL NOT NULL,
    lift REAL NOT NULL,
    pgold_before REAL,
    pgold_after REAL,
    reward_lift REAL,
    settings TEXT NOT NULL,
    setup_s REAL,
    train_s REAL,
    probe_s REAL,
    total_s REAL,
    peak_rss_mb REAL,
    datalint_version TEXT NOT NULL,
    created_at TEXT NOT NULL"""  # the columns of one run record (the loop's online runs reuse them)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
{RUN_COLUMNS_DDL},
    PRIMARY KEY (cohort_key, seed, settings_hash, model_fingerprint, probe_hash)
);
CREATE TABLE IF NOT EXISTS claims (
    cohort_key TEXT NOT NULL,
    seed INTEGER NOT NULL,
    settings_hash TEXT NOT NULL,
    model_fingerprint TEXT NOT NULL,
    probe_hash TEXT NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    claimed_at REAL NOT NULL,
    heartbeat REAL NOT NULL,
    PRIMARY KEY (cohort_key, seed, settings_hash, model_fingerprint, probe_hash)
);
CREATE TABLE IF NOT EXISTS baselines (
    model_fingerprint TEXT NOT NULL,
    probe_hash TEXT NOT NULL,
    nll REAL NOT NULL,
    pgold REAL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (model_fingerprint, probe_hash)
);
"""


class StoreError(RuntimeError):
    pass


STALE_AFTER_S = 300.0  # a claim without a heartbeat for this long belongs to nobody
HEARTBEAT_S = 20.0


@dataclass(frozen=True, slots=True)
class ClaimOwner:
    """Who holds a claim: one ``calibrate`` process (its id is unique even if a pid is reused)."""

    id: str
    host: str
    pid: int

    @classmethod
    def this_process(cls) -> ClaimOwner:
        return cls(uuid.uuid4().hex, socket.gethostname(), os.getpid())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except OSError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class RunKey:
    cohort_key: str
    seed: int
    settings_hash: str
    model_fingerprint: str
    probe_hash: str


@dataclass(slots=True)
class RunRecord:
    """One finished GRPO run on one cohort with one seed."""

    key: RunKey
    cohort_id: str
    subject: str | None
    data_hash: str
    n_items: int
    features: dict[str, float | None]
    item_pass_rates: list[float]
    nll_before: float
    nll_after: float
    pgold_before: float | None
    pgold_after: float | None
    settings: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    datalint_version: str = __version__
    created_at: str = ""

    @property
    def lift(self) -> float:
        """NLL-lift: positive when training on the cohort lowered the probe NLL."""
        return self.nll_before - self.nll_after

    @property
    def reward_lift(self) -> float | None:
        """Change in mean P(gold) over the probe: positive when the expected reward rose."""
        if self.pgold_before is None or self.pgold_after is None:
            return None
        return self.pgold_after - self.pgold_before


_KEY_WHERE = "cohort_key=? AND seed=? AND settings_hash=? AND model_fingerprint=? AND probe_hash=?"


def _key_args(key: RunKey) -> tuple[str, int, str, str, str]:
    return (key.cohort_key, key.seed, key.settings_hash, key.model_fingerprint, key.probe_hash)


class Heartbeat:
    """Refreshes ``owner``'s claims every ``interval_s`` from a daemon thread (with its own
    connection) while a calibration runs, so a long GRPO run's claim never looks stale."""

    def __init__(self, path: Path, owner: ClaimOwner, interval_s: float = HEARTBEAT_S) -> None:
        self._path, self._owner, self._interval = path, owner, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="datalint-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        try:
            db = connect_wal(self._path, busy_timeout_s=_BUSY_TIMEOUT_S)
        except sqlite3.Error:
            return
        try:
            while not self._stop.wait(self._interval):
                try:
                    with db:
                        db.execute(
                            "UPDATE claims SET heartbeat=? WHERE owner=?",
                            (time.time(), self._owner.id),
                        )
                except sqlite3.Error:
                    continue  # a missed beat is retried; staleness allows many of them
        finally:
            db.close()


def _missing_as_null(features: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (None if v is None or math.isnan(v) else float(v)) for k, v in features.items()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class CalibrationStore:
    """A SQLite calibration store. One writer (the orchestrating process); readers are free."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = connect_wal(self.path, busy_timeout_s=_BUSY_TIMEOUT_S)
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            if is_busy(exc):
                raise StoreError(
                    f"{self.path}: store stayed locked by another process for "
                    f"{_BUSY_TIMEOUT_S:.0f} s"
                ) from None
            raise StoreError(f"{self.path}: not a datalint calibration store ({exc})") from None

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            with self._db:
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema version {row[0]}, this datalint reads {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CalibrationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs ---------------------------------------------------------------------------------------
    def has_run(self, key: RunKey) -> bool:
        """Whether this exact run (cohort, seed, settings, model, probe) is stored: a resume
        skips it. Another seed of the same cohort is another run."""
        row = self._db.execute(f"SELECT 1 FROM runs WHERE {_KEY_WHERE}", _key_args(key)).fetchone()
        return row is not None

    # claims ---------------------------------------------------------------------------------------
    def claim(
        self, key: RunKey, owner: ClaimOwner, *, stale_after_s: float = STALE_AFTER_S
    ) -> bool:
        """Take ``key`` for ``owner`` unless it is stored or another live owner holds it.

        One ``BEGIN IMMEDIATE`` transaction: of two processes claiming the same run at once,
        exactly one gets True.
        """
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self.has_run(key):
                self._db.execute("COMMIT")
                return False
            row = self._db.execute(
                f"SELECT owner, host, pid, heartbeat FROM claims WHERE {_KEY_WHERE}", _key_args(key)
            ).fetchone()
            if row is not None and row[0] != owner.id:
                holder_host, holder_pid, heartbeat = row[1], int(row[2]), float(row[3])
                gone = holder_host == owner.host and not _pid_alive(holder_pid)
                if not gone and now - heartbeat < stale_after_s:
                    self._db.execute("COMMIT")
                    return False
            self._db.execute(
                "INSERT OR REPLACE INTO claims VALUES (?,?,?,?,?,?,?,?,?,?)",
                (*_key_args(key), owner.id, owner.host, owner.pid, now, now),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return True

    def release_claims(self, owner: ClaimOwner) -> None:
        """Drop every claim ``owner`` still holds (its unfinished runs go back to the pool)."""
        with self._db:
            self._db.execute("DELETE FROM claims WHERE owner=?", (owner.id,))

    def claims(self) -> list[tuple[RunKey, str, str, int]]:
        """(key, owner id, host, pid) of every open claim."""
        rows = self._db.execute(
            "SELECT cohort_key, seed, settings_hash, model_fingerprint, probe_hash, owner, host, "
            "pid FROM claims ORDER BY 1, 2"
        ).fetchall()
        return [(RunKey(*r[:5]), r[5], r[6], int(r[7])) for r in rows]

    def add_run(self, rec: RunRecord) -> bool:
        """Commit one finished run at once (and drop its claim). Returns False if that run was
        already stored."""
        k = rec.key
        with self._db:
            self._db.execute(f"DELETE FROM claims WHERE {_KEY_WHERE}", _key_args(k))
            cur = self._db.execute(
                "INSERT OR IGNORE INTO runs VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    k.cohort_key,
                    k.seed,
                    k.settings_hash,
                    k.model_fingerprint,
                    k.probe_hash,
                    rec.cohort_id,
                    rec.subject,
                    rec.data_hash,
                    rec.n_items,
                    json.dumps(_missing_as_null(rec.features), allow_nan=False),
                    json.dumps(rec.item_pass_rates),
                    rec.nll_before,
                    rec.nll_after,
                    rec.lift,
                    rec.pgold_before,
                    rec.pgold_after,
                    rec.reward_lift,
                    json.dumps(rec.settings, sort_keys=True),
                    rec.timings.get("setup_s"),
                    rec.timings.get("train_s"),
                    rec.timings.get("probe_s"),
                    rec.timings.get("total_s"),
                    rec.timings.get("peak_rss_mb"),
                    rec.datalint_version,
                    rec.created_at or _now(),
                ),
            )
        return cur.rowcount == 1

    def add_signals(
        self, cohort_key: str, model_fingerprint: str, signals: dict[str, float | None]
    ) -> int:
        """Add signals measured after the fact (``scripts/grad_align_signal.py``) to every run
        of the cohort on that model: its stored features gain the keys, the 23 are untouched.
        Only names in SIGNAL_NAMES are accepted. Returns the number of runs updated."""
        unknown = sorted(set(signals) - set(SIGNAL_NAMES))
        if unknown:
            raise ValueError(f"not a signal datalint computes: {unknown[0]!r}")
        where = "cohort_key = ? AND model_fingerprint = ?"
        with self._db:
            rows = self._db.execute(
                f"SELECT rowid, features FROM runs WHERE {where}", (cohort_key, model_fingerprint)
            ).fetchall()
            for rowid, text in rows:
                features = {**json.loads(text), **_missing_as_null(signals)}
                self._db.execute(
                    "UPDATE runs SET features = ? WHERE rowid = ?",
                    (json.dumps(features, allow_nan=False), rowid),
                )
        return len(rows)

    def runs(self) -> Iterator[RunRecord]:
        cur = self._db.execute("SELECT * FROM runs ORDER BY cohort_id, cohort_key, seed")
        names = [d[0] for d in cur.description]
        for row in cur:
            r = dict(zip(names, row, strict=True))
            yield RunRecord(
                key=RunKey(
                    r["cohort_key"],
                    r["seed"],
                    r["settings_hash"],
                    r["model_fingerprint"],
                    r["probe_hash"],
                ),
                cohort_id=r["cohort_id"],
                subject=r["subject"],
                data_hash=r["data_hash"],
                n_items=r["n_items"],
                features=json.loads(r["features"]),
                item_pass_rates=json.loads(r["item_pass_rates"]),
                nll_before=r["nll_before"],
                nll_after=r["nll_after"],
                pgold_before=r["pgold_before"],
                pgold_after=r["pgold_after"],
                settings=json.loads(r["settings"]),
                timings={
                    k: r[k]
                    for k in ("setup_s", "train_s", "probe_s", "total_s", "peak_rss_mb")
                    if r[k] is not None
                },
                datalint_version=r["datalint_version"],
                created_at=r["created_at"],
            )

    def count_runs(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def content_hash(self) -> str:
        """A hash of every stored run's key and labels: the predictor's training-data hash."""
        from datalint.calibrate.hashing import stable_hash

        rows = self._db.execute(
            "SELECT cohort_key, seed, settings_hash, model_fingerprint, probe_hash, features, "
            "lift, reward_lift FROM runs ORDER BY 1, 2, 3, 4, 5"
        ).fetchall()
        return stable_hash([list(r) for r in rows])

    # baselines ----------------------------------------------------------------------------------
    def baseline(
        self, model_fingerprint: str, probe_hash: str
    ) -> tuple[float, float | None] | None:
        row = self._db.execute(
            "SELECT nll, pgold FROM baselines WHERE model_fingerprint=? AND probe_hash=?",
            (model_fingerprint, probe_hash),
        ).fetchone()
        return None if row is None else (float(row[0]), row[1])

    def set_baseline(
        self, model_fingerprint: str, probe_hash: str, nll: float, pgold: float | None
    ) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO baselines VALUES (?,?,?,?,?)",
                (model_fingerprint, probe_hash, nll, pgold, _now()),
            )


def record_as_dict(rec: RunRecord) -> dict[str, Any]:
    d = asdict(rec)
    d["lift"] = rec.lift
    d["reward_lift"] = rec.reward_lift
    return d
