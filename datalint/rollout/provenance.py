"""Per-item provenance: how each pass rate was measured.

The sidecar is a rollouts file (``datalint/rollout/replay.py``'s format) whose header adds
``datalint_version`` and whose item lines add ``pass_rate``, ``k``, ``grades``, ``verifier``,
``model``, ``fingerprint`` and ``params``. So the file a run wrote is read back as it is with
``--rollouts FILE``: its completions are replayed and regraded, nothing is sampled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datalint import __version__
from datalint.load.records import Item, Rollout
from datalint.pipeline import CheckOptions, CheckTrace
from datalint.rollout.replay import header_line, rollouts_line


def facts_of(
    *,
    backend: str,
    model: str | None,
    fingerprint: str | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    return {
        "backend": backend,
        "model": model or "the shipped tiny policy",
        "fingerprint": fingerprint,
        "params": params,
        "datalint_version": __version__,
    }


def run_facts(opts: CheckOptions, trace: CheckTrace) -> dict[str, Any]:
    """Model, fingerprint and decoding of a check run (what the cache keyed the rollouts by)."""
    stats = trace.rollout_stats
    model, fingerprint, backend = opts.model, None, opts.backend
    if opts.rollouts_file:
        from datalint.rollout.replay import read_rollouts_file

        head = read_rollouts_file(opts.rollouts_file).header
        model, fingerprint = head.get("model", model), head.get("fingerprint")
        backend = f"replay of {opts.rollouts_file}"
    elif stats is not None and stats.fingerprint is not None:
        fingerprint, backend = stats.fingerprint, stats.backend or backend
    elif stats is not None and stats.replayed:
        backend = "inline rollouts (trusted with --trust-rollouts)"
    params = {
        "n": opts.rollouts_per_item,
        "temperature": opts.temperature,
        "max_new_tokens": opts.max_new_tokens,
        "seed": opts.seed,
    }
    return facts_of(backend=backend, model=model, fingerprint=fingerprint, params=params)


def item_facts(
    item: Item, rollouts: list[Rollout] | None, facts: dict[str, Any], default_verifier: str
) -> dict[str, Any] | None:
    """The provenance fields of one graded item; None when it was not measured."""
    if rollouts is None:
        return None
    grades = [r.reward for r in rollouts if r.reward is not None]
    return {
        "pass_rate": sum(g >= 0.5 for g in grades) / len(grades) if grades else None,
        "k": len(grades),
        "grades": grades,
        "verifier": item.verifier or default_verifier,
        "model": facts["model"],
        "fingerprint": facts["fingerprint"],
        "params": facts["params"],
        "datalint_version": facts["datalint_version"],
    }


def write_sidecar(path: str, opts: CheckOptions, trace: CheckTrace, default_verifier: str) -> int:
    """The sidecar of a check run; returns the number of items written."""
    measured = [(it, trace.rollouts[id(it)]) for it in trace.items if id(it) in trace.rollouts]
    return write_provenance(path, measured, run_facts(opts, trace), default_verifier)


def write_provenance(
    path: str,
    measured: list[tuple[Item, list[Rollout]]],
    facts: dict[str, Any],
    default_verifier: str,
) -> int:
    """One header line, then one line per graded item (its rollouts and provenance)."""
    head = header_line(
        backend=str(facts["backend"]),
        model=facts["model"],
        fingerprint=facts["fingerprint"] or "",
        params=facts["params"],
    )
    head["datalint_version"] = facts["datalint_version"]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps(head, ensure_ascii=False) + "\n")
        for item, rollouts in measured:
            line = rollouts_line(item, rollouts)
            line.update(item_facts(item, rollouts, facts, default_verifier) or {})
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return len(measured)


def replay_notes(
    header: dict[str, Any], path: str, params: dict[str, Any], expected: str | None
) -> list[str]:
    """Why a replayed rollouts file (or sidecar) may not describe this run: another model
    (``expected`` is the fingerprint of the model the user named) or other decoding."""
    notes = []
    recorded = header.get("fingerprint")
    if expected is not None and recorded and recorded != expected:
        notes.append(
            f"{path}: made by model {recorded}, not the --model given ({expected}); its "
            "completions are replayed and regraded, but they describe that other model"
        )
    if expected is not None and not recorded:
        notes.append(f"{path}: no model fingerprint in its header; cannot tell which model")
    given = header.get("params")
    if isinstance(given, dict):
        differ = [
            f"{k} {given.get(k)!r} (asked {params[k]!r})"
            for k in ("n", "temperature", "max_new_tokens")
            if k in given and given.get(k) != params.get(k)
        ]
        if differ:
            notes.append(f"{path}: sampled with other decoding: {', '.join(differ)}")
    return notes
