#!/usr/bin/env python3
"""Scaling model for docs/scaling.md: what N SDK streams and E events/s need, from measured
per-unit costs (BENCHMARKS.md). No third-party packages; run `python3 benches/scaling_model.py`.

Every input below is a measurement on the 2-core shared benchmark VM, with its source. Change
them (or pass KEY=VALUE arguments, e.g. `stream_kib=16`) when a benchmark is re-run; the model is
deliberately linear (memory and fan-out per stream, intake per store) so each row can be checked
by hand.
"""

import math
import sys

INPUTS = {
    # Delivery, pinned (server on one core, one worker), the 2-core Intel Xeon VM of 2026-12-07
    # (BENCHMARKS.md, Delivery, "an ideal server's fan-out"): server RSS per idle stream at
    # 10,000 streams.
    "stream_kib": 12.0,
    # The same runs: the server's CPU per change, 10.5 µs per stream (median of four; p99 104-128
    # ms at 10,000; an ideal server that only writes needs 4.9 µs on this VM). Per 1,000 streams:
    "fanout_ms_per_1k": 10.5,
    # The descriptor limit a process gets here (ulimit -n hard limit on the benchmark VM).
    "fd_limit": 20_000,
    # serve's default stream cap (delivery/hub.rs DEFAULT_MAX_STREAMS).
    "max_streams": 50_000,
    # Memory a replica or relay may give to streams (a 4 GiB container, half for streams).
    "stream_budget_gib": 2.0,
    # Propagation target for the last stream (LaunchDarkly advertises ~200 ms).
    "target_ms": 200.0,
    # Events intake, one serve replica, 8 senders (the server admits 8 batches at once), batches
    # of 2,000: the run of 2026-12-07 14:05 (BENCHMARKS.md, Events, "2026-12-07, 12:42"), a 2-core
    # Intel Xeon VM, SQLite and PostgreSQL, no release running.
    "events_sqlite": 409_500.0,
    "events_pg": 260_300.0,
    # The same with a release running on every flag (PostgreSQL, same run).
    "events_pg_release": 104_900.0,
    # OFREP bulk, 21 flags, one serve on one core (delivery benchmark, the same four runs).
    "ofrep_serve_rps": 63_300.0,
    # Relay, 350 and 5 flags evaluated with recording, 2 threads (relay.sh, the Intel Xeon VM,
    # 2026-12-07 15:49, BENCHMARKS.md "re-run on the Intel VM with mimalloc").
    "ofrep_relay_350_rps": 16_000.0,
    "ofrep_relay_5_rps": 63_800.0,
    # Raw rows written per event in the benchmark's mix: each first exposure is a row (the
    # context's cohort, for later metric events); metric events are summed per batch into
    # aggregate rows (a few dozen per batch), so half the events make a row.
    "rows_per_event": 0.5,
    # Raw rows/s one PostgreSQL primary is assumed to sustain with batched writes (UNNEST/COPY),
    # NOT measured here: the target for batched intake is 100,000 events/s.
    "pg_rows_ceiling": 100_000.0,
}


def parse_args(argv):
    for arg in argv:
        key, _, value = arg.partition("=")
        if key not in INPUTS:
            sys.exit(f"unknown input {key}; known: {', '.join(INPUTS)}")
        INPUTS[key] = float(value)


def streams_table():
    i = INPUTS
    per_relay_fanout = i["target_ms"] / i["fanout_ms_per_1k"] * 1000
    per_relay_memory = i["stream_budget_gib"] * 1024 * 1024 / i["stream_kib"]
    per_relay = int(min(per_relay_fanout, per_relay_memory, i["fd_limit"] - 100, i["max_streams"]))
    print(
        f"One process carries at most {per_relay:,} streams within {i['target_ms']:.0f} ms "
        f"(fan-out {per_relay_fanout:,.0f}, memory {per_relay_memory:,.0f}, "
        f"descriptors {i['fd_limit'] - 100:,.0f}, cap {i['max_streams']:,.0f}).\n"
    )
    print(
        "| streams | memory, one process | fan-out, one process | relays needed | "
        "tiers | last stream, tiered |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for streams in [10_000, 50_000, 500_000, 5_000_000]:
        memory_gib = streams * i["stream_kib"] / 1024 / 1024
        fanout_ms = streams / 1000 * i["fanout_ms_per_1k"]
        relays = math.ceil(streams / per_relay)
        # Each tier is a fan-out of at most per_relay children; serve feeds the first tier.
        tiers = 0 if relays <= 1 else math.ceil(math.log(relays, per_relay))
        # Per tier: the parent's fan-out to its children (they are streams too) and one hop.
        children = min(relays, per_relay)
        tiered_ms = (
            fanout_ms
            if relays <= 1
            else tiers * (children / 1000 * i["fanout_ms_per_1k"] + 1.0)
            + min(streams, per_relay) / 1000 * i["fanout_ms_per_1k"]
        )
        print(
            f"| {streams:,} | {memory_gib:,.1f} GiB | {fanout_ms:,.0f} ms | {relays:,} | "
            f"{tiers} | {tiered_ms:,.0f} ms |"
        )


def events_table():
    i = INPUTS
    print(
        "\n| events/s | SQLite, one replica | PostgreSQL replicas at the measured intake "
        "(no release / a release running) | raw rows/s on the primary | first bottleneck |"
    )
    print("|---:|---:|---:|---:|---|")
    for events in [10_000, 50_000, 100_000, 1_000_000]:
        sqlite = (
            "fits"
            if events <= i["events_sqlite"]
            else f"{events / i['events_sqlite']:.1f}× its intake"
        )
        replicas = math.ceil(events / i["events_pg"])
        with_release = math.ceil(events / i["events_pg_release"])
        rows = events * i["rows_per_event"]
        if events <= i["events_pg"]:
            limit = "none: one replica, one PostgreSQL"
        elif rows <= i["pg_rows_ceiling"]:
            limit = "per-event statements: batched writes (UNNEST/COPY), then replicas"
        elif rows <= 3 * i["pg_rows_ceiling"]:
            limit = "the primary's WAL and index upkeep: raw rows partitioned by day"
        else:
            limit = "one primary: raw events to a column store; aggregates stay"
        print(
            f"| {events:,} | {sqlite} | {replicas} / {with_release} | {rows:,.0f} | {limit} |"
        )


def ofrep_table():
    i = INPUTS
    # Two points on one relay (5 and 350 flags, evaluated) give a cost per request and per flag.
    per_request_us = 1e6 / i["ofrep_relay_5_rps"]
    per_flag_us = (1e6 / i["ofrep_relay_350_rps"] - per_request_us) / (350 - 5)
    base_us = per_request_us - 5 * per_flag_us
    print(
        f"\nOFREP bulk cost on one relay (2 threads): {base_us:.1f} µs per request + "
        f"{per_flag_us:.3f} µs per flag in the answer (from the 5- and 350-flag runs).\n"
    )
    print("| flags in the bulk answer | req/s per relay | relays for 100k req/s | relays for 1M req/s |")
    print("|---:|---:|---:|---:|")
    for flags in [5, 35, 350, 3_500, 35_000]:
        rps = 1e6 / (base_us + flags * per_flag_us)
        print(
            f"| {flags:,} | {rps:,.0f} | {math.ceil(100_000 / rps):,} | "
            f"{math.ceil(1_000_000 / rps):,} |"
        )


if __name__ == "__main__":
    parse_args(sys.argv[1:])
    print("Inputs: " + ", ".join(f"{k}={v:g}" for k, v in INPUTS.items()) + "\n")
    streams_table()
    events_table()
    ofrep_table()
