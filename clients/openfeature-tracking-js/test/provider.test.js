// withTracking: the wrapped provider behaves as before (its methods, private fields, events and
// metadata are its own), gains `track`, and its close sends what is queued.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { EventSender, withTracking } from '../src/index.js';
import { startStub } from './stub.js';

class FakeProvider {
  #secret = 'private';
  metadata = { name: 'fake' };
  runsOn = 'server';
  events = { kind: 'emitter' };
  closed = false;
  tracked = [];
  get hooks() {
    return [this.#secret];
  }
  async resolveBooleanEvaluation(flagKey, defaultValue, context) {
    return { value: !defaultValue, variant: `${flagKey}:${context.targetingKey}:${this.#secret}` };
  }
  async onClose() {
    this.closed = true;
  }
}

test('the wrapper delegates everything and adds track, flush and close', async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  const inner = new FakeProvider();
  const provider = withTracking(inner, { url: stub.url, sdkKey: 'k', flushIntervalMs: 60_000, settleMs: 0 });
  assert.equal(provider.metadata.name, 'fake');
  assert.equal(provider.runsOn, 'server');
  assert.equal(provider.events, inner.events);
  assert.deepEqual(provider.hooks, ['private']);
  assert.equal(provider.resolveBooleanEvaluation, provider.resolveBooleanEvaluation, 'stable methods');
  assert.deepEqual(await provider.resolveBooleanEvaluation('f', false, { targetingKey: 'u1' }), {
    value: true,
    variant: 'f:u1:private',
  });
  assert.ok('track' in provider && typeof provider.track === 'function');
  assert.ok(provider.tracking instanceof EventSender);

  provider.track('purchase', { targetingKey: 'u1' }, { value: 42, currency: 'EUR' });
  await provider.flush();
  assert.deepEqual(stub.requests[0].batch.events.map((e) => [e.name, e.value]), [['purchase', 42]]);

  provider.track('purchase', { targetingKey: 'u2' });
  await provider.onClose();
  assert.ok(inner.closed, 'the provider is closed too');
  assert.equal(stub.requests.length, 2, 'close sends what is queued');
});

test("the provider's own track is still called, and its failures stay inside", async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  const inner = new FakeProvider();
  inner.track = (name) => {
    inner.tracked.push(name);
    throw new Error('provider tracking failed');
  };
  inner.onClose = async (t) => {
    throw new Error('close failed');
  };
  const provider = withTracking(inner, { url: stub.url, sdkKey: 'k', settleMs: 0 });
  provider.track('a', { targetingKey: 'u1' });
  assert.deepEqual(inner.tracked, ['a']);
  await assert.rejects(provider.close(), /close failed/, "the provider's own close error is its caller's");
  assert.equal(stub.requests.length, 1, 'events are sent even so');
});

test('several providers may share one sender', async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  const sender = new EventSender({ url: stub.url, sdkKey: 'k', settleMs: 0, flushIntervalMs: 60_000 });
  const a = withTracking(new FakeProvider(), sender);
  const b = withTracking(new FakeProvider(), sender);
  a.track('x', { targetingKey: 'u1' });
  b.track('y', { targetingKey: 'u1' });
  await sender.close();
  assert.deepEqual(stub.requests[0].batch.events.map((e) => e.name), ['x', 'y']);
});
