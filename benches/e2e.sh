#!/usr/bin/env bash
# End-to-end commands on generated data, with wall time and peak RSS (/usr/bin/time): metrics,
# slo and report from raw OTLP/JSON, then metrics (re-queried), slo and report from the metrics
# output (its signals.parquet), each checked to give the same tables both ways.
#
# Usage: benches/e2e.sh [SPANS] [WORKDIR]   (defaults: 1000000, a temp directory; an existing
#        WORKDIR/data is reused)
# Needs: cargo, /usr/bin/time, cmp.
set -euo pipefail

SPANS="${1:-1000000}"
WORK="${2:-$(mktemp -d)}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/spanlens"
SLOS="$ROOT/fixtures/slo/petclinic-slos.json"

cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" >&2
if [ ! -d "$WORK/data" ]; then
  echo "== generating about $SPANS spans of OTLP/JSON Lines in $WORK/data" >&2
  "$BIN" gen --spans "$SPANS" --format jsonl --out "$WORK/data" --quiet
fi
du -sh "$WORK/data" >&2

# run NAME COMMAND...: time one command (exit code 1, a breached SLO, is a result, not a failure).
run() {
  local name="$1"; shift
  cat "$WORK"/data/* > /dev/null
  local status=0
  /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@" > "$WORK/$name.txt" 2> "$WORK/$name.err" || status=$?
  if [ "$status" -gt 1 ]; then cat "$WORK/$name.err" >&2; exit "$status"; fi
  read -r seconds kb < <(tail -n 1 "$WORK/$name.time")
  printf '| %-32s | %8s s | %6d MB |\n' "$name" "$seconds" "$((kb / 1024))"
}

echo "| command | wall | peak RSS |"
echo "|---|---|---|"
run "metrics (raw)" "$BIN" metrics "$WORK/data" --out "$WORK/metrics" --force --quiet
run "slo (raw)" "$BIN" slo "$WORK/data" --slos "$SLOS" --out "$WORK/slo-raw" --force --quiet
run "report (raw)" "$BIN" report "$WORK/data" --slos "$SLOS" --out "$WORK/report-raw" --force --quiet
run "metrics (metrics output)" "$BIN" metrics "$WORK/metrics" --out "$WORK/metrics-m" --force --quiet
run "slo (metrics output)" "$BIN" slo "$WORK/metrics" --slos "$SLOS" --out "$WORK/slo-m" --force --quiet
run "report (metrics output)" "$BIN" report "$WORK/metrics" --slos "$SLOS" --out "$WORK/report-m" --force --quiet

for t in slos slo_periods slo_burn_rates; do
  cmp "$WORK/slo-raw/$t.parquet" "$WORK/slo-m/$t.parquet"
  cmp "$WORK/report-raw/$t.parquet" "$WORK/slo-raw/$t.parquet"
done
for t in service_metrics operation_metrics dependency_metrics; do
  cmp "$WORK/report-raw/$t.parquet" "$WORK/report-m/$t.parquet"
  cmp "$WORK/metrics/$t.parquet" "$WORK/metrics-m/$t.parquet"
done
echo "tables agree: metrics, slo and report from raw input and from the metrics output" >&2
