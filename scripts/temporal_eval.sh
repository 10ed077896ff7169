#!/usr/bin/env bash
# Temporal coherence evidence: the shipped clip stylized four ways with the
# same iteration budget, then the warping error (vstyle eval) and the style
# loss of each, a plot, and a side-by-side GIF of (a) and (d).
#   (a) every frame from its content frame   (b) init prev
#   (c) init prev_warped                     (d) prev_warped + temporal loss
# Usage: scripts/temporal_eval.sh [FRAMES] [SIZE] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES="${1:-24}" SIZE="${2:-96}" OUT="${3:-target/temporal}"
VSTYLE_HOME="${VSTYLE_HOME:-$HOME/.cache/vstyle}"
PY="$VSTYLE_HOME/venv/bin/python"
cargo build --release -q
mkdir -p "$OUT"
common=(--set input.path=\"tests/data/carphone.mp4\" --set input.size="$SIZE" --set input.max_frames="$FRAMES"
  --set optimizer.first_frame_iterations=100 --set optimizer.frame_iterations=30 --set optimizer.stop_tolerance=0
  --set run.device=\"auto\")
run() { # name frame_init temporal_weight
  rm -rf "$OUT/$1.mp4" "$OUT/$1.mp4.work"
  ./target/release/vstyle run configs/demo.toml "${common[@]}" --set output.path=\"$OUT/$1.mp4\" \
    --set run.frame_init=\"$2\" --set loss.temporal_weight="$3" --quiet >/dev/null
}
run a_content content 0
run b_prev prev 0
run c_prev_warped prev_warped 0
run d_prev_warped_temporal prev_warped 1e3
outs=()
for n in a_content b_prev c_prev_warped d_prev_warped_temporal; do outs+=(--output "$OUT/$n.mp4.work/frame_%06d.png"); done
./target/release/vstyle eval --input tests/data/carphone.mp4 "${outs[@]}" --max-frames "$FRAMES" \
  --json "$OUT/warping_error.json" --plot "$OUT/warping_error.png"
"$PY" - "$OUT" <<'PYEOF'
import json, sys, glob, os
from PIL import Image
out = sys.argv[1]
errs = {os.path.basename(os.path.dirname(r["output"])).split(".")[0]: r["mean"] for r in json.load(open(f"{out}/warping_error.json"))}
print(f"{'variant':<26}{'warping error':>14}{'x vs (a)':>10}{'style loss':>12}{'opt s/frame':>12}{'flow s/frame':>13}")
for name, e in errs.items():
    rep = json.load(open(f"{out}/{name}.mp4.report.json"))
    fr = rep["frames"][1:]
    style = sum(f["losses"]["style"] for f in fr) / len(fr)
    opt = sum(f["seconds"] for f in fr) / len(fr)
    flow = sum(f["flow_seconds"] for f in fr) / len(fr)
    print(f"{name:<26}{e:>14.6f}{errs['a_content'] / e:>10.2f}{style:>12.4e}{opt:>12.2f}{flow:>13.4f}")
a = sorted(glob.glob(f"{out}/a_content.mp4.work/frame_*.png"))
d = sorted(glob.glob(f"{out}/d_prev_warped_temporal.mp4.work/frame_*.png"))
frames = []
for fa, fd in zip(a, d):
    ia, id_ = Image.open(fa), Image.open(fd)
    both = Image.new("RGB", (ia.width * 2 + 4, ia.height), "white")
    both.paste(ia, (0, 0)); both.paste(id_, (ia.width + 4, 0))
    frames.append(both)
frames[0].save(f"{out}/a_vs_d.gif", save_all=True, append_images=frames[1:], duration=67, loop=0)
print(f"wrote {out}/a_vs_d.gif, {out}/warping_error.png, {out}/warping_error.json")
PYEOF
