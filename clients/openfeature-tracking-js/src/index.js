// OpenFeature tracking for Switchyard: wraps any OpenFeature provider (the official OFREP
// providers for server and web) so that `client.track(...)` reaches Switchyard's event intake as
// metric events. OFREP has no tracking endpoint, so evaluation still goes through the wrapped
// provider and only `track` is added.

import { EventSender } from './sender.js';

export { EventSender, SDK_NAME, MAX_BATCH_EVENTS, newBatchId } from './sender.js';
export { contextParts } from './context.js';

/**
 * The provider, unchanged, plus Switchyard tracking:
 * - `track(name, context, details)` queues a metric event `name` with value `details.value`
 *   (default 1) for the context's parts, then calls the provider's own `track` if it has one;
 * - `onClose()` (called by `OpenFeature.close()`) closes the provider, then sends what is queued;
 * - `flush()` sends what is queued now; `close()` is `onClose()`;
 * - `tracking` is the {@link EventSender} (its `stats()` counts sent and dropped events).
 *
 * @param {object} provider an OpenFeature provider (server or web)
 * @param {object|EventSender} options {@link EventSender} options (`url`, `sdkKey`,
 *   `flushIntervalMs`, `capacity`, …), or a sender to share between providers
 */
export function withTracking(provider, options) {
  if (typeof provider !== 'object' || provider === null) throw new TypeError('provider: an OpenFeature provider is required');
  const sender = options instanceof EventSender ? options : new EventSender(options);
  const added = {
    track(trackingEventName, context, trackingEventDetails) {
      sender.track(trackingEventName, context, trackingEventDetails);
      try {
        provider.track?.(trackingEventName, context, trackingEventDetails);
      } catch {
        // The provider's own tracking failing must not reach the application.
      }
    },
    async onClose() {
      try {
        await provider.onClose?.();
      } finally {
        await sender.close();
      }
    },
    close() {
      return added.onClose();
    },
    flush() {
      return sender.flush();
    },
    tracking: sender,
  };
  // The provider's own methods run with the provider as `this` (private fields and all); each
  // is bound once, so the same property gives the same function every time.
  const bound = new WeakMap();
  return new Proxy(provider, {
    get(target, property) {
      if (Object.hasOwn(added, property)) return added[property];
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      let method = bound.get(value);
      if (!method) {
        method = value.bind(target);
        bound.set(value, method);
      }
      return method;
    },
    has(target, property) {
      return Object.hasOwn(added, property) || Reflect.has(target, property);
    },
  });
}
