#!/usr/bin/env bash
# Label one built world: real GRPO lift per cohort and seed with `datalint calibrate` under the
# fixed label rule (8 steps, 8 generations, Adam lr 2e-5: calibrate's defaults; 3 seeds; the
# completion length the world derives from its answer lengths) into worlds/WORLD/store.sqlite.
#
#   scripts/label_world.sh world1-strings-char-llama     # resumable: rerun after a kill
#
# Refuses a world that has not passed its world check (scripts/build_world.py WORLD first).
# WORKERS (default 1): GRPO worker processes, one torch thread each.
set -euo pipefail
cd "$(dirname "$0")/.."

WORLD=${1:?usage: scripts/label_world.sh WORLD}
DIR=worlds/$WORLD
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=/work/main/.venv/bin/python
WORKERS=${WORKERS:-1}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

for f in world.json world-check.json cohorts.jsonl probe.jsonl; do
  [ -f "$DIR/$f" ] || { echo "label_world: $DIR/$f missing: run scripts/build_world.py $WORLD" >&2; exit 2; }
done
read -r PASSED POLICY LENGTH SEEDS < <("$PY" - "$DIR" <<'PYEOF'
import json, sys
d = sys.argv[1]
check = json.load(open(f"{d}/world-check.json"))
world = json.load(open(f"{d}/world.json"))
print(str(check["passed"]).lower(), world["policy"], world["completion_length"], world["spec"]["label_seeds"])
PYEOF
)
if [ "$PASSED" != "true" ]; then
  echo "label_world: $WORLD failed its world check ($DIR/world-check.json); not labelled" >&2
  exit 3
fi
"$PY" -m datalint calibrate "$DIR/cohorts.jsonl" --probe "$DIR/probe.jsonl" \
    --store "$DIR/store.sqlite" --model "$POLICY" \
    --steps 8 --lr 2e-5 --num-generations 8 --seeds "$SEEDS" \
    --max-completion-length "$LENGTH" --workers "$WORKERS" --cache-dir "$DIR/cache"
