#!/usr/bin/env bash
# Delivery benchmark: propagation to 1,000 and 10,000 SDK streams, then OFREP bulk throughput.
# Usage: bash benches/delivery.sh [STREAM_COUNTS]   (default 1000,10000)
set -euo pipefail
cd "$(dirname "$0")/.."
# 10,000 streams need 10,000 sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --locked -p switchyard -p switchyard-bench --bin switchyard --bin delivery
./target/release/delivery "${1:-1000,10000}"
