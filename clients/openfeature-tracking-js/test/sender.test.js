// The sender against a stub intake: the batch format, the bound, batch sizes, retries with the
// same id, refusals, and that `track` never throws.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { EventSender, contextParts } from '../src/index.js';
import { retryAfterMs } from '../src/sender.js';
import { recordingLogger, startStub } from './stub.js';

const quick = { sdkKey: 'srv_test_key', flushIntervalMs: 50, settleMs: 0 };

test('a flush posts one gzipped batch in the events format', async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  const sender = new EventSender({ ...quick, url: `${stub.url}/`, flushIntervalMs: 60_000 });
  t.after(() => sender.close());
  const before = Date.now();
  sender.track('checkout_error', { targetingKey: 'u1', plan: 'pro' });
  sender.track('latency_ms', { kind: 'multi', user: { key: 'u2' }, org: { key: 'acme' } }, { value: 183.5 });
  sender.track('signup', { kind: 'org', key: 'acme' }, { value: 0 });
  await sender.flush();
  const [request] = stub.requests;
  assert.equal(stub.requests.length, 1);
  assert.equal(request.method, 'POST');
  assert.equal(request.url, '/events/v1/bulk');
  assert.equal(request.headers.authorization, 'srv_test_key');
  assert.equal(request.headers['content-type'], 'application/json');
  assert.equal(request.headers['content-encoding'], 'gzip');
  const batch = request.batch;
  assert.equal(batch.format, 1);
  assert.match(batch.batch_id, /^[0-9a-f]{32}$/);
  assert.match(batch.sdk, /^switchyard-openfeature-js\//);
  assert.deepEqual(batch.summaries, []);
  assert.equal(batch.dropped, 0);
  assert.ok(batch.start_ms <= batch.end_ms);
  assert.deepEqual(
    batch.events.map(({ at_ms, ...rest }) => rest),
    [
      { type: 'metric', contexts: [{ kind: 'user', key: 'u1' }], name: 'checkout_error', value: 1 },
      { type: 'metric', contexts: [{ kind: 'user', key: 'u2' }, { kind: 'org', key: 'acme' }], name: 'latency_ms', value: 183.5 },
      { type: 'metric', contexts: [{ kind: 'org', key: 'acme' }], name: 'signup', value: 0 },
    ],
  );
  for (const event of batch.events) assert.ok(event.at_ms >= before && event.at_ms <= batch.end_ms);
  assert.deepEqual(sender.stats(), { tracked: 3, sent: 3, dropped: 0, invalid: 0, queued: 0, stopped: false });
  await sender.close();
});

test('contexts map the way the server reads OpenFeature contexts', () => {
  assert.deepEqual(contextParts({ targetingKey: 'u1', country: 'DE' }), [{ kind: 'user', key: 'u1' }]);
  assert.deepEqual(contextParts({}), [{ kind: 'user', key: '' }], 'anonymous: empty key');
  assert.deepEqual(contextParts(undefined), [{ kind: 'user', key: '' }]);
  assert.deepEqual(contextParts({ kind: 'device', key: 'd1', targetingKey: 'ignored' }), [{ kind: 'device', key: 'd1' }]);
  assert.deepEqual(contextParts({ kind: 'multi', user: { key: 'u1' }, org: { key: 'o1', name: 'x' } }), [
    { kind: 'user', key: 'u1' },
    { kind: 'org', key: 'o1' },
  ]);
  assert.equal(contextParts({ targetingKey: 7 }), null);
  assert.equal(contextParts({ kind: 'user' }), null, 'a native context needs its key');
  assert.equal(contextParts({ kind: 'multi' }), null);
  assert.equal(contextParts({ kind: 'multi', user: { name: 'no key' } }), null);
  assert.equal(contextParts({ kind: 'multi', multi: { key: 'x' } }), null);
  assert.equal(contextParts({ kind: 3, key: 'x' }), null);
  assert.equal(contextParts('u1'), null);
});

test('the queue is bounded: the oldest events go and are reported as dropped', async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  const sender = new EventSender({ ...quick, url: stub.url, flushIntervalMs: 60_000, capacity: 5 });
  t.after(() => sender.close());
  for (let i = 0; i < 8; i++) sender.track('e', { targetingKey: `u${i}` });
  assert.equal(sender.stats().queued, 5);
  await sender.flush();
  const { batch } = stub.requests[0];
  assert.deepEqual(batch.events.map((e) => e.contexts[0].key), ['u3', 'u4', 'u5', 'u6', 'u7']);
  assert.equal(batch.dropped, 3);
  assert.equal(sender.stats().dropped, 3);
  await sender.close();
});

