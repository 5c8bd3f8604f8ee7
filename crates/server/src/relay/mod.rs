//! `switchyard relay`: an edge node that serves the delivery and OFREP endpoints of
//! `switchyard serve` from memory, for the server SDK keys it was given and the client keys of
//! their environments (`client_keys.rs`), and keeps serving when its upstream (a control plane
//! or another relay) is unreachable.
//!
//! Each key's environment is followed with the Rust SDK's own sync (stream with resume,
//! backoff, fallback polling, last-known-good file), so the relay is an SDK client whose data
//! is published into a [`Delivery`] instead of being evaluated. The SDK writes each change to
//! `DATA_DIR/KEY_ID.json` atomically and starts from that file when the upstream is down.
//!
//! **Invariants:** the relay never answers a server key it was not given, nor a client key its
//! upstream did not list (`client_keys.rs`; `503` with `Retry-After` while it has not learned
//! the lists yet); every response says how old
//! its data may be ([`crate::delivery::DATA_AGE_HEADER`]); `/readyz` is ready only when every
//! key has data, and says where it came from. A key the upstream refuses (401/403: revoked) is
//! answered 401 from then on, its streams end, its saved snapshot is deleted and the relay is not
//! ready; an unreachable upstream (connection error, 5xx) only makes the data older.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::{Value, json};
use switchyard_engine::Snapshot;
use switchyard_engine::wire::FlagData;
use switchyard_sdk::events::EventsConfig;
use switchyard_sdk::{Client, DataSource, SyncStatus, UpstreamState};

use crate::access::{SERVER_KEY_PREFIX, SdkKeyKind, parse_secret};
use crate::delivery::{Delivery, DeliveryConfig, SdkAccess, events_token};
use crate::net::ConnectionLimits;
use crate::ops::Metrics;
use crate::serving::{delivery_app, serve_router};
use crate::state::TASK_DRAIN_DEADLINE;
use crate::tasks::Tasks;

mod client_keys;

pub use client_keys::DEFAULT_CLIENT_KEYS_REFRESH;

/// The listening address `switchyard relay` uses by default (next to `serve`'s).
pub const DEFAULT_RELAY_LISTEN: &str = "127.0.0.1:8471";

/// What a relay follows and how.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The control plane or relay to follow, such as `http://switchyard:8470`.
    pub upstream: String,
    /// Server SDK keys; each names one environment.
    pub sdk_keys: Vec<String>,
    /// Where each environment's last-known-good snapshot is kept.
    pub data_dir: PathBuf,
    pub delivery: DeliveryConfig,
    /// The longest wait between reconnection attempts, so the relay notices a returning
    /// upstream quickly.
    pub reconnect_max: Duration,
    /// How often each environment's client keys and allowed origins are read from the
    /// upstream: how long a client key revoked upstream may keep working here.
    pub client_keys_refresh: Duration,
}

/// Labels of the per-key relay metrics: the key's id, never its secret.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    key: String,
}

/// A running relay: the delivery it serves and the SDK clients that feed it.
#[derive(Debug)]
pub struct Relay {
    pub delivery: Arc<Delivery>,
    pub metrics: Arc<Metrics>,
    followers: Vec<Follower>,
    tasks: Tasks,
}

/// One environment followed upstream.
#[derive(Debug)]
struct Follower {
    access: SdkAccess,
    client: Client,
}

/// Events held per environment while the upstream cannot take them; beyond it the oldest go
/// (and are counted).
const RELAY_EVENTS_CAPACITY: usize = 200_000;

/// `project` of every relay feed: a relay knows environments only by the keys it was given.
const RELAY_PROJECT: &str = "upstream";

