"""Online records of ``datalint loop``, kept in the calibration store's SQLite file.

They live in their own tables, beside calibrate's ``runs``, so a base-model fit (``datalint fit``,
which reads ``runs``) never sees a lift measured from moving weights unless asked
(``--include-online``). Schema (version 1):

``online_runs``: every GRPO run of the loop, in calibrate's record format (the columns of
    ``runs``; ``model_fingerprint`` is the fingerprint of the round's *starting* weights), plus
    ``loop_hash`` (the experiment), ``loop_seed``, ``arm``, ``round``, ``candidate`` (its place
    among the round's draws) and ``chosen`` (1 for the run whose weights the arm kept).
``loop_rounds``: one row per finished (experiment, seed, arm, round): the checkpoint the round
    ended with, probe NLL before and after, and the round's JSON log entry.
``loop_experiments``: what each ``loop_hash`` stands for.

A round commits in one transaction after its checkpoint is on disk, so a killed loop loses only
rounds in flight, and ``INSERT OR IGNORE`` on the primary keys means nothing is counted twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datalint.calibrate.store import RUN_COLUMNS_DDL, RunKey, RunRecord, StoreError

_RUN_COLUMNS = (
    "cohort_key", "seed", "settings_hash", "model_fingerprint", "probe_hash", "cohort_id",
    "subject", "data_hash", "n_items", "features", "item_pass_rates", "nll_before", "nll_after",
    "lift", "pgold_before", "pgold_after", "reward_lift", "settings", "setup_s", "train_s",
    "probe_s", "total_s", "peak_rss_mb", "datalint_version", "created_at",
)  # fmt: skip
_LOOP_COLUMNS = ("loop_hash", "loop_seed", "arm", "round", "candidate", "chosen")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS online_runs (
    loop_hash TEXT NOT NULL,
    loop_seed INTEGER NOT NULL,
    arm TEXT NOT NULL,
    round INTEGER NOT NULL,
    candidate INTEGER NOT NULL,
    chosen INTEGER NOT NULL,
{RUN_COLUMNS_DDL},
    PRIMARY KEY (loop_hash, loop_seed, arm, round, candidate)
);
CREATE TABLE IF NOT EXISTS loop_rounds (
    loop_hash TEXT NOT NULL,
    loop_seed INTEGER NOT NULL,
    arm TEXT NOT NULL,
    round INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    nll_before REAL NOT NULL,
    nll_after REAL NOT NULL,
    entry TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (loop_hash, loop_seed, arm, round)
);
CREATE TABLE IF NOT EXISTS loop_experiments (
    loop_hash TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OnlineRun:
    """One GRPO run of the loop: a calibrate record plus where in the loop it was measured."""

    record: RunRecord
    loop_seed: int
    arm: str
    round: int
    candidate: int
    chosen: bool


@dataclass(frozen=True, slots=True)
class RoundRow:
    loop_seed: int
    arm: str
    round: int
    checkpoint: str
    nll_before: float
    nll_after: float
    entry: dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _run_values(rec: RunRecord) -> tuple[Any, ...]:
    from datalint.calibrate.store import _missing_as_null

    k = rec.key
    return (
        k.cohort_key, k.seed, k.settings_hash, k.model_fingerprint, k.probe_hash, rec.cohort_id,
        rec.subject, rec.data_hash, rec.n_items,
        json.dumps(_missing_as_null(rec.features), allow_nan=False),
        json.dumps(rec.item_pass_rates), rec.nll_before, rec.nll_after, rec.lift,
        rec.pgold_before, rec.pgold_after, rec.reward_lift,
        json.dumps(rec.settings, sort_keys=True),
        rec.timings.get("setup_s"), rec.timings.get("train_s"), rec.timings.get("probe_s"),
        rec.timings.get("total_s"), rec.timings.get("peak_rss_mb"),
        rec.datalint_version, rec.created_at or _now(),
    )  # fmt: skip


def _record_of(r: dict[str, Any]) -> RunRecord:
    return RunRecord(
        key=RunKey(
            r["cohort_key"], r["seed"], r["settings_hash"], r["model_fingerprint"], r["probe_hash"]
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


class LoopStore:
    """The loop's tables in a calibration store file. One writer: the loop's parent process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a datalint calibration store ({exc})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LoopStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self, loop_hash: str, description: dict[str, Any]) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO loop_experiments VALUES (?,?,?)",
                (loop_hash, json.dumps(description, sort_keys=True), _now()),
            )

    def commit_round(self, loop_hash: str, row: RoundRow, runs: list[OnlineRun]) -> bool:
        """The round's runs and its row, in one transaction. False if it was already stored."""
        with self._db:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO loop_rounds VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    loop_hash, row.loop_seed, row.arm, row.round, row.checkpoint,
                    row.nll_before, row.nll_after,
                    json.dumps(row.entry, sort_keys=True, allow_nan=False), _now(),
                ),
            )  # fmt: skip
            if cur.rowcount != 1:
                return False
            marks = ",".join("?" * (len(_LOOP_COLUMNS) + len(_RUN_COLUMNS)))
            self._db.executemany(
                f"INSERT OR IGNORE INTO online_runs ({','.join(_LOOP_COLUMNS + _RUN_COLUMNS)}) "
                f"VALUES ({marks})",
                [
                    (
                        loop_hash,
                        r.loop_seed,
                        r.arm,
                        r.round,
                        r.candidate,
                        int(r.chosen),
                        *_run_values(r.record),
                    )
                    for r in runs
                ],
            )
        return True

    def rounds(self, loop_hash: str) -> list[RoundRow]:
        cur = self._db.execute(
            "SELECT loop_seed, arm, round, checkpoint, nll_before, nll_after, entry "
            "FROM loop_rounds WHERE loop_hash=? ORDER BY loop_seed, arm, round",
            (loop_hash,),
        )
        return [RoundRow(s, a, r, c, b, f, json.loads(e)) for s, a, r, c, b, f, e in cur]

    def online_runs(self, loop_hash: str | None = None) -> Iterator[OnlineRun]:
        where, args = ("WHERE loop_hash=?", (loop_hash,)) if loop_hash else ("", ())
        cur = self._db.execute(
            f"SELECT * FROM online_runs {where} ORDER BY loop_hash, loop_seed, arm, round, "
            "candidate",
            args,
        )
        names = [d[0] for d in cur.description]
        for values in cur:
            r = dict(zip(names, values, strict=True))
            yield OnlineRun(
                _record_of(r),
                r["loop_seed"],
                r["arm"],
                r["round"],
                r["candidate"],
                bool(r["chosen"]),
            )

    def count_online(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM online_runs").fetchone()[0])


class WithOnlineRuns:
    """A calibration store seen with its online records added to its base runs: what
    ``datalint fit --include-online`` loads (``load_calibration_set`` reads ``.runs()``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def runs(self) -> Iterator[RunRecord]:
        from datalint.calibrate.store import CalibrationStore

        with CalibrationStore(self.path) as base:
            yield from list(base.runs())
        with LoopStore(self.path) as online:
            yield from [r.record for r in online.online_runs()]