test('batches hold at most 2,000 events, each with its own id', async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  const sender = new EventSender({ ...quick, url: stub.url, flushIntervalMs: 60_000 });
  t.after(() => sender.close());
  for (let i = 0; i < 4500; i++) sender.track('e', { targetingKey: `u${i}` });
  await sender.flush();
  assert.deepEqual(stub.requests.map((r) => r.batch.events.length), [2000, 2000, 500]);
  assert.equal(new Set(stub.requests.map((r) => r.batch.batch_id)).size, 3);
  assert.equal(stub.requests[2].batch.events[499].contexts[0].key, 'u4499', 'in order');
  await sender.close();
});

test('a batch that got 503, 429 or no answer is sent again unchanged, with the same id', async (t) => {
  const stub = await startStub([{ status: 503 }, { status: 429, headers: { 'Retry-After': '1' } }, { destroy: true }, { status: 202 }]);
  t.after(() => stub.close());
  const sender = new EventSender({ ...quick, url: stub.url, flushIntervalMs: 20 });
  t.after(() => sender.close());
  sender.track('error', { targetingKey: 'u1' });
  await stub.waitFor(2);
  sender.track('error', { targetingKey: 'u2' }); // recorded meanwhile: a later batch
  await stub.waitFor(5);
  await sender.flush(); // the fifth answer has been read
  const [first, second, third, fourth, fifth] = stub.requests;
  for (const retry of [second, third, fourth]) {
    assert.equal(retry.batch.batch_id, first.batch.batch_id);
    assert.deepEqual(retry.raw, first.raw, 'the very same bytes');
  }
  assert.ok(third.at - second.at >= 900, `Retry-After 1 s honoured (waited ${third.at - second.at} ms)`);
  assert.notEqual(fifth.batch.batch_id, first.batch.batch_id);
  assert.deepEqual(fifth.batch.events.map((e) => e.contexts[0].key), ['u2']);
  assert.deepEqual(sender.stats().sent, 2);
  await sender.close();
});

test('a network error is retried with the same id, with backoff', async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  let calls = 0;
  const flaky = (url, init) => (++calls <= 2 ? Promise.reject(new TypeError('fetch failed')) : fetch(url, init));
  const sender = new EventSender({ ...quick, url: stub.url, flushIntervalMs: 20, fetch: flaky });
  t.after(() => sender.close());
  sender.track('error', { targetingKey: 'u1' });
  await stub.waitFor(1);
  assert.equal(calls, 3);
  assert.equal(stub.requests[0].batch.events.length, 1);
  await sender.close();
});

test('a refused batch (4xx) is dropped and counted in the next one', async (t) => {
  const stub = await startStub([{ status: 422 }, { status: 202 }]);
  t.after(() => stub.close());
  const sender = new EventSender({ ...quick, url: stub.url, flushIntervalMs: 60_000 });
  t.after(() => sender.close());
  sender.track('e', { targetingKey: 'u1' });
  sender.track('e', { targetingKey: 'u2' });
  await sender.flush();
  sender.track('e', { targetingKey: 'u3' });
  await sender.flush();
  assert.equal(stub.requests.length, 3);
  assert.equal(stub.requests[1].batch.dropped, 2, 'reported at once, in a batch of its own');
  assert.deepEqual(stub.requests[1].batch.events, []);
  assert.equal(stub.requests[2].batch.dropped, 0);
  assert.deepEqual(stub.requests[2].batch.events.map((e) => e.contexts[0].key), ['u3']);
  assert.equal(sender.stats().dropped, 2);
  await sender.close();
});

for (const status of [401, 403, 404]) {
  test(`${status} stops tracking with one warning`, async (t) => {
    const stub = await startStub([{ status }]);
  t.after(() => stub.close());
    const logger = recordingLogger();
    const sender = new EventSender({ ...quick, url: stub.url, flushIntervalMs: 20, logger });
  t.after(() => sender.close());
    sender.track('e', { targetingKey: 'u1' });
    await stub.waitFor(1);
    await sender.flush();
    for (let i = 0; i < 10; i++) sender.track('e', { targetingKey: 'u1' });
    await sender.flush();
    await sender.close();
    assert.equal(stub.requests.length, 1);
    assert.equal(logger.warnings.length, 1, logger.warnings.join('\n'));
    assert.ok(sender.stats().stopped);
    assert.equal(sender.stats().queued, 0);
  });
}

