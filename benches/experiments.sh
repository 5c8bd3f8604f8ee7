#!/usr/bin/env bash
# Experiments on simulated data (issue 23): the A/A false-positive rate under continuous peeking
# (sequential vs fixed horizon), power at the MDE, and CUPED's variance reduction, all through
# switchyard_stats::experiments. Counts, not timings; exits 1 when a check fails.
# Usage: bash benches/experiments.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p switchyard-bench --bin experiments_sim
./target/release/experiments_sim "$@"
