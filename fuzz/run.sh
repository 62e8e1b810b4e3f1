#!/usr/bin/env bash
# Run each fuzz target for SECONDS (default 60), seeded from its corpus in the tree; new inputs
# go to a scratch directory, so the tree's corpus stays small. A failing input is left in
# fuzz/artifacts/TARGET/. Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Usage: bash fuzz/run.sh [SECONDS] [TARGET...]   (targets: otlp_proto otlp_json gzip)
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
if [ $# -gt 0 ]; then targets=("$@"); else targets=(otlp_proto otlp_json gzip); fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  # -max_len bounds an input (and so the memory a decoder may take for it); -rss_limit_mb fails
  # a run whose memory grows past it.
  if ! cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
      > "$scratch/$target.log" 2>&1; then
    tail -n 60 "$scratch/$target.log" >&2
    echo "fuzz/run.sh: $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E "^(INFO: seed corpus|#[0-9]+ *DONE|stat::number_of_executed_units|Done [0-9]+ runs)" "$scratch/$target.log" \
    | sed "s/^/[$target] /" || true
done
