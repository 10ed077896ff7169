#!/usr/bin/env bash
# The measurement set of docs/benchmarks.md ("Clips nobody tuned for"): four
# 256x144, 25 fps, 48-frame clips made from the shipped stills with a known
# camera motion, so the sharding and speed benchmarks are not judged on the
# clips the defaults were tuned on. Reruns give the same motion; the files
# are kept in tests/data (see ATTRIBUTION.md there).
#   motion_pan   tubingen.jpg, a slow pan right (3 px a frame at 256 px)
#   motion_zoom  golden_gate.jpg, a steady zoom in (1.2% a frame)
#   motion_cut   tubingen.jpg panning, then a scene cut at frame 24 to
#                golden_gate.jpg tilting down
#   motion_fast  golden_gate.jpg, a fast diagonal pan (about 5 px right and
#                4 px down a frame at 256 px)
# Usage: scripts/make_clips.sh [OUT_DIR]   (default tests/data)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-tests/data}"
D=tests/data
mkdir -p "$OUT"
enc=(-r 25 -c:v libx264 -crf 18 -preset slow -pix_fmt yuv420p -bitexact -an)
still() { ffmpeg -v error -y -loop 1 -i "$1" -vf "$2,scale=256:144,setsar=1" -frames:v 48 "${enc[@]}" "$3"; }
still "$D/tubingen.jpg" "crop=512:288:x='n*6':y=300" "$OUT/motion_pan.mp4"
still "$D/golden_gate.jpg" "crop=960:540,scale=w='512*(1+0.012*n)':h=-2:eval=frame,crop=512:288" \
  "$OUT/motion_zoom.mp4"
still "$D/golden_gate.jpg" "crop=480:270:x='n*10':y='n*8'" "$OUT/motion_fast.mp4"
ffmpeg -v error -y -loop 1 -i "$D/tubingen.jpg" -loop 1 -i "$D/golden_gate.jpg" -filter_complex \
  "[0]crop=512:288:x='100+n*4':y=250,scale=256:144,setsar=1,trim=end_frame=24[a];
   [1]crop=640:360:x=160:y='n*5',scale=256:144,setsar=1,trim=end_frame=24[b];
   [a][b]concat=n=2:v=1" "${enc[@]}" "$OUT/motion_cut.mp4"
for f in pan zoom cut fast; do echo "$OUT/motion_$f.mp4"; done
