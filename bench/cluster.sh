#!/usr/bin/env bash
# Orchestration benchmark of the grid on Effect Cluster + PostgreSQL (docs/benchmarks.md):
#   1. per-cell overhead: cells that do nothing (spot worker --sleep-ms 0), 1 worker;
#   2. throughput with 1, 2, 4 workers on cells that sleep a fixed time (this machine has 2 cores, so
#      real training cannot show scaling here; sleeping cells show what the orchestration allows).
#   Workers compute one cell at a time (spot worker's default); CONCURRENCY=N lets each run N at once.
# Usage: [CONCURRENCY=N] bench/cluster.sh [cells] [sleep-ms]   (needs Debian's postgresql; run after npm run build)
set -euo pipefail
cd "$(dirname "$0")/.."
CELLS=${1:-96}
SLEEP=${2:-500}
CONCURRENCY=${CONCURRENCY:-1}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=$(mktemp -d /tmp/spot-bench-pg-XXXX)
chmod 777 "$DIR"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PORT=$((20000 + RANDOM % 20000))
as_pg "$BIN/initdb" -D "$DIR/data" -A trust -U spot --no-sync >/dev/null
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -o "-p $PORT -k $DIR -h 127.0.0.1 -c fsync=off" start >/dev/null
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
spot() { node packages/cli/dist/main.js "$@"; }
run=0
run_with() { # workers sleep-ms cells
  local n=$1 ms=$2 cells=$3
  local db="b${n}_${ms}"
  as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U spot -d postgres -qc "CREATE DATABASE $db" >/dev/null
  local url="postgres://spot@127.0.0.1:$PORT/$db"
  pids=()
  run=$((run + 1))
  for i in $(seq 1 "$n"); do
    # node itself in the background (not a shell function), so that $! is the worker and kill reaches it
    node packages/cli/dist/main.js worker --cluster "$url" --port $((PORT + 100 + 10 * run + i)) --name "w$i" \
      --sleep-ms "$ms" --concurrency "$CONCURRENCY" >/dev/null 2>&1 &
    pids+=($!)
  done
  sleep 3
  spot bench grid --cluster "$url" --cells "$cells" --json | tail -1
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
echo "== overhead: $CELLS cells that do nothing, 1 worker, $CONCURRENCY cell(s) at a time"
run_with 1 0 "$CELLS"
for n in 1 2 4; do
  echo "== throughput: $CELLS cells of ${SLEEP} ms, $n worker(s), $CONCURRENCY cell(s) at a time each"
  run_with "$n" "$SLEEP" "$CELLS"
done
