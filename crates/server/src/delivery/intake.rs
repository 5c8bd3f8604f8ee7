//! Admission of event batches: at most [`MAX_CONCURRENT_BATCHES`] are written at once (more
//! are turned away with `429`), when exposures were last pruned, and the caps on what a
//! client (public) SDK key may report: [`CLIENT_KEY_EVENTS_PER_SECOND`] per key and
//! [`CLIENT_EVENTS_PER_CONTEXT_PER_MINUTE`] per context. Events over a cap are dropped and
//! counted (`switchyard_events_dropped_total{reason}`), never an error for the whole batch.
//!
//! The caps' state is in memory, per replica, and bounded ([`MAX_TRACKED_CONTEXTS`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::Read as _;
use std::sync::Mutex;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse as _, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use switchyard_engine::wire::ContextRef;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::MAX_DECODED_BYTES;
use crate::error::{ApiError, Code};

/// Batches written at once; beyond this, `429`. Each holds its decoded events (at most
/// [`MAX_DECODED_BYTES`] of JSON); on SQLite the admitted ones queue for the one writer, and
/// with fewer than 8 the writer sat idle between batches while the next was being decoded.
pub const MAX_CONCURRENT_BATCHES: usize = 8;
/// Summaries and events a client SDK key may report per second, sustained.
pub const CLIENT_KEY_EVENTS_PER_SECOND: u32 = 1_000;
/// What a client key may report at once after a quiet spell (one full batch).
pub const CLIENT_KEY_EVENTS_BURST: u32 = 10_000;
/// Exposures and metric events one context (any part of it) may report through a client key
/// per minute.
pub const CLIENT_EVENTS_PER_CONTEXT_PER_MINUTE: u32 = 120;
/// Contexts whose counts are kept; a full table starts over.
pub const MAX_TRACKED_CONTEXTS: usize = 100_000;
const CONTEXT_WINDOW: Duration = Duration::from_secs(60);

/// Why an event was dropped at intake.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum DropReason {
    /// A client key reported a flag that is not client-visible, or does not exist.
    NotClientVisible,
    /// Over its key's rate.
    KeyRate,
    /// Over its context's rate.
    ContextRate,
    /// Dropped by the sender before it sent them (its queue was full): the `dropped` a batch
    /// reports, counted where the batch is stored.
    SenderQueueFull,
    /// OFREP evaluations this server recorded but could not keep (its queue was full while the
    /// store was slow or away).
    RecorderQueueFull,
}

impl DropReason {
    pub const ALL: [DropReason; 5] = [
        DropReason::NotClientVisible,
        DropReason::KeyRate,
        DropReason::ContextRate,
        DropReason::SenderQueueFull,
        DropReason::RecorderQueueFull,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::NotClientVisible => "not_client_visible",
            DropReason::KeyRate => "key_rate",
            DropReason::ContextRate => "context_rate",
            DropReason::SenderQueueFull => "sender_queue_full",
            DropReason::RecorderQueueFull => "recorder_queue_full",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    reason: &'static str,
}

/// What became of an event batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Stored (its items counted in `switchyard_events_accepted_total`).
    Accepted,
    /// Its batch id was seen before: answered, not counted again.
    Duplicate,
    /// Queued by a relay for its upstream.
    Forwarded,
    Unauthorized,
    /// `429`: too many batches at once, or a relay's queue is full.
    RateLimited,
    /// `400`/`422`: a body or field that does not check.
    Invalid,
    TooLarge,
    Unavailable,
    /// The store failed.
    Failed,
}

