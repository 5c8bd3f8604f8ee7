"""SwitchyardTrackingProvider with the real OpenFeature SDK: evaluation, metadata and events are
the wrapped provider's, ``client.track`` reaches the intake, ``api.shutdown()`` sends what is
queued and shuts the wrapped provider down."""

from __future__ import annotations

import unittest

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent, ProviderEventDetails
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from openfeature.track import TrackingEventDetails

from switchyard_openfeature_tracking import EventSender, SwitchyardTrackingProvider

from .stub import Stub


class Inner(InMemoryProvider):
    def __init__(self) -> None:
        super().__init__({"checkout": InMemoryFlag("on", {"on": True, "off": False})})
        self.tracked: list[tuple] = []
        self.shut_down = False
        self.setting = "inner's own"

    def track(self, name, context=None, details=None):  # type: ignore[no-untyped-def]
        self.tracked.append((name, details))
        raise RuntimeError("the inner provider's tracking fails")

    def shutdown(self) -> None:
        self.shut_down = True


class ProviderTest(unittest.TestCase):
    def setUp(self) -> None:
        self.stub = Stub()
        self.addCleanup(self.stub.close)
        self.addCleanup(api.clear_providers)

    def test_track_through_the_openfeature_client_reaches_the_intake(self):
        inner = Inner()
        provider = SwitchyardTrackingProvider(inner, url=self.stub.url, sdk_key="k", flush_interval=60, settle=0)
        api.set_provider_and_wait(provider)
        client = api.get_client()
        context = EvaluationContext("u1", {"plan": "pro"})
        self.assertTrue(client.get_boolean_value("checkout", False, context))
        self.assertEqual(client.get_boolean_details("checkout", False, context).variant, "on")
        self.assertEqual(api.get_provider_metadata().name, "In-Memory Provider")
        self.assertEqual(provider.setting, "inner's own")

        client.track("purchase", context, TrackingEventDetails(value=42.5, attributes={"currency": "EUR"}))
        client.track("error", EvaluationContext("u2"))
        self.assertEqual([name for name, _ in inner.tracked], ["purchase", "error"])
        api.shutdown()
        self.assertTrue(inner.shut_down)
        events = self.stub.requests[0]["batch"]["events"]
        self.assertEqual(
            [(e["name"], e["value"], e["contexts"]) for e in events],
            [("purchase", 42.5, [{"kind": "user", "key": "u1"}]), ("error", 1, [{"kind": "user", "key": "u2"}])],
        )

    def test_the_inner_providers_events_come_from_the_wrapper(self):
        inner = Inner()
        provider = SwitchyardTrackingProvider(inner, url=self.stub.url, sdk_key="k", settle=0)
        api.set_provider_and_wait(provider)
        seen = []
        api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, seen.append)
        self.addCleanup(api.remove_handler, ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, seen.append)
        inner.emit_provider_configuration_changed(ProviderEventDetails(flags_changed=["checkout"]))
        self.assertEqual([d.flags_changed for d in seen], [["checkout"]])

    def test_providers_may_share_one_sender(self):
        sender = EventSender(self.stub.url, "k", flush_interval=60, settle=0)
        a = SwitchyardTrackingProvider(Inner(), sender=sender)
        b = SwitchyardTrackingProvider(Inner(), sender=sender)
        a.track("x", EvaluationContext("u1"))
        b.track("y", EvaluationContext("u1"))
        sender.shutdown()
        self.assertEqual([e["name"] for e in self.stub.requests[0]["batch"]["events"]], ["x", "y"])


if __name__ == "__main__":
    unittest.main()
