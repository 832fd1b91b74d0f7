"""Streaming loader for JSONL / JSONL.gz data files.

Every record keeps its path and 1-based line number. Format problems never raise: they are
reported to the gate as metrics (``json_errors``, ``schema_errors``, ...) that the S-family rules
hold thresholds on. Only input that cannot be read at all (a missing path, a directory with no
data files, a permission error) raises :class:`InputError`, which the CLI turns into exit 2.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import jsonschema

from datalint.engine import Gate
from datalint.errors import DatalintError
from datalint.records import Item, Rollout, Source

DATA_SUFFIXES = (".jsonl", ".jsonl.gz")
GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
_READ_CHUNK = 1024 * 1024


class InputError(DatalintError):
    """Input that cannot be read at all; the message names the path."""


@dataclass(frozen=True, slots=True)
class FileStats:
    path: str
    n_records: int
    skipped: str | None = None  # why the file was not read as data


@cache
def item_validator() -> jsonschema.protocols.Validator:
    text = resources.files("datalint.schema").joinpath("item.schema.json").read_text("utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


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


def _open_binary(path: str) -> tuple[BinaryIO, bool]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    head = fh.peek(2)[:2] if hasattr(fh, "peek") else b""
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=fh, mode="rb"), True  # type: ignore[return-value]
    return fh, False


def _iter_lines(fh: BinaryIO, max_line_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """Yield (line, too_long). An overlong line is skipped to its end, never held in memory."""
    while True:
        line = fh.readline(max_line_bytes + 1)
        if not line:
            return
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while True:  # drain the rest of this line
                rest = fh.readline(_READ_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield b"", True
            continue
        yield line, False


def iter_items(
    paths: Iterable[str],
    gate: Gate,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    stats: list[FileStats] | None = None,
) -> Iterator[Item]:
    """Stream every valid item from the given files; report each format problem to the gate."""
    for path in paths:
        file_stats = yield from _iter_file(path, gate, max_line_bytes)
        if stats is not None:
            stats.append(file_stats)


def _iter_file(path: str, gate: Gate, max_line_bytes: int) -> Generator[Item, None, FileStats]:
    """Yield every valid item; count every record, valid or not (the invalid are reported)."""
    fh, is_gzip = _open_binary(path)
    lineno = 0
    n_records = 0
    failed_read = False
    try:
        if not is_gzip and b"\x00" in _peek(fh, 8192):
            gate.observe("binary_file", 1, Source(path, 1), detail="contains NUL bytes")
            return FileStats(path, 0, skipped="binary")
        lines = _iter_lines(fh, max_line_bytes)
        while True:
            try:
                raw, too_long = next(lines)
            except StopIteration:
                break
            except (EOFError, OSError, zlib.error) as exc:
                gate.observe(
                    "read_errors",
                    1,
                    Source(path, lineno + 1),
                    detail=_read_error_detail(exc, is_gzip),
                )
                failed_read = True
                break
            lineno += 1
            src = Source(path, lineno)
            if too_long:
                n_records += 1
                gate.observe("line_bytes", max_line_bytes + 1, src, limit=max_line_bytes)
                continue
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            if n_records == 0 and _is_rollouts_header(raw):
                return FileStats(path, 0, skipped=ROLLOUTS_FILE_NOTE)
            n_records += 1
            item = parse_record(raw, src, gate)
            if item is not None:
                yield item
    finally:
        fh.close()
    if n_records == 0 and not failed_read:
        gate.observe("data_records", 0, Source(path, 1))
    return FileStats(path, n_records)


ROLLOUTS_HEADER_KIND = "rollouts"
ROLLOUTS_FILE_NOTE = "a rollouts file from `datalint rollout`, not data: pass it with --rollouts"


def _is_rollouts_header(raw: bytes) -> bool:
    """The first line of a `datalint rollout` file, which may sit beside the data it belongs to."""
    if b'"datalint"' not in raw[:256]:
        return False
    try:
        head = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return isinstance(head, dict) and head.get("datalint") == ROLLOUTS_HEADER_KIND


def _peek(fh: BinaryIO, n: int) -> bytes:
    peek = getattr(fh, "peek", None)
    return peek(n)[:n] if peek else b""


def _read_error_detail(exc: BaseException, is_gzip: bool) -> str:
    if is_gzip and isinstance(exc, EOFError):
        return "gzip stream is truncated (the file ends before the end-of-stream marker)"
    if is_gzip:
        return f"gzip stream is corrupt ({exc})"
    return f"read failed ({exc})"


def parse_record(raw: bytes, src: Source, gate: Gate) -> Item | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        gate.observe("utf8_errors", 1, src, detail=f"invalid UTF-8 at byte {exc.start}")
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        detail = exc.msg
        if "\x00" in text:
            detail += " (the line contains NUL bytes)"
        gate.observe("json_errors", 1, src, detail=f"{detail} at column {exc.colno}")
        return None
    except RecursionError:
        gate.observe("json_errors", 1, src, detail="nesting too deep")
        return None
    if not _looks_valid(obj):
        problem = _schema_problem(obj)
        if problem is not None:
            gate.observe("schema_errors", 1, src, detail=problem)
            return None
    return _to_item(obj, src)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_MISSING = object()


def _looks_valid(obj: Any) -> bool:
    """A fast check that only ever says True for records the JSON Schema accepts.

    Validating a million records with jsonschema costs more than everything else in the static
    stage, so plain records skip it; anything unusual goes to the full validator, which then
    writes the message. tests/test_io.py checks the implication on generated records.
    """
    if type(obj) is not dict or "messages" in obj or "choices" in obj or "rollouts" in obj:
        return False
    get = obj.get
    if type(get("prompt")) is not str or type(get("answer")) not in _ANSWER_TYPES:
        return False
    for key in ("subject", "verifier"):
        v = get(key, _MISSING)
        if v is not _MISSING and (type(v) is not str or v == ""):
            return False
    for key in ("id", "cohort"):
        v = get(key, _MISSING)
        if v is not _MISSING and type(v) not in _ID_TYPES:
            return False
    meta = get("meta", _MISSING)
    return meta is _MISSING or type(meta) is dict


_ANSWER_TYPES = (str, int, float)
_ID_TYPES = (str, int)


def _schema_problem(obj: Any) -> str | None:
    errors = sorted(item_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    err = errors[0]
    where = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "anyOf" and not where:
        return "record needs a 'prompt' (string) or 'messages' (chat list)"
    if err.validator == "type" and not where:
        return f"record must be a JSON object, not {_json_type(obj)}"
    message = err.message
    if len(message) > 160:
        message = message[:157] + "..."
    return f"{where}: {message}" if where else message


def _json_type(obj: Any) -> str:
    if isinstance(obj, list):
        return "an array"
    if isinstance(obj, str):
        return "a string"
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    return "a number"


def _to_item(obj: dict[str, Any], src: Source) -> Item:
    get = obj.get
    rollouts = get("rollouts")
    ident = get("id")
    cohort = get("cohort")
    return Item(
        src,
        obj["answer"],
        get("prompt"),
        get("messages"),
        None if ident is None else str(ident),
        get("subject"),
        get("verifier"),
        get("choices"),
        None if cohort is None else str(cohort),
        get("meta"),
        None if rollouts is None else [_to_rollout(r) for r in rollouts],
    )


def _to_rollout(r: dict[str, Any]) -> Rollout:
    reward = r.get("reward")
    return Rollout(
        completion=r["completion"],
        reward=None if reward is None else float(reward),
        logprobs=r.get("logprobs"),
        entropies=r.get("entropies"),
        n_tokens=r.get("n_tokens"),
    )


class ProblemCollector(Gate):
    """A gate with no rules that keeps one line per unreadable record, for auxiliary files
    (a probe set, the input of ``datalint rollout``) whose problems ``check`` reports in full."""

    def __init__(self) -> None:
        super().__init__(())
        self.problems: list[str] = []

    def observe(  # type: ignore[override]
        self, feature: str, value: Any, source: Source, *, cohort: str | None = None, **context: Any
    ) -> None:
        if feature == "data_records":
            self.problems.append(f"{source}: file holds no records")
        elif value:
            self.problems.append(f"{source}: {context.get('detail', feature)}")


def read_items_quietly(path: str) -> list[Item]:
    """Read a small auxiliary file (a probe set): valid items only; problems raise InputError."""
    collector = ProblemCollector()
    items = list(iter_items(discover_files([path]), collector))
    if collector.problems:
        problems = collector.problems
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise InputError(problems[0] + more)
    return items


def is_interactive_stream(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    if os.environ.get("CI") or os.environ.get("PRE_COMMIT"):
        return False
    return bool(isatty and isatty())