impl BatchOutcome {
    pub const ALL: [BatchOutcome; 9] = [
        BatchOutcome::Accepted,
        BatchOutcome::Duplicate,
        BatchOutcome::Forwarded,
        BatchOutcome::Unauthorized,
        BatchOutcome::RateLimited,
        BatchOutcome::Invalid,
        BatchOutcome::TooLarge,
        BatchOutcome::Unavailable,
        BatchOutcome::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            BatchOutcome::Accepted => "accepted",
            BatchOutcome::Duplicate => "duplicate",
            BatchOutcome::Forwarded => "forwarded",
            BatchOutcome::Unauthorized => "unauthorized",
            BatchOutcome::RateLimited => "rate_limited",
            BatchOutcome::Invalid => "invalid",
            BatchOutcome::TooLarge => "too_large",
            BatchOutcome::Unavailable => "unavailable",
            BatchOutcome::Failed => "failed",
        }
    }

    /// The outcome of a batch refused with `code`.
    pub fn refused(code: Code) -> BatchOutcome {
        match code {
            Code::Unauthorized | Code::Forbidden => BatchOutcome::Unauthorized,
            Code::RateLimited => BatchOutcome::RateLimited,
            Code::BadRequest | Code::ValidationFailed => BatchOutcome::Invalid,
            Code::PayloadTooLarge => BatchOutcome::TooLarge,
            Code::Unavailable => BatchOutcome::Unavailable,
            _ => BatchOutcome::Failed,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    kind: &'static str,
}

/// Event batches by outcome and accepted items by kind. Every label set is made once, up front,
/// so counting a batch is an atomic add: no lock, no allocation.
#[derive(Debug)]
pub struct IntakeCounters {
    /// `switchyard_event_batches_total{outcome}`.
    pub batches: Family<OutcomeLabels, Counter>,
    /// `switchyard_events_accepted_total{kind}`: summaries, exposures and metric events stored
    /// (or, on a relay, forwarded).
    pub accepted: Family<KindLabels, Counter>,
    by_outcome: [Counter; BatchOutcome::ALL.len()],
    /// Summaries, exposures, metric events.
    by_kind: [Counter; 3],
}

impl Default for IntakeCounters {
    fn default() -> Self {
        let batches = Family::<OutcomeLabels, Counter>::default();
        let accepted = Family::<KindLabels, Counter>::default();
        let by_outcome = BatchOutcome::ALL.map(|outcome| {
            batches
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.as_str(),
                })
                .clone()
        });
        let by_kind = ["summary", "exposure", "metric"]
            .map(|kind| accepted.get_or_create(&KindLabels { kind }).clone());
        IntakeCounters {
            batches,
            accepted,
            by_outcome,
            by_kind,
        }
    }
}

impl IntakeCounters {
    pub fn batch(&self, outcome: BatchOutcome) {
        self.by_outcome[outcome as usize].inc();
    }

    /// Counts what a stored or forwarded batch held.
    pub fn accepted(&self, summaries: usize, exposures: usize, metrics: usize) {
        for (counter, n) in self.by_kind.iter().zip([summaries, exposures, metrics]) {
            counter.inc_by(n as u64);
        }
    }
}

/// Intake state: the admission limit, when exposures were last pruned, the client-key caps.
#[derive(Debug)]
pub struct Intake {
    admission: Semaphore,
    pub(super) last_pruned_ms: AtomicI64,
    caps: Mutex<Caps>,
    /// Events dropped at intake, by reason.
    pub dropped: Family<DropLabels, Counter>,
    /// `dropped`'s counters, made up front so counting takes no lock.
    dropped_by_reason: [Counter; DropReason::ALL.len()],
    /// Spans received at `/v1/traces`, by outcome (`otlp/`).
    pub otlp_spans: super::otlp::SpanCounters,
    /// Event batches by outcome, accepted items by kind.
    pub counters: IntakeCounters,
    /// Held while OFREP's recorded events are written to the store, so an intake that writes
    /// them before counting metric events waits for a write already under way instead of
    /// finding the recorder emptied by it and counting first.
    pub(super) recorded_writes: tokio::sync::Mutex<()>,
    /// Each environment's running experiments, until a commit touches one.
    pub(super) running_experiments: super::experiment_tags::RunningExperiments,
}

#[derive(Debug)]
struct Caps {
    /// Key id → its token bucket.
    keys: HashMap<String, Bucket>,
    /// Hash of (key id, context kind, key) → its window.
    contexts: HashMap<u64, (Instant, u32)>,
    hasher: RandomState,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Default for Intake {
    fn default() -> Self {
        let dropped = Family::<DropLabels, Counter>::default();
        Intake {
            admission: Semaphore::new(MAX_CONCURRENT_BATCHES),
            last_pruned_ms: AtomicI64::new(0),
            caps: Mutex::new(Caps {
                keys: HashMap::new(),
                contexts: HashMap::new(),
                hasher: RandomState::new(),
            }),
            dropped_by_reason: DropReason::ALL.map(|reason| {
                dropped
                    .get_or_create(&DropLabels {
                        reason: reason.as_str(),
                    })
                    .clone()
            }),
            dropped,
            otlp_spans: Family::default(),
            counters: IntakeCounters::default(),
            recorded_writes: tokio::sync::Mutex::new(()),
            running_experiments: Default::default(),
        }
    }
}

impl Intake {
    /// One batch's slot among the [`MAX_CONCURRENT_BATCHES`] written at once, held until it
    /// is dropped; `None` when every slot is taken (the sender is answered `429`).
    pub fn admit(&self) -> Option<SemaphorePermit<'_>> {
        self.admission.try_acquire().ok()
    }

    /// Counts `n` events dropped for `reason`.
    pub fn count_dropped(&self, reason: DropReason, n: usize) {
        if n > 0 {
            self.dropped_by_reason[reason as usize].inc_by(n as u64);
        }
    }

