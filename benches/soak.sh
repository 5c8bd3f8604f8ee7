#!/usr/bin/env bash
# Soak benchmark: mixed load (API writes, SDK streams reconnecting, OFREP, event posts) against a
# release `switchyard serve` on SQLite, RSS and its parts (RssAnon: the heap, RssFile: the
# binary's code pages) sampled every 10 s; exits 1 when any request failed or the heap grew
# beyond the tolerance after the warm-up (RssFile only grows as code runs for the first time, so
# it is printed, not judged).
# Usage: bash benches/soak.sh
#   SOAK_MINUTES (default 30), SOAK_WARMUP_MINUTES (5), SOAK_RSS_TOLERANCE_PCT (20, of the heap);
#   SOAK_WRITE_INTERVAL_MS (250) and SOAK_EVENTS_INTERVAL_MS (100) for a harsher, shorter run;
#   the output is also kept in benches/results/soak-<UTC date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p switchyard -p switchyard-bench --bin switchyard --bin soak
mkdir -p benches/results
out="benches/results/soak-$(date -u +%Y-%m-%d).txt"
./target/release/soak | tee "$out"
