//! What the SDK reports (format in `docs/events.md`): a summary of every evaluation (flag,
//! version, variation, reason kind, count per window), the first exposure of each context to
//! each flag variation (deduplicated in a bounded cache), and metric events from
//! [`crate::Client::track`].
//!
//! Recording is a short critical section on in-memory maps; sending happens on a background task
//! that batches, gzips and posts to `POST /events/v1/bulk` every flush interval and on close,
//! retrying with backoff. The queue is bounded: when it is full the oldest event is dropped and
//! counted, and the count is reported with the next batch.
//!
//! Every batch carries a random id ([`Batch::batch_id`]). A batch that may not have arrived is
//! held and sent again unchanged, with its id, before anything newer, so a server that did count
//! it (only its answer was lost) counts it once.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};
pub use switchyard_engine::wire::{
    ContextRef, EVENTS_FORMAT, EvaluationSummary as Summary, Event, EventBatch as Batch,
    ReleaseCohortRef,
};
use switchyard_engine::{Cohort, Context, ReleaseCohort};

use held::{Held, new_batch_id};
pub use record::Bulk;
pub use tally::Revision;
pub(crate) use tally::Tally;

/// Event settings (see [`crate::ClientBuilder::events`]).
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Record and send events at all.
    pub enabled: bool,
    /// How often batches are sent (and evaluation summaries cut).
    pub flush_interval: Duration,
    /// Exposures and metric events kept while waiting to be sent; beyond it the oldest go.
    pub capacity: usize,
    /// Distinct (context, flag, variation) exposures remembered to avoid resending them.
    pub exposure_cache: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            enabled: true,
            // 1 s: half a guarded release's wait for evidence (benches/guard.sh) for one small
            // gzipped post a second per process.
            flush_interval: Duration::from_secs(1),
            capacity: 10_000,
            exposure_cache: 100_000,
        }
    }
}

/// Summary counters: flag → (version, variation index, reason, release cohort) → (variation
/// key, release, count). A flag version has at most one release stage, so the cohort alone
/// tells its slots apart.
/// Fx hashing: these maps are on every evaluation's path and their keys are not attacker-chosen.
type Counters = FxHashMap<String, FxHashMap<Slot, (Option<String>, Option<ReleaseCohortRef>, u64)>>;
type Slot = (u64, Option<usize>, &'static str, Option<Cohort>);

/// The current summary window, summaries of a batch that could not be sent, and the exposures
/// already reported (one lock for all: an evaluation takes it once).
#[derive(Debug)]
struct Window {
    start_ms: i64,
    counters: Counters,
    carried: Carried,
    /// Fingerprints of (context, flag, variation) exposures already queued.
    seen: FxHashSet<u64>,
}

/// Exposures queued lately, checked before taking the window's lock (`record.rs`).
#[derive(Debug)]
struct Recent(Box<[AtomicU64]>);

/// Summaries not yet sent that came from elsewhere (a failed send, a relayed batch), merged by
/// (flag, version, variation, reason, release) so that holding them while the server is away is
/// bounded by the number of distinct slots, not by time.
type Carried = HashMap<
    (
        String,
        u64,
        Option<String>,
        String,
        Option<ReleaseCohortRef>,
    ),
    u64,
>;

fn carry(carried: &mut Carried, summaries: Vec<Summary>) {
    for summary in summaries {
        *carried
            .entry((
                summary.flag,
                summary.version,
                summary.variation,
                summary.reason,
                summary.release,
            ))
            .or_default() += summary.count;
    }
}

/// Everything recorded and not yet sent.
#[derive(Debug)]
pub struct Recorder {
    config: EventsConfig,
    window: Mutex<Window>,
    queue: Mutex<VecDeque<Event>>,
    /// Whole batches to send as they are, with their ids, before anything else: one whose send
    /// failed, and batches a relay took from its SDKs.
    held: Mutex<Held>,
    dropped: AtomicU64,
    /// Cleared when the server has no intake or refuses the key: recording stops too.
    accepting: AtomicBool,
    recent: Recent,
    /// The counters of the revisions evaluated since the last batch, folded in when one is cut.
    tallies: Mutex<Vec<Arc<Tally>>>,
    /// The counters of the revision bulk evaluations were last recorded for ([`Recorder::bulk`]).
    current: arc_swap::ArcSwapOption<Tally>,
}

/// What an evaluation contributes to the events.
#[derive(Debug)]
pub struct Evaluated<'a> {
    pub flag: &'a str,
    pub version: u64,
    pub variation_index: Option<usize>,
    pub variation: Option<&'a str>,
    pub reason: &'static str,
    pub release: Option<ReleaseCohort<'a>>,
    /// The evaluation placed the context in an experiment (the rollout's `in_experiment`).
    pub in_experiment: bool,
}