    /// How many of `wanted` items a client key may report now (taken from its budget).
    pub(super) fn take_key_budget(&self, key_id: &str, wanted: usize, now: Instant) -> usize {
        let Ok(mut caps) = self.caps.lock() else {
            return wanted;
        };
        let burst = f64::from(CLIENT_KEY_EVENTS_BURST);
        if !caps.keys.contains_key(key_id) && caps.keys.len() >= MAX_TRACKED_CONTEXTS {
            // Keys are few; a table this full is stale entries from deleted keys.
            caps.keys.clear();
        }
        let bucket = caps.keys.entry(key_id.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64()
            * f64::from(CLIENT_KEY_EVENTS_PER_SECOND);
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        let granted = (wanted as f64).min(bucket.tokens.floor()).max(0.0);
        bucket.tokens -= granted;
        granted as usize
    }

    /// Whether an event of `contexts` through key `key_id` is within every part's
    /// per-minute cap (and counts it when it is).
    pub(super) fn admit_context(
        &self,
        key_id: &str,
        contexts: &[ContextRef],
        now: Instant,
    ) -> bool {
        let Ok(mut caps) = self.caps.lock() else {
            return true;
        };
        let hashes: Vec<u64> = contexts
            .iter()
            .map(|part| caps.hasher.hash_one((key_id, &part.kind, &part.key)))
            .collect();
        let fresh =
            |entry: &(Instant, u32)| now.saturating_duration_since(entry.0) < CONTEXT_WINDOW;
        let over = hashes.iter().any(|hash| {
            caps.contexts.get(hash).is_some_and(|entry| {
                fresh(entry) && entry.1 >= CLIENT_EVENTS_PER_CONTEXT_PER_MINUTE
            })
        });
        if over {
            return false;
        }
        if caps.contexts.len() + hashes.len() > MAX_TRACKED_CONTEXTS {
            caps.contexts.retain(|_, entry| fresh(entry));
            if caps.contexts.len() + hashes.len() > MAX_TRACKED_CONTEXTS {
                // Bounded memory over exact counts: a full table starts over.
                caps.contexts.clear();
            }
        }
        for hash in hashes {
            let entry = caps.contexts.entry(hash).or_insert((now, 0));
            if !fresh(entry) {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
        true
    }
}

/// The body as sent, or inflated when `Content-Encoding: gzip` says so: `400` when it does not
/// decode, `413` when it expands past [`MAX_DECODED_BYTES`] (read no further than that).
pub(super) fn inflate<'b>(headers: &HeaderMap, body: &'b [u8]) -> Result<Cow<'b, [u8]>, ApiError> {
    let gzipped = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if !gzipped {
        return Ok(Cow::Borrowed(body));
    }
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| ApiError::bad_request(format!("the gzip body does not decode: {e}")))?;
    if inflated.len() as u64 > MAX_DECODED_BYTES {
        return Err(ApiError::new(
            Code::PayloadTooLarge,
            format!("the body decodes to more than {MAX_DECODED_BYTES} bytes"),
        ));
    }
    Ok(Cow::Owned(inflated))
}

/// An intake's answer to a refusal (event batches and OTLP exports alike): the error, with
/// `Retry-After` when it is the admission bound's `429`, so senders back off and retry.
pub(super) fn refuse(error: ApiError) -> Response {
    let retry = error.code == Code::RateLimited;
    let mut response = error.into_response();
    if retry {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(key: &str) -> Vec<ContextRef> {
        vec![ContextRef {
            kind: "user".into(),
            key: key.into(),
        }]
    }

    #[test]
    fn a_client_key_gets_its_burst_then_its_rate() {
        let intake = Intake::default();
        let t0 = Instant::now();
        assert_eq!(intake.take_key_budget("k", 8_000, t0), 8_000);
        assert_eq!(intake.take_key_budget("k", 8_000, t0), 2_000);
        assert_eq!(intake.take_key_budget("k", 10, t0), 0);
        assert_eq!(intake.take_key_budget("other", 10, t0), 10);
        let later = t0 + Duration::from_secs(2);
        assert_eq!(intake.take_key_budget("k", 5_000, later), 2_000);
    }

    #[test]
    fn a_context_is_capped_per_minute_and_per_key() {
        let intake = Intake::default();
        let t0 = Instant::now();
        let admitted = (0..200)
            .filter(|_| intake.admit_context("k", &user("u1"), t0))
            .count();
        assert_eq!(admitted, CLIENT_EVENTS_PER_CONTEXT_PER_MINUTE as usize);
        assert!(intake.admit_context("k", &user("u2"), t0));
        assert!(intake.admit_context("k2", &user("u1"), t0));
        // A made-up second part does not get a capped context past its cap.
        let mut mixed = user("u1");
        mixed.extend(vec![ContextRef {
            kind: "device".into(),
            key: "fresh".into(),
        }]);
        assert!(!intake.admit_context("k", &mixed, t0));
        assert!(intake.admit_context("k", &user("u1"), t0 + CONTEXT_WINDOW));
    }
}
