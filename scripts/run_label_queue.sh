#!/usr/bin/env bash
# Build and label the worlds one after another, in the background:
#
#   nohup nice -n 5 scripts/run_label_queue.sh > worlds/queue.log 2>&1 &
#
# Each pass reads worlds/queue.txt afresh (world names, one a line, in order; without the file:
# every world of the registry, python -m datalint.world.registry), so worlds added while it runs
# are picked up. Per world: scripts/build_world.py (resumable: pretraining, data files, world
# check), then scripts/label_world.sh when the check passed (resumable calibrate). A world whose
# check failed is skipped (recorded in its world-check.json); a world whose build or label step
# errors is retried on a later pass, at most MAX_TRIES times.
#
# Several queues may run side by side (one per core to spare): each world is worked on under a
# lock (worlds/.locks/WORLD.lock, flock), and a queue skips a world another queue holds. Each
# queue runs one process with one torch thread (WORKERS=1). When nothing is left it waits for new
# names (polling every 5 minutes) up to IDLE_MINUTES (default 240), then stops; it also stops
# once worlds/queue.stop exists (checked between steps).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=/work/main/.venv/bin/python
export PYTHON=$PY WORKERS=${WORKERS:-1} OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
export TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
MAX_TRIES=${MAX_TRIES:-3}
IDLE_MINUTES=${IDLE_MINUTES:-240}
BUSY=75
mkdir -p worlds/.locks
declare -A tries
idle=0

work_on() {  # build then label one world; runs under the world's lock
  local world=$1 dir=worlds/$1 rc
  echo "queue[$$]: $(date -u +%FT%TZ) build $world"
  "$PY" scripts/build_world.py "$world"
  rc=$?
  [ $rc -eq 3 ] && { echo "queue[$$]: $world failed its world check"; return 0; }
  [ $rc -ne 0 ] && { echo "queue[$$]: build $world exited $rc"; return 1; }
  echo "queue[$$]: $(date -u +%FT%TZ) label $world"
  scripts/label_world.sh "$world" || { echo "queue[$$]: label $world exited $?"; return 1; }
  date -u +%FT%TZ > "$dir/labelled"
  echo "queue[$$]: $(date -u +%FT%TZ) labelled $world"
}

echo "queue[$$]: start $(date -u +%FT%TZ) workers $WORKERS"
while true; do
  pending=0
  progressed=0
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
    [ "$n" -ge "$MAX_TRIES" ] && continue
    pending=1
    (
      flock -n 9 || exit $BUSY
      work_on "$world"
    ) 9> "worlds/.locks/$world.lock"
    rc=$?
    [ $rc -eq $BUSY ] && continue  # another queue has it
    tries[$world]=$((n + 1))
    [ $rc -eq 0 ] && progressed=1
  done
  [ -f worlds/queue.stop ] && { echo "queue[$$]: worlds/queue.stop found"; break; }
  if [ $pending -eq 0 ]; then
    [ $idle -ge "$IDLE_MINUTES" ] && break
    sleep 300
    idle=$((idle + 5))
    continue
  fi
  idle=0
  [ $progressed -eq 0 ] && sleep 60
done
echo "queue[$$]: done $(date -u +%FT%TZ)"
