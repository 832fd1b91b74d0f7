"""``datalint rollout``: precompute rollouts into a JSONL file that ``check --rollouts`` replays.

This is the GPU-box step: sample once with the real policy, then lint in CI with the core
install alone.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from datalint.cli.errors import echo_note, fail, friendly_errors
from datalint.cli.options import (
    field_mapping,
    field_options,
    model_options,
    pick,
    sampling_options,
    sampling_params,
    served_settings,
)
from datalint.load.records import Item, Rollout

if TYPE_CHECKING:
    from datalint.rollout.base import SamplingParams
    from datalint.rollout.readable import Unreadable
    from datalint.rollout.stage import RolloutStats


@click.command("rollout")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Rollouts file to write (JSONL; .gz compresses).",
)
@sampling_options
@click.option(
    "--provenance",
    "provenance_file",
    type=click.Path(dir_okay=False),
    help="Also grade the rollouts and write the per-item provenance sidecar (pass rate, k, "
    "grades, verifier, model, decoding); it replays with --rollouts like the output.",
)
@click.option(
    "--default-verifier", default=None, help="--provenance: verifier for items without one."
)
@field_options
@click.option("-q", "--quiet", is_flag=True, help="No notes on stderr.")
def rollout_command(paths: tuple[str, ...], output: str, quiet: bool, **flags: Any) -> None:
    """Sample rollouts for every item of the data files and write them to OUTPUT.

    Each line of OUTPUT holds one item's id, file and line, prompt hash and rollouts (completion,
    per-token logprobs and entropies). `datalint check DATA --rollouts OUTPUT` replays them
    without torch.
    """
    with friendly_errors(on_interrupt=lambda: "every finished rollout is kept in the cache"):
        _run(paths, output, quiet, flags)


def _run(paths: tuple[str, ...], output: str, quiet: bool, flags: dict[str, Any]) -> None:
    from datalint.config import load_config
    from datalint.rollout.stage import RolloutStats, obtain_rollouts
    from datalint.rollout.trust import untrusted_rollouts_note
    from datalint.rulebook import load_rules

    config = load_config(flags["config_path"], load_rules())

    def note(message: str) -> None:
        if not quiet:
            echo_note(message)

    served = served_settings(flags, config)
    items = load_items(list(paths), note, field_mapping(flags, config))
    if not items:
        fail("no valid items to sample")
    backend = pick(flags, config, "backend")
    model = pick(flags, config, "model")
    params = sampling_params(flags, config)
    stats = RolloutStats()
    trust = bool(pick(flags, config, "trust_rollouts"))
    calls: list[RolloutStats] = []

    def obtain(
        some: list[Item],
        sampling: SamplingParams,
        prefixes: list[list[Rollout]] | None = None,
    ) -> list[list[Rollout]]:
        calls.append(stats if not calls else RolloutStats())  # the first call sees every item
        return obtain_rollouts(
            some,
            backend_name=backend,
            model=model,
            params=sampling,
            rollouts_file=None,
            cache_dir=flags["cache_dir"],
            use_cache=not flags["no_cache"],
            progress=True,
            stats=calls[-1],
            served=served,
            trust_inline=trust,
            model_options=model_options(flags, config),
            prefixes=prefixes,
        )

    recorded = params.as_dict()
    if pick(flags, config, "adaptive_k"):
        from datalint.cli.options import grading_setup
        from datalint.rollout.adaptive import adaptive_rollouts
        from datalint.rollout.backends import PREFIX_STABLE

        grading = grading_setup({}, config)
        first = pick(flags, config, "adaptive_first")
        share = float(pick(flags, config, "adaptive_budget"))
        rollouts, budget = adaptive_rollouts(
            items,
            params,
            obtain,
            grading,
            first=first,
            budget=share,
            extends=backend in PREFIX_STABLE,
        )
        recorded["adaptive"] = budget.rule
        note(
            f"adaptive k: {sum(budget.spent)} rollouts for {len(items)} items "
            f"({sum(1 for k in budget.kept if k >= params.n)} grown to {params.n})"
        )
    else:
        rollouts = obtain(items, params)
    stats.generated += sum(c.generated for c in calls[1:])
    stats.cached += sum(c.cached for c in calls[1:])
    if stats.untrusted:
        note(untrusted_rollouts_note(stats.untrusted))
    if stats.unreadable:
        first = min(stats.unreadable)
        note(
            f"{len(stats.unreadable)} prompts the model cannot read got no rollouts (first: "
            f"{items[first].source}: {stats.unreadable[first].describe()}); see `datalint check`"
        )
    write_rollouts_file(
        output,
        items,
        rollouts,
        backend=stats.backend or backend,
        model=model,
        fingerprint=stats.fingerprint or "",
        params=recorded,
        unreadable=stats.unreadable,
    )
    if flags["provenance_file"]:
        _write_provenance(flags, config, items, rollouts, stats, backend, model, params)
    note(
        f"wrote rollouts for {len(items)} items to {output} "
        f"({stats.generated} sampled, {stats.cached} from the cache, {stats.replayed} inline)"
    )


def _write_provenance(
    flags: dict[str, Any],
    config: Any,
    items: list[Item],
    rollouts: list[list[Rollout]],
    stats: RolloutStats,
    backend: str,
    model: str | None,
    params: Any,
) -> None:
    """Grades a copy of the rollouts (the rollouts file stays ungraded, as it always was)."""
    import dataclasses

    from datalint.cli.options import grading_setup
    from datalint.grade import grade_items
    from datalint.rollout.provenance import facts_of, write_provenance

    grading = grading_setup(flags, config)
    graded = [[dataclasses.replace(r) for r in per_item] for per_item in rollouts]
    grade_items(items, graded, grading=grading)
    measured = [
        (item, per_item)
        for index, (item, per_item) in enumerate(zip(items, graded, strict=True))
        if index not in stats.unreadable
    ]
    facts = facts_of(
        backend=stats.backend or backend,
        model=model,
        fingerprint=stats.fingerprint,
        params=params.as_dict(),
    )
    try:
        write_provenance(flags["provenance_file"], measured, facts, grading.default_verifier)
    except OSError as error:
        fail(f"{flags['provenance_file']}: cannot write provenance: {error.strerror or error}")


def load_items(paths: list[str], note: Any, fields: dict[str, str] | None = None) -> list[Item]:
    from datalint.load import ProblemCollector, discover_files, iter_items

    counter = ProblemCollector()
    items = list(iter_items(discover_files(paths), counter, fields=fields))
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
    unreadable: dict[int, Unreadable] | None = None,
) -> None:
    """Writes atomically: an interrupted run never leaves a half-written file behind.
    ``unreadable`` (index in ``items`` -> why) marks the prompts the model could not read."""
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
            why = unreadable or {}
            for index, (item, item_rollouts) in enumerate(zip(items, rollouts, strict=True)):
                line = rollouts_line(item, item_rollouts, why.get(index))
                stream.write(_json_line(line))
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
