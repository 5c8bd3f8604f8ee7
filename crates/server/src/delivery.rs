//! Delivery: what SDKs, relays and OFREP clients are served. One [`Feed`] per environment holds
//! the current [`Published`] state (flag data, its compiled form, and the snapshot body and
//! stream frames pre-encoded once, so serving 10,000 streams is copying one `Bytes`), plus a short
//! history of patches so a reconnecting stream receives only what it missed.
//!
//! Feeds are filled lazily (the first SDK key of an environment to connect) and kept current by
//! one task that follows the store's change announcements ([`switchyard_store::StoreEvent`]),
//! which on PostgreSQL include every other replica's commits, and re-reads the store on a
//! timer in case an announcement was lost.
//!
//! **Invariant:** a stream never skips a change: it subscribes before it reads the current
//! state, sends a patch only when the patch's base is what the stream last sent, and otherwise
//! (a gap, a lagging receiver) sends the full state again.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde_json::json;
use switchyard_engine::Snapshot;
use switchyard_engine::wire::{FORMAT, FlagData, Patch};
use switchyard_store::{Store, StoreEvent, Touched};
use tokio::sync::{broadcast, watch};

use crate::api::access::{SdkKeyKind, SdkKeyRecord};
use crate::api::parse_doc;
use crate::auth::{CLIENT_KEY_PREFIX, SERVER_KEY_PREFIX, parse_secret, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::resources::env_scope;
use crate::validate::EnvData;

/// Tunables of delivery; the defaults suit production, tests shorten them.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// How often an idle stream sends a heartbeat comment.
    pub heartbeat: Duration,
    /// How often the store's revision is checked in case a change announcement was lost.
    pub resync_every: Duration,
    /// Patches kept per environment for resuming streams.
    pub history: usize,
    /// OFREP requests per second per SDK key (0: unlimited).
    pub ofrep_rate_limit: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            heartbeat: Duration::from_secs(15),
            resync_every: Duration::from_secs(5),
            history: 256,
            ofrep_rate_limit: 0,
        }
    }
}

/// Who presented an SDK key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkAccess {
    pub key_id: String,
    pub project: String,
    pub env: String,
    pub kind: SdkKeyKind,
    /// Derived from the stored key hash: authorizes the OFREP change-notification stream, whose
    /// URL is opened by clients (browsers' `EventSource`) that cannot send headers.
    pub events_token: String,
}

/// One environment at one revision, with everything served from it pre-encoded.
#[derive(Debug)]
pub struct Published {
    pub data: FlagData,
    pub compiled: Snapshot,
    pub etag: String,
    pub snapshot_json: Bytes,
    pub snapshot_gzip: Bytes,
    /// `event: put` with the whole data.
    pub put_frame: Bytes,
    /// The change from the previous published state, with its `event: patch` frame.
    pub patch: Option<(Arc<Patch>, Bytes)>,
    /// The OFREP `refetchEvaluation` notification for this revision.
    pub refetch_frame: Bytes,
}

impl Published {
    fn new(data: FlagData, patch: Option<Patch>) -> Published {
        let snapshot = serde_json::to_vec(&data).unwrap_or_default();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let snapshot_gzip = gzip
            .write_all(&snapshot)
            .and_then(|()| gzip.finish())
            .unwrap_or_default();
        let revision = data.revision;
        let etag = format!("\"v{FORMAT}-{revision}\"");
        let refetch = json!({"type": "refetchEvaluation", "etag": etag, "revision": revision});
        Published {
            compiled: Snapshot::compile(&data.dataset()),
            put_frame: frame(revision, "put", &snapshot),
            patch: patch.map(|patch| {
                let body = serde_json::to_vec(&patch).unwrap_or_default();
                let frame = frame(patch.revision, "patch", &body);
                (Arc::new(patch), frame)
            }),
            refetch_frame: frame(revision, "message", refetch.to_string().as_bytes()),
            snapshot_json: Bytes::from(snapshot),
            snapshot_gzip: Bytes::from(snapshot_gzip),
            etag,
            data,
        }
    }

    pub fn revision(&self) -> i64 {
        self.data.revision
    }
}

