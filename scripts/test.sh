#!/usr/bin/env bash
# The test command of the README: sets up what is missing (idempotent), then
# runs the weight importer's Python tests and the Rust tests, and ends with
# one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Slurm and MUNGE for tests/slurm.rs. A failure here does not stop the other
# tests; that test then fails and says why (VSTYLE_SKIP_SLURM=1 skips it).
if [ "${VSTYLE_SKIP_SLURM:-}" != 1 ]; then
  bash scripts/slurm/install.sh || echo "[test] cannot install Slurm: tests/slurm.rs will fail" >&2
fi
# Chromium for tests/report_browser.rs, the same way: a failed install makes
# that test fail saying why; VSTYLE_SKIP_BROWSER=1 skips it (and says so).
if [ "${VSTYLE_SKIP_BROWSER:-}" != 1 ]; then
  bash scripts/browser/install.sh || echo "[test] cannot install Chromium: tests/report_browser.rs will fail" >&2
fi
VSTYLE_HOME="${VSTYLE_HOME:-$HOME/.cache/vstyle}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
"$VSTYLE_HOME/venv/bin/python" -m pytest -q tests/python 2>&1 | tee "$log"
py_rc=${PIPESTATUS[0]}
# No doc tests: the crate has none, and an empty last block would read as "no tests".
# --no-fail-fast: every test target runs even when one fails, and the summary counts them all.
cargo test --release --no-fail-fast --lib --bins --tests 2>&1 | tee -a "$log"
rs_rc=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { p += $4; f += $6; next }
     / in [0-9.]+s/ { for (i = 1; i < NF; i++) {
         if ($(i + 1) ~ /^passed/) p += $i
         if ($(i + 1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
[ "$py_rc" = 0 ] && [ "$rs_rc" = 0 ]
