"""Build one tiny RLVR world into ``worlds/WORLD/``: policy, data files and its world check.

Resumable and deterministic (the world's fixed seeds, one torch thread). Each stage is skipped
when its output is already there for the same spec::

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python scripts/build_world.py world1-strings-char-llama

1. ``policy/``: pretrained from the spec (safetensors, fp32, with ``training.json``); world 0
   uses the shipped ``pretrained/tiny-policy`` instead.
2. ``world.json`` (the spec, its hash, the derived GRPO completion length), ``cohorts.jsonl``
   (300 cohorts of 4, mixed difficulty, ~10% scrambled) and ``probe.jsonl``.
3. ``world-check.json``: frontier vs scrambled lift and corr(disagreement, lift) under the label
   rule (``datalint.world.check``). Exit 0 when it passes, 3 when the world fails its check (it
   is then recorded as failed and ``label_world.sh`` refuses it), 2 on a bad world name.

``python scripts/build_world.py --list`` prints the registry's world names.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a plain checkout

from datalint.world.registry import WORLD_NAMES, WorldSpec, get_world  # noqa: E402

WORLDS_DIR = ROOT / "worlds"


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def policy_dir(spec: WorldSpec) -> Path:
    return ROOT / spec.prebuilt if spec.prebuilt else WORLDS_DIR / spec.name / "policy"


def ensure_policy(spec: WorldSpec) -> Path:
    target = policy_dir(spec)
    done = target / "training.json"
    if done.exists():
        recorded = json.loads(done.read_text("utf-8")).get("spec_hash")
        if spec.prebuilt or recorded == spec.spec_hash():
            return target
        raise SystemExit(
            f"{target}: pretrained for another spec (hash {recorded}); "
            "delete the folder to rebuild it"
        )
    from datalint.world.policy import pretrain

    log(f"{spec.name}: pretraining ({spec.model.architecture}, {spec.tokenizer.kind})")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    # the checkpoint lives beside the policy, so an interrupted pretraining resumes (git-ignored)
    checkpoint = target.with_name(target.name + ".checkpoint.pt")
    record = pretrain(spec, partial, threads=1, log=log, checkpoint=checkpoint)
    partial.rename(target)
    log(f"{spec.name}: pretrained {record['n_params']} params in {record['train_seconds']}s")
    return target


def write_data(spec: WorldSpec, model_dir: Path) -> dict:
    from transformers import AutoTokenizer

    from datalint.world.files import cohort_records, probe_records, world_cohorts, write_jsonl
    from datalint.world.policy import completion_length

    wdir = WORLDS_DIR / spec.name
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    cohorts = world_cohorts(spec)
    n_items = write_jsonl(
        wdir / "cohorts.jsonl", (r for c in cohorts for r in cohort_records(spec, c))
    )
    n_probe = write_jsonl(wdir / "probe.jsonl", probe_records(spec))
    n_params = None
    training = model_dir / "training.json"
    if training.exists():
        n_params = json.loads(training.read_text("utf-8")).get("n_params")
    info = {
        "world": spec.name,
        "spec_hash": spec.spec_hash(),
        "spec": spec.as_dict(),
        "policy": os.path.relpath(model_dir, ROOT),
        "n_params": n_params,
        "vocab_size": len(tokenizer),
        "completion_length": completion_length(spec, tokenizer),
        "cohorts": {
            "file": "cohorts.jsonl",
            "n_cohorts": len(cohorts),
            "n_items": n_items,
            "n_scrambled": sum(c.scrambled for c in cohorts),
        },
        "probe": {"file": "probe.jsonl", "n_items": n_probe},
    }
    (wdir / "world.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def ensure_check(spec: WorldSpec, model_dir: Path, info: dict, args: argparse.Namespace) -> dict:
    out = WORLDS_DIR / spec.name / "world-check.json"
    if out.exists():
        result = json.loads(out.read_text("utf-8"))
        if result.get("spec_hash") == spec.spec_hash():
            return result
    import jsonschema

    from datalint.world.check import CHECK_SCHEMA, CheckSettings, run_world_check

    settings = CheckSettings(per_kind=args.per_kind, calibration=args.calibration)
    log(f"{spec.name}: world check ({settings})")
    result = run_world_check(
        spec, str(model_dir), settings, completion_length=info["completion_length"], log=log
    )
    result["command"] = "python scripts/build_world.py " + " ".join(sys.argv[1:])
    jsonschema.validate(result, CHECK_SCHEMA)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("world", nargs="?")
    ap.add_argument("--list", action="store_true", help="print the registry's world names")
    ap.add_argument("--per-kind", type=int, default=5, help="world check cohorts per kind")
    ap.add_argument("--calibration", type=int, default=20, help="calibration cohorts checked")
    ap.add_argument("--no-check", action="store_true", help="stop after the data files")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(WORLD_NAMES))
        return 0
    if not args.world:
        ap.error("name a world (or --list)")
    try:
        spec = get_world(args.world)
    except ValueError as exc:
        print(f"build_world: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(1)
    model_dir = ensure_policy(spec)
    info = write_data(spec, model_dir)
    log(
        f"{spec.name}: {info['cohorts']['n_cohorts']} cohorts, probe {info['probe']['n_items']}, "
        f"completion length {info['completion_length']}"
    )
    if args.no_check:
        return 0
    result = ensure_check(spec, model_dir, info, args)
    summary = {k: result[k] for k in ("mean_nll_lift_by_kind", "criteria", "passed")}
    summary["corr"] = result["corr_disagreement_lift_unscrambled"]
    log(f"{spec.name}: world check {json.dumps(summary)}")
    return 0 if result["passed"] else 3


if __name__ == "__main__":
    raise SystemExit(main())