/// A server-sent event. Data is JSON, which never contains a raw newline.
pub fn frame(id: i64, event: &str, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 48);
    out.extend_from_slice(format!("id: {id}\nevent: {event}\ndata: ").as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// One environment's current state, its change broadcast and recent patches.
#[derive(Debug)]
pub struct Feed {
    pub project: String,
    pub env: String,
    current: ArcSwap<Published>,
    changes: broadcast::Sender<Arc<Published>>,
    history: Mutex<VecDeque<Arc<Patch>>>,
    /// The store revision of the last load, changed or not: announcements at or below it are
    /// already reflected.
    checked: AtomicI64,
    /// Serializes reloads so published revisions only move forward.
    reload: tokio::sync::Mutex<()>,
}

impl Feed {
    pub fn current(&self) -> Arc<Published> {
        self.current.load_full()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.changes.subscribe()
    }

    /// The patch from `revision` to the current state, when the history reaches back that far.
    pub fn patch_since(&self, revision: i64) -> Option<Patch> {
        let history = self.history.lock().ok()?;
        let start = history.iter().position(|p| p.revision > revision)?;
        if history[start].base > revision {
            return None;
        }
        let mut patches = history.range(start..);
        let first = patches.next()?.as_ref().clone();
        Some(patches.fold(first, |merged, later| merged.then(later)))
    }
}

/// Every environment's feed, the SDK key cache and the streams' shutdown signal.
#[derive(Debug)]
pub struct Delivery {
    store: Store,
    pub config: DeliveryConfig,
    feeds: RwLock<HashMap<String, Arc<Feed>>>,
    /// Presented key → who it is; cleared whenever an SDK key changes.
    keys: RwLock<HashMap<String, SdkAccess>>,
    limiter: Mutex<HashMap<String, Bucket>>,
    closing: watch::Sender<bool>,
}

impl Delivery {
    pub fn new(store: Store, config: DeliveryConfig) -> Arc<Delivery> {
        Arc::new(Delivery {
            store,
            config,
            feeds: RwLock::default(),
            keys: RwLock::default(),
            limiter: Mutex::default(),
            closing: watch::channel(false).0,
        })
    }

    /// Follows the store's changes until the store goes away or [`Delivery::close`].
    pub fn start(self: &Arc<Self>) {
        let mut changes = self.store.changes();
        let mut closing = self.closing.subscribe();
        let delivery = Arc::downgrade(self);
        let resync_every = self.config.resync_every;
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(resync_every);
            loop {
                let event = tokio::select! {
                    event = changes.recv() => match event {
                        Ok(event) => event,
                        Err(broadcast::error::RecvError::Lagged(_)) => StoreEvent::Resync,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = timer.tick() => StoreEvent::Resync,
                    _ = closing.changed() => return,
                };
                let Some(delivery) = delivery.upgrade() else {
                    return;
                };
                delivery.on_store_event(event).await;
            }
        });
    }

    /// Ends every open stream (called when the server shuts down, so it can finish).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    async fn on_store_event(&self, event: StoreEvent) {
        let feeds: Vec<Arc<Feed>> = match self.feeds.read() {
            Ok(feeds) => feeds.values().cloned().collect(),
            Err(_) => return,
        };
        match event {
            StoreEvent::Committed(note) => {
                if note.touches(|t| t.kind == "sdk_key" || t.kind == "environment") {
                    self.forget_keys();
                }
                for feed in feeds {
                    if note.seq > feed.checked.load(Ordering::Relaxed)
                        && note.touches(|t| affects(t, &feed))
                    {
                        self.reload_logged(&feed).await;
                    }
                }
            }
            StoreEvent::Resync => {
                let Ok(revision) = self.store.revision().await else {
                    return;
                };
                // Cheap to refill, and a revoked key must stop working even when its
                // announcement was lost.
                self.forget_keys();
                for feed in feeds {
                    if revision > feed.checked.load(Ordering::Relaxed) {
                        self.reload_logged(&feed).await;
                    }
                }
            }
        }
    }

    fn forget_keys(&self) {
        if let Ok(mut keys) = self.keys.write() {
            keys.clear();
        }
    }

    async fn reload_logged(&self, feed: &Feed) {
        if let Err(error) = self.reload(feed).await {
            tracing::warn!(project = %feed.project, env = %feed.env, error = %error.message,
                "could not refresh delivered flags; will retry");
        }
    }

    /// Re-reads the environment and publishes it if anything changed.
    async fn reload(&self, feed: &Feed) -> ApiResult<()> {
        let _one_at_a_time = feed.reload.lock().await;
        let next = load(&self.store, &feed.project, &feed.env).await?;
        feed.checked.fetch_max(next.revision, Ordering::Relaxed);
        let current = feed.current();
        if next.revision <= current.revision() {
            return Ok(());
        }
        let patch = current.data.diff(&next);
        if patch.is_empty() {
            // Nothing this environment serves changed; streams keep their revision.
            return Ok(());
        }
        let published = Arc::new(Published::new(next, Some(patch.clone())));
        if let Ok(mut history) = feed.history.lock() {
            if history.len() >= self.config.history {
                history.pop_front();
            }
            history.push_back(Arc::new(patch));
        }
        feed.current.store(published.clone());
        // No receivers is fine: nobody is streaming this environment right now.
        let _ = feed.changes.send(published);
        Ok(())
    }

    /// The feed of an environment, loading it on first use.
    pub async fn feed(&self, project: &str, env: &str) -> ApiResult<Arc<Feed>> {
        let scope = env_scope(project, env);
        if let Some(feed) = self.feeds.read().ok().and_then(|f| f.get(&scope).cloned()) {
            return Ok(feed);
        }
        let data = load(&self.store, project, env).await?;
        let feed = Arc::new(Feed {
            checked: AtomicI64::new(data.revision),
            project: project.to_owned(),
            env: env.to_owned(),
            current: ArcSwap::from_pointee(Published::new(data, None)),
            changes: broadcast::channel(64).0,
            history: Mutex::default(),
            reload: tokio::sync::Mutex::new(()),
        });
        let feed = {
            let mut feeds = self
                .feeds
                .write()
                .map_err(|_| ApiError::internal("delivery state poisoned"))?;
            feeds.entry(scope).or_insert(feed).clone()
        };
        // A change committed while this feed was loading was announced before it existed.
        if self.store.revision().await? > feed.current().revision() {
            self.reload(&feed).await?;
        }
        Ok(feed)
    }

    /// Checks an SDK key (`sys_…` or `syc_…`).
    pub async fn authenticate(&self, presented: &str) -> ApiResult<SdkAccess> {
        if let Some(access) = self
            .keys
            .read()
            .ok()
            .and_then(|k| k.get(presented).cloned())
        {
            return Ok(access);
        }
        let (id, secret_hash) = parse_secret(SERVER_KEY_PREFIX, presented)
            .or_else(|| parse_secret(CLIENT_KEY_PREFIX, presented))
            .ok_or_else(unknown_key)?;
        let (record, access) = self.key_by_id(id).await?;
        let expected_prefix = match record.kind {
            SdkKeyKind::Server => SERVER_KEY_PREFIX,
            SdkKeyKind::Client => CLIENT_KEY_PREFIX,
        };
        if record.secret_hash != secret_hash || !presented.starts_with(expected_prefix) {
            return Err(unknown_key());
        }
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(presented.to_owned(), access.clone());
        }
        Ok(access)
    }

    /// The key behind an OFREP event-stream URL, when its token is right.
    pub async fn authenticate_events(&self, key_id: &str, token: &str) -> ApiResult<SdkAccess> {
        let (_, access) = self.key_by_id(key_id).await?;
        if access.events_token != token {
            return Err(unknown_key());
        }
        Ok(access)
    }

    /// A stored SDK key and what it grants (not yet checked against a presented secret).
    async fn key_by_id(&self, id: &str) -> ApiResult<(SdkKeyRecord, SdkAccess)> {
        let doc = self
            .store
            .find_by_key("sdk_key", id)
            .await?
            .ok_or_else(unknown_key)?;
        let record: SdkKeyRecord = parse_doc(&doc)?;
        let (project, env) = doc.scope.split_once('/').ok_or_else(unknown_key)?;
        let access = SdkAccess {
            key_id: record.id.clone(),
            project: project.to_owned(),
            env: env.to_owned(),
            kind: record.kind,
            events_token: events_token(&record),
        };
        Ok((record, access))
    }

    /// Takes one request from the key's budget; `Err(seconds)` says when to retry.
    pub fn admit(&self, key_id: &str) -> Result<(), u64> {
        let rate = self.config.ofrep_rate_limit;
        if rate == 0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.limiter.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let bucket = buckets.entry(key_id.to_owned()).or_insert(Bucket {
            tokens: f64::from(rate),
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * f64::from(rate);
        bucket.tokens = (bucket.tokens + refill).min(f64::from(rate));
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / f64::from(rate)).ceil().max(1.0) as u64)
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

fn unknown_key() -> ApiError {
    ApiError::new(crate::error::Code::Unauthorized, "unknown SDK key")
}

fn events_token(record: &SdkKeyRecord) -> String {
    sha256_hex(&format!("ofrep-events:{}", record.secret_hash))[..32].to_owned()
}

/// Whether a touched document is part of what `feed` serves.
fn affects(touched: &Touched, feed: &Feed) -> bool {
    match touched.kind.as_str() {
        "flag" => touched.scope == feed.project,
        "targeting" | "segment" => touched.scope == env_scope(&feed.project, &feed.env),
        "environment" => touched.scope == feed.project && touched.key == feed.env,
        "project" => touched.key == feed.project,
        _ => false,
    }
}

/// The environment as delivered, at a revision no newer than what was read.
async fn load(store: &Store, project: &str, env: &str) -> ApiResult<FlagData> {
    // Read the revision first: the data read after it is at least that new, so a stream that
    // resumes from this revision may get a change twice but never misses one.
    let revision = store.revision().await?;
    let dataset = EnvData::load(store, project, env).await?.dataset();
    Ok(FlagData {
        format: FORMAT,
        revision,
        flags: dataset
            .flags
            .into_iter()
            .map(|f| (f.key.clone(), f))
            .collect(),
        segments: dataset
            .segments
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect(),
    })
}
