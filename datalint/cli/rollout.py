"""``datalint rollout``: precompute rollouts into a JSONL file that ``check --rollouts`` replays.

This is the GPU-box step: sample once with the real policy, then lint in CI with the core
install alone.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from datalint.cli.errors import fail, friendly_errors
from datalint.engine import Gate
from datalint.records import Item, Rollout, Source


@click.command("rollout")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Rollouts file to write (JSONL; .gz compresses).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="DATALINT_CONFIG",
    help="Config file (datalint.toml or pyproject.toml); skips discovery.",
)
@click.option(
    "--backend",
    type=click.Choice(["transformers", "vllm"]),
    default=None,
    help="Policy backend that samples rollouts.  [default: transformers]",
)
@click.option(
    "--model",
    envvar="DATALINT_MODEL",
    help="Local HF model directory.  [default: the shipped tiny policy]",
)
@click.option(
    "--rollouts-per-item",
    type=click.IntRange(1),
    default=None,
    help="Samples per problem.  [default: 8]",
)
@click.option(
    "--temperature",
    type=click.FloatRange(0.0),
    default=None,
    help="Sampling temperature.  [default: 1.0]",
)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(1),
    default=None,
    help="Completion length cap.  [default: 256]",
)
@click.option("--seed", type=int, default=None, help="Sampling seed.  [default: 0]")
@click.option("--no-cache", is_flag=True, help="Do not read or write the rollout cache.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    envvar="DATALINT_CACHE_DIR",
    help="Rollout cache folder.  [default: the user cache dir]",
)
@click.option("-q", "--quiet", is_flag=True, help="No notes on stderr.")
def rollout_command(
    paths: tuple[str, ...],
    output: str,
    config_path: str | None,
    no_cache: bool,
    cache_dir: str | None,
    quiet: bool,
    **flags: Any,
) -> None:
    """Sample rollouts for every item of the data files and write them to OUTPUT.

    Each line of OUTPUT holds one item's id, file and line, prompt hash and rollouts (completion,
    per-token logprobs and entropies). `datalint check DATA --rollouts OUTPUT` replays them
    without torch.
    """
    with friendly_errors(on_interrupt=lambda: "every finished rollout is kept in the cache"):
        _run(paths, output, config_path, not no_cache, cache_dir, quiet, flags)


def _run(
    paths: tuple[str, ...],
    output: str,
    config_path: str | None,
    use_cache: bool,
    cache_dir: str | None,
    quiet: bool,
    flags: dict[str, Any],
) -> None:
    from datalint.config import load_config
    from datalint.rollout.base import SamplingParams
    from datalint.rollout.stage import RolloutStats, obtain_rollouts
    from datalint.rulebook import load_rules

    config = load_config(config_path, load_rules())

    def pick(flag: str, key: str, default: Any) -> Any:
        value = flags.get(flag)
        return value if value is not None else config.get(key, default)

    def note(message: str) -> None:
        if not quiet:
            click.echo(f"datalint: {message}", err=True)

    items = load_items(list(paths), note)
    if not items:
        fail("no valid items to sample")
    backend = pick("backend", "backend", "transformers")
    model = pick("model", "model", None)
    params = SamplingParams(
        n=pick("rollouts_per_item", "rollouts-per-item", 8),
        temperature=float(pick("temperature", "temperature", 1.0)),
        max_new_tokens=pick("max_new_tokens", "max-new-tokens", 256),
        seed=pick("seed", "seed", 0),
    )
    stats = RolloutStats()
    rollouts = obtain_rollouts(
        items,
        backend_name=backend,
        model=model,
        params=params,
        rollouts_file=None,
        cache_dir=cache_dir,
        use_cache=use_cache,
        progress=True,
        stats=stats,
    )
    write_rollouts_file(
        output,
        items,
        rollouts,
        backend=stats.backend or backend,
        model=model,
        fingerprint=stats.fingerprint or "",
        params=params.as_dict(),
    )
    note(
        f"wrote rollouts for {len(items)} items to {output} "
        f"({stats.generated} sampled, {stats.cached} from the cache, {stats.replayed} inline)"
    )


class _ProblemCounter(Gate):
    """Counts records the loader could not read; ``datalint check`` reports them in full."""

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


def load_items(paths: list[str], note: Any) -> list[Item]:
    from datalint.io import discover_files, iter_items

    counter = _ProblemCounter()
    items = list(iter_items(discover_files(paths), counter))
    if counter.problems:
        more = f" (first: {counter.problems[0]})"
        note(f"skipped {len(counter.problems)} unreadable records{more}; see `datalint check`")
    return items


def write_rollouts_file(
    output: str,
    items: list[Item],
    rollouts: list[list[Rollout]],
    *,
    backend: str,
    model: str | None,
    fingerprint: str,
    params: dict[str, Any],
) -> None:
    """Writes atomically: an interrupted run never leaves a half-written file behind."""
    import gzip

    from datalint.rollout.replay import header_line, rollouts_line

    target = Path(output)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as error:
        fail(f"{output}: cannot write rollouts: {error.strerror or error}")
    try:
        with os.fdopen(fd, "wb") as raw:
            stream = gzip.GzipFile(fileobj=raw, mode="wb") if target.suffix == ".gz" else raw
            header = header_line(
                backend=backend, model=model, fingerprint=fingerprint, params=params
            )
            stream.write(_json_line(header))
            for item, item_rollouts in zip(items, rollouts, strict=True):
                stream.write(_json_line(rollouts_line(item, item_rollouts)))
            if stream is not raw:
                stream.close()
        os.replace(tmp_name, target)
    except OSError as error:
        Path(tmp_name).unlink(missing_ok=True)
        fail(f"{output}: cannot write rollouts: {error.strerror or error}")
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _json_line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
