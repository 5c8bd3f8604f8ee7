"""Sends metric events to Switchyard's ``POST /events/v1/bulk`` (format: docs/events.md) the way
the Rust SDK does (crates/sdk/src/events.rs): a bounded queue whose oldest events are dropped and
counted, batches of at most 2,000 gzipped events each with a random id, retried unchanged (same
id, same bytes) on no answer, 429 and 5xx with backoff or after ``Retry-After``, a refused batch
(other 4xx) dropped and counted, and 401/403/404 ending tracking with one warning. ``track`` only
appends to a deque under a lock: it never waits on the network and never raises. Sending runs on
one daemon thread."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import math
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from ._context import context_parts, valid_name

SDK_NAME = "switchyard-openfeature-python/0.1.0"
MAX_BATCH_EVENTS = 2000
# Bytes of event JSON per batch: well under the server's 1 MiB body limit even ungzipped.
MAX_BATCH_BYTES = 512 * 1024
MAX_EVENT_BYTES = 16 * 1024
MAX_BACKOFF_S = 60.0

logger = logging.getLogger("switchyard.openfeature.tracking")


def new_batch_id() -> str:
    """128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


def retry_after_seconds(header: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) in seconds, or ``None``."""
    if header is None:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        at = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, at - (time.time() if now is None else now))


@dataclass
class _Batch:
    batch_id: str
    body: bytes
    count: int
    dropped: int


@dataclass
class _Retry:
    after_s: float | None


_NEXT = "next"
_ALL = "all"
_NEVER = "never"


class EventSender:
    """Queues metric events and sends them from a daemon thread.

    :param url: the server's base URL (``https://flags.example.com``)
    :param sdk_key: a server or client SDK key of the environment
    :param flush_interval: seconds between batches (2)
    :param capacity: events queued at most (10,000); beyond, the oldest go and are counted
    :param settle: seconds an event waits before it is sent (1.5): the server writes the
        exposures of OFREP evaluations to its store every second, and a metric counts toward a
        cohort only once its context's exposure is stored
    :param timeout: seconds per request (30)
    """

    def __init__(
        self,
        url: str,
        sdk_key: str,
        *,
        flush_interval: float = 2.0,
        capacity: int = 10_000,
        settle: float = 1.5,
        timeout: float = 30.0,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError("url: the Switchyard server URL is required")
        if not isinstance(sdk_key, str) or not sdk_key:
            raise ValueError("sdk_key: an SDK key is required")
        if not flush_interval > 0:
            raise ValueError("flush_interval: must be positive")
        if not (isinstance(capacity, int) and capacity > 0):
            raise ValueError("capacity: must be a positive integer")
        if not settle >= 0:
            raise ValueError("settle: must be 0 or more")
        self._endpoint = url.rstrip("/") + "/events/v1/bulk"
        self._sdk_key = sdk_key
        self._interval = float(flush_interval)
        self._capacity = capacity
        self._settle = float(settle)
        self._timeout = timeout
        # Guards the queue, the counters and the flags; `_wake` is notified on flush and close.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        # The sending thread takes it for a whole pass, so passes never overlap.
        self._send_lock = threading.Lock()
        self._queue: deque[tuple[float, str]] = deque()
        self._held: _Batch | None = None
        self._dropped_since_batch = 0
        self._window_start_ms = _now_ms()
        self._counts = {"tracked": 0, "sent": 0, "dropped": 0, "invalid": 0}
        self._stopped = False
        self._closed = False
        # Set by `shutdown`: when the final send must be over (monotonic seconds).
        self._deadline: float | None = None
        self._failures = 0
        self._flush_requests = 0
        self._thread = threading.Thread(
            target=self._run, name="switchyard-tracking", daemon=True
        )
        self._thread.start()

    def track(self, name: str, context: Any = None, value: Any = None) -> None:
        """Queues a metric event ``name`` with ``value`` (default 1) for the context's parts.
        Returns at once; an event the server would refuse (empty or over-long name, a value that
        is not a finite number, a context without a usable key) is counted as invalid."""
        try:
            if self._stopped or self._closed:
                return
            value = 1 if value is None else value
            parts = context_parts(context)
            valid_value = (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
            line = None
            if valid_name(name) and valid_value and parts:
                at_ms = _now_ms()
                line = json.dumps(
                    {"type": "metric", "at_ms": at_ms, "contexts": parts, "name": name, "value": float(value)},
                    separators=(",", ":"),
                    ensure_ascii=False,
                )
                if len(line.encode("utf-8")) > MAX_EVENT_BYTES:
                    line = None
            with self._lock:
                self._counts["tracked"] += 1
                if line is None:
                    self._counts["invalid"] += 1
                    return
                if len(self._queue) >= self._capacity:
                    self._queue.popleft()
                    self._count_dropped(1)
                self._queue.append((time.monotonic(), line))
        except Exception:  # noqa: BLE001 - tracking must never break the application
            try:
                with self._lock:
                    self._counts["invalid"] += 1
            except Exception:  # noqa: BLE001
                pass

    def stats(self) -> dict[str, Any]:
        """Tracked, sent, dropped (queue full or refused), invalid, queued, stopped."""
        with self._lock:
            queued = len(self._queue) + (self._held.count if self._held else 0)
            return {**self._counts, "queued": queued, "stopped": self._stopped}

    def flush(self) -> None:
        """Sends everything queued now (after letting the youngest event settle), a held batch
        first, in the calling thread."""
        self._settle_youngest()
        self._send_pass(everything=True)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stops the thread and sends what is queued, once, within ``timeout`` seconds: the
        final send's requests are cut short at that deadline (not left running past the return
        on a thread the interpreter then abandons), and what could not be sent in time is
        logged. Later ``track`` calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._deadline = time.monotonic() + max(0.0, timeout)
            self._wake.notify_all()
        # The thread stops at the deadline; the margin lets it notice.
        self._thread.join(max(0.0, timeout) + 1.0)

    # --- sending -------------------------------------------------------------------------

    def _count_dropped(self, n: int) -> None:
        self._dropped_since_batch += n
        self._counts["dropped"] += n

    def _settle_youngest(self) -> None:
        with self._lock:
            youngest = self._queue[-1][0] if self._queue else None
        if youngest is not None:
            wait = min(self._settle, youngest + self._settle - time.monotonic())
            if self._deadline is not None:
                wait = min(wait, self._deadline - time.monotonic())
            if wait > 0:
                time.sleep(wait)

    def _run(self) -> None:
        delay = self._interval
        while True:
            with self._lock:
                if not self._closed and not self._stopped:
                    self._wake.wait(delay)
                closed, stopped = self._closed, self._stopped
            if stopped:
                return
            if closed:
                self._settle_youngest()
                self._send_pass(everything=True)
                with self._lock:
                    unsent = len(self._queue) + (self._held.count if self._held else 0)
                if unsent and not self._stopped:
                    logger.warning(
                        "Switchyard tracking: shutdown: %d events not sent before the deadline", unsent
                    )
                return
            delay = self._send_pass(everything=False)

    def _send_pass(self, everything: bool) -> float:
        """One pass; returns the delay until the next."""
        with self._send_lock:
            try:
                outcome = self._send_all(everything)
            except Exception:  # noqa: BLE001 - the thread must keep running
                logger.debug("sending events failed", exc_info=True)
                outcome = _Retry(None)
        if outcome in (_ALL, _NEVER):
            self._failures = 0
            return self._interval
        self._failures += 1
        # Doubling from the flush interval up to a minute, unless the server says.
        backoff = min(self._interval * 2 ** min(self._failures, 6), MAX_BACKOFF_S)
        return outcome.after_s if outcome.after_s is not None else backoff

    def _send_all(self, everything: bool) -> str | _Retry:
        while True:
            with self._lock:
                if self._stopped:
                    return _NEVER
                batch = self._held
                taken = None if batch else self._take_batch(everything)
            if batch is None:
                if taken is None:
                    return _ALL
                batch_id, text, count, dropped = taken
                # Encoded once, outside the lock: a retry sends the very same bytes.
                body = gzip.compress(text.encode("utf-8"), compresslevel=1)
                batch = _Batch(batch_id, body, count, dropped)
                with self._lock:
                    self._held = batch
            outcome = self._post(batch)
            if outcome != _NEXT:
                return outcome

    def _take_batch(self, everything: bool) -> tuple[str, str, int, int] | None:
        """The id, JSON, event count and dropped count of a new batch of what has settled
        (everything when asked), or ``None``; the lock is held."""
        now = time.monotonic()
        cutoff = math.inf if everything else now - self._settle
        lines: list[str] = []
        size = 0
        while self._queue and len(lines) < MAX_BATCH_EVENTS:
            at, line = self._queue[0]
            if at > cutoff or (lines and size + len(line) > MAX_BATCH_BYTES):
                break
            self._queue.popleft()
            lines.append(line)
            size += len(line) + 1
        dropped = self._dropped_since_batch
        if not lines and dropped == 0:
            return None
        self._dropped_since_batch = 0
        end_ms = _now_ms()
        batch_id = new_batch_id()
        head = json.dumps(
            {
                "format": 1,
                "batch_id": batch_id,
                "sdk": SDK_NAME,
                "start_ms": self._window_start_ms,
                "end_ms": end_ms,
                "summaries": [],
            },
            separators=(",", ":"),
        )
        self._window_start_ms = end_ms
        text = f'{head[:-1]},"events":[{",".join(lines)}],"dropped":{dropped}}}'
        return batch_id, text, len(lines), dropped

    def _request_timeout(self) -> float | None:
        """Seconds the next request may take: the configured timeout, cut to what is left
        before the shutdown's deadline; ``None`` once it has passed."""
        if self._deadline is None:
            return self._timeout
        left = self._deadline - time.monotonic()
        return min(self._timeout, left) if left > 0 else None

    def _post(self, batch: _Batch) -> str | _Retry:
        timeout = self._request_timeout()
        if timeout is None:
            return _Retry(None)
        request = urllib.request.Request(
            self._endpoint,
            data=batch.body,
            method="POST",
            headers={
                "Authorization": self._sdk_key,
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "User-Agent": SDK_NAME,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                status = response.status
                retry_after = None
        except urllib.error.HTTPError as error:
            status = error.code
            retry_after = error.headers.get("Retry-After") if error.headers else None
            error.close()
        except (OSError, ValueError, http.client.HTTPException):  # no answer: refused, reset, timed out
            return _Retry(None)
        with self._lock:
            if 200 <= status < 300:
                self._held = None
                self._counts["sent"] += batch.count
                return _NEXT
            if status == 429 or status >= 500:
                return _Retry(retry_after_seconds(retry_after))
            self._held = None
            if status in (401, 403, 404):
                self._stop_locked(status)
                return _NEVER
            # Refused as it is (malformed, too large): resending cannot help.
            self._count_dropped(batch.count)
            self._dropped_since_batch += batch.dropped
            return _NEXT

    def _stop_locked(self, status: int) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._queue.clear()
        self._held = None
        self._wake.notify_all()
        if status == 404:
            logger.warning("Switchyard tracking: %s takes no events (404); not sending any", self._endpoint)
        else:
            logger.warning("Switchyard tracking: the SDK key may not send events (%s); not sending any", status)


def _now_ms() -> int:
    return int(time.time() * 1000)
