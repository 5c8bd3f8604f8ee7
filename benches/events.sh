#!/usr/bin/env bash
# Events benchmark: intake on SQLite and PostgreSQL, native events/s beside OTLP spans/s
# (`POST /v1/traces`), and SDK overhead with events on/off.
# Usage: bash benches/events.sh   (honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -p switchyard -p switchyard-bench --bin switchyard --bin events
SWITCHYARD_BIN="$target/release/switchyard" "$target/release/events"
