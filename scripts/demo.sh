#!/usr/bin/env bash
# The README's demo command: sets up what is missing (idempotent), builds,
# and stylizes the shipped clip with configs/demo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release
./target/release/vstyle run configs/demo.toml "$@"
