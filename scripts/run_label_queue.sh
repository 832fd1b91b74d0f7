#!/usr/bin/env bash
# Build and label every registered world, one after another, in the background:
#
#   nohup nice -n 5 scripts/run_label_queue.sh > worlds/queue.log 2>&1 &
#
# Each pass reads worlds/queue.txt afresh (world names, one a line, in order; without the file:
# every world of the registry, python -m datalint.world.registry), so worlds added while it runs
# are picked up. Per world: scripts/build_world.py (resumable: pretraining, data files,
# world check), then scripts/label_world.sh when the check passed (resumable calibrate). A world
# whose check failed is skipped (recorded in its world-check.json); a world whose build or label
# step errors is retried on the next pass, at most MAX_TRIES times. When nothing is left it waits
# for new names (polling every 5 minutes) up to IDLE_MINUTES (default 240), then stops; it also
# stops once worlds/queue.stop exists (checked between steps). One process at a time and one
# torch thread each (WORKERS=1): the machine's 2 cores are shared.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=/work/main/.venv/bin/python
export PYTHON=$PY WORKERS=${WORKERS:-1} OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
export TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
MAX_TRIES=${MAX_TRIES:-3}
IDLE_MINUTES=${IDLE_MINUTES:-240}
idle=0
declare -A tries
echo "queue: start $(date -u +%FT%TZ) pid $$ workers $WORKERS"
while true; do
  progressed=0
  pending=0
  if [ -f worlds/queue.txt ]; then names=$(grep -v '^#' worlds/queue.txt)
  else names=$("$PY" -m datalint.world.registry); fi
  for world in $names; do
    [ -f worlds/queue.stop ] && break
    dir=worlds/$world
    [ -f "$dir/labelled" ] && continue
    if [ -f "$dir/world-check.json" ] && grep -q '"passed": false' "$dir/world-check.json"; then
      continue
    fi
    n=${tries[$world]:-0}
    if [ "$n" -ge "$MAX_TRIES" ]; then continue; fi
    pending=1
    tries[$world]=$((n + 1))
    echo "queue: $(date -u +%FT%TZ) build $world (try $((n + 1)))"
    "$PY" scripts/build_world.py "$world"
    rc=$?
    if [ $rc -eq 3 ]; then echo "queue: $world failed its world check"; progressed=1; continue; fi
    if [ $rc -ne 0 ]; then echo "queue: build $world exited $rc"; continue; fi
    echo "queue: $(date -u +%FT%TZ) label $world"
    if scripts/label_world.sh "$world"; then
      date -u +%FT%TZ > "$dir/labelled"
      echo "queue: $(date -u +%FT%TZ) labelled $world"
      progressed=1
    else
      echo "queue: label $world exited $?"
    fi
  done
  [ -f worlds/queue.stop ] && { echo "queue: worlds/queue.stop found"; break; }
  if [ $pending -eq 0 ]; then
    [ $idle -ge "$IDLE_MINUTES" ] && break
    sleep 300
    idle=$((idle + 5))
    continue
  fi
  idle=0
  [ $progressed -eq 0 ] && sleep 60
done
echo "queue: done $(date -u +%FT%TZ)"
