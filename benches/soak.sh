#!/usr/bin/env bash
# Soak benchmark: mixed load (API writes, SDK streams reconnecting, OFREP, event posts) against a
# release `switchyard serve` on SQLite, RSS sampled every 10 s; exits 1 when any request failed
# or memory grew beyond the tolerance after the warm-up.
# Usage: bash benches/soak.sh
#   SOAK_MINUTES (default 30), SOAK_WARMUP_MINUTES (5), SOAK_RSS_TOLERANCE_PCT (20);
#   the output is also kept in benches/results/soak-<UTC date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p switchyard -p switchyard-bench --bin switchyard --bin soak
mkdir -p benches/results
out="benches/results/soak-$(date -u +%Y-%m-%d).txt"
./target/release/soak | tee "$out"
