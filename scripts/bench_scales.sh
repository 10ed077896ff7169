#!/usr/bin/env bash
# Coarse to fine (optimizer.min_size) against one size, for a still image (a
# clip's first frame runs the same code): final losses at full size and wall
# seconds, at each SIZE given.
#   single: ITER iterations at full size;
#   coarse: SCALE_ITER iterations at each size from MIN up by sqrt(2), then
#           FULL_ITER at full size.
# Usage: scripts/bench_scales.sh [MODEL] [ITER] [MIN] [SCALE_ITER] [FULL_ITER] SIZE...
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-squeezenet}" ITER="${2:-300}" MIN="${3:-128}" SCALE_ITER="${4:-150}" FULL_ITER="${5:-60}"
shift $(( $# < 5 ? $# : 5 ))
SIZES=("${@:-256 512}")
V=./target/release/vstyle
OUT=target/bench_scales
mkdir -p "$OUT"
cargo build --release -q
printf '%-6s %-8s %10s %12s %12s %12s %9s\n' size variant iters evals "total loss" "style loss" seconds
for size in ${SIZES[@]}; do
  for variant in single coarse; do
    if [ "$variant" = single ]; then
      extra=(--iterations "$ITER" --set optimizer.min_size=0)
    else
      extra=(--iterations "$FULL_ITER" --set optimizer.min_size="$MIN" --set optimizer.scale_iterations="$SCALE_ITER")
    fi
    t0=$(date +%s.%N)
    json=$($V image -c tests/data/golden_gate.jpg -s tests/data/starry_night.jpg -o "$OUT/${variant}_$size.png" \
      --size "$size" --model "$MODEL" --device cpu --json -q "${extra[@]}")
    t=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
    python3 - "$json" "$size" "$variant" "$t" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
size, variant, t = sys.argv[2], sys.argv[3], float(sys.argv[4])
last = s["last"]
print(f"{size:<6} {variant:<8} {s['iterations']:10d} {s['evaluations']:12d} "
      f"{last['total']:12.4e} {last['style']:12.4e} {t:9.1f}")
PY
  done
done
