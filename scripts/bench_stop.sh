#!/usr/bin/env bash
# The per-frame stopping rule on a still and on a moving scene: iterations per
# frame and the mean loss of frames 1.., with the default rule (the loss fell
# by less than optimizer.stop_tolerance over optimizer.stop_window iterations)
# and without it (every frame runs its whole budget).
#   still:  carphone frame 40 held for FRAMES frames, with fresh sensor-like
#           noise in each (made with the ffmpeg tool);
#   moving: the first FRAMES frames of carphone.
# Usage: scripts/bench_stop.sh [FRAMES] [SIZE] [BUDGET]
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES="${1:-20}" SIZE="${2:-128}" BUDGET="${3:-24}"
OUT="${OUT:-target/bench_stop}"
V=./target/release/vstyle
cargo build --release -q
mkdir -p "$OUT"
ffmpeg -v error -y -loop 1 -i tests/data/carphone_040.png -vf "noise=alls=4:allf=t,format=yuv420p" \
  -frames:v "$FRAMES" -r 25 "$OUT/still.mp4"
printf '%-7s %-8s %8s %8s %12s %8s\n' scene rule "iters/f" "evals/f" "mean loss" "s/frame"
for scene in still moving; do
  clip="$OUT/still.mp4"
  [ $scene = moving ] && clip=tests/data/carphone.mp4
  for rule in default none; do
    extra=(--set optimizer.style_hold=0)  # the budget alone, without the hold's extra iterations
    [ $rule = none ] && extra=(--set optimizer.stop_tolerance=0)
    $V video "$clip" -s tests/data/starry_night.jpg -o "$OUT/${scene}_$rule.mp4" --size "$SIZE" \
      --max-frames "$FRAMES" --iterations "$BUDGET" --quiet "${extra[@]}" >/dev/null
    python3 - "$OUT/${scene}_$rule.mp4.report.json" $scene $rule <<'PY'
import json, sys
fr = json.load(open(sys.argv[1]))["frames"][1:]
n = len(fr)
mean = lambda f: sum(f(x) for x in fr) / n
print(f"{sys.argv[2]:<7} {sys.argv[3]:<8} {mean(lambda x: x['iterations']):8.1f} "
      f"{mean(lambda x: x['evaluations']):8.1f} {mean(lambda x: x['losses']['total']):12.4e} "
      f"{mean(lambda x: x['seconds']):8.2f}")
PY
  done
done
