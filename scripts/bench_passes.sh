#!/usr/bin/env bash
# Multi-pass evidence (optimizer.passes): the same clip in 1, 2 and 4 passes,
# with the warping error (`vstyle eval`), the mean style loss of the last
# pass and the wall time per frame.
# Usage: scripts/bench_passes.sh [CLIP] [FRAMES] [SIZE] [OUT_DIR] [-- --set KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIP="${1:-tests/data/carphone.mp4}" FRAMES="${2:-40}" SIZE="${3:-96}"
OUT="${4:-target/bench_passes/$(basename "${CLIP%.*}")}"
shift $(( $# < 4 ? $# : 4 )); [ "${1:-}" = "--" ] && shift
V=./target/release/vstyle
cargo build --release -q
source scripts/bench_job.sh
write_job
printf '%-8s %14s %10s %12s %10s %12s\n' passes "mean warp err" "x 1 pass" "style loss" "x 1 pass" "s/frame"
base_err="" base_style=""
for p in 1 2 4; do
  rm -rf "$OUT/p$p.mp4"*
  t0=$(date +%s.%N)
  $V run "$OUT/job.toml" --quiet --set output.path=\""$OUT/p$p.mp4"\" --set optimizer.passes=$p "$@" >/dev/null
  t=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
  err=$($V eval --input "$CLIP" --output "$OUT/p$p.mp4" --max-frames "$FRAMES" --json "$OUT/p$p.eval.json" \
    | sed -E 's/.*warping error ([0-9.e-]+).*/\1/')
  style=$(python3 - "$OUT/p$p.mp4.report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
last = {f["index"]: f["losses"]["style"] for f in r["frames"]}
for p in r.get("passes", []):
    last.update({f["index"]: f["losses"]["style"] for f in p["frames"] if not f["resumed"]})
print(sum(last.values()) / len(last))
PY
)
  base_err=${base_err:-$err} base_style=${base_style:-$style}
  awk -v p="$p" -v e="$err" -v be="$base_err" -v s="$style" -v bs="$base_style" -v t="$t" -v n="$FRAMES" \
    'BEGIN { printf "%-8s %14.6f %10.2f %12.4e %10.3f %12.2f\n", p, e, e / be, s, s / bs, t / n }'
done