test('track never throws, whatever it is given, and skips what the server would refuse', async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  const logger = { warn: () => { throw new Error('broken logger'); } };
  const sender = new EventSender({ ...quick, url: stub.url, flushIntervalMs: 60_000, logger });
  t.after(() => sender.close());
  const cyclic = { targetingKey: 'u1' };
  cyclic.self = cyclic;
  const hostile = { get targetingKey() { throw new Error('boom'); } };
  const bad = [
    [undefined, {}],
    ['', {}],
    ['x'.repeat(257), {}],
    ['e', { targetingKey: 1 }],
    ['e', hostile],
    ['e', {}, { value: Number.NaN }],
    ['e', {}, { value: Infinity }],
    ['e', {}, { value: '3' }],
    ['e', {}, { value: 10n }],
    ['e', { kind: 'user', key: 'k'.repeat(20_000) }],
  ];
  for (const args of bad) assert.equal(sender.track(...args), undefined);
  sender.track('ok', cyclic, { value: 2 });
  sender.track('é'.repeat(128), { targetingKey: 'u1' }); // 256 bytes: still fine
  const stats = sender.stats();
  assert.equal(stats.invalid, bad.length);
  assert.equal(stats.queued, 2);
  await sender.flush();
  assert.deepEqual(stub.requests[0].batch.events.map((e) => e.value), [2, 1]);
  await sender.close();

  // A fetch that throws synchronously, and a server that is gone, break nothing either.
  const thrower = new EventSender({ ...quick, url: 'http://127.0.0.1:9', fetch: () => { throw new Error('sync'); } });
  t.after(() => thrower.close());
  thrower.track('e', {});
  await thrower.flush();
  await thrower.close();
  assert.equal(thrower.stats().queued, 1, 'held for a retry that close does not wait for');
});

test('events wait settleMs before they are sent, so the server has stored their exposures', async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  const sender = new EventSender({ ...quick, url: stub.url, flushIntervalMs: 20, settleMs: 300 });
  t.after(() => sender.close());
  sender.track('e', { targetingKey: 'u1' });
  const [request] = await stub.waitFor(1);
  assert.ok(request.at - request.batch.events[0].at_ms >= 300, `${request.at - request.batch.events[0].at_ms} ms`);
  await sender.close();
});

test('close sends what is queued and later track calls do nothing', async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  const sender = new EventSender({ ...quick, url: stub.url, flushIntervalMs: 60_000 });
  t.after(() => sender.close());
  sender.track('e', { targetingKey: 'u1' });
  await sender.close();
  sender.track('e', { targetingKey: 'u2' });
  await sender.close();
  assert.equal(stub.requests.length, 1);
  assert.equal(stub.requests[0].batch.events.length, 1);
});

test("the sender's timers do not keep a Node process alive", async (t) => {
  const stub = await startStub([{ status: 503 }]);
  t.after(() => stub.close());
  const module = fileURLToPath(new URL('../src/index.js', import.meta.url));
  const script = `
    const { EventSender } = await import(${JSON.stringify(module)});
    const sender = new EventSender({ url: ${JSON.stringify(stub.url)}, sdkKey: 'k', flushIntervalMs: 10 });
    sender.track('e', { targetingKey: 'u1' });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
  const code = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the process did not exit within 20 s')), 20_000);
    child.on('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  assert.equal(code, 0);
});

test('an awaited close keeps a Node process alive until the events are sent', async (t) => {
  const stub = await startStub();
  t.after(() => stub.close());
  const module = fileURLToPath(new URL('../src/index.js', import.meta.url));
  const script = `
    const { EventSender } = await import(${JSON.stringify(module)});
    const sender = new EventSender({ url: ${JSON.stringify(stub.url)}, sdkKey: 'k', settleMs: 200 });
    sender.track('e', { targetingKey: 'u1' });
    await sender.close();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, 'exit code 13 would mean the close was abandoned mid-await');
  assert.equal(stub.requests.length, 1);
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  assert.equal(retryAfterMs('3'), 3000);
  assert.equal(retryAfterMs(null), null);
  assert.equal(retryAfterMs('soon'), null);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
});

test('options are checked when the sender is made', () => {
  assert.throws(() => new EventSender({ sdkKey: 'k' }), /url/);
  assert.throws(() => new EventSender({ url: 'http://x' }), /sdkKey/);
  assert.throws(() => new EventSender({ url: 'http://x', sdkKey: 'k', capacity: 0 }), /capacity/);
});
