//! Event intake: `POST /events/v1/bulk` (format in `docs/events.md`), authenticated by a
//! server or client SDK key of the environment the events belong to, on `serve` and `relay`
//! alike.
//!
//! A batch is checked as a whole before anything is written (`422` naming the first bad
//! field), then written in one transaction ([`switchyard_store::Store::ingest_events`]):
//! all of it or nothing. Bodies may be gzipped; too large a batch is `413`. While
//! [`MAX_CONCURRENT_BATCHES`] batches are being written, more are turned away with `429` and
//! `Retry-After`, so a flood of events never queues up inside the server.
//!
//! A batch may carry its sender's id (`batch_id`); the store records it in the transaction that
//! counts the batch, and a batch whose id it has seen in the last [`BATCH_ID_RETENTION_MS`] is
//! answered like the first time (with `"duplicate": true`) and not counted again. A batch
//! without one (older SDKs and relays) is counted every time it is received.
//!
//! A batch sent with a client (public) key is screened first: events of flags that are not
//! client-visible are dropped, and so is what exceeds the key's and each context's rate
//! (`intake.rs`); its metric events count only toward client-visible flags. Dropped events
//! are counted, and the `202` says how many.
//!
//! A relay has no store: it queues posted batches on the recorder of its SDK client for that
//! environment, whose sender forwards them upstream (retrying, bounded, while it is away). A
//! client key's batch goes on whole, marked `client_visible_only`, and the upstream restricts
//! its metric events as if the client key had posted it there.
//! Evaluations answered over OFREP are recorded on the same per-environment recorders
//! ([`Delivery::recorder`]); on `serve`, [`run_store_writer`] writes them to the store.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use switchyard_engine::wire::{Event, EventBatch};
use switchyard_store::events::EventBatch as StoredBatch;

use switchyard_sdk::events::Recorder;
use switchyard_store::{Store, StoreOp};

use super::experiment_tags::tag_running_experiments;
use super::hub::Delivery;
use super::intake::{BatchOutcome, DropReason, Intake, inflate, refuse};
use super::sdk_routes::presented_key;
use crate::access::SdkKeyKind;
use crate::clock::now_ms;
use crate::error::{ApiError, Code};
use crate::tasks::{Tasks, on_a_blocking_thread};
use check::{check, check_taking};

/// Summaries plus events in one batch.
pub const MAX_BATCH_ITEMS: usize = 10_000;
/// A gzipped body may expand to at most this.
pub const MAX_DECODED_BYTES: u64 = 16 * 1024 * 1024;
/// Exposures not seen for this long are forgotten.
pub const EXPOSURE_RETENTION_MS: i64 = 90 * 86_400_000;
/// Batch ids are remembered at least this long: a retry within it is counted once.
pub const BATCH_ID_RETENTION_MS: i64 = 86_400_000;
const PRUNE_EVERY_MS: i64 = 3_600_000;
const MAX_NAME_LEN: usize = 256;
/// A batch id's length bounds, in bytes; a UUID (36) and the Rust SDK's 32 hex digits fit.
const BATCH_ID_LEN: std::ops::RangeInclusive<usize> = 16..=64;

mod check;

pub(super) fn router() -> Router<Arc<Delivery>> {
    Router::new().route("/events/v1/bulk", post(bulk))
}

