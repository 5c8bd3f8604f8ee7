#!/usr/bin/env bash
# Relay benchmark, side by side with Unleash Edge (offline mode) on the same machine, the same
# load generator (wrk -t1 -c50 -d10s --latency) and the same datasets (../shared/bench-data):
#   evaluated flags: Switchyard relay OFREP bulk   vs  Edge GET /api/frontend
#   raw data:        Switchyard relay SDK snapshot vs  Edge GET /api/client/features
# The evaluated row also measures a second relay that records no OFREP evaluations
# (--record-evaluations false), so recording's cost is a same-run ratio.
# Each pair runs ROUNDS times, alternating; medians of req/s and p99 are printed with ratios.
# Both servers get the same number of request threads (WORKERS, default 2 = Edge's default).
# The load generator runs on its own core (LOAD_CPU, default 1) and every server on another
# (SERVER_CPU, default 0), so neither steals the other's time; an empty value leaves it unpinned.
# Usage: [WORKERS=N] [DATASETS="unleash-350-flags"] [WORKLOADS="evaluated"] [SWITCHYARD_BIN=path]
#        bash benches/relay.sh [ROUNDS]   (needs wrk and unleash-edge; see ../shared/anchors.md)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
WORKERS="${WORKERS:-2}"
DATA="${SWITCHYARD_BENCH_DATA:-../shared/bench-data}"
DATASETS="${DATASETS:-unleash-5-flags unleash-350-flags}"
WORKLOADS="${WORKLOADS:-evaluated raw}"
LOAD_CPU="${LOAD_CPU-1}"
SERVER_CPU="${SERVER_CPU-0}"
# The version anchors.md pins; Edge has no --version flag.
EDGE="${UNLEASH_EDGE:-$(command -v unleash-edge || true)}"
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)"; exit 1; }
# Runs a command on a CPU. It `exec`s, so call it only in a subshell (`&` or `$(…)`): then the pid
# that `$!` names is the server itself, and cleanup's kill reaches it instead of orphaning it.
pinned() { local cpu="$1"; shift; if [ -n "$cpu" ]; then exec taskset -c "$cpu" "$@"; else exec "$@"; fi; }
[ -x "$EDGE" ] || { echo "unleash-edge is missing: build it as ../shared/anchors.md says, or set UNLEASH_EDGE"; exit 1; }
[ -d "$DATA" ] || { echo "no datasets at $DATA"; exit 1; }

# SWITCHYARD_BIN measures a given build (a saved "before" binary) instead of building this tree.
if [ -n "${SWITCHYARD_BIN:-}" ]; then
  BIN="$SWITCHYARD_BIN"
else
  cargo build --release --locked -p switchyard --bin switchyard >/dev/null
  BIN="$PWD/target/release/switchyard"
fi
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ok() { for _ in $(seq 1 300); do curl -sf "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not ready: $*"; exit 1; }

