"""The sender against a stub intake: the batch format, the bound, batch sizes, retries with the
same id, refusals, and that ``track`` never raises."""

from __future__ import annotations

import logging
import re
import time
import unittest

from openfeature.evaluation_context import EvaluationContext

from switchyard_openfeature_tracking import EventSender, context_parts
from switchyard_openfeature_tracking._sender import retry_after_seconds

from .stub import Stub

QUICK = {"flush_interval": 0.05, "settle": 0.0}


class SenderTest(unittest.TestCase):
    def start(self, script=None, **options):
        stub = Stub(script)
        self.addCleanup(stub.close)
        sender = EventSender(stub.url + "/", "srv_test_key", **{**QUICK, **options})
        self.addCleanup(sender.shutdown)
        return stub, sender

    def test_a_flush_posts_one_gzipped_batch_in_the_events_format(self):
        stub, sender = self.start(flush_interval=60)
        before = int(time.time() * 1000)
        sender.track("checkout_error", EvaluationContext("u1", {"plan": "pro"}))
        sender.track("latency_ms", EvaluationContext(None, {"kind": "multi", "user": {"key": "u2"}, "org": {"key": "acme"}}), 183.5)
        sender.track("signup", {"kind": "org", "key": "acme"}, 0)
        sender.flush()
        self.assertEqual(len(stub.requests), 1)
        request = stub.requests[0]
        self.assertEqual(request["path"], "/events/v1/bulk")
        self.assertEqual(request["headers"]["Authorization"], "srv_test_key")
        self.assertEqual(request["headers"]["Content-Type"], "application/json")
        self.assertEqual(request["headers"]["Content-Encoding"], "gzip")
        batch = request["batch"]
        self.assertEqual(batch["format"], 1)
        self.assertRegex(batch["batch_id"], r"^[0-9a-f]{32}$")
        self.assertTrue(batch["sdk"].startswith("switchyard-openfeature-python/"))
        self.assertEqual(batch["summaries"], [])
        self.assertEqual(batch["dropped"], 0)
        self.assertLessEqual(batch["start_ms"], batch["end_ms"])
        for event in batch["events"]:
            self.assertTrue(before <= event.pop("at_ms") <= batch["end_ms"])
        self.assertEqual(
            batch["events"],
            [
                {"type": "metric", "contexts": [{"kind": "user", "key": "u1"}], "name": "checkout_error", "value": 1},
                {"type": "metric", "contexts": [{"kind": "user", "key": "u2"}, {"kind": "org", "key": "acme"}], "name": "latency_ms", "value": 183.5},
                {"type": "metric", "contexts": [{"kind": "org", "key": "acme"}], "name": "signup", "value": 0},
            ],
        )
        self.assertEqual(sender.stats(), {"tracked": 3, "sent": 3, "dropped": 0, "invalid": 0, "queued": 0, "stopped": False})

    def test_contexts_map_the_way_the_server_reads_openfeature_contexts(self):
        self.assertEqual(context_parts(EvaluationContext("u1", {"country": "DE"})), [{"kind": "user", "key": "u1"}])
        self.assertEqual(context_parts(EvaluationContext()), [{"kind": "user", "key": ""}])
        self.assertEqual(context_parts(None), [{"kind": "user", "key": ""}])
        self.assertEqual(context_parts({"kind": "device", "key": "d1", "targetingKey": "x"}), [{"kind": "device", "key": "d1"}])
        self.assertEqual(
            context_parts(EvaluationContext("ignored", {"kind": "multi", "user": {"key": "u1"}, "org": {"key": "o1"}})),
            None,
            "a multi-kind context with a targeting key has a `targetingKey` kind without a key",
        )
        self.assertEqual(
            context_parts({"kind": "multi", "user": {"key": "u1"}, "org": {"key": "o1", "name": "x"}}),
            [{"kind": "user", "key": "u1"}, {"kind": "org", "key": "o1"}],
        )
        self.assertIsNone(context_parts({"targetingKey": 7}))
        self.assertIsNone(context_parts({"kind": "user"}))
        self.assertIsNone(context_parts({"kind": "multi"}))
        self.assertIsNone(context_parts({"kind": "multi", "multi": {"key": "x"}}))
        self.assertIsNone(context_parts({"kind": 3, "key": "x"}))
        self.assertIsNone(context_parts("u1"))

    def test_the_queue_is_bounded_and_the_oldest_are_dropped_and_reported(self):
        stub, sender = self.start(flush_interval=60, capacity=5)
        for i in range(8):
            sender.track("e", EvaluationContext(f"u{i}"))
        self.assertEqual(sender.stats()["queued"], 5)
        sender.flush()
        batch = stub.requests[0]["batch"]
        self.assertEqual([e["contexts"][0]["key"] for e in batch["events"]], ["u3", "u4", "u5", "u6", "u7"])
        self.assertEqual(batch["dropped"], 3)
        self.assertEqual(sender.stats()["dropped"], 3)

    def test_batches_hold_at_most_2000_events_each_with_its_own_id(self):
        stub, sender = self.start(flush_interval=60)
        for i in range(4500):
            sender.track("e", EvaluationContext(f"u{i}"))
        sender.flush()
        self.assertEqual([len(r["batch"]["events"]) for r in stub.requests], [2000, 2000, 500])
        self.assertEqual(len({r["batch"]["batch_id"] for r in stub.requests}), 3)
        self.assertEqual(stub.requests[2]["batch"]["events"][-1]["contexts"][0]["key"], "u4499")

    def test_503_429_and_no_answer_are_retried_unchanged_with_the_same_id(self):
        script = [{"status": 503}, {"status": 429, "headers": {"Retry-After": "1"}}, {"destroy": True}, {"status": 202}]
        stub, sender = self.start(script, flush_interval=0.02)
        sender.track("error", EvaluationContext("u1"))
        stub.wait_for(2)
        sender.track("error", EvaluationContext("u2"))  # recorded meanwhile: a later batch
        stub.wait_for(5)
        sender.flush()  # the fifth answer has been read
        first, second, third, fourth, fifth = stub.requests[:5]
        for retry in (second, third, fourth):
            self.assertEqual(retry["batch"]["batch_id"], first["batch"]["batch_id"])
            self.assertEqual(retry["raw"], first["raw"], "the very same bytes")
        self.assertGreaterEqual(third["at"] - second["at"], 0.9, "Retry-After: 1 honoured")
        self.assertNotEqual(fifth["batch"]["batch_id"], first["batch"]["batch_id"])
        self.assertEqual([e["contexts"][0]["key"] for e in fifth["batch"]["events"]], ["u2"])
        self.assertEqual(sender.stats()["sent"], 2)

    def test_a_server_that_is_not_there_is_retried_with_backoff(self):
        sender = EventSender("http://127.0.0.1:9", "k", flush_interval=0.02, settle=0)
        self.addCleanup(sender.shutdown)
        sender.track("e", EvaluationContext("u1"))
        sender.flush()
        self.assertEqual(sender.stats()["queued"], 1, "held for a retry")
        self.assertFalse(sender.stats()["stopped"])

    def test_a_refused_batch_is_dropped_and_counted(self):
        stub, sender = self.start([{"status": 422}, {"status": 202}], flush_interval=60)
        sender.track("e", EvaluationContext("u1"))
        sender.track("e", EvaluationContext("u2"))
        sender.flush()
        sender.track("e", EvaluationContext("u3"))
        sender.flush()
        batches = [r["batch"] for r in stub.requests]
        self.assertEqual(len(batches), 3)
        self.assertEqual((batches[1]["dropped"], batches[1]["events"]), (2, []), "reported at once")
        self.assertEqual([e["contexts"][0]["key"] for e in batches[2]["events"]], ["u3"])
        self.assertEqual(sender.stats()["dropped"], 2)

    def test_401_403_404_stop_tracking_with_one_warning(self):
        for status in (401, 403, 404):
            with self.subTest(status=status):
                stub, sender = self.start([{"status": status}])
                with self.assertLogs("switchyard.openfeature.tracking", logging.WARNING) as logs:
                    sender.track("e", EvaluationContext("u1"))
                    stub.wait_for(1)
                    sender.flush()
                    for _ in range(10):
                        sender.track("e", EvaluationContext("u1"))
                    sender.flush()
                    sender.shutdown()
                self.assertEqual(len(stub.requests), 1)
                self.assertEqual(len(logs.records), 1, logs.output)
                self.assertTrue(sender.stats()["stopped"])
                self.assertEqual(sender.stats()["queued"], 0)

    def test_track_never_raises_and_skips_what_the_server_would_refuse(self):
        stub, sender = self.start(flush_interval=60)

        class Hostile:
            @property
            def targeting_key(self):
                raise RuntimeError("boom")

        bad = [
            (None, None, None),
            ("", None, None),
            ("x" * 257, None, None),
            ("e", {"targetingKey": 1}, None),
            ("e", Hostile(), None),
            ("e", None, float("nan")),
            ("e", None, float("inf")),
            ("e", None, "3"),
            ("e", None, True),
            ("e", {"kind": "user", "key": "k" * 20_000}, None),
        ]
        for args in bad:
            self.assertIsNone(sender.track(*args))
        sender.track("ok", EvaluationContext("u1"), 2)
        sender.track("é" * 128, EvaluationContext("u1"))  # 256 bytes: still fine
        stats = sender.stats()
        self.assertEqual(stats["invalid"], len(bad))
        self.assertEqual(stats["queued"], 2)
        sender.flush()
        self.assertEqual([e["value"] for e in stub.requests[0]["batch"]["events"]], [2, 1])

    def test_events_wait_settle_seconds_before_they_are_sent(self):
        stub, sender = self.start(flush_interval=0.02, settle=0.3)
        sender.track("e", EvaluationContext("u1"))
        request = stub.wait_for(1)[0]
        waited = time.time() * 1000 - request["batch"]["events"][0]["at_ms"]
        self.assertGreaterEqual(waited, 300)

    def test_shutdown_sends_what_is_queued_and_later_tracks_do_nothing(self):
        stub, sender = self.start(flush_interval=60)
        sender.track("e", EvaluationContext("u1"))
        sender.shutdown()
        sender.track("e", EvaluationContext("u2"))
        sender.shutdown()
        self.assertEqual(len(stub.requests), 1)
        self.assertEqual(len(stub.requests[0]["batch"]["events"]), 1)

    def test_shutdown_cuts_the_final_send_short_at_its_deadline_and_says_so(self):
        # The intake answers after 5 s, within the 30 s request timeout but past shutdown's 1 s.
        stub, sender = self.start([{"status": 202, "delay": 5.0}], flush_interval=60, timeout=30)
        sender.track("checkout_error", {"key": "u1"})
        started = time.monotonic()
        with self.assertLogs("switchyard.openfeature.tracking", logging.WARNING) as logs:
            sender.shutdown(timeout=1.0)
        self.assertLess(time.monotonic() - started, 4.0)
        self.assertFalse(sender._thread.is_alive(), "the final send was left running")
        self.assertIn("1 events not sent", "\n".join(logs.output))
        self.assertEqual(sender.stats()["queued"], 1)
        self.assertEqual(len(stub.wait_for(1)), 1)

    def test_shutdown_waits_for_a_final_send_within_its_deadline(self):
        stub, sender = self.start([{"status": 202, "delay": 0.5}], flush_interval=60)
        sender.track("checkout_error", {"key": "u1"})
        sender.shutdown(timeout=5.0)
        self.assertFalse(sender._thread.is_alive())
        self.assertEqual(sender.stats()["sent"], 1)

    def test_retry_after_is_read_as_seconds_or_an_http_date(self):
        self.assertEqual(retry_after_seconds("3"), 3.0)
        self.assertIsNone(retry_after_seconds(None))
        self.assertIsNone(retry_after_seconds("soon"))
        now = 1767225600.0  # 2026-01-01T00:00:00Z
        self.assertEqual(retry_after_seconds("Thu, 01 Jan 2026 00:00:05 GMT", now), 5.0)

    def test_options_are_checked(self):
        with self.assertRaisesRegex(ValueError, "url"):
            EventSender("", "k")
        with self.assertRaisesRegex(ValueError, "sdk_key"):
            EventSender("http://x", "")
        with self.assertRaisesRegex(ValueError, "capacity"):
            EventSender("http://x", "k", capacity=0)


if __name__ == "__main__":
    unittest.main()
