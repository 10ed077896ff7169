#!/usr/bin/env bash
# Seconds per L-BFGS function evaluation (forward + backward through VGG-19 and
# the losses) for vstyle and for the same recipe in Python/PyTorch
# (scripts/bench_reference.py), on the same torch install and weights, side by
# side at several sizes. Usage: scripts/bench_eval.sh [ITERATIONS] [SIZES...]
set -euo pipefail
cd "$(dirname "$0")/.."
VSTYLE_HOME="${VSTYLE_HOME:-$HOME/.cache/vstyle}"
PY="$VSTYLE_HOME/venv/bin/python"
ITERS="${1:-10}"; shift || true
SIZES=("${@:-128 256 512}")
read -r -a SIZES <<<"${SIZES[*]}"
cargo build --release -q
C=tests/data/golden_gate.jpg S=tests/data/starry_night.jpg W="$VSTYLE_HOME/weights/vgg19.safetensors"
printf '%-6s %-8s %8s %10s %12s\n' size impl evals seconds s/eval
for size in "${SIZES[@]}"; do
  r=$(./target/release/vstyle image -c $C -s $S -o /tmp/vstyle_bench.png --size "$size" \
      --iterations "$ITERS" --device cpu --json --quiet)
  v=$("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["evaluations"], d["seconds"], d["seconds"]/d["evaluations"])' "$r")
  p=$("$PY" scripts/bench_reference.py --content $C --style $S --weights "$W" --size "$size" --iterations "$ITERS" |
      "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["evaluations"], d["seconds"], d["per_evaluation"])')
  read -r ve vs vp <<<"$v"; read -r pe ps pp <<<"$p"
  printf '%-6s %-8s %8s %10.2f %12.4f\n' "$size" vstyle "$ve" "$vs" "$vp"
  printf '%-6s %-8s %8s %10.2f %12.4f\n' "$size" python "$pe" "$ps" "$pp"
  "$PY" -c 'import sys; print(f"{sys.argv[1]:<6} ratio vstyle/python per evaluation: {float(sys.argv[2])/float(sys.argv[3]):.3f}")' "$size" "$vp" "$pp"
done
