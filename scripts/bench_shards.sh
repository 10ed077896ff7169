#!/usr/bin/env bash
# Sharding evidence: a clip stylized in one run and in N shards (--workers K,
# then the join's seam repair), compared with `vstyle eval`: the warping
# error at each seam frame against the median of the other frames, the
# clip's mean warping error and its mean style loss; and the wall times.
# The one-run result is kept in OUT_DIR and reused by runs with other SHARDS.
# Usage: scripts/bench_shards.sh [CLIP] [FRAMES] [SIZE] [SHARDS] [WORKERS] [OUT_DIR] [-- --set KEY=VALUE ...]
#        scripts/bench_shards.sh --set [FRAMES] [SIZE]
# --set runs the measurement set (scripts/make_clips.sh) with 2, 3 and 8
# shards at VGG-19's defaults and ends with one table of the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --set ]; then
  FRAMES="${2:-32}" SIZE="${3:-96}" table=$(mktemp)
  for clip in pan zoom cut fast; do
    for n in 2 3 8; do
      bash "$0" "tests/data/motion_$clip.mp4" "$FRAMES" "$SIZE" "$n" 2 "" -- \
        --set 'model.name="vgg19"' | tee -a /dev/stderr | sed -n 's/^SUMMARY //p' >>"$table"
    done
  done
  echo "measurement set, $FRAMES frames at $SIZE px, VGG-19 defaults, --workers 2 then join:"
  printf '%-14s%8s%18s%20s%18s\n' clip shards "warp err x one" "worst seam/median" "style x one"
  awk '{ printf "%-14s%8s%18.3f%20.2f%18.3f\n", $1, $2, $3, $4, $5 }' "$table"
  rm -f "$table"
  exit 0
fi
CLIP="${1:-tests/data/carphone.mp4}" FRAMES="${2:-120}" SIZE="${3:-96}" SHARDS="${4:-4}" WORKERS="${5:-2}"
OUT="${6:-}"
OUT="${OUT:-target/bench_shards/$(basename "${CLIP%.*}")_${SIZE}_$FRAMES}"
shift $(( $# < 6 ? $# : 6 )); [ "${1:-}" = "--" ] && shift
VSTYLE_HOME="${VSTYLE_HOME:-$HOME/.cache/vstyle}"
PY="$VSTYLE_HOME/venv/bin/python"
V=./target/release/vstyle
cargo build --release -q
source scripts/bench_job.sh
write_job
secs() { local t0; t0=$(date +%s.%N); "$@" >/dev/null; awk "BEGIN { print $(date +%s.%N) - $t0 }"; }
rm -rf "$OUT"/sharded.mp4* "$OUT"/unrepaired.*
if [ -s "$OUT/one.eval.json" ] && [ -s "$OUT/one.mp4.report.json" ] && [ -s "$OUT/one.wall" ] \
  && cmp -s "$OUT/job.toml" "$OUT/one.job.toml" && [ "$*" = "$(cat "$OUT/one.args")" ]; then
  t_one=$(cat "$OUT/one.wall")
else
  rm -rf "$OUT"/one.*
  t_one=$(secs $V run "$OUT/job.toml" --quiet --set output.path=\""$OUT/one.mp4"\" "$@")
  $V eval --input "$CLIP" --output "$OUT/one.mp4" --max-frames "$FRAMES" --json "$OUT/one.eval.json" >/dev/null
  echo "$t_one" >"$OUT/one.wall"; cp "$OUT/job.toml" "$OUT/one.job.toml"; echo "$*" >"$OUT/one.args"
fi
t_shards=$(secs $V run "$OUT/job.toml" --quiet --set output.path=\""$OUT/sharded.mp4"\" --set shards.seam_window=0 \
  --workers "$WORKERS" --shards "$SHARDS" "$@")
# That join had no seam repair: keep it, then join the same shards again with it.
mv "$OUT/sharded.mp4" "$OUT/unrepaired.mp4"; mv "$OUT/sharded.mp4.report.json" "$OUT/unrepaired.report.json"
t_join=$(secs $V join "$OUT/job.toml" --quiet --set output.path=\""$OUT/sharded.mp4"\" "$@")
# The joined clip is measured with the one run beside it: its HTML report
# draws both per frame (sharded.mp4.report.html).
for v in unrepaired sharded; do
  $V eval --input "$CLIP" --output "$OUT/$v.mp4" --output "$OUT/one.mp4" --max-frames "$FRAMES" \
    --json "$OUT/$v.eval.json" >/dev/null 2>&1
done
"$PY" - "$OUT" "$SHARDS" "$FRAMES" "$t_one" "$t_shards" "$t_join" "$WORKERS" "$(basename "${CLIP%.*}")" <<'PYEOF'
import json, sys, statistics as st
out, n, frames, t_one, t_shards, t_join, workers, clip = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *map(float, sys.argv[4:7]), *sys.argv[7:9]
layout = json.load(open(f"{out}/sharded.mp4.work/shards.json"))  # the cuts chosen (shards.cut_search)
seams = layout.get("cuts") or [i * frames // n for i in range(1, n)]
def style(report):
    r = json.load(open(report))
    last = {f["index"]: f["losses"]["style"] for f in r["frames"] if not f["resumed"]}
    for p in r.get("passes", []):
        last.update({f["index"]: f["losses"]["style"] for f in p["frames"] if not f["resumed"]})
    for s in r.get("seams", []):
        for p in s["passes"]:
            last.update({f["index"]: f["losses"]["style"] for f in p["frames"]})
    return st.mean(last.values())
def seam_ratios(name):
    e = json.load(open(f"{out}/{name}.eval.json"))[0]["per_frame"]  # e[t-1]: frame t against t-1
    rest = [x for t, x in enumerate(e, 1) if t not in seams]
    med = st.median(rest)
    return e, [e[s - 1] / med for s in seams]
one, _ = seam_ratios("one")
print(f"clip {out.split('/')[-1]}: {frames} frames, {n} shards, seams at {seams}")
print(f"{'variant':<34}{'mean warp err':>14}{'x one run':>10}{'worst seam/median':>19}{'style loss':>12}{'x one run':>10}")
s_one = style(f"{out}/one.mp4.report.json")
for name, label, rep in [("one", "one run", "one.mp4.report.json"),
                         ("unrepaired", f"{n} shards, seams not repaired", "unrepaired.report.json"),
                         ("sharded", f"{n} shards + seam repair", "sharded.mp4.report.json")]:
    e, ratios = seam_ratios(name)
    s = style(f"{out}/{rep}")
    print(f"{label:<34}{st.mean(e):>14.6f}{st.mean(e)/st.mean(one):>10.2f}{max(ratios):>19.2f}{s:>12.4e}{s/s_one:>10.3f}")
print(f"seam frames' warping error / median of the others: {[round(x, 2) for x in seam_ratios('sharded')[1]]}")
e, ratios = seam_ratios("sharded")
print(f"SUMMARY {clip} {n} "
      f"{st.mean(e) / st.mean(one):.4f} {max(ratios):.3f} {style(f'{out}/sharded.mp4.report.json') / s_one:.4f}")
print(f"wall: one worker {t_one:.1f}s; --workers {workers} ({n} shards) {t_shards:.1f}s + join {t_join:.1f}s = {t_shards + t_join:.1f}s ({t_one / (t_shards + t_join):.2f}x)")
PYEOF
