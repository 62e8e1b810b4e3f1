#!/usr/bin/env bash
# Per-service RED metrics from the same OTLP/JSON files with spanlens (`--tables service`, the
# same table DuckDB computes) and with DuckDB, checked to agree, with wall times, the ratio and
# spanlens's peak memory; a full spanlens run (every table) is timed too. Two shapes of the same
# workload: exporter batches of 200 traces per JSON line ("batched", the generator's default), one
# trace per JSON line ("one-trace", tiny export batches: more lines, each resource repeated), and
# the awss3exporter's layout ("s3exporter": one `TracesData` document per object under
# year=/month=/day=/hour=/minute= keys, what most exports on S3 look like; "s3exporter-gzip": the
# same objects gzip-compressed, the exporter's `compression: gzip`). DuckDB reads the shapes at
# different speeds, so every ratio is printed.
#
# Each tool runs RUNS times (default 3) on the same files; the median wall time is reported (and
# the highest peak RSS), so one slow run of either does not decide the ratio.
#
# Usage: [RUNS=N] benches/compare.sh [SPANS] [WORKDIR] [SHAPES]
#        (defaults: 1000000, a temp directory, "batched one-trace s3exporter")
# Needs: cargo, python3 with the duckdb package (pip install duckdb), /usr/bin/time.
set -euo pipefail

SPANS="${1:-1000000}"
WORK="${2:-$(mktemp -d)}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/spanlens"
SHAPES="${3:-batched one-trace s3exporter}"
THREADS="$(nproc)"
RUNS="${RUNS:-3}"

# timed NAME COMMAND...: run the command RUNS times (its stdout to $DATA/NAME.txt) and print the
# median wall time in seconds, the highest peak RSS in KiB and every run's time (comma-separated).
timed() {
  local name="$1"; shift
  rm -f "$DATA/$name".time.*
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$DATA/$name.time.$i" "$@" > "$DATA/$name.txt"
  done
  local all
  all="$(cat "$DATA/$name".time.* | awk '{print $1}' | paste -sd, -)"
  sort -n "$DATA/$name".time.* | awk -v all="$all" '{t[NR] = $1; if ($2 > kb) kb = $2} END {print t[int((NR + 1) / 2)], kb, all}'
}

cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" >&2
python3 -c 'import duckdb' 2>/dev/null || { echo "compare.sh: python3 -m pip install duckdb" >&2; exit 2; }

for SHAPE in $SHAPES; do
# GLOB: the files as DuckDB's read_json names them; FORMAT: its `format` for them.
case "$SHAPE" in
  batched) GEN_FLAGS=(--format jsonl); GLOB='*.jsonl'; FORMAT=newline_delimited ;;
  one-trace) GEN_FLAGS=(--format jsonl --traces-per-document 1); GLOB='*.jsonl'; FORMAT=newline_delimited ;;
  s3exporter) GEN_FLAGS=(--format json --layout s3exporter); GLOB='**/*.json'; FORMAT=auto ;;
  s3exporter-gzip) GEN_FLAGS=(--format json --layout s3exporter --compress gzip); GLOB='**/*.json.gz'; FORMAT=auto ;;
  *) echo "compare.sh: unknown shape $SHAPE (batched, one-trace, s3exporter, s3exporter-gzip)" >&2; exit 2 ;;
esac
DATA="$WORK/$SHAPE"
echo "== [$SHAPE] generating about $SPANS spans of OTLP/JSON (${GEN_FLAGS[*]}) in $DATA/data" >&2
"$BIN" gen --spans "$SPANS" "${GEN_FLAGS[@]}" --out "$DATA/data" --force --quiet
du -sh "$DATA/data" >&2
# Both tools read the files from the page cache, with the generator's writes on disk (writeback
# during a run slowed it by up to a second).
sync
find "$DATA/data" -type f -exec cat {} + > /dev/null

# The same per-service RED as DuckDB computes (--tables service), then every table.
echo "== [$SHAPE] spanlens metrics --tables service ($THREADS threads, $RUNS runs)" >&2
read -r SL_SECONDS SL_KB SL_RUNS < <(timed spanlens \
  "$BIN" metrics "$DATA/data" --out "$DATA/spanlens" --tables service --force --quiet)
echo "== [$SHAPE] spanlens metrics, all tables ($THREADS threads, $RUNS runs)" >&2
read -r ALL_SECONDS ALL_KB ALL_RUNS < <(timed spanlens-all "$BIN" metrics "$DATA/data" --out "$DATA/spanlens-all" --force --quiet)
cmp -s "$DATA/spanlens/service_metrics.parquet" "$DATA/spanlens-all/service_metrics.parquet" \
  || { echo "compare.sh: --tables service and the full run wrote different service tables" >&2; exit 1; }