async fn bulk(State(delivery): State<Arc<Delivery>>, headers: HeaderMap, body: Bytes) -> Response {
    match ingest(&delivery, &headers, &body).await {
        Ok(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Err(error) => {
            let outcome = BatchOutcome::refused(error.code);
            delivery.intake.counters.batch(outcome);
            refuse(error)
        }
    }
}

async fn ingest(
    delivery: &Delivery,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<serde_json::Value, ApiError> {
    let presented = presented_key(headers)
        .ok_or_else(|| ApiError::new(Code::Unauthorized, "an SDK key is required"))?;
    let access = delivery.authenticate(presented).await?;
    let Some(_admitted) = delivery.intake.admit() else {
        return Err(ApiError::new(
            Code::RateLimited,
            "too many event batches at once; retry shortly",
        ));
    };
    let mut batch = parse_off_the_runtime(headers, body).await?;
    // The whole batch is checked as sent, so a bad field is a 422 whatever screening drops.
    let mut stored = if access.kind == SdkKeyKind::Server && delivery.store().is_some() {
        // Stored here and not screened: nothing reads its events again, so they are moved.
        check_taking(&mut batch, &access.project, &access.env)?
    } else {
        check(&batch, &access.project, &access.env)?
    };
    // A client key is public: what it reports is screened (see `screen`).
    let mut screened = None;
    if access.kind == SdkKeyKind::Client {
        let visible = client_visible_flags(delivery, &access.project, &access.env).await?;
        let dropped = screen(
            &delivery.intake,
            &access.key_id,
            &mut batch,
            &visible,
            Instant::now(),
        );
        stored = check(&batch, &access.project, &access.env)?;
        screened = Some((visible, dropped));
        // Forwarded by a relay, the batch carries the restriction upstream.
        batch.client_visible_only = true;
    }
    let accepted = json!({
        "summaries": stored.counts.len(),
        "exposures": stored.exposures.len(),
        "metrics": stored.metrics.len(),
    });
    let mut answer = json!({"accepted": accepted});
    if let Some((visible, dropped)) = screened {
        answer["dropped"] = dropped.to_json();
        stored.metric_flags = Some(visible);
    }
    let Some(store) = delivery.store() else {
        // A relay: forwarded upstream by its SDK client's sender.
        let recorder = delivery
            .recorder(&access.project, &access.env)
            .ok_or_else(|| ApiError::new(Code::Unavailable, "this relay cannot take events"))?;
        if recorder.absorb(batch, now_ms()).is_err() {
            return Err(ApiError::new(
                Code::RateLimited,
                "this relay holds as many event batches as it may while its upstream is away; \
                 retry later",
            ));
        }
        answer["forwarded"] = json!(true);
        count_accepted(&delivery.intake, &stored, BatchOutcome::Forwarded);
        return Ok(answer);
    };
    if batch.client_visible_only && stored.metric_flags.is_none() {
        // A client key's batch a relay forwarded under its server key: restricted as if posted
        // here (the marker only narrows, so any key may set it).
        let visible = client_visible_flags(delivery, &access.project, &access.env).await?;
        stored.metric_flags = Some(visible);
    }
    if !stored.metrics.is_empty() {
        // What OFREP answered waits in memory for up to a flush interval: written first, so a
        // metric tracked right after a remote evaluation finds the context's cohort.
        write_recorded_of(delivery, store, &access.project, &access.env).await;
    }
    let nothing_to_count =
        stored.counts.is_empty() && stored.exposures.is_empty() && stored.metrics.is_empty();
    tag_running_experiments(&delivery.intake.running_experiments, store, &mut stored).await?;
    let mut outcome = BatchOutcome::Accepted;
    match &batch.batch_id {
        // An empty batch (or one screening emptied) is not remembered: counting it again
        // counts nothing, and a flood of them leaves no rows behind.
        Some(_) if nothing_to_count => {
            answer["attributed_metrics"] = json!(0);
            answer["duplicate"] = json!(false);
        }
        Some(batch_id) => {
            let ingested = store
                .timed(
                    StoreOp::IngestEvents,
                    store.ingest_events_once(&stored, batch_id, now_ms()),
                )
                .await?;
            answer["attributed_metrics"] = json!(ingested.attributed);
            answer["duplicate"] = json!(ingested.duplicate);
            if ingested.duplicate {
                outcome = BatchOutcome::Duplicate;
            }
        }
        None => {
            let attributed = store
                .timed(StoreOp::IngestEvents, store.ingest_events(&stored))
                .await?;
            answer["attributed_metrics"] = json!(attributed);
        }
    }
    count_accepted(&delivery.intake, &stored, outcome);
    if outcome == BatchOutcome::Accepted {
        let dropped = usize::try_from(batch.dropped).unwrap_or(usize::MAX);
        delivery
            .intake
            .count_dropped(DropReason::SenderQueueFull, dropped);
    }
    prune_now_and_then(&delivery.intake, &delivery.tasks, store);
    Ok(answer)
}

/// Counts a batch's outcome and, unless it was a duplicate, what it held.
fn count_accepted(intake: &Intake, stored: &StoredBatch, outcome: BatchOutcome) {
    intake.counters.batch(outcome);
    if outcome != BatchOutcome::Duplicate {
        let (summaries, exposures) = (stored.counts.len(), stored.exposures.len());
        intake
            .counters
            .accepted(summaries, exposures, stored.metrics.len());
    }
}

/// The environment's client-visible flags: all a client key's metric events may count toward.
async fn client_visible_flags(
    delivery: &Delivery,
    project: &str,
    env: &str,
) -> Result<BTreeSet<String>, ApiError> {
    let feed = delivery.feed(project, env).await?;
    let visible = feed
        .current()
        .compiled
        .flags()
        .filter(|flag| flag.client_visible())
        .map(|flag| flag.key().to_owned())
        .collect();
    Ok(visible)
}

/// What screening dropped from a client key's batch, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Dropped {
    not_client_visible: usize,
    key_rate: usize,
    context_rate: usize,
}

impl Dropped {
    fn to_json(self) -> serde_json::Value {
        json!({
            "not_client_visible": self.not_client_visible,
            "key_rate": self.key_rate,
            "context_rate": self.context_rate,
        })
    }
}

/// Screens a client (public) key's batch, dropping and counting instead of refusing it:
/// summaries and exposures of flags that are not client-visible in the environment (or do not
/// exist), then whatever is over the key's rate, then exposures and metric events over their
/// context's rate. Metric events that stay count only toward client-visible flags' cohorts
/// (`metric_flags` on the stored batch).
fn screen(
    intake: &Intake,
    key_id: &str,
    batch: &mut EventBatch,
    visible: &BTreeSet<String>,
    now: Instant,
) -> Dropped {
    let mut dropped = Dropped::default();
    let before = batch.summaries.len() + batch.events.len();
    batch
        .summaries
        .retain(|summary| visible.contains(&summary.flag));
    batch.events.retain(|event| match event {
        Event::Exposure { flag, .. } => visible.contains(flag),
        Event::Metric { .. } => true,
    });
    dropped.not_client_visible = before - batch.summaries.len() - batch.events.len();

    let wanted = batch.summaries.len() + batch.events.len();
    let mut granted = intake.take_key_budget(key_id, wanted, now);
    dropped.key_rate = wanted - granted;
    let summaries = batch.summaries.len().min(granted);
    batch.summaries.truncate(summaries);
    granted -= summaries;
    batch.events.truncate(granted);

    let before = batch.events.len();
    batch.events.retain(|event| {
        let contexts = match event {
            Event::Exposure { contexts, .. } | Event::Metric { contexts, .. } => contexts,
        };
        intake.admit_context(key_id, contexts, now)
    });
    dropped.context_rate = before - batch.events.len();

    intake.count_dropped(DropReason::NotClientVisible, dropped.not_client_visible);
    intake.count_dropped(DropReason::KeyRate, dropped.key_rate);
    intake.count_dropped(DropReason::ContextRate, dropped.context_rate);
    dropped
}

/// Writes what OFREP evaluations recorded to the store every `events_flush` until `stopping`
/// resolves, then once more, so nothing answered before the shutdown is lost. Its owner
/// spawns it.
pub async fn run_store_writer(
    delivery: Arc<Delivery>,
    store: Store,
    stopping: impl std::future::Future<Output = ()>,
) {
    let mut timer = tokio::time::interval(delivery.config.events_flush);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = std::pin::pin!(stopping);
    loop {
        tokio::select! {
            _ = timer.tick() => write_recorded(&delivery, &store).await,
            () = &mut stopping => break,
        }
    }
    write_recorded(&delivery, &store).await;
}

/// Writes every environment's recorded events to the store; what cannot be written now is
/// kept for the next time.
pub async fn write_recorded(delivery: &Delivery, store: &Store) {
    let _writing = delivery.intake.recorded_writes.lock().await;
    for (project, env, recorder) in delivery.recorders() {
        write_one(&delivery.intake, &recorder, store, &project, &env).await;
    }
}

/// Writes what OFREP answers recorded in one environment, once no other write of recorded
/// events is under way: an intake calls it before counting metric events, so the exposures
/// those events follow are stored first.
pub async fn write_recorded_of(delivery: &Delivery, store: &Store, project: &str, env: &str) {
    let _writing = delivery.intake.recorded_writes.lock().await;
    if let Some(recorder) = delivery.recorder(project, env) {
        write_one(&delivery.intake, &recorder, store, project, env).await;
    }
}

async fn write_one(intake: &Intake, recorder: &Recorder, store: &Store, project: &str, env: &str) {
    // Up to the cut only (unless a batch was full): under steady OFREP traffic every cut finds
    // new evaluations, and cutting on would write back to back instead of once per flush.
    for batch in recorder.due_batches(MAX_BATCH_ITEMS / 2, now_ms) {
        let mut stored = match check(&batch, project, env) {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(project, env, error = %error.message, "recorded events dropped");
                continue;
            }
        };
        let running = &intake.running_experiments;
        if tag_running_experiments(running, store, &mut stored)
            .await
            .is_err()
        {
            recorder.retry_later(batch);
            return;
        }
        let written = match &batch.batch_id {
            Some(batch_id) => store
                .timed(
                    StoreOp::IngestEvents,
                    store.ingest_events_once(&stored, batch_id, now_ms()),
                )
                .await
                .map(drop),
            None => store
                .timed(StoreOp::IngestEvents, store.ingest_events(&stored))
                .await
                .map(drop),
        };
        if let Err(error) = written {
            // Perhaps written after all (a commit whose answer was lost): the same batch, with
            // its id, is tried again.
            tracing::warn!(%error, "recorded events not written; will retry");
            recorder.retry_later(batch);
            return;
        }
        let dropped = usize::try_from(batch.dropped).unwrap_or(usize::MAX);
        intake.count_dropped(DropReason::RecorderQueueFull, dropped);
    }
}

