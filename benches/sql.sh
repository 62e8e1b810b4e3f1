#!/usr/bin/env bash
# Typical span queries with `spanlens sql` and with DuckDB on the same span store (the Parquet
# files `spanlens ingest` writes): per query, the median statement time of each engine (spanlens
# from --timings, DuckDB from its Python API, both excluding process start), spanlens's wall time
# per process and peak RSS, and whether the two agree on the result's row count and first row.
#
# Each query runs RUNS times (default 3) in each engine, the median reported. The store is made
# once per WORKDIR and size (gen + ingest) and reused.
#
# Usage: [RUNS=N] benches/sql.sh [SPANS] [WORKDIR]   (defaults: 1000000, a temp directory)
# Needs: cargo, python3 with the duckdb package (pip install duckdb), /usr/bin/time.
set -euo pipefail

SPANS="${1:-1000000}"
WORK="${2:-$(mktemp -d)}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/spanlens"
RUNS="${RUNS:-3}"
THREADS="$(nproc)"

cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" >&2
python3 -c 'import duckdb' 2>/dev/null || { echo "sql.sh: python3 -m pip install duckdb" >&2; exit 2; }

DATA="$WORK/data-$SPANS"
STORE="$WORK/store-$SPANS"
if [ ! -f "$STORE/run_info.parquet" ]; then
  echo "== generating about $SPANS spans and ingesting them into $STORE" >&2
  "$BIN" gen --spans "$SPANS" --out "$DATA" --force --quiet
  "$BIN" ingest "$DATA" --out "$STORE" --force --quiet
  rm -rf "$DATA"
fi
du -sh "$STORE" >&2
# A trace in the middle of the store, for the lookup by id.
TRACE="$("$BIN" sql "$STORE" --format csv -e \
  "SELECT id_to_hex(trace_id) FROM spans WHERE service_name = 'billing-service' ORDER BY start_time, span_id LIMIT 1 OFFSET 1000" | tail -1)"
