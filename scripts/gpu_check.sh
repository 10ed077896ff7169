#!/usr/bin/env bash
# One command for a GPU render node (docs/farm.md, "Checking a GPU node"):
# with the project built (scripts/setup.sh, cargo build --release), checks
#   1. agreement: the same 64 px still, 10 iterations, on the CPU and on the
#      CUDA device: mean pixel difference and final style loss side by side;
#   2. speed: seconds per evaluation at 512 and 1080 px (from two runs of
#      2 and 12 iterations, so start-up and loading cancel out);
#   3. the peak device memory of each run (nvidia-smi, sampled).
# Exits non-zero when there is no CUDA device or the two disagree.
# Usage: [DEVICE=cuda:0] [MODEL=vgg19] [SIZES="512 1080"] scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${DEVICE:-cuda:0}" MODEL="${MODEL:-vgg19}" OUT="${OUT:-target/gpu_check}"
SIZES="${SIZES:-512 1080}"
VSTYLE_HOME="${VSTYLE_HOME:-$HOME/.cache/vstyle}"
PY="$VSTYLE_HOME/venv/bin/python"
V=./target/release/vstyle
cargo build --release -q
mkdir -p "$OUT"
# still NAME DEVICE SIZE ITERATIONS: a still image job; prints its cost JSON.
still() {
  "$PY" scripts/lib/measured.py "$OUT/$1.out" "$OUT/$1.err" "$V" image \
    -c tests/data/golden_gate.jpg -s tests/data/starry_night.jpg -o "$OUT/$1.png" \
    --size "$3" --iterations "$4" --device "$2" --set "model.name=\"$MODEL\"" \
    --set optimizer.min_size=0 --set 'run.init="content"' ||
    { echo "gpu_check: $1 failed: $(tail -1 "$OUT/$1.err")" >&2; exit 1; }
}
still agree_cpu cpu 64 10 >/dev/null
still agree_gpu "$DEVICE" 64 10 >/dev/null
for size in $SIZES; do
  for it in 2 12; do still "speed_${size}_$it" "$DEVICE" "$size" "$it" >"$OUT/speed_${size}_$it.cost"; done
done
"$PY" - "$OUT" "$DEVICE" "$MODEL" $SIZES <<'PY'
import json, re, sys
import numpy as np
from PIL import Image
out, device, model, sizes = *sys.argv[1:4], map(int, sys.argv[4:])
def run(name):  # seconds, evaluations and style loss from the command's last line
    line = open(f"{out}/{name}.out").read().strip().splitlines()[-1]
    m = re.search(r"in ([\d.]+)s .*?(\d+) iterations, (\d+) evaluations, style loss \S+ -> (\S+),", line)
    return float(m[1]), int(m[3]), float(m[4])
a = np.asarray(Image.open(f"{out}/agree_cpu.png"), dtype=np.float64)
b = np.asarray(Image.open(f"{out}/agree_gpu.png"), dtype=np.float64)
diff = np.abs(a - b).mean() / 255
s_cpu, s_gpu = run("agree_cpu")[2], run("agree_gpu")[2]
ok = diff < 0.02 and abs(s_gpu / s_cpu - 1) < 0.05
print(f"agreement, {model} 64 px, 10 iterations: mean |cpu - {device}| {diff:.4f} of full scale; "
      f"style loss cpu {s_cpu:.4e}, {device} {s_gpu:.4e} -> {'ok' if ok else 'DISAGREE'}")
for size in sizes:
    (t2, e2, _), (t12, e12, _) = run(f"speed_{size}_2"), run(f"speed_{size}_12")
    cost = json.loads(open(f"{out}/speed_{size}_12.cost").read())
    gpu = f"{cost['gpu_mib']} MiB" if cost["gpu_mib"] else "not sampled (no nvidia-smi)"
    print(f"{size} px on {device}: {(t12 - t2) / max(e12 - e2, 1):.3f} s per evaluation "
          f"({e12} evaluations in {t12:.1f} s); peak device memory {gpu}")
sys.exit(0 if ok else 1)
PY