/// Bodies at least this large are decoded on a blocking thread.
const PARSE_APART_BYTES: usize = 16 * 1024;

/// [`parse`]; a large body on a blocking thread. Decoding a batch of thousands of events takes
/// milliseconds, and on the runtime's threads it would hold up the batch whose write turn
/// (SQLite's one writer, `switchyard_store`'s `writer.rs`) waits to be polled meanwhile.
async fn parse_off_the_runtime(headers: &HeaderMap, body: &Bytes) -> Result<EventBatch, ApiError> {
    if body.len() < PARSE_APART_BYTES {
        return parse(headers, body);
    }
    let (headers, body) = (headers.clone(), body.clone());
    on_a_blocking_thread(move || parse(&headers, &body))
        .await
        .map_err(|e| ApiError::new(Code::Internal, format!("decoding the batch failed: {e}")))?
}

fn parse(headers: &HeaderMap, body: &[u8]) -> Result<EventBatch, ApiError> {
    let json = inflate(headers, body)?;
    serde_json::from_slice(&json).map_err(|e| ApiError::bad_request(format!("invalid batch: {e}")))
}

/// Applies retention at most once an hour, off the request's path.
fn prune_now_and_then(intake: &Intake, tasks: &Tasks, store: &Store) {
    let now = now_ms();
    let last = intake.last_pruned_ms.load(Ordering::Relaxed);
    if now - last < PRUNE_EVERY_MS
        || intake
            .last_pruned_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let store = store.clone();
    tasks.spawn(async move { apply_event_retention(&store, now).await });
}

