"""The rollout stage: every item's rollouts, from the data, a rollouts file, or a backend.

Per item the first source that has them wins: rollouts inline in the data (only when the user
trusts them, ``--trust-rollouts``: they are the vendor's claims), then ``--rollouts FILE`` (the
operator's own; an item missing from it is an error, never a silent fall-back to a model), then
the backend through the cache. Whatever the source, rewards are recomputed by the grading stage.
Only items the cache lacks are generated, in chunks; each chunk is committed to the cache as soon
as it finishes.

A backend with ``assess_prompts`` is first asked which prompts its model cannot read (context,
vocabulary): those get no rollouts (an empty list), their verdict is cached like rollouts, and
``RolloutStats.unreadable`` says which items they are and why.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from datalint.load.records import Item, Rollout
from datalint.rollout.backends import ModelOptions, make_backend
from datalint.rollout.base import RolloutBackend, SamplingParams, item_seed
from datalint.rollout.cache import Cached, CacheKey, RolloutCache
from datalint.rollout.progress import generation_progress, progress_wanted
from datalint.rollout.readable import Unreadable
from datalint.rollout.replay import read_rollouts_file, replay_rollouts

if TYPE_CHECKING:
    from datalint.rollout.openai_backend import OpenAISettings

DEFAULT_CHUNK_ROWS = 256


@dataclass(slots=True)
class RolloutStats:
    """What one call did: how many items came from where (for notes, benches and tests)."""

    replayed: int = 0
    untrusted: int = 0  # items whose inline rollouts were ignored (not trusted)
    cached: int = 0
    generated: int = 0
    backend: str | None = None
    fingerprint: str | None = None
    unreadable: dict[int, Unreadable] = field(default_factory=dict)  # index in items -> why


def obtain_rollouts(
    items: list[Item],
    *,
    backend_name: str,
    model: str | None,
    params: SamplingParams,
    rollouts_file: str | None,
    cache_dir: str | None,
    use_cache: bool,
    progress: bool,
    backend: RolloutBackend | None = None,
    stats: RolloutStats | None = None,
    trust_inline: bool = False,
    model_options: ModelOptions | None = None,
    served: OpenAISettings | None = None,
    prefixes: list[list[Rollout]] | None = None,
) -> list[list[Rollout]]:
    """One list of rollouts per item, in the order of ``items``.

    ``prefixes`` (parallel to ``items``): rollouts 0 .. h - 1 an item already has with these
    parameters but a smaller n (adaptive k's previous stage). A prefix-stable backend generates
    only the rest and the item's group starts with those very Rollout objects; any other backend
    samples the whole group again.

    ``backend`` overrides ``backend_name``/``model`` (tests and benches pass their own);
    ``served`` holds the ``openai`` backend's settings.
    Inline rollouts count only with ``trust_inline``; otherwise they are ignored (and counted in
    ``stats.untrusted``) and the item is sampled like any other.
    """
    stats = stats if stats is not None else RolloutStats()
    inline = [item.rollouts if trust_inline else None for item in items]
    stats.untrusted = sum(
        1 for item, given in zip(items, inline, strict=True) if item.rollouts and given is None
    )
    if rollouts_file is not None:
        recorded = read_rollouts_file(rollouts_file)
        _note_provenance(recorded.header, rollouts_file, params, backend_name, model, model_options)
        replayed = replay_rollouts(items, recorded, inline)
        stats.replayed = len(items)
        fingerprint = recorded.header.get("fingerprint")
        stats.fingerprint = fingerprint if isinstance(fingerprint, str) else None
        for index, (item, given) in enumerate(zip(items, inline, strict=True)):
            why = recorded.verdict(item) if given is None else None
            if why is not None:
                stats.unreadable[index] = why
        return replayed
    results: list[list[Rollout]] = [r or [] for r in inline]
    pending = [index for index, r in enumerate(inline) if r is None]
    stats.replayed = len(items) - len(pending)
    if not pending:
        return results
    cache = _open_cache(cache_dir) if use_cache else None
    lent_memo = False
    try:
        if backend is None:
            backend = make_backend(
                backend_name, model, hash_memo=cache, options=model_options, served=served
            )
        elif cache is not None and getattr(backend, "hash_memo", False) is None:
            backend.hash_memo = cache  # type: ignore[attr-defined]
            lent_memo = True
        generated, unreadable = _from_backend(
            [items[i] for i in pending],
            backend,
            params,
            cache,
            progress,
            stats,
            [prefixes[i] for i in pending] if prefixes is not None else None,
        )
        stats.unreadable.update({pending[i]: why for i, why in unreadable.items()})
    finally:
        if lent_memo:
            backend.hash_memo = None  # type: ignore[union-attr]
        if cache is not None:
            cache.close()
    for index, rollouts in zip(pending, generated, strict=True):
        results[index] = rollouts
    return results


def _note_provenance(
    header: dict[str, object],
    path: str,
    params: SamplingParams,
    backend_name: str,
    model: str | None,
    model_options: ModelOptions | None,
) -> None:
    """Says so when a replayed file was made by another model (the --model given) or with other
    decoding: its completions still count (they are regraded) but describe that other run."""
    from datalint.errors import DatalintError
    from datalint.rollout.provenance import replay_notes

    expected = None
    if model is not None and backend_name != "openai":
        try:
            expected = make_backend(backend_name, model, options=model_options).fingerprint()
        except (DatalintError, OSError):
            expected = None
    for note in replay_notes(header, path, params.as_dict(), expected):
        print(f"datalint: note: {note}", file=sys.stderr)


def _open_cache(cache_dir: str | None) -> RolloutCache | None:
    try:
        return RolloutCache(cache_dir)
    except (OSError, sqlite3.Error) as error:
        print(
            f"datalint: warning: rollout cache unavailable ({error}); not caching", file=sys.stderr
        )
        return None


def _store(
    cache: RolloutCache, fingerprint: str, params_key: str, fresh: dict[CacheKey, Cached]
) -> bool:
    """Commits finished items; a cache that cannot be written (locked too long, disk full) only
    costs the caching, with one warning."""
    try:
        cache.put_many(fingerprint, params_key, fresh.items())
    except sqlite3.Error as error:
        print(
            f"datalint: warning: rollout cache write failed ({error}); not caching", file=sys.stderr
        )
        return False
    return True


def _record_use(
    cache: RolloutCache,
    backend: RolloutBackend,
    fingerprint: str,
    params_key: str,
    keys: list[CacheKey],
) -> None:
    """Last-used times and the model's name for `datalint cache info|prune`; a failure here only
    costs that bookkeeping."""
    from datalint.rollout.cache_upkeep import record_use

    describe = getattr(backend, "label", None)
    name = str(getattr(backend, "model", None) or getattr(backend, "model_dir", backend.name))
    label = describe() if callable(describe) else name
    try:
        record_use(cache.path, fingerprint, params_key, keys, name=name, label=label)
    except sqlite3.Error as error:
        print(f"datalint: warning: rollout cache bookkeeping failed ({error})", file=sys.stderr)


def _from_backend(
    items: list[Item],
    backend: RolloutBackend,
    params: SamplingParams,
    cache: RolloutCache | None,
    progress: bool,
    stats: RolloutStats,
    prefixes: list[list[Rollout]] | None = None,
) -> tuple[list[list[Rollout]], dict[int, Unreadable]]:
    prompts = [backend.render(item) for item in items]
    keys: list[CacheKey] = [(p, item_seed(params.seed, p)) for p in prompts]
    have: dict[CacheKey, list[Rollout]] = {}
    if prefixes is not None and getattr(backend, "prefix_stable", False):
        for key, prefix in zip(keys, prefixes, strict=True):
            if 0 < len(prefix) < params.n:
                have.setdefault(key, prefix)
    unique = list(dict.fromkeys(keys))  # duplicated items are sampled once
    fingerprint = backend.fingerprint()
    stats.backend, stats.fingerprint = backend.name, fingerprint
    params_key = params.key()
    found = cache.get_many(fingerprint, params_key, unique) if cache is not None else {}
    missing = [k for k in unique if k not in found]
    stats.cached = sum(1 for k in keys if k in found)
    if missing and (assess := getattr(backend, "assess_prompts", None)) is not None:
        verdicts = assess([p for p, _ in missing])
        flagged: dict[CacheKey, Cached] = {
            k: why for k, why in zip(missing, verdicts, strict=True) if why is not None
        }
        if flagged and cache is not None and not _store(cache, fingerprint, params_key, flagged):
            cache = None
        found.update(flagged)
        missing = [k for k in missing if k not in flagged]
    stats.generated = len(missing)
    by_start: dict[int, list[CacheKey]] = {}
    for key in missing:
        by_start.setdefault(len(have.get(key, ())), []).append(key)
    total = sum(len(keys_) * (params.n - h) for h, keys_ in by_start.items())
    with generation_progress(total, enabled=progress_wanted(progress)) as advance:
        for have_n, waiting in sorted(by_start.items()):
            width = params.n - have_n
            chunk = max(1, getattr(backend, "chunk_rows", DEFAULT_CHUNK_ROWS) // width)
            for start in range(0, len(waiting), chunk):
                part = waiting[start : start + chunk]
                prompts_, seeds = [p for p, _ in part], [s for _, s in part]
                if have_n:
                    rest = backend.generate(prompts_, params, seeds, start=have_n)  # type: ignore[call-arg]
                    rollouts = [[*have[k], *r] for k, r in zip(part, rest, strict=True)]
                else:
                    rollouts = backend.generate(prompts_, params, seeds)
                fresh = dict(zip(part, rollouts, strict=True))
                if cache is not None and not _store(cache, fingerprint, params_key, fresh):
                    cache = None
                found.update(fresh)
                advance(len(part) * width)
    if cache is not None:
        _record_use(cache, backend, fingerprint, params_key, unique)
    seen: set[CacheKey] = set()
    results: list[list[Rollout]] = []
    unreadable: dict[int, Unreadable] = {}
    for index, key in enumerate(keys):
        rollouts = found[key]
        if isinstance(rollouts, Unreadable):
            unreadable[index] = rollouts
            results.append([])
            continue
        # Each item owns its Rollout objects: graders write rewards into them.
        results.append(rollouts if key not in seen else [dataclasses.replace(r) for r in rollouts])
        seen.add(key)
    return results, unreadable
