"""OpenFeature tracking for Switchyard: :class:`SwitchyardTrackingProvider` wraps any OpenFeature
provider (normally the official ``openfeature-provider-ofrep`` one) so that ``client.track(...)``
reaches Switchyard's event intake as metric events. OFREP has no tracking endpoint, so evaluation
stays with the wrapped provider and only ``track`` is added. Format and sending rules:
docs/events.md."""

from __future__ import annotations

from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.provider import AbstractProvider, FeatureProvider, Metadata

from ._context import context_parts
from ._sender import MAX_BATCH_EVENTS, SDK_NAME, EventSender, new_batch_id

__all__ = [
    "MAX_BATCH_EVENTS",
    "SDK_NAME",
    "EventSender",
    "SwitchyardTrackingProvider",
    "context_parts",
    "new_batch_id",
]


class SwitchyardTrackingProvider(AbstractProvider):
    """``inner``, unchanged, plus Switchyard tracking.

    - ``track(name, context, details)`` queues a metric event ``name`` with value
      ``details.value`` (default 1) for the context's parts, then calls ``inner.track``;
    - ``shutdown()`` (called by ``api.shutdown()``) shuts ``inner`` down, then sends what is
      queued; ``flush()`` sends what is queued now;
    - ``sender`` is the :class:`EventSender` (``sender.stats()`` counts sent and dropped events).

    Give either ``url`` and ``sdk_key`` (plus ``flush_interval``, ``capacity``, ``settle``), or a
    ``sender`` to share between providers.
    """

    def __init__(
        self,
        inner: FeatureProvider,
        *,
        url: str | None = None,
        sdk_key: str | None = None,
        sender: EventSender | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.inner = inner
        if sender is None:
            sender = EventSender(url or "", sdk_key or "", **options)
        self.sender = sender

    # Tracking ------------------------------------------------------------------------------

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: Any = None,
    ) -> None:
        value = getattr(tracking_event_details, "value", None)
        self.sender.track(tracking_event_name, evaluation_context, value)
        try:
            self.inner.track(tracking_event_name, evaluation_context, tracking_event_details)
        except Exception:  # noqa: BLE001 - the provider's own tracking must not reach the caller
            pass

    def flush(self) -> None:
        self.sender.flush()

    # Lifecycle and events: the inner provider's, with this wrapper as the provider ---------

    def attach(self, on_emit: Any) -> None:
        super().attach(on_emit)
        attach = getattr(self.inner, "attach", None)
        if attach is not None:
            attach(lambda _provider, event, details: on_emit(self, event, details))

    def detach(self) -> None:
        super().detach()
        detach = getattr(self.inner, "detach", None)
        if detach is not None:
            detach()

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self.inner.initialize(evaluation_context)

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        finally:
            self.sender.shutdown()

    def get_metadata(self) -> Metadata:
        return self.inner.get_metadata()

    def get_provider_hooks(self) -> list:
        return self.inner.get_provider_hooks()

    # Evaluation: the inner provider's ------------------------------------------------------

    def resolve_boolean_details(self, flag_key, default_value, evaluation_context=None):  # type: ignore[no-untyped-def]
        return self.inner.resolve_boolean_details(flag_key, default_value, evaluation_context)

    def resolve_string_details(self, flag_key, default_value, evaluation_context=None):  # type: ignore[no-untyped-def]
        return self.inner.resolve_string_details(flag_key, default_value, evaluation_context)

    def resolve_integer_details(self, flag_key, default_value, evaluation_context=None):  # type: ignore[no-untyped-def]
        return self.inner.resolve_integer_details(flag_key, default_value, evaluation_context)

    def resolve_float_details(self, flag_key, default_value, evaluation_context=None):  # type: ignore[no-untyped-def]
        return self.inner.resolve_float_details(flag_key, default_value, evaluation_context)

    def resolve_object_details(self, flag_key, default_value, evaluation_context=None):  # type: ignore[no-untyped-def]
        return self.inner.resolve_object_details(flag_key, default_value, evaluation_context)

    async def resolve_boolean_details_async(self, flag_key, default_value, evaluation_context=None):  # type: ignore[no-untyped-def]
        return await self.inner.resolve_boolean_details_async(flag_key, default_value, evaluation_context)

    async def resolve_string_details_async(self, flag_key, default_value, evaluation_context=None):  # type: ignore[no-untyped-def]
        return await self.inner.resolve_string_details_async(flag_key, default_value, evaluation_context)

    async def resolve_integer_details_async(self, flag_key, default_value, evaluation_context=None):  # type: ignore[no-untyped-def]
        return await self.inner.resolve_integer_details_async(flag_key, default_value, evaluation_context)

    async def resolve_float_details_async(self, flag_key, default_value, evaluation_context=None):  # type: ignore[no-untyped-def]
        return await self.inner.resolve_float_details_async(flag_key, default_value, evaluation_context)

    async def resolve_object_details_async(self, flag_key, default_value, evaluation_context=None):  # type: ignore[no-untyped-def]
        return await self.inner.resolve_object_details_async(flag_key, default_value, evaluation_context)

    def __getattr__(self, name: str) -> Any:
        # Anything else the inner provider has (its own settings and helpers).
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
