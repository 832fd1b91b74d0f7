"""Pretrain the shipped tiny policy: a char-level GPT-2 on habit-corrupted arithmetic.

The policy is the embedded default model of ``datalint check``. It is pretrained on problems
from ``datalint.world`` in which a level-dependent share of answers (about 30% overall) are
replaced by systematic habit slips (a stuttered last digit shared by all subjects, plus each
subject's own slip such as a dropped carry). The result is under-elicited like a real base model:
it knows the right answer but often says its habit, so sampled attempts split and GRPO on
problems where they disagree removes the habit (see ``scripts/check_world.py``).

This is world 0 of ``datalint.world.registry``, pretrained by ``datalint.world.policy.pretrain``;
the options below override its spec.

Rebuild (about 15-25 minutes on one CPU core; fixed seed, deterministic on one thread)::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python scripts/train_tiny_policy.py \
        --out pretrained/tiny-policy

Writes config.json, model.safetensors, generation_config.json, tokenizer files and
``training.json`` (command, seed, steps, data mix, measured accuracy per subject and level).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from datalint.world.policy import pretrain
from datalint.world.registry import WORLDS, WorldSpec
from datalint.world.subjects import MAX_LEVEL


def tiny_policy_spec(args: argparse.Namespace) -> WorldSpec:
    """World 0's spec with the command line's seed, sizes and training settings."""
    world0 = WORLDS[0]
    return dataclasses.replace(
        world0,
        model=dataclasses.replace(
            world0.model, n_layer=args.n_layer, d_model=args.n_embd, d_ff=4 * args.n_embd
        ),
        pretrain=dataclasses.replace(
            world0.pretrain,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            n_examples=args.n_examples,
            max_offset=args.max_offset,
        ),
        seeds=dataclasses.replace(world0.seeds, pretrain=args.seed),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="pretrained/tiny-policy")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--n-examples", type=int, default=400_000)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-offset", type=int, default=10, help="random left padding in training")
    args = ap.parse_args(argv)

    spec = tiny_policy_spec(args)
    out = Path(args.out)
    trained = pretrain(spec, out, threads=args.threads)
    accuracy = trained["accuracy_temperature_1_8_samples_50_problems_per_cell"]
    record = {
        "command": "python scripts/train_tiny_policy.py " + " ".join(argv or sys.argv[1:]),
        "seed": args.seed,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "n_params": trained["n_params"],
        "train_seconds": trained["train_seconds"],
        "threads": args.threads,
        "max_offset": args.max_offset,
        "data": {
            "n_examples": args.n_examples,
            "subjects": list(spec.subjects),
            "levels": list(range(1, MAX_LEVEL + 1)),
            "level_weights": spec.level_weights,
            "habit_share_by_level": spec.habit_share_by_level,
            "habit_share_measured": trained["habit_share_measured"],
            "habits": "stuttered last digit (all subjects) or the subject's own slip, 50/50",
        },
        "accuracy_temperature_1_8_samples_50_problems_per_cell": accuracy,
    }
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(accuracy, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
