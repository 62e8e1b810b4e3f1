#!/usr/bin/env bash
# `spanlens sql` on a span store, and `spanlens metrics` of it (the service, operation and
# dependency tables), locally and on a loopback Ballista cluster (`spanlens cluster`):
# per query, the median wall time of the local run, of a cluster of one executor and of two
# executors (each --concurrent-tasks 1, so that on a two-core machine every task has a core),
# and whether all three printed the same bytes. From the one- and two-executor times it splits
# each query into a part that did not shrink with the second executor (planning, the client's
# share, the final stage) and a part that halved, and estimates the time with N executor
# machines as serial + parallel / N.
#
# Usage: [RUNS=N] benches/cluster.sh [SPANS] [WORKDIR]   (defaults: 10000000, a temp directory)
# Needs: cargo, curl.
set -euo pipefail

SPANS="${1:-10000000}"
WORK="${2:-$(mktemp -d)}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/spanlens"
RUNS="${RUNS:-3}"

cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" >&2
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
STORE="$WORK/store-$SPANS"
if [ ! -f "$STORE/run_info.parquet" ]; then
  echo "== generating about $SPANS spans and ingesting them into $STORE" >&2
  "$BIN" gen --spans "$SPANS" --out "$WORK/data-$SPANS" --force --quiet
  "$BIN" ingest "$WORK/data-$SPANS" --out "$STORE" --force --quiet
  rm -rf "$WORK/data-$SPANS"
fi

PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; PIDS=(); sleep 1; }
trap stop EXIT

# Start a scheduler on a free port and N executors; set PORT to the scheduler's port.
start_cluster() {
  local n="$1" log="$WORK/scheduler.log"
  RUST_LOG=warn "$BIN" cluster scheduler --bind 127.0.0.1:0 > /dev/null 2> "$log" &
  PIDS+=($!)
  local port=""
  for _ in $(seq 100); do
    port="$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$log")"
    [ -n "$port" ] && break
    sleep 0.1
  done
  for i in $(seq "$n"); do
    RUST_LOG=warn "$BIN" cluster executor --scheduler "127.0.0.1:$port" --bind 127.0.0.1:0 \
      --concurrent-tasks 1 --work-dir "$WORK/executor-$i" > /dev/null 2> "$WORK/executor-$i.log" &
    PIDS+=($!)
  done
  for _ in $(seq 300); do
    curl -s "http://127.0.0.1:$port/readyz" | grep -q "ready: $n executors" && break
    sleep 0.1
  done
  PORT="$port"
}

# name|SQL
QUERIES="$WORK/queries.txt"
cat > "$QUERIES" <<'EOF'
count_by_service|SELECT service_name, count(*) FROM spans GROUP BY 1 ORDER BY 1
p99_by_operation|SELECT service_name, name, latency_percentiles(ns_to_ms(duration_ns), 0.5, 0.99) AS p FROM spans WHERE kind = 'SERVER' GROUP BY 1, 2 ORDER BY 1, 2
errors_by_hour|SELECT date_trunc('hour', start_time) AS hour, count(*) FILTER (WHERE status_code = 'ERROR') AS errors FROM spans GROUP BY 1 ORDER BY 1
calls|SELECT c.service_name AS client, s.service_name AS server, count(*) FROM spans c JOIN spans s ON s.trace_id = c.trace_id AND s.parent_span_id = c.span_id WHERE c.service_name <> s.service_name GROUP BY 1, 2 ORDER BY 1, 2
EOF

# The median of RUNS wall times of `spanlens sql ... "$@"`, output kept in $WORK/out-$tag.
time_sql() {
  local tag="$1" query="$2"; shift 2
  local times=()
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(date +%s.%N)
    "$BIN" sql "$STORE" --format csv --partitions 4 -e "$query" "$@" > "$WORK/out-$tag" \
      || { echo "cluster.sh: $tag failed" >&2; exit 1; }
    e=$(date +%s.%N)
    times+=("$(echo "$e - $s" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}

# The median of RUNS wall times of `spanlens metrics STORE ... "$@"`, tables kept in $WORK/metrics-$tag.
time_metrics() {
  local tag="$1"; shift
  local times=()
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(date +%s.%N)
    "$BIN" metrics "$STORE" --tables service,operation,dependency --out "$WORK/metrics-$tag" --force --quiet "$@" \
      > /dev/null || { echo "cluster.sh: metrics $tag failed" >&2; exit 1; }
    e=$(date +%s.%N)
    times+=("$(echo "$e - $s" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}

declare -A LOCAL ONE TWO
while IFS='|' read -r name query; do
  LOCAL[$name]="$(time_sql "$name-local" "$query")" || exit 1
done < "$QUERIES"
LOCAL[metrics]="$(time_metrics local)" || exit 1
for n in 1 2; do
  start_cluster "$n"
  while IFS='|' read -r name query; do
    t="$(time_sql "$name-$n" "$query" --scheduler "df://127.0.0.1:$PORT")" || exit 1
    if [ "$n" = 1 ]; then ONE[$name]="$t"; else TWO[$name]="$t"; fi
  done < "$QUERIES"
  t="$(time_metrics "$n" --scheduler "df://127.0.0.1:$PORT")" || exit 1
  if [ "$n" = 1 ]; then ONE[metrics]="$t"; else TWO[metrics]="$t"; fi
  stop
done

echo "store: $SPANS spans, $(du -sh "$STORE" | cut -f1); runs: $RUNS; --partitions 4"
printf '| query | local | 1 executor | 2 executors | same bytes | serial | parallel | est. 8 | est. 32 |\n|---|---|---|---|---|---|---|---|---|\n'
for t in service operation dependency; do
  for n in 1 2; do
    cmp -s "$WORK/metrics-local/${t}_metrics.parquet" "$WORK/metrics-$n/${t}_metrics.parquet" || METRICS_SAME=NO
  done
done
{ cat "$QUERIES"; echo "metrics|"; } | while IFS='|' read -r name _; do
  same=yes
  if [ "$name" = metrics ]; then
    same="${METRICS_SAME:-yes}"
  else
    cmp -s "$WORK/out-$name-local" "$WORK/out-$name-1" || same=NO
    cmp -s "$WORK/out-$name-local" "$WORK/out-$name-2" || same=NO
  fi
  # t1 = s + p, t2 = s + p/2  =>  p = 2 (t1 - t2), s = t1 - p.
  read -r s p e8 e32 < <(echo "${ONE[$name]} ${TWO[$name]}" | awk '{p = 2 * ($1 - $2); if (p < 0) p = 0; s = $1 - p;
    printf "%.2f %.2f %.2f %.2f\n", s, p, s + p / 8, s + p / 32}')
  printf '| %s | %.2f s | %.2f s | %.2f s | %s | %s s | %s s | %s s | %s s |\n' "$name" "${LOCAL[$name]}" "${ONE[$name]}" \
    "${TWO[$name]}" "$same" "$s" "$p" "$e8" "$e32"
done