echo "== trace for the lookup: $TRACE" >&2
cat "$STORE"/spans/*/*.parquet > /dev/null

# name|spanlens SQL|DuckDB SQL (DuckDB reads the store as a view `spans` over read_parquet).
QUERIES="$WORK/queries.txt"
cat > "$QUERIES" <<EOF
count_by_service_kind|SELECT service_name, kind, count(*) AS n FROM spans GROUP BY 1, 2 ORDER BY n DESC, 1, 2|SELECT service_name, kind, count(*) AS n FROM spans GROUP BY 1, 2 ORDER BY n DESC, 1, 2
p99_by_operation|SELECT service_name, name, count(*) AS n, percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ns) AS p99 FROM spans GROUP BY 1, 2 ORDER BY p99 DESC, 1, 2|SELECT service_name, name, count(*) AS n, percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ns) AS p99 FROM spans GROUP BY 1, 2 ORDER BY p99 DESC, 1, 2
trace_by_id|SELECT id_to_hex(span_id) AS span, service_name, name, duration_ns FROM spans WHERE trace_id = id_from_hex('$TRACE') ORDER BY start_time, span|SELECT lower(hex(span_id)) AS span, service_name, name, duration_ns FROM spans WHERE trace_id = from_hex('$TRACE') ORDER BY start_time, span
caller_callee|SELECT p.service_name AS caller, c.service_name AS callee, count(*) AS calls FROM spans c JOIN spans p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id WHERE c.service_name <> p.service_name GROUP BY 1, 2 ORDER BY calls DESC, 1, 2|SELECT p.service_name AS caller, c.service_name AS callee, count(*) AS calls FROM spans c JOIN spans p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id WHERE c.service_name <> p.service_name GROUP BY 1, 2 ORDER BY calls DESC, 1, 2
attribute_filter|SELECT attr(attributes, 'db.system.name') AS db, count(*) AS n, avg(duration_ns) AS avg_ns FROM spans WHERE attr(attributes, 'db.system.name') IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1|SELECT coalesce(attributes['db.system.name'], attributes['db.system']) AS db, count(*) AS n, avg(duration_ns) AS avg_ns FROM spans WHERE coalesce(attributes['db.system.name'], attributes['db.system']) IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1
errors_by_message|SELECT service_name, status_message, count(*) AS n FROM spans WHERE status_code = 'ERROR' GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 20|SELECT service_name, status_message, count(*) AS n FROM spans WHERE status_code = 'ERROR' GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 20
top_slow_traces|SELECT id_to_hex(trace_id) AS trace, max(duration_ns) AS longest, count(*) AS n FROM spans GROUP BY trace_id ORDER BY longest DESC, trace LIMIT 10|SELECT lower(hex(trace_id)) AS trace, max(duration_ns) AS longest, count(*) AS n FROM spans GROUP BY trace_id ORDER BY longest DESC, trace LIMIT 10
slowest_spans|SELECT id_to_hex(span_id) AS span, service_name, name, duration_ns FROM spans ORDER BY duration_ns DESC, span LIMIT 10|SELECT lower(hex(span_id)) AS span, service_name, name, duration_ns FROM spans ORDER BY duration_ns DESC, span LIMIT 10
hourly_by_service|SELECT date_trunc('hour', start_time) AS hour, service_name, count(*) AS n FROM spans GROUP BY 1, 2 ORDER BY 1, 2|SELECT date_trunc('hour', start_time) AS hour, service_name, count(*) AS n FROM spans GROUP BY 1, 2 ORDER BY 1, 2
traces_per_service|SELECT service_name, count(DISTINCT trace_id) AS traces FROM spans GROUP BY 1 ORDER BY traces DESC, 1|SELECT service_name, count(DISTINCT trace_id) AS traces FROM spans GROUP BY 1 ORDER BY traces DESC, 1
EOF

RESULTS="$WORK/results-$SPANS.txt"
: > "$RESULTS"
while IFS='|' read -r NAME OURS THEIRS; do
  echo "== $NAME" >&2
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$WORK/time.$i" "$BIN" sql "$STORE" --timings --format csv -e "$OURS" \
      > "$WORK/$NAME.csv" 2> "$WORK/$NAME.err"
    STATEMENT_MS="$(sed -n 's/.* rows in \([0-9.]*\) ms$/\1/p' "$WORK/$NAME.err")"
    echo "$STATEMENT_MS $(cat "$WORK/time.$i")" >> "$WORK/$NAME.runs"
  done
  # name, median statement ms, median wall s, highest peak KiB, rows, first row
  sort -n "$WORK/$NAME.runs" | awk -v name="$NAME" \
    '{ms[NR] = $1; wall[NR] = $2; if ($3 > kb) kb = $3} END { print name, ms[int((NR + 1) / 2)], wall[int((NR + 1) / 2)], kb }' \
    > "$WORK/$NAME.summary"
  rm -f "$WORK/$NAME.runs"
  printf '%s|%s|%s|%s\n' "$(cat "$WORK/$NAME.summary")" "$(($(wc -l < "$WORK/$NAME.csv") - 1))" \
    "$(sed -n 2p "$WORK/$NAME.csv")" "$THEIRS" >> "$RESULTS"
done < "$QUERIES"

python3 - "$STORE" "$THREADS" "$RUNS" "$RESULTS" <<'PY'
import csv, datetime, io, statistics, sys, time, duckdb
store, threads, runs, results = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute(f"CREATE VIEW spans AS SELECT * FROM read_parquet('{store}/spans/*/*.parquet', hive_partitioning = true)")
n = con.execute("SELECT count(*) FROM spans").fetchone()[0]
print(f"store: {n:,} spans; duckdb {duckdb.__version__}, {threads} threads, median of {runs} runs")
print(f"{'query':<22} {'spanlens ms':>12} {'duckdb ms':>10} {'duckdb/spanlens':>16} {'spanlens wall s':>16} {'peak MiB':>9}  agree")

def norm(v):
    """A cell as comparable text: numbers to 6 significant digits, times in UTC, NULL as empty."""
    if v is None:
        return ""
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.strftime("%Y-%m-%dT%H:%M:%S")
    text = str(v)
    try:
        return f"{float(text):.6g}"
    except ValueError:
        return text.rstrip("Z").replace(" ", "T") if text[:4].isdigit() and "-" in text[:8] else text

ours_total = theirs_total = 0.0
ok_all = True
for line in open(results):
    head, rows, first, theirs = line.rstrip("\n").split("|", 3)
    name, ms, wall, kb = head.split()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        got = con.execute(theirs).fetchall()
        times.append((time.perf_counter() - t0) * 1e3)
    duck_ms = statistics.median(times)
    ours_first = [norm(c) for c in next(csv.reader(io.StringIO(first)), [])]
    duck_first = [norm(v) for v in got[0]] if got else []
    agree = int(rows) == len(got) and ours_first == duck_first
    ok_all &= agree
    ours_total += float(ms)
    theirs_total += duck_ms
    verdict = "yes" if agree else f"NO: {rows} vs {len(got)} rows; {ours_first} vs {duck_first}"
    print(f"{name:<22} {float(ms):>12.1f} {duck_ms:>10.1f} {duck_ms / float(ms):>15.2f}x {float(wall):>16.2f} "
          f"{int(kb) / 1024:>9.0f}  {verdict}")
print(f"{'all ten':<22} {ours_total:>12.1f} {theirs_total:>10.1f} {theirs_total / ours_total:>15.2f}x")
sys.exit(0 if ok_all else 1)
PY
