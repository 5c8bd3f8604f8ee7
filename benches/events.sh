#!/usr/bin/env bash
# Events benchmark: intake events/s on SQLite and PostgreSQL, and SDK overhead with events on/off.
# Usage: bash benches/events.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p switchyard -p switchyard-bench --bin switchyard --bin events
./target/release/events