impl Recorder {
    pub fn new(config: EventsConfig, now_ms: i64) -> Recorder {
        Recorder {
            accepting: AtomicBool::new(config.enabled),
            recent: Recent::new(config.exposure_cache),
            tallies: Mutex::default(),
            current: arc_swap::ArcSwapOption::empty(),
            config,
            window: Mutex::new(Window {
                start_ms: now_ms,
                counters: FxHashMap::default(),
                carried: HashMap::new(),
                seen: FxHashSet::default(),
            }),
            queue: Mutex::default(),
            held: Mutex::default(),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &EventsConfig {
        &self.config
    }

    pub fn is_recording(&self) -> bool {
        self.accepting.load(Ordering::Relaxed)
    }

    /// Stops recording and sending (the server cannot take events).
    pub fn stop(&self) {
        self.accepting.store(false, Ordering::Relaxed);
    }

    /// Counts an evaluation and, the first time this context sees this variation, queues an
    /// exposure.
    pub fn evaluated(&self, evaluated: &Evaluated<'_>, context: &Context, now_ms: i64) {
        self.record(std::slice::from_ref(evaluated), context, || now_ms);
    }

    /// [`Recorder::evaluated`] reading the clock only when an exposure is queued, and counting
    /// in `tally` (the revision's counters, at the flag's position) when one is given.
    pub(crate) fn evaluated_lazily(
        &self,
        evaluated: &Evaluated<'_>,
        context: &Context,
        now_ms: impl FnOnce() -> i64,
        tally: Option<(&Tally, usize)>,
    ) {
        self.record_one(evaluated, context, now_ms, tally);
    }

    /// [`Recorder::evaluated`] for several flags evaluated for one context: each lock is taken
    /// once, and the context is hashed once. Where the flags come from one compiled revision,
    /// [`Recorder::bulk`] records the same without the lock for repeat contexts (OFREP answers
    /// use it); this is the plain path, and the reference the bulk path is tested against.
    pub fn evaluated_all(&self, evaluations: &[Evaluated<'_>], context: &Context, now_ms: i64) {
        self.record(evaluations, context, || now_ms);
    }

    /// Queues a metric event.
    pub fn track(&self, name: &str, context: &Context, value: f64, now_ms: i64) {
        if self.is_recording() {
            self.enqueue(Event::Metric {
                at_ms: now_ms,
                contexts: context_refs(context),
                name: name.to_owned(),
                value,
            });
        }
    }

    fn enqueue(&self, event: Event) {
        let Ok(mut queue) = self.queue.lock() else {
            return;
        };
        if queue.len() >= self.config.capacity {
            queue.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queue.push_back(event);
    }

    /// The next batch to send: a held one (see [`Recorder::retry_later`]) as it was, else
    /// everything recorded since the last batch (at most `max_events` events) under a new id;
    /// `None` when there is nothing to send.
    pub fn take_batch(&self, max_events: usize, now_ms: i64) -> Option<Batch> {
        self.next_batch(max_events, now_ms).map(|(batch, _)| batch)
    }

    /// The batches due at a flush, for its sender to send or write one by one: held batches,
    /// then what was recorded until the cut, cutting on only while each cut was full (under
    /// steady load every cut finds something new, and cutting on would post back to back).
    /// `now_ms` is the sender's clock, read at each cut.
    pub fn due_batches(
        &self,
        max_events: usize,
        now_ms: fn() -> i64,
    ) -> impl Iterator<Item = Batch> {
        let mut next = Next::More;
        std::iter::from_fn(move || {
            if next == Next::Recorded {
                return None;
            }
            let (batch, then) = self.next_batch(max_events, now_ms())?;
            next = then;
            Some(batch)
        })
    }

    /// [`Recorder::take_batch`], saying whether the batch is what was recorded until now
    /// (`Next::Recorded`: nothing more until new evaluations) or more may follow at once.
    fn next_batch(&self, max_events: usize, now_ms: i64) -> Option<(Batch, Next)> {
        if let Some(held) = self.held.lock().ok().and_then(|mut held| held.pop_front()) {
            // No cut while a batch is held, so fold here: the revisions served meanwhile are
            // let go of instead of piling up (each holds its snapshot) until the endpoint is back.
            if let Ok(mut window) = self.window.lock() {
                self.fold_tallies(&mut window.counters);
            }
            return Some((held, Next::More));
        }
        let batch = self.cut(max_events, now_ms)?;
        let next = if batch.events.len() >= max_events {
            Next::More
        } else {
            Next::Recorded
        };
        Some((batch, next))
    }

    /// Everything recorded since the last batch (at most `max_events` events) as a new batch.
    fn cut(&self, max_events: usize, now_ms: i64) -> Option<Batch> {
        let (start_ms, counters, carried) = match self.window.lock() {
            Ok(mut window) => {
                self.fold_tallies(&mut window.counters);
                (
                    std::mem::replace(&mut window.start_ms, now_ms),
                    std::mem::take(&mut window.counters),
                    std::mem::take(&mut window.carried),
                )
            }
            Err(_) => (now_ms, FxHashMap::default(), HashMap::new()),
        };
        let mut summaries: Vec<Summary> = carried
            .into_iter()
            .map(
                |((flag, version, variation, reason, release), count)| Summary {
                    flag,
                    version,
                    variation,
                    reason,
                    release,
                    count,
                },
            )
            .collect();
        for (flag, slots) in counters {
            for ((version, _, reason, _), (variation, release, count)) in slots {
                summaries.push(Summary {
                    flag: flag.clone(),
                    version,
                    variation,
                    reason: reason.to_owned(),
                    release,
                    count,
                });
            }
        }
        let events: Vec<Event> = match self.queue.lock() {
            Ok(mut queue) => {
                let take = queue.len().min(max_events);
                queue.drain(..take).collect()
            }
            Err(_) => Vec::new(),
        };
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if summaries.is_empty() && events.is_empty() && dropped == 0 {
            return None;
        }
        Some(Batch {
            format: EVENTS_FORMAT,
            batch_id: new_batch_id(),
            sdk: concat!("switchyard-rust/", env!("CARGO_PKG_VERSION")).to_owned(),
            start_ms,
            end_ms: now_ms,
            summaries,
            events,
            dropped,
            client_visible_only: false,
        })
    }

    /// Holds a batch that may not have arrived (no answer, `429`, `5xx`, a failed write) to be
    /// taken again first, unchanged: with the same id, a receiver that did count it counts it
    /// once. A batch without an id is merged back instead, ahead of newer events (one that
    /// must stay whole, [`Batch::client_visible_only`], is held all the same).
    pub fn retry_later(&self, batch: Batch) {
        if !must_stay_whole(&batch) {
            self.merge_back(batch);
            return;
        }
        if let Ok(mut held) = self.held.lock() {
            held.push_front(batch);
        }
    }

    /// Puts a batch's contents back ahead of newer events, within the bounds.
    fn merge_back(&self, batch: Batch) {
        if let Ok(mut window) = self.window.lock() {
            window.start_ms = window.start_ms.min(batch.start_ms);
            carry(&mut window.carried, batch.summaries);
        }
        self.dropped.fetch_add(batch.dropped, Ordering::Relaxed);
        if let Ok(mut queue) = self.queue.lock() {
            for event in batch.events.into_iter().rev() {
                if queue.len() >= self.config.capacity {
                    // The batch's events are the oldest: they are the ones to go.
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                queue.push_front(event);
            }
        }
    }

    /// Puts a batch's summaries, dropped count and events behind what is already recorded.
    fn merge_in(&self, batch: Batch) {
        if let Ok(mut window) = self.window.lock() {
            carry(&mut window.carried, batch.summaries);
        }
        self.dropped.fetch_add(batch.dropped, Ordering::Relaxed);
        for event in batch.events {
            self.enqueue(event);
        }
    }
}

/// Whether a batch goes on as it is: one with an id (the upstream counts it once), and one a
/// public client key posted to a relay (its `client_visible_only` must cover exactly its own
/// events).
fn must_stay_whole(batch: &Batch) -> bool {
    batch.batch_id.is_some() || batch.client_visible_only
}

fn context_refs(context: &Context) -> Vec<ContextRef> {
    context
        .parts()
        .iter()
        .map(|part| ContextRef {
            kind: part.kind().to_owned(),
            key: part.key().to_owned(),
        })
        .collect()
}

/// The batch as sent: JSON, gzipped.
pub fn encode(batch: &Batch) -> std::io::Result<Vec<u8>> {
    let json = serde_json::to_vec(batch)?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&json)?;
    gzip.finish()
}

/// Events in one request at most (the server's size limit is far above this).
const MAX_BATCH_EVENTS: usize = 2_000;

/// What to do after a send attempt.
enum Sent {
    /// Everything recorded so far was delivered.
    All,
    /// Try again after the delay (the server's `Retry-After`, else backoff).
    Retry(Option<Duration>),
    /// The server will never take events from this client.
    Never,
}

/// Sends batches every flush interval until `closing`, then once more. After failures it backs
/// off, but tries again at once when `sync` reports the flag stream reconnected: the server is
/// back, and events held while it was away should not wait out a long backoff.
pub fn spawn_sender(
    recorder: std::sync::Arc<Recorder>,
    base_url: String,
    sdk_key: String,
    mut closing: tokio::sync::watch::Receiver<bool>,
    mut sync: tokio::sync::watch::Receiver<crate::SyncStatus>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = match reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
        {
            Ok(http) => http,
            Err(error) => {
                tracing::error!(%error, "cannot build an HTTP client; events will not be sent");
                recorder.stop();
                return;
            }
        };
        let url = format!("{base_url}/events/v1/bulk");
        let interval = recorder.config().flush_interval;
        let mut failures: u32 = 0;
        let mut delay = interval;
        loop {
            let closed = *closing.borrow()
                || tokio::select! {
                    () = tokio::time::sleep(delay) => false,
                    _ = closing.wait_for(|closed| *closed) => true,
                    () = reconnected(&mut sync), if failures > 0 => false,
                };
            match send_all(&http, &url, &sdk_key, &recorder).await {
                Sent::All => {
                    failures = 0;
                    delay = interval;
                }
                Sent::Retry(after) => {
                    failures += 1;
                    // Doubling from the flush interval up to a minute, unless the server says.
                    let backoff = interval
                        .saturating_mul(1 << failures.min(6))
                        .min(Duration::from_secs(60));
                    delay = after.unwrap_or(backoff);
                }
                Sent::Never => {
                    recorder.stop();
                    return;
                }
            }
            if closed {
                return;
            }
        }
    })
}

/// Resolves when the flag stream next becomes open (never, if the client has stopped).
async fn reconnected(sync: &mut tokio::sync::watch::Receiver<crate::SyncStatus>) {
    while sync.changed().await.is_ok() {
        if sync.borrow_and_update().state == crate::UpstreamState::Streaming {
            return;
        }
    }
    std::future::pending().await
}

/// Whether a batch taken leaves more to send at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Held batches or a full queue: send on.
    More,
    /// Everything recorded until the cut: the rest waits for the next flush. Sending on would
    /// post back to back under steady load (a relay's OFREP answers fill a window in a few
    /// milliseconds), spending the relay's and the upstream's time on batches of a few ms each.
    Recorded,
}

async fn send_all(http: &reqwest::Client, url: &str, sdk_key: &str, recorder: &Recorder) -> Sent {
    for batch in recorder.due_batches(MAX_BATCH_EVENTS, crate::now_ms) {
        let body = match encode(&batch) {
            Ok(body) => body,
            Err(error) => {
                tracing::warn!(%error, "cannot encode events; dropping a batch");
                continue;
            }
        };
        let response = http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, sdk_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body)
            .send()
            .await;
        let status = match response {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, "events not sent; will retry");
                recorder.retry_later(batch);
                return Sent::Retry(None);
            }
        };
        let code = status.status();
        if code.is_success() {
            continue;
        }
        let retry_after = status
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match code.as_u16() {
            429 | 500..=599 => {
                recorder.retry_later(batch);
                return Sent::Retry(retry_after);
            }
            404 => {
                tracing::warn!(url, "this server does not take events; not sending any");
                return Sent::Never;
            }
            401 | 403 => {
                tracing::error!(%code, "the SDK key may not send events; not sending any");
                return Sent::Never;
            }
            _ => {
                // The batch itself is refused (malformed, too large): resending cannot help.
                tracing::warn!(%code, events = batch.events.len(), "events refused; dropped");
                recorder
                    .dropped
                    .fetch_add(batch.events.len() as u64, Ordering::Relaxed);
            }
        }
    }
    Sent::All
}

mod held;
mod record;
mod tally;
#[cfg(test)]
mod tests;