/// Forgets, as of `now_ms`, exposures not seen for [`EXPOSURE_RETENTION_MS`] and batch ids
/// recorded more than [`BATCH_ID_RETENTION_MS`] ago, and stopped experiments' old units.
pub async fn apply_event_retention(store: &Store, now_ms: i64) {
    super::experiment_retention::prune_stopped_experiments(store, now_ms).await;
    if let Err(error) = store.prune_exposures(now_ms - EXPOSURE_RETENTION_MS).await {
        tracing::warn!(%error, "could not prune old exposures");
    }
    if let Err(error) = store
        .prune_event_batch_ids(now_ms - BATCH_ID_RETENTION_MS)
        .await
    {
        tracing::warn!(%error, "could not forget old event batch ids");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use switchyard_sdk::events::EventsConfig;

    use axum::http::{HeaderValue, header};

    use super::*;
    use crate::delivery::{DeliveryConfig, MAX_CONCURRENT_BATCHES, SdkAccess};

    /// A relay-style delivery (no store) that knows one key and records into `recorder`.
    fn relay_delivery(recorder: Arc<Recorder>) -> Arc<Delivery> {
        let access = SdkAccess {
            key_id: "k1".into(),
            project: "upstream".into(),
            env: "production".into(),
            kind: SdkKeyKind::Server,
            events_token: String::new(),
        };
        let delivery = Delivery::for_relay(
            HashMap::from([("sys_test".to_owned(), access)]),
            DeliveryConfig::default(),
            Tasks::default(),
        );
        delivery.attach_recorder("upstream", "production", recorder);
        delivery
    }

    fn one_metric() -> Vec<u8> {
        json!({"format": 1, "sdk": "test", "start_ms": 0, "end_ms": 10, "summaries": [],
               "events": [{"type": "metric", "at_ms": 5, "name": "error", "value": 1.0,
                           "contexts": [{"kind": "user", "key": "u1"}]}]})
        .to_string()
        .into_bytes()
    }

    async fn post(delivery: &Arc<Delivery>) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("sys_test"));
        bulk(State(delivery.clone()), headers, Bytes::from(one_metric())).await
    }

    #[tokio::test]
    async fn overload_is_429_with_retry_after_and_queues_nothing() {
        let recorder = Arc::new(Recorder::new(EventsConfig::default(), 0));
        let delivery = relay_delivery(recorder.clone());
        // Every admission slot taken, as by batches still being written.
        let held: Vec<_> = (0..MAX_CONCURRENT_BATCHES)
            .map(|_| delivery.intake.admit().unwrap())
            .collect();
        let refused = post(&delivery).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        assert!(recorder.take_batch(100, 20).is_none(), "nothing of it kept");

        drop(held);
        let accepted = post(&delivery).await;
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
        let forwarded = recorder.take_batch(100, 20).unwrap();
        assert_eq!(forwarded.events.len(), 1);
    }
}
