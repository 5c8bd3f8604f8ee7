#!/usr/bin/env bash
# Delivery benchmark: propagation to 1,000 and 10,000 SDK streams, then OFREP bulk throughput.
# Usage: bash benches/delivery.sh [STREAM_COUNTS]   (default 1000,10000)
# The server runs on core 0 and the load generator on core 1 (DELIVERY_PIN=0 to share both).
set -euo pipefail
cd "$(dirname "$0")/.."
# 10,000 streams need 10,000 sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "# open-file limit per process: $(ulimit -n); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release --locked -p switchyard -p switchyard-bench --bin switchyard --bin delivery
DELIVERY_PIN="${DELIVERY_PIN:-1}" ./target/release/delivery "${1:-1000,10000}"