impl Relay {
    /// Starts following every key (must be called within a Tokio runtime). Fails only on a key
    /// that is not a server SDK key or a data directory that cannot be created; an unreachable
    /// upstream is normal.
    pub async fn start(config: RelayConfig) -> Result<Arc<Relay>, String> {
        switchyard_store::create_private_dir(&config.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
        let mut keys = HashMap::new();
        for presented in &config.sdk_keys {
            let access = relay_access(presented)?;
            keys.insert(presented.clone(), access);
        }
        if keys.is_empty() {
            return Err("give the relay at least one server SDK key (--sdk-key)".into());
        }
        let tasks = Tasks::default();
        let delivery = Delivery::for_relay(keys.clone(), config.delivery.clone(), tasks.clone());
        let mut metrics = Metrics::default();
        metrics.register_delivery(&delivery);
        let connected = Family::<KeyLabels, Gauge>::default();
        let age = Family::<KeyLabels, Gauge<f64, AtomicU64>>::default();
        let revision = Family::<KeyLabels, Gauge>::default();
        metrics.register(
            "relay_upstream_connected",
            "1 while the relay's stream from its upstream is open, per SDK key id",
            connected.clone(),
        );
        metrics.register(
            "relay_data_age_seconds",
            "How old the relayed data may be (0 while streaming), per SDK key id",
            age.clone(),
        );
        metrics.register(
            "relay_data_revision",
            "The upstream revision being served, per SDK key id",
            revision.clone(),
        );
        let gauges = Gauges {
            connected,
            age,
            revision,
        };
        let mut followers = Vec::new();
        for (presented, access) in keys {
            let saved = config.data_dir.join(format!("{}.json", access.key_id));
            discard_invalid_snapshot(&saved);
            let client = Client::builder(&config.upstream, presented.clone())
                .cache_file(saved)
                .backoff(Duration::from_millis(100), config.reconnect_max)
                .fallback_poll_interval(config.reconnect_max.max(Duration::from_secs(1)))
                .init_timeout(Duration::ZERO)
                .events(EventsConfig {
                    // What the relay's own SDKs post is queued here too while upstream is away.
                    capacity: RELAY_EVENTS_CAPACITY,
                    ..EventsConfig::default()
                })
                .build()
                .await;
            delivery.attach_recorder(&access.project, &access.env, client.events_recorder());
            let saved_keys = client_keys::saved_path(&config.data_dir, &access);
            client_keys::serve_saved(&delivery, &access, &saved_keys);
            tasks.spawn(client_keys::follow_client_keys(client_keys::ClientKeys {
                delivery: delivery.clone(),
                access: access.clone(),
                presented,
                upstream: config.upstream.clone(),
                every: config.client_keys_refresh,
                client: client.clone(),
                saved: saved_keys,
            }));
            tasks.spawn(follow(
                delivery.clone(),
                access.clone(),
                client.clone(),
                gauges.clone(),
                config.data_dir.join(format!("{}.json", access.key_id)),
            ));
            followers.push(Follower { access, client });
        }
        followers.sort_by(|a, b| a.access.key_id.cmp(&b.access.key_id));
        Ok(Arc::new(Relay {
            delivery,
            metrics: Arc::new(metrics),
            followers,
            tasks,
        }))
    }

    /// Waits up to `timeout` for every key to have data; returns whether they all do.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        for follower in &self.followers {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !follower.client.wait_initialized(left).await {
                return false;
            }
        }
        true
    }

    /// Stops following upstream (open downstream streams end through the delivery's close)
    /// and waits for the followers to finish.
    pub async fn close(&self) {
        self.delivery.close();
        for follower in &self.followers {
            follower.client.close().await;
        }
        let left = self.tasks.stop(TASK_DRAIN_DEADLINE).await;
        if left > 0 {
            tracing::warn!(
                tasks = left,
                "relay tasks still running after the shutdown deadline"
            );
        }
    }

    /// Background tasks still running (0 after [`serve`] returns).
    pub fn running_tasks(&self) -> usize {
        self.tasks.running()
    }

    /// Per key: where the data came from, the upstream connection and the data's age.
    fn status(&self) -> (bool, Vec<Value>) {
        let mut ready = true;
        let keys = self
            .followers
            .iter()
            .map(|follower| {
                let status = follower.client.sync_status();
                // A refused key's data (the saved file included) is no longer served.
                let refused = status.state == UpstreamState::Refused;
                let source = follower.client.data_source().filter(|_| !refused);
                ready &= source.is_some();
                json!({
                    "key": follower.access.key_id,
                    "data": match source {
                        Some(DataSource::Server) => "upstream",
                        Some(DataSource::CacheFile) => "disk",
                        None => "none",
                    },
                    "revision": follower.client.revision().filter(|_| !refused),
                    "upstream": status.state,
                    "data_age_seconds": status.data_age().map(|a| a.as_secs()),
                })
            })
            .collect();
        (ready, keys)
    }
}

