"""Several calibration stores as named worlds: one policy model each, checked to be comparable.

A world is one store's (model, probe, settings) group (see ``load_calibration_set``), named by
``--world-name STORE=NAME``, else by the world folder holding the store (``worlds/NAME/``), else
by its model fingerprint. Stores are only pooled when their labels mean the same thing: the same
GRPO label rule (steps, lr, generations, temperature, trl options, feature rollouts and seed;
the completion length may differ, it is set per world from its answers) and the same similarity
method for target_similarity (MiniLM and character n-grams score on different scales). A
mismatch is an error that names both stores; a store made before the method was recorded
("unknown") is pooled with a note.

Stores may be committed as dumps: ``store.sql.gz`` (``sqlite3 .dump | gzip``) or ``.sql.zst``
are restored into a temporary SQLite file first (read-only use, never written back).
"""

from __future__ import annotations

import gzip
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from datalint.calibrate.dataset import CalibrationDataError, CalibrationSet, load_calibration_set
from datalint.calibrate.store import CalibrationStore

# The settings that define the label: they must agree for two worlds to share one fit.
LABEL_SETTINGS = (
    "steps",
    "lr",
    "num_generations",
    "temperature",
    "trl_options",
    "feature_rollouts",
    "feature_seed",
    "default_verifier",
)
DUMP_SUFFIXES = (".sql.gz", ".sql.zst", ".sql")
MAX_DUMP_BYTES = 512 * 1024 * 1024  # a store is about 1 KB a run: half a million runs
# A dump is SQL run by sqlite: it may build tables in its own temporary file and nothing else
# (no ATTACH of another file, no pragmas beyond the ones ``sqlite3 .dump`` writes).
_DUMP_PRAGMAS = {"foreign_keys", "writable_schema"}

Notify = Callable[[str], None]


def _read_dump(path: Path) -> str:
    """The dump's SQL text, decompressed, refused past ``MAX_DUMP_BYTES``."""
    name = path.name
    if name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            return _bounded(path, fh)
    if name.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            raise CalibrationDataError(
                f"{path}: reading a .zst dump needs the zstandard package"
            ) from None
        with path.open("rb") as raw:
            return _bounded(path, zstandard.ZstdDecompressor().stream_reader(raw))
    with path.open("rb") as fh:
        return _bounded(path, fh)


def _bounded(path: Path, fh: Any) -> str:
    data = fh.read(MAX_DUMP_BYTES + 1)
    if len(data) > MAX_DUMP_BYTES:
        raise CalibrationDataError(
            f"{path}: the dump holds more than {MAX_DUMP_BYTES // 2**20} MiB of SQL; "
            "restore it with sqlite3 yourself and pass the .sqlite file"
        )
    return data.decode("utf-8")


def _dump_authorizer(action: int, arg1: Any, arg2: Any, db: Any, trigger: Any) -> int:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and str(arg1).lower() not in _DUMP_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def restore_store(path: str | Path, workdir: Path) -> Path:
    """A SQLite file for ``path``: the file itself, or a dump restored under ``workdir``."""
    path = Path(path)
    if not path.name.endswith(DUMP_SUFFIXES):
        return path
    target = workdir / (path.name.split(".sql")[0] + f"-{abs(hash(str(path))):x}.sqlite")
    try:
        script = _read_dump(path)
        conn = sqlite3.connect(target)
        try:
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            conn.set_authorizer(_dump_authorizer)
            conn.executescript(script)
            conn.commit()
        finally:
            conn.close()
    except (OSError, UnicodeDecodeError, sqlite3.Error, EOFError) as exc:
        raise CalibrationDataError(f"{path}: not a readable store dump ({exc})") from None
    return target


def world_name(path: str | Path, names: dict[str, str]) -> str | None:
    """``--world-name`` for this store, else its folder under ``worlds/``, else None."""
    path = Path(path)
    for key in (str(path), path.name, str(path.resolve())):
        if key in names:
            return names[key]
    if path.parent.parent.name == "worlds":
        return path.parent.name
    return None


def parse_world_names(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        store, sep, name = value.rpartition("=")
        if not sep or not store or not name:
            raise CalibrationDataError(f"--world-name {value!r}: expected STORE=NAME")
        out[store] = name
    return out


def label_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: settings.get(k) for k in LABEL_SETTINGS}


def check_compatible(sets: Sequence[CalibrationSet], paths: Sequence[str], notify: Notify) -> str:
    """Raise if the worlds' labels or similarity methods differ; returns the shared method."""
    first = sets[0]
    for cset, path in zip(sets[1:], paths[1:], strict=True):
        a, b = label_settings(first.settings), label_settings(cset.settings)
        diff = [k for k in LABEL_SETTINGS if a[k] != b[k]]
        if diff:
            k = diff[0]
            raise CalibrationDataError(
                f"{path}: labelled with {k}={b[k]!r}, but {paths[0]} with {k}={a[k]!r}; "
                "worlds pooled in one fit must share the GRPO label rule"
            )
    names = [c.world for c in sets]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise CalibrationDataError(
            f"two stores are both world {dup!r}; name them with --world-name STORE=NAME"
        )
    methods = {c.similarity_method for c in sets}
    if "mixed" in methods:
        bad = next(p for c, p in zip(sets, paths, strict=True) if c.similarity_method == "mixed")
        raise CalibrationDataError(
            f"{bad}: its runs' target_similarity was computed with different methods"
        )
    known = methods - {"unknown"}
    if len(known) > 1:
        by = ", ".join(f"{p}: {c.similarity_method}" for c, p in zip(sets, paths, strict=True))
        raise CalibrationDataError(
            f"stores differ in their similarity method ({by}); target_similarity is not "
            "comparable across methods, so they are never pooled in one fit"
        )
    if "unknown" in methods:
        old = [p for c, p in zip(sets, paths, strict=True) if c.similarity_method == "unknown"]
        notify(
            f"note: {', '.join(old)}: no similarity method recorded (a store made before it "
            "was recorded); assumed the same as the others"
        )
    return known.pop() if known else "unknown"


def load_worlds(
    paths: Sequence[str],
    *,
    names: dict[str, str] | None = None,
    settings_hash: str | None = None,
    notify: Notify = lambda _m: None,
    workdir: Path | None = None,
    include_online: bool = False,
) -> tuple[list[CalibrationSet], str]:
    """One calibration set per store, each named by its world; and their similarity method.
    ``include_online`` adds each store's online runs of ``datalint loop`` to its base runs."""
    names = names or {}
    own_tmp = None
    if workdir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="datalint-worlds-")
        workdir = Path(own_tmp.name)
    try:
        sets = []
        for path in paths:
            db = restore_store(path, workdir)
            world = world_name(path, names)
            if include_online:
                from datalint.loop.store import WithOnlineRuns

                online = WithOnlineRuns(db)
                sets.append(load_calibration_set(online, settings_hash, world=world))  # type: ignore[arg-type]
                continue
            with CalibrationStore(db) as store:
                sets.append(load_calibration_set(store, settings_hash, world=world))
    finally:
        if own_tmp is not None:
            own_tmp.cleanup()
    method = check_compatible(sets, list(paths), notify)
    return sets, method