# One wrk run: prints "REQ_PER_SEC P99_MS"; fails on any non-2xx answer.
measure() {
  local out
  out="$(pinned "$LOAD_CPU" wrk -t1 -c50 -d10s --latency "$@")"
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers from $*: $out" >&2; exit 1; fi
  awk '/Requests\/sec/ {rps=$2}
       $1=="99%" {v=$2; unit=v; gsub(/[0-9.]/,"",unit); gsub(/[a-z]/,"",v);
                  ms = unit=="us" ? v/1000 : unit=="s" ? v*1000 : v}
       END {printf "%s %.2f\n", rps, ms}' <<<"$out"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "# relay vs Unleash Edge ${EDGE_VERSION:-19.15.1}, $WORKERS request threads each, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F), servers on cpu ${SERVER_CPU:-any}, wrk on cpu ${LOAD_CPU:-any}, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| dataset | workload | Switchyard relay req/s | p99 ms | Unleash Edge req/s | p99 ms | throughput ratio | relay, recording off, req/s | recording's cost |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for dataset in $DATASETS; do
  file="$DATA/$dataset.json"
  dir="$WORK/$dataset"
  mkdir -p "$dir"
  serve_port=$(free_port); relay_port=$(free_port); quiet_port=$(free_port); edge_port=$(free_port)
  pinned "$SERVER_CPU" "$BIN" serve --listen "127.0.0.1:$serve_port" --data-dir "$dir/serve" --log error >"$dir/serve.out" &
  PIDS+=($!)
  wait_ok "http://127.0.0.1:$serve_port/readyz"
  for _ in $(seq 1 50); do grep -q "admin API token" "$dir/serve.out" && break; sleep 0.1; done
  token=$(awk '/admin API token/ {print $4}' "$dir/serve.out")
  SWITCHYARD_TOKEN="$token" "$BIN" import --url "http://127.0.0.1:$serve_port" \
    --format unleash --data "$file" --env production >/dev/null
  key=$(curl -sf -X POST "http://127.0.0.1:$serve_port/api/v1/projects/default/environments/production/sdk-keys" \
    -H "Authorization: Bearer $token" -H 'content-type: application/json' -d '{"kind":"server"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  pinned "$SERVER_CPU" "$BIN" relay --upstream "http://127.0.0.1:$serve_port" --sdk-key "$key" \
    --listen "127.0.0.1:$relay_port" --data-dir "$dir/relay" --workers "$WORKERS" --log error &
  PIDS+=($!)
  pinned "$SERVER_CPU" "$BIN" relay --upstream "http://127.0.0.1:$serve_port" --sdk-key "$key" \
    --listen "127.0.0.1:$quiet_port" --data-dir "$dir/relay-quiet" --workers "$WORKERS" --log error \
    --record-evaluations false &
  PIDS+=($!)
  wait_ok "http://127.0.0.1:$relay_port/readyz"
  wait_ok "http://127.0.0.1:$quiet_port/readyz"
  pinned "$SERVER_CPU" "$EDGE" --port "$edge_port" --workers "$WORKERS" offline -b "$file" -c '*:development.secret' -f '*:development.front' \
    >"$dir/edge.out" 2>&1 &
  PIDS+=($!)
  wait_ok -H 'Authorization: *:development.secret' "http://127.0.0.1:$edge_port/api/client/features"

  # Both answer the same question for the same user: the flags enabled for u1 in DE.
  cat >"$dir/ofrep.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"context":{"targetingKey":"u1","country":"DE"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
EOF
  ours=$(curl -sf -X POST "http://127.0.0.1:$relay_port/ofrep/v1/evaluate/flags" -H "Authorization: Bearer $key" \
    -d '{"context":{"targetingKey":"u1","country":"DE"}}' |
    python3 -c 'import json,sys; print(sorted(f["key"] for f in json.load(sys.stdin)["flags"] if f.get("value") is True))')
  theirs=$(curl -sf "http://127.0.0.1:$edge_port/api/frontend?userId=u1&country=DE" -H 'Authorization: *:development.front' |
    python3 -c 'import json,sys; print(sorted(t["name"] for t in json.load(sys.stdin)["toggles"]))')
  if [ "$ours" != "$theirs" ]; then echo "the relay and Edge disagree on $dataset: $ours vs $theirs"; exit 1; fi

  for workload in $WORKLOADS; do
    : >"$dir/ours"; : >"$dir/theirs"; : >"$dir/quiet"
    for _ in $(seq 1 "$ROUNDS"); do
      if [ "$workload" = evaluated ]; then
        measure -s "$dir/ofrep.lua" "http://127.0.0.1:$relay_port/ofrep/v1/evaluate/flags" >>"$dir/ours"
        measure -s "$dir/ofrep.lua" "http://127.0.0.1:$quiet_port/ofrep/v1/evaluate/flags" >>"$dir/quiet"
        measure -H 'Authorization: *:development.front' \
          "http://127.0.0.1:$edge_port/api/frontend?userId=u1&country=DE" >>"$dir/theirs"
      else
        measure -H "Authorization: $key" "http://127.0.0.1:$relay_port/sdk/v1/snapshot" >>"$dir/ours"
        measure -H 'Authorization: *:development.secret' \
          "http://127.0.0.1:$edge_port/api/client/features" >>"$dir/theirs"
      fi
    done
    our_rps=$(cut -d' ' -f1 "$dir/ours" | median); our_p99=$(cut -d' ' -f2 "$dir/ours" | median)
    edge_rps=$(cut -d' ' -f1 "$dir/theirs" | median); edge_p99=$(cut -d' ' -f2 "$dir/theirs" | median)
    ratio=$(awk -v a="$our_rps" -v b="$edge_rps" 'BEGIN {printf "%.2fx", a/b}')
    quiet="| |"
    if [ -s "$dir/quiet" ]; then
      quiet_rps=$(cut -d' ' -f1 "$dir/quiet" | median)
      quiet=$(awk -v a="$our_rps" -v q="$quiet_rps" 'BEGIN {printf "| %.0f | %.1f %% |", q, (1 - a/q) * 100}')
    fi
    printf "| %s | %s | %.0f | %s | %.0f | %s | %s %s\n" "$dataset" "$workload" \
      "$our_rps" "$our_p99" "$edge_rps" "$edge_p99" "$ratio" "$quiet"
  done
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  PIDS=()
done