echo "== [$SHAPE] duckdb ($THREADS threads, $RUNS runs)" >&2
python3 - "$DATA" "$THREADS" "$SL_SECONDS" "$SL_KB" "$SHAPE" "$ALL_SECONDS" "$ALL_KB" "$RUNS" "$SL_RUNS" "$ALL_RUNS" \
  "$GLOB" "$FORMAT" <<'PY'
import statistics, sys, time, duckdb
work, threads, sl_seconds, sl_kb, shape = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
all_seconds, all_kb, runs = float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
sl_runs, all_runs = sys.argv[9].replace(",", ", "), sys.argv[10].replace(",", ", ")
glob, fmt = sys.argv[11], sys.argv[12]
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
# The same Service records as spanlens derives for this data: SERVER spans and local roots
# (no parent, or a parent flagged remote); Error = 4xx, Fault = 5xx or status ERROR without a
# 4xx/5xx code (Java order: http.response.status_code, then http.status_code).
sql = f"""
WITH docs AS (
  SELECT unnest(resourceSpans) AS rs
  FROM read_json('{work}/data/{glob}', format = '{fmt}', maximum_object_size = 268435456)
), scopes AS (
  SELECT list_filter(rs.resource.attributes, lambda a: a.key = 'service.name')[1].value.stringValue AS service,
         unnest(rs.scopeSpans) AS ss
  FROM docs
), spans AS (
  SELECT service, unnest(ss.spans) AS s FROM scopes
), records AS (
  SELECT service,
         (CAST(s.endTimeUnixNano AS HUGEINT) - CAST(s.startTimeUnixNano AS HUGEINT)) / 1e6 AS latency_ms,
         coalesce(
           TRY_CAST(list_filter(s.attributes, lambda a: a.key = 'http.response.status_code')[1].value.intValue AS BIGINT),
           TRY_CAST(list_filter(s.attributes, lambda a: a.key = 'http.status_code')[1].value.intValue AS BIGINT)) AS code,
         coalesce(s.status.code, 0) = 2 AS status_error
  FROM spans
  WHERE s.kind = 2 OR coalesce(s.parentSpanId, '') = '' OR (s.flags & 768) = 768
)
SELECT service,
       count(*) AS requests,
       sum(CASE WHEN code BETWEEN 400 AND 499 THEN 1 ELSE 0 END) AS errors,
       sum(CASE WHEN code BETWEEN 500 AND 599 OR (status_error AND (code IS NULL OR code < 400 OR code > 599))
                THEN 1 ELSE 0 END) AS faults,
       quantile_cont(latency_ms, 0.5) AS p50,
       quantile_cont(latency_ms, 0.9) AS p90,
       quantile_cont(latency_ms, 0.99) AS p99
FROM records GROUP BY service ORDER BY service
"""
times = []
for _ in range(runs):
    t0 = time.time()
    duck = con.execute(sql).fetchall()
    times.append(time.time() - t0)
duck_seconds = statistics.median(times)
ours = con.execute(f"""
  SELECT service, requests, errors, faults, latency_p50_ms, latency_p90_ms, latency_p99_ms
  FROM read_parquet('{work}/spanlens/service_metrics.parquet')
  WHERE bucket_start IS NULL ORDER BY service""").fetchall()
ok = len(duck) == len(ours)
for d, o in zip(duck, ours):
    same_counts = tuple(d[:4]) == tuple(o[:4])
    close = all(abs(a - b) <= 1e-9 * max(1.0, abs(a)) for a, b in zip(d[4:], o[4:]))
    if not (same_counts and close):
        ok = False
        print(f"MISMATCH duckdb={d} spanlens={o}", file=sys.stderr)
spans = con.execute(f"SELECT value FROM read_parquet('{work}/spanlens/run_info.parquet') "
                    "WHERE source = '' AND key = 'spans_read'").fetchone()[0]
print(f"[{shape}] services: {len(ours)}, spans: {spans:,}, numbers agree: {'yes' if ok else 'NO'}, duckdb {duckdb.__version__}")
print(f"[{shape}] median of {runs} runs each")
print(f"[{shape}] spanlens metrics --tables service (raw JSON -> Service records -> service table): "
      f"{sl_seconds:.2f} s, peak RSS {sl_kb / 1024:.0f} MiB (runs: {sl_runs})")
print(f"[{shape}] spanlens metrics, all tables (+ dependency records, operation and dependency tables, "
      f"signals.parquet): {all_seconds:.2f} s, peak RSS {all_kb / 1024:.0f} MiB (runs: {all_runs})")
print(f"[{shape}] duckdb read_json + unnest + quantile_cont (service RED only): {duck_seconds:.2f} s "
      f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
print(f"[{shape}] ratio duckdb / spanlens, service RED: {duck_seconds / sl_seconds:.2f}x; "
      f"duckdb / spanlens all tables: {duck_seconds / all_seconds:.2f}x")
sys.exit(0 if ok else 1)
PY
done
