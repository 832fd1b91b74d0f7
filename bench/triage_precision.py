"""Precision and recall of the dead-end triage rules (RW201-RW205) on planted faults.

    python bench/triage_precision.py [--seed 0] [--k 8]

The data: arithmetic in the shipped tiny policy's own format ("79-44="), in three bands built
with a fixed seed: easy (one-digit + and -, which the policy mostly solves), frontier (two-digit
+ and -) and hard (four-digit - and *, which it fails with scattered answers). Planted faults,
whose labels are known, on items picked at random from the bands:

- wrong gold: an easy item whose gold answer is moved by 1-9 (the policy's answer is right);
- format-broken: an item marked ``"verifier": "mcq"`` with gold "B" and ``choices`` spelled in
  words, although its prompt shows no options and asks for a number (as when a vendor's export
  drops the options): the policy answers with digits, from which no option letter reads;
- leaked: a copy of a level-1 probe item (examples/probe.jsonl) with the same answer. (A prompt
  that states its answer, "3+4=7=", is not planted: the tiny policy cannot read that format and
  fails it, so it would measure the policy, not the rule; the unit tests cover that case.)

Generated items whose prompt equals a probe prompt are drawn again, so that no unplanted item is
a leak.

Everything runs through the real CLI (`check --probe examples/probe.jsonl --select RW201,...,
RW205 --format json`, sampling with the shipped tiny policy, --seed, no cache), and each rule is
scored against the planted label it names: precision = planted among its findings, recall =
findings among the planted items of its kind (and among those that are dead ends at all, since a
planted item the policy does not fail or solve every time is not the rule's to find). What the
rules say on unplanted items is reported per band, and beside RW201 the baseline it replaces:
RW102, which calls every dead end "check the gold answer, then the difficulty". Needs the 'hf'
extra (torch, transformers).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROBE = REPO / "examples" / "probe.jsonl"
RULES = ("RW201", "RW202", "RW203", "RW204", "RW205")
TARGET = {"RW201": "wrong_gold", "RW202": "format", "RW204": "leak", "RW205": None}
PER_BAND = {"easy": 90, "frontier": 60, "hard": 60}
PLANTS = {"wrong_gold": 20, "format": 20, "leak": 12}
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _problem(band: str, rng: random.Random) -> tuple[str, int]:
    if band == "easy":
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        op = rng.choice("+-")
        if op == "-" and b > a:
            a, b = b, a
    elif band == "frontier":
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        op = rng.choice("+-")
        if op == "-" and b > a:
            a, b = b, a
    else:
        op = rng.choice("-*")
        a = rng.randint(1000, 9999)
        b = rng.randint(1000, a) if op == "-" else rng.randint(3, 9)
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    return f"{a}{op}{b}=", value


def build(seed: int) -> tuple[list[dict], list[str]]:
    """Rows (in a shuffled order) and each row's label: its band, or the fault planted in it."""
    rng = random.Random(seed)
    probes = [json.loads(line) for line in PROBE.read_text().splitlines() if line.strip()]
    in_probe = {p["prompt"] for p in probes}
    rows: list[dict] = []
    labels: list[str] = []
    for band, n in PER_BAND.items():
        while sum(lab == band for lab in labels) < n:
            prompt, value = _problem(band, rng)
            if prompt not in in_probe:
                rows.append({"prompt": prompt, "answer": str(value)})
                labels.append(band)
    easy = [i for i, lab in enumerate(labels) if lab == "easy"]
    for i in rng.sample(easy, PLANTS["wrong_gold"]):
        value = int(rows[i]["answer"])
        offset = rng.choice([d for d in range(-9, 10) if d and value + d >= 0])
        rows[i]["answer"] = str(value + offset)
        labels[i] = "wrong_gold"
    others = [i for i, lab in enumerate(labels) if lab in PER_BAND]
    for i in rng.sample(others, PLANTS["format"]):
        choices = [" ".join(WORDS[int(d)] for d in str(rng.randint(0, 99))) for _ in range(4)]
        rows[i].update({"verifier": "mcq", "answer": "B", "choices": choices})
        labels[i] = "format"
    easy_probes = [p for p in probes if p.get("meta", {}).get("level") == 1]
    for probe in rng.sample(easy_probes, PLANTS["leak"]):
        rows.append({"prompt": probe["prompt"], "answer": probe["answer"]})
        labels.append("leak")
    order = list(range(len(rows)))
    rng.shuffle(order)
    return [rows[i] for i in order], [labels[i] for i in order]


def run(rows: list[dict], k: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "triage.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        cmd = [
            sys.executable, "-m", "datalint", "check", str(data), "--probe", str(PROBE),
            "--select", ",".join(RULES), "--format", "json", "--no-cache",
            "--rollouts-per-item", str(k), "--seed", str(seed),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"datalint failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout)


def score(report: dict, labels: list[str]) -> dict:
    fired: dict[str, set[int]] = {code: set() for code in RULES}
    for f in report["findings"]:
        if f["code"] in fired:
            fired[f["code"]].add(f["line"])
    dead_end = fired["RW201"] | fired["RW202"] | fired["RW203"]
    solved = fired["RW204"] | fired["RW205"]
    kind = {line: labels[line - 1] for line in range(1, len(labels) + 1)}
    planted = {"wrong_gold", "format", "leak"}
    out: dict = {"items": len(labels), "labels": dict(Counter(labels)), "rules": {}}
    for code in RULES:
        lines = fired[code]
        target = TARGET.get(code)
        entry: dict = {"findings": len(lines)}
        entry["on"] = dict(Counter(kind[line] for line in lines))
        if target is not None:
            want = {ln for ln, lab in kind.items() if lab == target}
            eligible = want & (solved if target == "leak" else dead_end)
            hit = lines & want
            entry["precision"] = round(len(hit) / len(lines), 3) if lines else None
            entry["recall"] = round(len(hit) / len(want), 3) if want else None
            entry["recall_of_dead_ends"] = (
                round(len(hit & eligible) / len(eligible), 3) if eligible else None
            )
            entry["planted"], entry["planted_dead_ends"] = len(want), len(eligible)
        else:  # RW203 and RW205 name no planted fault: how much of what they flag is unplanted
            entry["share_unplanted"] = (
                round(sum(kind[ln] not in planted for ln in lines) / len(lines), 3)
                if lines
                else None
            )
        out["rules"][code] = entry
    # the baseline without triage: RW102 flags every dead end alike, so "check the gold answer"
    # (its fix text) is right this often
    wrong = {ln for ln, lab in kind.items() if lab == "wrong_gold"}
    out["baseline_every_dead_end_as_wrong_gold"] = {
        "findings": len(dead_end),
        "precision": round(len(dead_end & wrong) / len(dead_end), 3) if dead_end else None,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=8, help="rollouts per item")
    args = parser.parse_args()
    rows, labels = build(args.seed)
    result = score(run(rows, args.k, args.seed), labels)
    result.update(seed=args.seed, k=args.k)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
