#!/usr/bin/env bash
# The test command of the README: sets up what is missing (idempotent), then
# runs the Rust tests and the weight importer's Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VSTYLE_HOME="${VSTYLE_HOME:-$HOME/.cache/vstyle}"
"$VSTYLE_HOME/venv/bin/python" -m pytest -q tests/python
cargo test --release
