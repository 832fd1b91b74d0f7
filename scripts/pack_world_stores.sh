#!/usr/bin/env bash
# Compress every world's calibration store for committing, and restore them for fit/evaluate.
#
#   scripts/pack_world_stores.sh          # worlds/*/store.sqlite -> worlds/*/store.sql.gz
#   scripts/pack_world_stores.sh unpack   # worlds/*/store.sql.gz -> worlds/*/store.sqlite
#
# A plain-text SQL dump (sqlite3 .dump, gzip -9) diffs, survives SQLite versions and is small
# (under 200 bytes a run). Safe while labelling runs: the dump reads one consistent snapshot (WAL).
# The raw .sqlite files, rollout caches and queue.log are git-ignored (worlds/.gitignore).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-pack}
for dir in worlds/*/; do
  db=$dir/store.sqlite
  dump=$dir/store.sql.gz
  if [ "$mode" = unpack ]; then
    [ -f "$dump" ] || continue
    [ -e "$db" ] && { echo "skip $db: already there (delete it to restore from $dump)"; continue; }
    gunzip -c "$dump" | sqlite3 "$db"
    echo "restored $db ($(sqlite3 "$db" 'SELECT COUNT(*) FROM runs') runs)"
  else
    [ -f "$db" ] || continue
    sqlite3 "file:$db?mode=ro" .dump | gzip -9n > "$dump.tmp"
    mv "$dump.tmp" "$dump"
    echo "packed $dump ($(sqlite3 "file:$db?mode=ro" 'SELECT COUNT(*) FROM runs') runs, $(du -h "$dump" | cut -f1))"
  fi
done
