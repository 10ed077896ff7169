#!/usr/bin/env bash
# Video benchmarks on the shipped clip:
#  1. warm start vs cold start: iterations and seconds per frame to the same loss
#     (cargo bench --bench warm_start);
#  2. peak memory (max RSS) of a whole job for 30 and for 120 frames of the
#     same clip: streaming keeps it flat;
#  3. frames per minute of the demo job.
# Usage: scripts/bench_video.sh [FRAMES_FOR_WARM_START] [SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
VSTYLE_HOME="${VSTYLE_HOME:-$HOME/.cache/vstyle}"
PY="$VSTYLE_HOME/venv/bin/python"
N="${1:-10}" SIZE="${2:-128}"
cargo build --release -q
echo "== 1. warm vs cold start"
cargo bench -q --bench warm_start -- --frames "$N" --size "$SIZE" --iterations 100
echo "== 2. peak memory, 30 vs 120 frames (176x144 source at full size, 1 iteration per frame)"
tmp=$(mktemp -d)
for n in 30 120; do
  "$PY" - "$n" "$tmp" <<'PYEOF'
import resource, subprocess, sys, time
n, tmp = sys.argv[1], sys.argv[2]
t = time.time()
subprocess.run(["./target/release/vstyle", "video", "tests/data/carphone.mp4", "-s", "tests/data/starry_night.jpg",
                "-o", f"{tmp}/m{n}.mp4", "--size", "176", "--max-frames", n, "--first-iterations", "1",
                "--iterations", "1", "--quiet"], check=True, stdout=subprocess.DEVNULL)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{n:>4} frames: peak RSS {rss:.0f} MiB, {time.time() - t:.1f} s")
PYEOF
done
rm -rf "$tmp"
echo "== 3. the demo job (configs/demo.toml), from scratch"
rm -rf target/demo
./target/release/vstyle run configs/demo.toml --quiet
