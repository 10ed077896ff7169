#!/usr/bin/env bash
# Carried L-BFGS pairs (optimizer.carry_pairs) against a fresh memory per frame:
# iterations, evaluations (and per iteration: the line search's cost), the mean
# final loss of frames 1.. , the warping error and the time per frame.
# Counts and losses do not depend on the machine's load; the time does.
# Usage: scripts/bench_carry.sh [CLIP] [FRAMES] [SIZE] [OUT_DIR] [-- --set KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIP="${1:-tests/data/carphone.mp4}" FRAMES="${2:-30}" SIZE="${3:-96}"
OUT="${4:-target/bench_carry/$(basename "${CLIP%.*}")}"
shift $(( $# < 4 ? $# : 4 )); [ "${1:-}" = "--" ] && shift
V=./target/release/vstyle
cargo build --release -q
source scripts/bench_job.sh
write_job
printf '%-6s %8s %8s %10s %12s %12s %14s %8s\n' carry "iters/f" "evals/f" "evals/iter" "loss" "style" "warp err" "s/frame"
for carry in false true; do
  rm -rf "$OUT/c_$carry.mp4"*
  t0=$(date +%s.%N)
  $V run "$OUT/job.toml" --quiet --set output.path=\""$OUT/c_$carry.mp4"\" \
    --set optimizer.carry_pairs=$carry "$@" >/dev/null
  t=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
  err=$($V eval --input "$CLIP" --output "$OUT/c_$carry.mp4" --max-frames "$FRAMES" \
    | sed -E 's/.*warping error ([0-9.e-]+).*/\1/')
  python3 - "$OUT/c_$carry.mp4.report.json" "$carry" "$err" "$t" "$FRAMES" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
later = [f for f in r["frames"] if f["index"] > 0]
n = len(later)
it = sum(f["iterations"] for f in later) / n
ev = sum(f["evaluations"] for f in later) / n
loss = sum(f["losses"]["total"] for f in later) / n
style = sum(f["losses"]["style"] for f in later) / n
t = float(sys.argv[4]) / int(sys.argv[5])
print(f"{sys.argv[2]:<6} {it:8.1f} {ev:8.1f} {ev / it:10.2f} {loss:12.4e} {style:12.4e} {float(sys.argv[3]):14.6f} {t:8.2f}")
PY
done
