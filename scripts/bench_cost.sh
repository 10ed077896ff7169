#!/usr/bin/env bash
# The cost of a frame at high resolution (docs/benchmarks.md, "Cost per
# frame"): for each network and size, a short clip job on
# bigbuckbunny_2s.mp4 (upscaled where the size is above its 1280x720), then
# from its report: the first frame's seconds and evaluations, and for the
# warm frames after it the mean seconds, evaluations and optical-flow
# seconds per frame, flow's share of a frame, and the peak memory (the
# process's RSS; on CUDA also the device's, sampled with nvidia-smi).
# The same command runs on a CUDA node: DEVICE=cuda:0.
# Usage: [DEVICE=cpu] [FRAMES=3] [FIRST=10] [MODELS="vgg19 squeezenet"]
#        scripts/bench_cost.sh [SIZE ...]      (default 854 1280 1920)
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${DEVICE:-cpu}" FRAMES="${FRAMES:-3}" FIRST="${FIRST:-10}"
MODELS="${MODELS:-vgg19 squeezenet}" OUT="${OUT:-target/bench_cost}"
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(854 1280 1920)
VSTYLE_HOME="${VSTYLE_HOME:-$HOME/.cache/vstyle}"
PY="$VSTYLE_HOME/venv/bin/python"
V=./target/release/vstyle
cargo build --release -q
mkdir -p "$OUT"
rows="$OUT/rows.txt"; : >"$rows"
for model in $MODELS; do
  for size in "${SIZES[@]}"; do
    out="$OUT/${model}_$size.mp4"; rm -rf "$out"*
    cost=$("$PY" scripts/lib/measured.py "$out.stdout" "$out.stderr" "$V" video \
      tests/data/bigbuckbunny_2s.mp4 -s tests/data/starry_night.jpg -o "$out" --size "$size" \
      --max-frames "$FRAMES" --first-iterations "$FIRST" --device "$DEVICE" \
      --set "model.name=\"$model\"" --quiet) || { cat "$out.stderr"; exit 1; }
    "$PY" - "$rows" "$model" "$out.report.json" "$cost" <<'PY'
import json, sys
rows, model, report, cost = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
r = json.load(open(report))
first, warm = r["frames"][0], r["frames"][1:] or r["frames"][:1]
mean = lambda k: sum(f[k] for f in warm) / len(warm)
frame_s = mean("seconds") + mean("flow_seconds")
gpu = f"{cost['gpu_mib']:.0f}" if cost["gpu_mib"] else "-"
open(rows, "a").write(f"{model} {r['width']}x{r['height']} {first['seconds']:.1f} {first['evaluations']} "
                      f"{frame_s:.2f} {mean('evaluations'):.1f} {mean('flow_seconds'):.3f} "
                      f"{100 * mean('flow_seconds') / frame_s:.1f} {cost['rss_mib']:.0f} {gpu} {cost['wall']:.0f}\n")
PY
    tail -1 "$rows"
  done
done
echo "cost per frame on $DEVICE, $FRAMES frames of bigbuckbunny_2s.mp4, first frame $FIRST iterations at full size, defaults otherwise"
printf '%-11s%11s%10s%8s%12s%10s%10s%8s%11s%11s%8s\n' network size "first s" evals "warm s/fr" "evals/fr" "flow s/fr" "flow %" "RSS MiB" "GPU MiB" "wall s"
awk '{ printf "%-11s%11s%10s%8s%12s%10s%10s%8s%11s%11s%8s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' "$rows"
