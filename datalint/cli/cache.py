"""``datalint cache info|prune``: what the rollout cache holds, and making it smaller."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from datalint.cli.errors import friendly_errors

_cache_dir_option = click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    envvar="DATALINT_CACHE_DIR",
    help="Rollout cache folder.  [default: the user cache dir]",
)


def _cache_path(cache_dir: str | None) -> Path:
    from datalint.rollout.cache import CACHE_FILENAME, default_cache_dir

    return (Path(cache_dir) if cache_dir else default_cache_dir()) / CACHE_FILENAME


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


@click.group("cache")
def cache_group() -> None:
    """Show or prune the rollout cache (it never prunes itself)."""


@cache_group.command("info")
@_cache_dir_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def info_command(cache_dir: str | None, fmt: str) -> None:
    """The cache's path, size on disk, rows, and each model with its rows and last use."""
    with friendly_errors():
        from datalint.rollout.cache_upkeep import cache_info
        from datalint.rollout.served_http import printable

        info = cache_info(_cache_path(cache_dir))
        if fmt == "json":
            payload: dict[str, Any] = {
                "path": str(info.path),
                "exists": info.exists,
                "size_bytes": info.size_bytes,
                "rows": info.rows,
                "models": [
                    {
                        "fingerprint": m.fingerprint,
                        "name": m.name,
                        "label": m.label,
                        "rows": m.rows,
                        "bytes": m.bytes,
                        "last_used": _when(m.last_used),
                        "last_used_unix": m.last_used,
                    }
                    for m in info.models
                ],
            }
            click.echo(json.dumps(payload, indent=2))
            return
        click.echo(f"cache: {info.path}")
        if not info.exists:
            click.echo("no cache file yet")
            return
        click.echo(f"size on disk: {_size(info.size_bytes)}")
        click.echo(f"rows: {info.rows} (one per item and sampling setup)")
        click.echo(f"models: {len(info.models)}")
        for m in info.models:
            label = printable(m.label, 120) if m.label else "(no name recorded)"
            click.echo(
                f"  {m.fingerprint[:32]}  {label}  {m.rows} rows, {_size(m.bytes)}, "
                f"last used {_when(m.last_used)}"
            )


@cache_group.command("prune")
@_cache_dir_option
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(0),
    metavar="DAYS",
    help="Delete rows no run has used for DAYS days.",
)
@click.option(
    "--max-size",
    metavar="SIZE",
    help="Then evict the least recently used rows until the file fits SIZE (500M, 2G; 1024-based).",
)
@click.option(
    "--model",
    metavar="FINGERPRINT|NAME",
    help="Only this model's rows (alone: all of them). A fingerprint, a prefix of one, or a name.",
)
@click.option("--dry-run", is_flag=True, help="Say what would go; change nothing.")
def prune_command(
    cache_dir: str | None,
    older_than: float | None,
    max_size: str | None,
    model: str | None,
    dry_run: bool,
) -> None:
    """Delete cached rollouts by age, size or model, then VACUUM the file."""
    with friendly_errors():
        from datalint.rollout.cache_upkeep import parse_size, prune

        size_limit = parse_size(max_size) if max_size is not None else None
        result = prune(
            _cache_path(cache_dir),
            older_than_days=older_than,
            max_size=size_limit,
            model=model,
            dry_run=dry_run,
        )
        verb = "would delete" if result.dry_run else "deleted"
        click.echo(f"{verb} {result.rows_deleted} of {result.rows_before} rows")
        for fingerprint, count in sorted(result.deleted_by_model.items()):
            click.echo(f"  {fingerprint[:32]}  {count} rows")
        if not result.dry_run:
            click.echo(f"size on disk: {_size(result.size_before)} -> {_size(result.size_after)}")
            if size_limit is not None and result.size_after > size_limit:
                click.echo(
                    f"datalint: note: still above {max_size}: a process reading the cache holds "
                    "old pages until its next checkpoint, or the limit is below an empty cache",
                    err=True,
                )
        sys.stdout.flush()
