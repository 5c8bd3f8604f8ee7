// Sends metric events to Switchyard's `POST /events/v1/bulk` (format: docs/events.md) the way
// the Rust SDK does (crates/sdk/src/events.rs): a bounded queue whose oldest events are dropped
// and counted, batches of at most 2,000 events each with a random id, gzipped where the
// platform can, retried unchanged (same id, same bytes) on no answer, 429 and 5xx with backoff
// or after `Retry-After`, a refused batch (other 4xx) dropped and counted, and 401/403/404
// ending tracking with one warning. `track` only appends to an array: it never waits and never
// throws.

import { contextParts, validName } from './context.js';

export const SDK_NAME = 'switchyard-openfeature-js/0.1.0';
export const MAX_BATCH_EVENTS = 2000;
// Characters of event JSON per batch: even at three UTF-8 bytes each, an ungzipped body stays
// under the server's 1 MiB limit.
const MAX_BATCH_CHARS = 320_000;
const MAX_EVENT_CHARS = 16_000;
const MAX_BACKOFF_MS = 60_000;
const REQUEST_TIMEOUT_MS = 30_000;
// Browsers refuse `keepalive` requests over 64 KiB.
const KEEPALIVE_MAX_BYTES = 60_000;

/** 128 random bits as 32 hex digits (Math.random only where Web Crypto is missing). */
export function newBatchId() {
  const bytes = new Uint8Array(16);
  if (globalThis.crypto?.getRandomValues) {
    globalThis.crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** `Retry-After` (seconds or an HTTP date) in ms, or `null`. */
export function retryAfterMs(header, now = Date.now()) {
  if (header == null) return null;
  const text = String(header).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

async function gzip(text) {
  if (typeof CompressionStream !== 'function') return null;
  try {
    const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch {
    return null;
  }
}

function unref(timer) {
  // Node: a pending send must not keep the process alive (close() sends what is left).
  if (timer && typeof timer.unref === 'function') timer.unref();
  return timer;
}

export class EventSender {
  #endpoint;
  #sdkKey;
  #fetch;
  #interval;
  #capacity;
  #settleMs;
  #logger;
  /** Events not yet in a batch, oldest first: `{at, json}`. */
  #queue = [];
  /** A batch that may not have arrived: sent again, unchanged, before anything newer. */
  #held = null;
  #droppedSinceBatch = 0;
  #windowStartMs = Date.now();
  #counts = { tracked: 0, sent: 0, dropped: 0, invalid: 0 };
  #stopped = false;
  #closed = false;
  #timer = null;
  #failures = 0;
  #running = Promise.resolve();

  /**
   * @param {object} options
   * @param {string} options.url the server's base URL (`https://flags.example.com`)
   * @param {string} options.sdkKey a server or client SDK key of the environment
   * @param {number} [options.flushIntervalMs=2000] how often batches are sent
   * @param {number} [options.capacity=10000] events queued at most; beyond, the oldest go
   * @param {number} [options.settleMs=1500] events wait at least this long before they are
   *   sent: the server writes the exposures of OFREP evaluations to its store every second,
   *   and a metric counts toward a cohort only once its context's exposure is stored
   * @param {typeof fetch} [options.fetch] the fetch to use (default: the global one)
   * @param {{warn: Function}} [options.logger=console]
   */
  constructor(options) {
    const { url, sdkKey } = options ?? {};
    if (typeof url !== 'string' || url === '') throw new TypeError('url: the Switchyard server URL is required');
    if (typeof sdkKey !== 'string' || sdkKey === '') throw new TypeError('sdkKey: an SDK key is required');
    this.#endpoint = `${url.replace(/\/+$/, '')}/events/v1/bulk`;
    this.#sdkKey = sdkKey;
    this.#fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (typeof this.#fetch !== 'function') throw new TypeError('fetch: no fetch on this platform; pass one');
    this.#interval = positive(options.flushIntervalMs, 2000, 'flushIntervalMs');
    this.#capacity = positive(options.capacity, 10_000, 'capacity');
    this.#settleMs = options.settleMs ?? 1500;
    if (!(this.#settleMs >= 0)) throw new TypeError('settleMs: must be 0 or more');
    this.#logger = options.logger ?? console;
    this.#schedule(this.#interval);
    this.#flushWhenPageHides();
  }

  /**
   * Queues a metric event: `name`, the context's parts, `details.value` (default 1). Returns at
   * once; an event the server would refuse (empty or over-long name, a value that is not a
   * finite number, a context without a usable key) is counted as invalid and not sent.
   */
  track(name, context, details) {
    try {
      if (this.#stopped || this.#closed) return;
      this.#counts.tracked++;
      const value = details?.value ?? 1;
      const contexts = contextParts(context);
      if (!validName(name) || typeof value !== 'number' || !Number.isFinite(value) || !contexts) {
        this.#counts.invalid++;
        return;
      }
      const at = Date.now();
      const json = JSON.stringify({ type: 'metric', at_ms: at, contexts, name, value });
      if (json.length > MAX_EVENT_CHARS) {
        this.#counts.invalid++;
        return;
      }
      if (this.#queue.length >= this.#capacity) {
        this.#queue.shift();
        this.#dropped(1);
      }
      this.#queue.push({ at, json });
    } catch {
      // Tracking must never break the application (a context whose getter throws, say).
      this.#counts.invalid++;
    }
  }

  /** What happened so far: tracked, sent, dropped (queue full or refused), invalid, queued. */
  stats() {
    return { ...this.#counts, queued: this.#queue.length + (this.#held?.count ?? 0), stopped: this.#stopped };
  }

  /**
   * Sends everything queued now (after letting the youngest event settle), including a held
   * batch. Resolves when done or failed; never rejects.
   */
  async flush() {
    await this.#settle();
    await this.#run(true);
  }

  /** Stops the timer and sends what is queued, once. Later `track` calls do nothing. */
  async close() {
    if (this.#closed) return this.#running;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = null;
    await this.#settle();
    await this.#run(true);
  }

  #dropped(n) {
    this.#droppedSinceBatch += n;
    this.#counts.dropped += n;
  }

  async #settle() {
    const youngest = this.#queue.at(-1)?.at;
    if (youngest === undefined) return;
    const wait = Math.min(this.#settleMs, youngest + this.#settleMs - Date.now());
    // Not unref'd: whoever awaits a flush or close wants it to happen before the process ends.
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  #schedule(delayMs) {
    if (this.#closed || this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = unref(setTimeout(() => this.#tick(), delayMs));
  }

  async #tick() {
    this.#timer = null;
    const next = await this.#run(false);
    this.#schedule(next);
  }

  /** One sending pass, after any pass in progress; resolves to the delay until the next one. */
  #run(all, fetchOptions = {}) {
    const pass = this.#running.then(async () => {
      const outcome = await this.#sendAll(all, fetchOptions).catch(() => ({ retryAfterMs: null }));
      if (outcome === 'never') return this.#interval;
      if (outcome === 'all') {
        this.#failures = 0;
        return this.#interval;
      }
      this.#failures++;
      // Doubling from the flush interval up to a minute, unless the server says.
      const backoff = Math.min(this.#interval * 2 ** Math.min(this.#failures, 6), MAX_BACKOFF_MS);
      return outcome.retryAfterMs ?? backoff;
    });
    this.#running = pass;
    return pass;
  }

  /** Sends batches until none is left (`'all'`), one must wait (`{retryAfterMs}`), or never. */
  async #sendAll(all, fetchOptions) {
    for (;;) {
      if (this.#stopped) return 'never';
      const batch = this.#held ?? this.#takeBatch(all);
      if (!batch) return 'all';
      this.#held = batch;
      const outcome = await this.#post(batch, fetchOptions);
      if (outcome !== 'next') return outcome;
    }
  }

  /** A new batch of what has settled (everything when `all`), or `null` if there is nothing. */
  #takeBatch(all) {
    const now = Date.now();
    const cutoff = all ? Infinity : now - this.#settleMs;
    const events = [];
    let chars = 0;
    while (this.#queue.length > 0 && events.length < MAX_BATCH_EVENTS) {
      const next = this.#queue[0];
      if (next.at > cutoff || (events.length > 0 && chars + next.json.length > MAX_BATCH_CHARS)) break;
      this.#queue.shift();
      events.push(next.json);
      chars += next.json.length + 1;
    }
    const dropped = this.#droppedSinceBatch;
    if (events.length === 0 && dropped === 0) return null;
    this.#droppedSinceBatch = 0;
    const head = {
      format: 1,
      batch_id: newBatchId(),
      sdk: SDK_NAME,
      start_ms: this.#windowStartMs,
      end_ms: now,
      summaries: [],
    };
    this.#windowStartMs = now;
    const json = `${JSON.stringify(head).slice(0, -1)},"events":[${events.join(',')}],"dropped":${dropped}}`;
    return { json, count: events.length, dropped, body: null };
  }

  /** Posts one batch: `'next'` when it is done with (sent or refused), else what to do. */
  async #post(batch, fetchOptions) {
    if (batch.body === null) {
      // Encoded once: a retry sends the very same bytes.
      const compressed = await gzip(batch.json);
      batch.body = compressed ?? batch.json;
      batch.gzip = compressed !== null;
    }
    const headers = { Authorization: this.#sdkKey, 'Content-Type': 'application/json' };
    if (batch.gzip) headers['Content-Encoding'] = 'gzip';
    const size = typeof batch.body === 'string' ? batch.body.length * 3 : batch.body.byteLength;
    const init = { method: 'POST', headers, body: batch.body };
    if (fetchOptions.keepalive && size <= KEEPALIVE_MAX_BYTES) init.keepalive = true;
    if (typeof AbortSignal !== 'undefined' && typeof AbortSignal.timeout === 'function') {
      init.signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    }
    let response;
    try {
      response = await this.#fetch(this.#endpoint, init);
      // Read the answer so the connection can be reused.
      await response.arrayBuffer().catch(() => {});
    } catch {
      return { retryAfterMs: null };
    }
    const status = response.status;
    if (status >= 200 && status < 300) {
      this.#held = null;
      this.#counts.sent += batch.count;
      return 'next';
    }
    if (status === 429 || status >= 500) {
      return { retryAfterMs: retryAfterMs(response.headers?.get?.('Retry-After')) };
    }
    this.#held = null;
    if (status === 401 || status === 403 || status === 404) {
      this.#stop(
        status === 404
          ? `Switchyard tracking: ${this.#endpoint} takes no events (404); not sending any`
          : `Switchyard tracking: the SDK key may not send events (${status}); not sending any`,
      );
      return 'never';
    }
    // Refused as it is (malformed, too large): resending cannot help.
    this.#dropped(batch.count);
    this.#droppedSinceBatch += batch.dropped;
    return 'next';
  }

  #stop(warning) {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#queue = [];
    this.#held = null;
    try {
      this.#logger.warn(warning);
    } catch {
      // A broken logger must not break the sender.
    }
  }

  /** Browsers: a page going away sends what is queued, with `keepalive` so it can finish. */
  #flushWhenPageHides() {
    const doc = globalThis.document;
    if (!doc || typeof doc.addEventListener !== 'function') return;
    doc.addEventListener('visibilitychange', () => {
      if (doc.visibilityState === 'hidden') this.#run(true, { keepalive: true });
    });
  }
}

function positive(value, fallback, name) {
  const n = value ?? fallback;
  if (!(Number.isFinite(n) && n > 0)) throw new TypeError(`${name}: must be a positive number`);
  return n;
}
