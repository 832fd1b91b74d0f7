#!/usr/bin/env bash
# The online-loop experiment of docs/loop/: learned selector vs random vs mean p(1-p) vs oracle
# on the shipped tiny world and policy, 8 rounds of 4 fresh candidates, SEEDS loop seeds.
#
#   bench/loop_experiment.sh                  # resumable: rerun after a kill, nothing is redone
#
# Knobs (environment): SEEDS (10), ROUNDS (8), CANDIDATES (4), WORKERS (2), POOL_COHORTS (64),
# OUT (build/loop). The pool is drawn from the tiny world with a seed (8) different from the
# shipped predictor's calibration cohorts (20260620), so the prior never saw these cohorts.
# Seeds run seed-major: SEEDS=5 after a longer run reports the first 5 seeds without new work.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-build/loop}
SEEDS=${SEEDS:-10}
ROUNDS=${ROUNDS:-8}
CANDIDATES=${CANDIDATES:-4}
WORKERS=${WORKERS:-2}
POOL_COHORTS=${POOL_COHORTS:-64}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

mkdir -p "$OUT"
"$PY" scripts/make_calibration_data.py --cohorts "$POOL_COHORTS" --seed 8 --out "$OUT/pool.jsonl"
"$PY" -m datalint loop "$OUT/pool.jsonl" --probe examples/probe.jsonl --store "$OUT/store.sqlite" \
    --out "$OUT/run" --rounds "$ROUNDS" --candidates "$CANDIDATES" --seeds "$SEEDS" \
    --workers "$WORKERS" --cache-dir "$OUT/cache" | tee "$OUT/summary.txt"
