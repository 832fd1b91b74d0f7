#!/usr/bin/env bash
# Rebuild the shipped lift predictor (pretrained/lift-predictor.onnx + .json card).
#
# With world stores committed (worlds/*/store.sqlite, or the dumps worlds/*/store.sql.gz|.zst),
# it is rebuilt from them, across worlds: scripts/build_predictor_from_worlds.py evaluates
# (in-world CV, nested leave-one-world-out), fits a candidate and replaces the shipped predictor
# only if it beats it and mean p(1-p) on held-out worlds (build/predictor/decision.json says
# why or why not). SINGLE_WORLD=1 forces the original single-world build below.
#
# The single-world build, from scratch:
# generate calibration cohorts from the tiny world, measure real GRPO lift per cohort and seed on
# the shipped tiny policy, evaluate against the baselines, fit and export.
#
#   scripts/build_predictor.sh            # about 15 min of 2 cores; resumable: rerun after a kill
#
# Knobs (environment): N_COHORTS (400), SEEDS (3), STEPS (8), LR (chosen by
# scripts/sweep_grpo.py, see the card's grpo_sweep), WORKERS (2), OUT (build/predictor),
# DOCS (docs/lift-predictor: where the evaluation tables and plots are published; empty = not).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-build/predictor}
N_COHORTS=${N_COHORTS:-400}
SWEEP=${SWEEP:-pretrained/grpo-sweep.json}  # how LR and STEPS were chosen (goes in the card)
SEEDS=${SEEDS:-3}
STEPS=${STEPS:-8}
LR=${LR:-2e-5}  # see pretrained/grpo-sweep.json: 5e-5 and up make frontier lift negative
WORKERS=${WORKERS:-2}
PROBE=${PROBE:-examples/probe.jsonl}
MODEL=${MODEL:-}  # base policy directory; empty = the shipped tiny policy
PREDICTOR=${PREDICTOR:-pretrained/lift-predictor.onnx}
DOCS=${DOCS-docs/lift-predictor}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [ -z "${SINGLE_WORLD:-}" ] && compgen -G "worlds/*/store.s*" > /dev/null; then
  exec "$PY" scripts/build_predictor_from_worlds.py --out "$OUT" ${DOCS:+--docs "$DOCS"}
fi

mkdir -p "$OUT"
"$PY" scripts/make_calibration_data.py --cohorts "$N_COHORTS" --seed 20260620 \
    --out "$OUT/cohorts.jsonl"
"$PY" -m datalint calibrate "$OUT/cohorts.jsonl" --probe "$PROBE" --store "$OUT/store.sqlite" \
    --steps "$STEPS" --lr "$LR" --seeds "$SEEDS" --workers "$WORKERS" --cache-dir "$OUT/cache" \
    ${MODEL:+--model "$MODEL"}
"$PY" -m datalint evaluate "$OUT/store.sqlite" -o "$OUT/evaluation" \
    > "$OUT/evaluation.txt"
"$PY" -m datalint fit "$OUT/store.sqlite" -o "$PREDICTOR" \
    ${SWEEP:+--sweep "$SWEEP"} \
    --build-command "N_COHORTS=$N_COHORTS SEEDS=$SEEDS STEPS=$STEPS LR=$LR scripts/build_predictor.sh"
if [ -n "$DOCS" ]; then
  mkdir -p "$DOCS"
  cp "$OUT"/evaluation/* "$OUT/evaluation.txt" "$DOCS"/
fi
cat "$OUT/evaluation.txt"
