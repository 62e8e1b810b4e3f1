#!/usr/bin/env bash
# `spanlens metrics` straight from S3 against the workflow without it: `aws s3 sync` of the
# bucket, then `spanlens metrics` on the copy; and against the same objects on a local disk.
# The objects are the awss3exporter's layout (one OTLP/JSON document per object, gzip), served
# by a moto S3 server on 127.0.0.1 (no traffic leaves the machine). The three runs must give
# byte-identical metric tables; each is timed RUNS times (default 3), medians reported.
#
# Usage: [RUNS=N] benches/s3.sh [SPANS] [WORKDIR]   (defaults: 1000000, a temp directory)
# Needs: cargo, python3 with moto[server] and awscli (pip install 'moto[server]' awscli),
# /usr/bin/time.
set -euo pipefail

SPANS="${1:-1000000}"
WORK="${2:-$(mktemp -d)}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/spanlens"
RUNS="${RUNS:-3}"

cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" >&2
python3 -c 'import moto' 2>/dev/null || { echo "s3.sh: python3 -m pip install 'moto[server]'" >&2; exit 2; }
command -v aws >/dev/null || { echo "s3.sh: python3 -m pip install awscli" >&2; exit 2; }

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m moto.server -H 127.0.0.1 -p "$PORT" > "$WORK/moto.log" 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null || true' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT))" 2>/dev/null && break; sleep 0.1; done
aws s3api create-bucket --bucket bench > /dev/null

GEN=(gen --spans "$SPANS" --layout s3exporter --format json --compress gzip --quiet --force)
echo "== generating about $SPANS spans as exporter objects: s3://bench/otel and $WORK/local" >&2
"$BIN" "${GEN[@]}" --out s3://bench/otel
"$BIN" "${GEN[@]}" --out "$WORK/local"
echo "== $(find "$WORK/local" -type f | wc -l) objects, $(du -sh "$WORK/local" | cut -f1)" >&2
sync

# timed NAME COMMAND...: RUNS runs; the median wall time (s), highest peak RSS (KiB), every time.
timed() {
  local name="$1"; shift
  rm -f "$WORK/$name".time.*
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$WORK/$name.time.$i" "$@" > /dev/null
  done
  local all
  all="$(cat "$WORK/$name".time.* | awk '{print $1}' | paste -sd, -)"
  sort -n "$WORK/$name".time.* | awk -v all="$all" '{t[NR] = $1; if ($2 > kb) kb = $2} END {print t[int((NR + 1) / 2)], kb, all}'
}

echo "== spanlens metrics s3://bench/otel ($RUNS runs)" >&2
read -r S3_S S3_KB S3_ALL < <(timed direct "$BIN" metrics s3://bench/otel --out "$WORK/m-s3" --force --quiet)
echo "== aws s3 sync, then spanlens metrics on the copy ($RUNS runs)" >&2
sync_then_run() {
  rm -rf "$WORK/synced"
  aws s3 sync --only-show-errors s3://bench/otel "$WORK/synced"
  "$BIN" metrics "$WORK/synced" --out "$WORK/m-sync" --force --quiet
}
export -f sync_then_run
export WORK BIN
read -r SYNC_S SYNC_KB SYNC_ALL < <(timed sync bash -c sync_then_run)
echo "== spanlens metrics on the local files ($RUNS runs)" >&2
cat "$WORK"/local/*/*/*/*/*/* > /dev/null
read -r LOCAL_S LOCAL_KB LOCAL_ALL < <(timed local "$BIN" metrics "$WORK/local" --out "$WORK/m-local" --force --quiet)

for t in service_metrics operation_metrics dependency_metrics signals; do
  cmp -s "$WORK/m-s3/$t.parquet" "$WORK/m-local/$t.parquet" || { echo "s3.sh: $t differs from S3 and disk" >&2; exit 1; }
  cmp -s "$WORK/m-sync/$t.parquet" "$WORK/m-local/$t.parquet" || { echo "s3.sh: $t differs after sync" >&2; exit 1; }
done

echo "spanlens $("$BIN" --version | cut -d' ' -f2), moto $(python3 -c 'import moto; print(moto.__version__)'), $(aws --version 2>&1 | cut -d' ' -f1), $(nproc) cores, $SPANS spans"
printf '%-36s %8s %10s  %s\n' "run" "median s" "peak MiB" "runs (s)"
printf '%-36s %8s %10d  %s\n' "metrics s3://" "$S3_S" $((S3_KB / 1024)) "$S3_ALL"
printf '%-36s %8s %10d  %s\n' "aws s3 sync + metrics on the copy" "$SYNC_S" $((SYNC_KB / 1024)) "$SYNC_ALL"
printf '%-36s %8s %10d  %s\n' "metrics on local files" "$LOCAL_S" $((LOCAL_KB / 1024)) "$LOCAL_ALL"
awk -v s3="$S3_S" -v sync="$SYNC_S" -v local="$LOCAL_S" \
  'BEGIN { printf "direct vs sync-then-run: %.2fx faster; direct vs local files: %.2fx the time\n", sync / s3, s3 / local }'
