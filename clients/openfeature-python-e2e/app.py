"""A Python service under a guarded release, fed back to Switchyard through OpenTelemetry only.

It uses no Switchyard package: the official OpenFeature SDK evaluates flags through the OFREP
provider (`POST /ofrep/v1/evaluate/flags/{key}` on the server, with an SDK key), the official
`TracingHook` adds a `feature_flag.evaluation` event (flag key, variant, context id) to the
current span, and the OpenTelemetry SDK exports the spans with OTLP/HTTP (protobuf, gzip) to the
server's `/v1/traces`, with the same key. The server turns each such span into the metric events
`span.error` (when the span's status is ERROR) and `span.duration_ms`, attributed to the flag's
release cohort, which is what a release's guardrails watch.

    SWITCHYARD_URL=http://127.0.0.1:8470 SWITCHYARD_SDK_KEY=sys_… \
        python3 app.py --flag checkout-v2 --users 1000

Each request is one span: the flag is evaluated with the user as targeting key inside it, and
the span is marked ERROR at `--error-rate` (2 %), or `--treated-factor` (5×) that when the user
got the new variation (`true`). The loop runs until standard input closes (or `--max-seconds`),
printing a JSON progress line every second. Then it flushes the spans and evaluates the flag for
every user again until none gets `true` (or `--final-seconds` pass), and prints a last JSON line
`{"final": …}`: the variation the application now gets.
"""

import argparse
import json
import os
import random
import sys
import threading
import time

from openfeature import api
from openfeature.contrib.hook.opentelemetry import TracingHook
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flag", required=True, help="the boolean flag under release")
    parser.add_argument("--users", type=int, default=1000, help="distinct users, in turn")
    parser.add_argument("--error-rate", type=float, default=0.02)
    parser.add_argument("--treated-factor", type=float, default=5.0)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--final-seconds", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=19)
    return parser.parse_args()


def setup(url, key):
    """OpenFeature over OFREP with the tracing hook, and an OTLP exporter to the same server."""
    api.set_provider(OFREPProvider(url, headers_factory=lambda: {"Authorization": key}))
    api.add_hooks([TracingHook()])
    exporter = OTLPSpanExporter(
        endpoint=url.rstrip("/") + "/v1/traces",
        headers={"authorization": key},
        compression=Compression.Gzip,
        timeout=10,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout-py"}))
    # A short schedule: a guard looking every fraction of a second sees errors within one.
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    trace.set_tracer_provider(provider)
    return api.get_client(), trace.get_tracer("checkout"), provider


def main():
    args = parse_args()
    url, key = os.environ["SWITCHYARD_URL"], os.environ["SWITCHYARD_SDK_KEY"]
    client, tracer, provider = setup(url, key)
    rng = random.Random(args.seed)
    users = [f"user-{i}" for i in range(args.users)]

    # The loop stops when the caller closes our standard input (or dies).
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()

    started = time.monotonic()
    next_report = started + 1.0
    counts = {"requests": 0, "new": 0, "errors_new": 0, "errors_old": 0, "eval_errors": 0}
    got_new = set()
    i = 0
    while not stop.is_set() and time.monotonic() - started < args.max_seconds:
        user = users[i % len(users)]
        i += 1
        with tracer.start_as_current_span("GET /checkout") as span:
            details = client.get_boolean_details(
                args.flag, False, EvaluationContext(targeting_key=user)
            )
            new = details.value is True
            counts["requests"] += 1
            counts["eval_errors"] += details.error_code is not None
            if new:
                counts["new"] += 1
                got_new.add(user)
            rate = args.error_rate * (args.treated_factor if new else 1.0)
            if rng.random() < rate:
                counts["errors_new" if new else "errors_old"] += 1
                span.set_status(Status(StatusCode.ERROR, "checkout failed"))
        now = time.monotonic()
        if now >= next_report:
            next_report = now + 1.0
            print(json.dumps({"elapsed_s": round(now - started, 2), **counts}), flush=True)

    provider.force_flush()
    # What the application gets now, for every user that was served the new variation.
    final_started = time.monotonic()
    passes = 0
    while True:
        passes += 1
        still_new = sum(
            client.get_boolean_value(args.flag, False, EvaluationContext(targeting_key=u))
            is True
            for u in sorted(got_new)
        )
        if still_new == 0 or time.monotonic() - final_started > args.final_seconds:
            break
        time.sleep(0.1)
    final = {
        **counts,
        "users_served_new": len(got_new),
        "still_served_new": still_new,
        "final_passes": passes,
    }
    print(json.dumps({"final": final}), flush=True)
    provider.shutdown()


if __name__ == "__main__":
    main()
