#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, stable toolchain) for a fixed budget and prints, per target, the
# iterations run and any crash with its input. Exits non-zero if any target crashed.
#
#   tools/fuzz.sh [SECONDS per target, default 60] [SEED, default 1]
#
# The dev profile keeps debug assertions on, so an arithmetic overflow counts as a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
seed="${2:-1}"
cargo build --quiet -p switchyard-fuzz
targets=(dataset context sse semver time glob strict)
failed=()
for target in "${targets[@]}"; do
    if ! ./target/debug/switchyard-fuzz "$target" "$seconds" "$seed"; then
        failed+=("$target")
    fi
done
if ((${#failed[@]})); then
    echo "crashed: ${failed[*]}"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no crashes"
