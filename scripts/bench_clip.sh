#!/usr/bin/env bash
# Default settings against baseline (a), on whole shipped clips, in one run:
#   (a)        each frame stylized on its own from its content frame, 100 L-BFGS
#              iterations, no temporal loss (a still-image tool run frame by frame);
#   defaults   `vstyle video CLIP -s STYLE -o OUT --size SIZE`, nothing else;
#   preview    configs/preview.toml's schedule on the same clip.
# Columns: wall seconds (start-up included), seconds per frame, peak RSS, mean
# style loss, mean warping error (`vstyle eval`), iterations and evaluations per
# frame, then the defaults' ratios to (a).
# (a) takes long (about 12 s a frame at 128 px on 2 cores), so its result is
# kept in OUT and reused by later runs with the same clip, size and frame count;
# delete OUT/<clip>_<size>_<frames>/a* to measure it again.
# Wall times on a shared 2-core machine vary by up to 25% between identical
# runs (losses do not): REPEATS=N runs the defaults and the preview N times
# and reports the fastest wall time.
# Usage: [OUT=DIR] [REPEATS=N] scripts/bench_clip.sh [SIZE] [FRAMES|all] [CLIP ...]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${1:-128}" FRAMES="${2:-all}"
shift $(( $# < 2 ? $# : 2 ))
CLIPS=("$@")
[ ${#CLIPS[@]} -gt 0 ] || CLIPS=(tests/data/carphone.mp4 tests/data/bigbuckbunny_2s.mp4)
STYLE=tests/data/starry_night.jpg
OUT="${OUT:-target/bench_clip}" REPEATS="${REPEATS:-1}"
V=./target/release/vstyle
cargo build --release -q

limit=()
[ "$FRAMES" = all ] || limit=(--max-frames "$FRAMES")

# run NAME ARGS...: one job, its wall time and peak memory added as a line
# to NAME.run, its warping error in NAME.eval.
run() {
  local name="$1"; shift
  rm -rf "$dir/$name.mp4"*
  python3 - "$dir/$name.run" "$V" video "$CLIP" -s "$STYLE" -o "$dir/$name.mp4" --size "$SIZE" \
    "${limit[@]}" --quiet "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
subprocess.run(sys.argv[2:], check=True, stdout=subprocess.DEVNULL)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
open(sys.argv[1], "a").write(f"{time.time() - t:.2f} {rss:.0f}\n")
PY
  $V eval --input "$CLIP" --output "$dir/$name.mp4" "${limit[@]}" \
    | sed -E 's/.*warping error ([0-9.e-]+).*/\1/' >"$dir/$name.eval"
}

for CLIP in "${CLIPS[@]}"; do
  dir="$OUT/$(basename "${CLIP%.*}")_${SIZE}_$FRAMES"
  mkdir -p "$dir"
  if [ -s "$dir/a.eval" ] && [ -s "$dir/a.mp4.report.json" ]; then
    echo "(a) for $CLIP reused from $dir"
  else
    rm -f "$dir/a.run"
    run a --first-iterations 100 --iterations 100 --set 'run.frame_init="content"' \
      --set loss.temporal_weight=0 --set optimizer.stop_tolerance=0 --set optimizer.min_size=0 \
      --set optimizer.carry_pairs=false --set optimizer.style_hold=0
  fi
  rm -f "$dir/defaults.run" "$dir/preview.run"
  for _ in $(seq "$REPEATS"); do
    run defaults
    run preview --config configs/preview.toml --set input.step=1 --set 'run.device="auto"'
  done
  python3 - "$dir" "$CLIP" "$SIZE" "$REPEATS" <<'PY'
import json, sys
d, clip, size, repeats = sys.argv[1:]
print(f"\n{clip} at {size} px (wall: the fastest of {repeats} run(s); (a): one run)")
print(f"{'':<9} {'wall s':>8} {'s/frame':>8} {'RSS MiB':>8} {'style':>10} {'warp err':>9} {'iters/f':>8} {'evals/f':>8}")
rows = {}
for name in ["a", "defaults", "preview"]:
    rep = json.load(open(f"{d}/{name}.mp4.report.json"))
    runs = [tuple(map(float, line.split())) for line in open(f"{d}/{name}.run")]
    wall, rss = min(r[0] for r in runs), max(r[1] for r in runs)
    err = float(open(f"{d}/{name}.eval").read())
    fr = rep["frames"]
    n = len(fr)
    mean = lambda f: sum(f(x) for x in fr) / n
    rows[name] = (wall, mean(lambda x: x["losses"]["style"]), err)
    print(f"{name:<9} {wall:8.1f} {wall / n:8.2f} {rss:8.0f} {rows[name][1]:10.4e} {err:9.6f}"
          f" {mean(lambda x: x['iterations']):8.1f} {mean(lambda x: x['evaluations']):8.1f}")
(aw, ast, ae), (w, st, e) = rows["a"], rows["defaults"]
print(f"defaults / (a): wall {w / aw:.3f} (goal <= 0.1), style {st / ast:.3f} (<= 1), "
      f"warping error {e / ae:.3f} (<= 0.25)")
PY
done