/// A saved snapshot that parses but that no upstream could have sent (a flag or segment the
/// engine finds malformed, an entry filed under another key) was damaged or edited on disk:
/// serving it would hand every SDK wrong answers, so it is removed and the relay waits for its
/// upstream. What does not parse at all the SDK already ignores.
fn discard_invalid_snapshot(path: &Path) {
    // One saved by an older version may be readable by others.
    if let Err(error) = switchyard_store::restrict_file(path) {
        tracing::warn!(path = %path.display(), %error, "cannot make the saved snapshot private");
    }
    let Ok(text) = std::fs::read(path) else {
        return;
    };
    let Ok(data) = serde_json::from_slice::<FlagData>(&text) else {
        return;
    };
    let Some(problem) = snapshot_problem(&data) else {
        return;
    };
    tracing::error!(
        path = %path.display(),
        %problem,
        "saved snapshot is invalid: discarded, waiting for the upstream"
    );
    if let Err(error) = std::fs::remove_file(path) {
        tracing::error!(path = %path.display(), %error, "cannot remove the invalid snapshot");
    }
}

/// Why `data` cannot be served, checked as the SDK compiles it.
fn snapshot_problem(data: &FlagData) -> Option<String> {
    if let Some((key, flag)) = data.flags.iter().find(|(key, flag)| flag.key != **key) {
        return Some(format!("flags.{key} holds flag {:?}", flag.key));
    }
    if let Some((key, segment)) = data.segments.iter().find(|(key, s)| s.key != **key) {
        return Some(format!("segments.{key} holds segment {:?}", segment.key));
    }
    Snapshot::compile(&data.dataset())
        .problems()
        .iter()
        .find(|problem| problem.malformed)
        .map(|problem| format!("{}: {}", problem.field, problem.message))
}

/// The relay's id-only view of a key it was given.
fn relay_access(presented: &str) -> Result<SdkAccess, String> {
    let Some((id, secret_hash)) = parse_secret(SERVER_KEY_PREFIX, presented) else {
        return Err(format!(
            "{}…: a relay follows environments with server SDK keys (sys_…)",
            presented.chars().take(4).collect::<String>()
        ));
    };
    // The id names the snapshot file.
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("SDK key id {id:?} is not a plain identifier"));
    }
    Ok(SdkAccess {
        key_id: id.to_owned(),
        project: RELAY_PROJECT.to_owned(),
        env: id.to_owned(),
        kind: SdkKeyKind::Server,
        events_token: events_token(&secret_hash),
    })
}

#[derive(Debug, Clone)]
struct Gauges {
    connected: Family<KeyLabels, Gauge>,
    age: Family<KeyLabels, Gauge<f64, AtomicU64>>,
    revision: Family<KeyLabels, Gauge>,
}

