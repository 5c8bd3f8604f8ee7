#!/usr/bin/env bash
# Guarded release benchmark: the guard's decision procedure over many seeded runs (A/A false
# roll back rate, time to detect 5x and 2x), and end to end onset -> rollback at the SDK.
# Usage: bash benches/guard.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p switchyard -p switchyard-bench --bin switchyard --bin guard
./target/release/guard
