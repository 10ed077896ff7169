#!/usr/bin/env bash
# Seconds per L-BFGS function evaluation (forward + backward through VGG-19 and
# the losses) for vstyle and for the same recipe in Python/PyTorch
# (scripts/bench_reference.py), on the same torch install and weights file.
# Each size runs ROUNDS times, alternating vstyle and Python, and reports the
# best and the median of each: this machine's timings vary by ~10% run to run.
# Usage: scripts/bench_eval.sh [ITERATIONS] [ROUNDS] [SIZES...]
set -euo pipefail
cd "$(dirname "$0")/.."
VSTYLE_HOME="${VSTYLE_HOME:-$HOME/.cache/vstyle}"
ITERS="${1:-30}" ROUNDS="${2:-3}"
shift 2 || shift $#
SIZES="${*:-128 256 512}"
cargo build --release -q
"$VSTYLE_HOME/venv/bin/python" - "$ITERS" "$ROUNDS" "$VSTYLE_HOME" $SIZES <<'PYEOF'
import json, statistics, subprocess, sys
iters, rounds, home, sizes = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
c, s = "tests/data/golden_gate.jpg", "tests/data/starry_night.jpg"
def vstyle(size):
    out = subprocess.run(["./target/release/vstyle", "image", "-c", c, "-s", s, "-o", "/tmp/vstyle_bench.png",
                          "--size", size, "--iterations", iters, "--device", "cpu", "--json", "--quiet"],
                         check=True, capture_output=True, text=True).stdout
    d = json.loads(out)
    return d["evaluations"], d["seconds"] / d["evaluations"]
def python(size):
    out = subprocess.run([sys.executable, "scripts/bench_reference.py", "--content", c, "--style", s,
                          "--weights", f"{home}/weights/vgg19.safetensors", "--size", size, "--iterations", iters],
                         check=True, capture_output=True, text=True).stdout
    d = json.loads(out)
    return d["evaluations"], d["per_evaluation"]
print(f"{iters} L-BFGS iterations per run, {rounds} rounds, CPU")
print(f"{'size':>5} {'impl':<7} {'evals':>6} {'best s/eval':>12} {'median':>9}")
for size in sizes:
    res = {"vstyle": [], "python": []}
    for _ in range(rounds):
        for name, f in (("vstyle", vstyle), ("python", python)):
            res[name].append(f(size))
    for name, r in res.items():
        print(f"{size:>5} {name:<7} {r[0][0]:>6} {min(t for _, t in r):>12.4f} {statistics.median(t for _, t in r):>9.4f}")
    best = min(t for _, t in res["vstyle"]) / min(t for _, t in res["python"])
    med = statistics.median(t for _, t in res["vstyle"]) / statistics.median(t for _, t in res["python"])
    print(f"{size:>5} ratio vstyle/python: best {best:.3f}, median {med:.3f}")
PYEOF