/// Publishes every data set the client installs and keeps the feed's freshness and the
/// metrics current, until the relay closes or the upstream refuses the key.
async fn follow(
    delivery: Arc<Delivery>,
    access: SdkAccess,
    client: Client,
    gauges: Gauges,
    saved: PathBuf,
) {
    let mut revisions = client.watch_revision();
    let mut status = client.watch_sync_status();
    let mut closing = delivery.closing();
    let labels = KeyLabels {
        key: access.key_id.clone(),
    };
    // Ages grow between events; refresh the gauge once a second.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut feed = None;
    let mut published = None;
    loop {
        let sync = *status.borrow_and_update();
        let revision = *revisions.borrow_and_update();
        if sync.state == UpstreamState::Refused {
            stop_serving_refused(&delivery, &access, &saved);
            gauges.connected.get_or_create(&labels).set(0);
            gauges.age.get_or_create(&labels).set(f64::NAN);
            gauges.revision.get_or_create(&labels).set(0);
            return;
        }
        if revision != published
            && let Some(data) = client.flag_data()
        {
            match delivery.publish(RELAY_PROJECT, &access.env, data) {
                Ok(publishing) => {
                    feed = Some(publishing);
                    published = revision;
                }
                Err(error) => {
                    tracing::error!(key = %access.key_id, error = %error.message, "cannot publish relayed data");
                }
            }
            gauges
                .revision
                .get_or_create(&labels)
                .set(revision.unwrap_or(0));
        }
        if let Some(feed) = &feed {
            feed.set_verified(freshness(&sync));
        }
        let streaming = sync.state == UpstreamState::Streaming;
        gauges
            .connected
            .get_or_create(&labels)
            .set(i64::from(streaming));
        gauges
            .age
            .get_or_create(&labels)
            .set(sync.data_age().map_or(f64::NAN, |a| a.as_secs_f64()));
        tokio::select! {
            changed = revisions.changed() => if changed.is_err() { return },
            changed = status.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
            _ = closing.wait_for(|closed| *closed) => return,
        }
    }
}

/// The upstream refused the key (revoked): stop serving it and delete its saved snapshot, so
/// a restart does not serve it either. The SDK client stops syncing before it reports a
/// refusal, so the file is not written again.
fn stop_serving_refused(delivery: &Delivery, access: &SdkAccess, saved: &std::path::Path) {
    tracing::error!(key = %access.key_id,
        "the upstream refused this SDK key (revoked): no longer serving it, saved snapshot deleted");
    delivery.refuse_key(access);
    match std::fs::remove_file(saved) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::error!(path = %saved.display(), %error, "cannot delete the refused key's snapshot");
        }
    }
}

/// A feed's freshness from the client's: `None` while current.
fn freshness(sync: &SyncStatus) -> Option<Option<std::time::SystemTime>> {
    match sync.state {
        UpstreamState::Streaming => None,
        _ => Some(sync.verified_at),
    }
}

/// The relay's HTTP surface: delivery, OFREP, `/healthz`, `/metrics` and its own `/readyz`.
pub fn app(relay: Arc<Relay>) -> Router {
    let readiness = Router::new()
        .route("/readyz", get(readyz))
        .with_state(relay.clone());
    delivery_app(readiness, relay.delivery.clone(), relay.metrics.clone())
        .layer(axum::middleware::map_response(retry_when_unavailable))
}

/// On a relay every `503` passes (no data yet, client keys not learned yet): each says when to
/// try again, so SDKs and the tracking packages retry instead of giving up.
async fn retry_when_unavailable(mut response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Ready when every key has data, from upstream or from disk; the body says which.
async fn readyz(State(relay): State<Arc<Relay>>) -> Response {
    let (ready, keys) = relay.status();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({"ready": ready, "keys": keys}))).into_response()
}

/// Serves the relay until `shutdown`, then ends streams, finishes requests and stops following.
pub async fn serve(
    listener: tokio::net::TcpListener,
    relay: Arc<Relay>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, relay, ConnectionLimits::default(), shutdown).await
}

/// [`serve`] with these connection limits.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    relay: Arc<Relay>,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (delivery, metrics) = (relay.delivery.clone(), relay.metrics.clone());
    let app = app(relay.clone());
    let result = serve_router(listener, app, delivery, metrics, limits, shutdown).await;
    relay.close().await;
    result
}
