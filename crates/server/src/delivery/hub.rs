//! Delivery: what SDKs, relays and OFREP clients are served. One [`Feed`] per environment holds
//! the current [`Published`] state (flag data, its compiled form, and the snapshot body and
//! stream frames pre-encoded once, so serving 10,000 streams is copying one `Bytes`), plus a short
//! history of patches so a reconnecting stream receives only what it missed.
//!
//! A [`Delivery`] has one of two sources:
//! - **the store** (`switchyard serve`): feeds are filled lazily (the first SDK key of an
//!   environment to connect) and kept current by one task that follows the store's change
//!   announcements ([`switchyard_store::StoreEvent`]), which on PostgreSQL include every other
//!   replica's commits, and re-reads the store on a timer in case an announcement was lost;
//! - **an upstream** (`switchyard relay`, see `relay.rs`): the relay publishes what its
//!   upstream delivers with [`Delivery::publish`], and only the SDK keys it was given are known.
//!
//! Every feed knows how old its data may be ([`Feed::data_age`]); responses carry it in
//! [`DATA_AGE_HEADER`].
//!
//! **Invariant:** a stream never skips a change: it subscribes before it reads the current
//! state, sends a patch only when the patch's base is what the stream last sent, and otherwise
//! (a gap, a lagging receiver) sends the full state again.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;
use switchyard_engine::model::{Segment, Targeting};
use switchyard_engine::wire::{FORMAT, FlagData};
use switchyard_sdk::events::{EventsConfig, Recorder};
use switchyard_store::{Store, StoreEvent, Touched};
use tokio::sync::{broadcast, watch};

use crate::access::{
    CLIENT_KEY_PREFIX, SERVER_KEY_PREFIX, SdkKeyKind, SdkKeyRecord, parse_secret, same_secret,
    sha256_hex,
};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::records::{
    self, EnvData, EnvironmentRecord, FlagSpec, ProjectRecord, Record, env_scope,
};
use crate::tasks::Tasks;

use super::environment_info::{PreflightOrigins, UpstreamKeys};
use super::feed::Feed;
use super::intake::Intake;
use super::streams::{OpenStreams, Refusal, StreamLimits, StreamSlot};

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
    /// Open streams allowed at once (0: unlimited; beyond it 503 with `Retry-After`): bounds memory.
    pub max_streams: usize,
    /// Open streams allowed at once per SDK key (0: unlimited); beyond it, 429 with
    /// `Retry-After`. High by default: one key is often shared by a whole fleet.
    pub max_streams_per_key: usize,
    /// How often events recorded here (OFREP evaluations) are written to the store.
    pub events_flush: Duration,
    /// Whether OFREP answers are recorded as evaluations and exposures (off: a relay or serve
    /// whose OFREP traffic nobody analyses, and the benchmark's same-run baseline).
    pub record_evaluations: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            heartbeat: Duration::from_secs(15),
            resync_every: Duration::from_secs(5),
            history: 256,
            ofrep_rate_limit: 0,
            max_streams: DEFAULT_MAX_STREAMS,
            max_streams_per_key: DEFAULT_MAX_STREAMS_PER_KEY,
            events_flush: Duration::from_secs(1),
            record_evaluations: true,
        }
    }
}

/// `serve`'s default limit of open streams (some 0.6 GB at the 12 KiB each measured in BENCHMARKS.md).
pub const DEFAULT_MAX_STREAMS: usize = 50_000;
/// The default limit of open streams per SDK key: a fleet of 20,000 instances can share a key.
pub const DEFAULT_MAX_STREAMS_PER_KEY: usize = 20_000;

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

/// Where a [`Delivery`]'s data and SDK keys come from.
#[derive(Debug)]
pub(super) enum Source {
    Store(Store),
    /// A relay: the server keys it was given and the client keys its upstream lists.
    Upstream(UpstreamKeys),
}

/// Every environment's feed, the SDK key cache and the streams' shutdown signal.
#[derive(Debug)]
pub struct Delivery {
    pub(super) source: Source,
    pub config: DeliveryConfig,
    /// Streams open now (exported as a metric; bounded by `config.max_streams`).
    pub open_streams: Gauge,
    /// Seconds from a change's publication to its last stream's hand-off (exported).
    pub stream_fanout: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Open streams per key, and their revocation.
    pub(super) streams: Arc<OpenStreams>,
    /// `serve`'s environments' origins, as last read for a preflight.
    pub(super) preflight_origins: Mutex<Option<PreflightOrigins>>,
    /// Keys a relay's upstream refused (401/403): answered 401 from then on.
    refused: RwLock<HashSet<String>>,
    feeds: RwLock<HashMap<String, Arc<Feed>>>,
    /// Presented key → who it is; cleared whenever an SDK key changes.
    keys: RwLock<HashMap<String, SdkAccess>>,
    limiter: Mutex<HashMap<String, Bucket>>,
    closing: watch::Sender<bool>,
    /// Per environment, where OFREP evaluations and posted event batches are recorded: written
    /// to the store by [`crate::events::spawn_store_writer`], or sent upstream by a relay's
    /// SDK client.
    recorders: RwLock<HashMap<(String, String), Arc<Recorder>>>,
    /// Admission of event batches (`POST /events/v1/bulk`).
    pub intake: Intake,
    /// The owner's background work (exposure pruning runs there).
    pub tasks: Tasks,
}

impl Delivery {
    /// The control plane's delivery; [`Delivery::start`] makes it follow the store.
    pub fn new(store: Store, config: DeliveryConfig, tasks: Tasks) -> Arc<Delivery> {
        Delivery::with_source(Source::Store(store), config, tasks)
    }

    /// A relay's delivery: it knows only `keys` (presented key → access) and serves what
    /// [`Delivery::publish`] gives it.
    pub fn for_relay(
        keys: HashMap<String, SdkAccess>,
        config: DeliveryConfig,
        tasks: Tasks,
    ) -> Arc<Delivery> {
        Delivery::with_source(Source::Upstream(UpstreamKeys::new(keys)), config, tasks)
    }

    fn with_source(source: Source, config: DeliveryConfig, tasks: Tasks) -> Arc<Delivery> {
        let streams = Arc::new(OpenStreams::default());
        streams.start_heartbeat(config.heartbeat, &tasks);
        Arc::new(Delivery {
            source,
            config,
            open_streams: streams.gauge.clone(),
            stream_fanout: streams.fanout.clone(),
            streams,
            preflight_origins: Mutex::default(),
            refused: RwLock::default(),
            feeds: RwLock::default(),
            keys: RwLock::default(),
            limiter: Mutex::default(),
            closing: watch::channel(false).0,
            recorders: RwLock::default(),
            intake: Intake::default(),
            tasks,
        })
    }

    /// Follows the store's changes until `stopping` resolves or the store goes away (nothing to
    /// follow for a relay). Its owner spawns it.
    pub async fn follow_store(self: Arc<Self>, stopping: impl Future<Output = ()>) {
        let Source::Store(store) = &self.source else {
            return;
        };
        let mut changes = store.changes();
        let mut timer = tokio::time::interval(self.config.resync_every);
        let mut stopping = std::pin::pin!(stopping);
        loop {
            let event = tokio::select! {
                event = changes.recv() => match event {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(_)) => StoreEvent::Resync,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = timer.tick() => StoreEvent::Resync,
                () = &mut stopping => return,
            };
            self.on_store_event(event).await;
        }
    }

    /// Ends every open stream (called when the server shuts down, so it can finish).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    async fn on_store_event(&self, event: StoreEvent) {
        let Source::Store(store) = &self.source else {
            return;
        };
        let feeds: Vec<Arc<Feed>> = match self.feeds.read() {
            Ok(feeds) => feeds.values().cloned().collect(),
            Err(_) => return,
        };
        match event {
            StoreEvent::Committed(note) => {
                if note
                    .touches(|t| t.kind == SdkKeyRecord::KIND || t.kind == EnvironmentRecord::KIND)
                {
                    self.forget_keys();
                    // Deleting an environment or project deletes its keys in the same commit.
                    let touched_keys = note.touched.as_ref().map(|touched| {
                        touched
                            .iter()
                            .filter(|t| t.kind == SdkKeyRecord::KIND)
                            .map(|t| t.key.clone())
                            .collect::<HashSet<_>>()
                    });
                    self.end_streams_of_deleted_keys(store, touched_keys.as_ref())
                        .await;
                }
                for feed in feeds {
                    if note.seq > feed.checked.load(Ordering::Relaxed)
                        && note.touches(|t| affects(t, &feed))
                    {
                        self.reload_logged(store, &feed).await;
                    }
                }
            }
            StoreEvent::Resync => {
                let Ok(revision) = store.revision().await else {
                    return;
                };
                // Cheap to refill, and a revoked key must stop working even when its
                // announcement was lost.
                self.forget_keys();
                self.end_streams_of_deleted_keys(store, None).await;
                for feed in feeds {
                    if revision > feed.checked.load(Ordering::Relaxed) {
                        self.reload_logged(store, &feed).await;
                    }
                }
            }
        }
    }

    /// Ends the open streams of every key (of `among`, when given) that the store no longer
    /// holds: a deleted key's streams end within a change announcement, on every replica.
    async fn end_streams_of_deleted_keys(&self, store: &Store, among: Option<&HashSet<String>>) {
        for key_id in self.streams.keys() {
            if among.is_some_and(|among| !among.contains(&key_id)) {
                continue;
            }
            match store.find_by_key(SdkKeyRecord::KIND, &key_id).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::info!(key = %key_id, "SDK key deleted: ending its open streams");
                    self.streams.revoke(&key_id);
                }
                Err(error) => {
                    tracing::warn!(key = %key_id, %error, "cannot check an SDK key; will retry");
                }
            }
        }
    }

    /// A relay's upstream refused `access`'s key (401/403: revoked): from now on the key is
    /// answered 401, its open streams end and its environment is no longer served.
    pub fn refuse_key(&self, access: &SdkAccess) {
        if let Ok(mut refused) = self.refused.write() {
            refused.insert(access.key_id.clone());
        }
        self.streams.revoke(&access.key_id);
        if let Ok(mut feeds) = self.feeds.write() {
            feeds.remove(&env_scope(&access.project, &access.env));
        }
    }

    fn is_refused(&self, key_id: &str) -> bool {
        self.refused
            .read()
            .is_ok_and(|refused| refused.contains(key_id))
    }

    /// A place for a stream of `key_id` under the configured limits.
    pub(super) fn open_stream(&self, key_id: &str) -> Result<StreamSlot, Refusal> {
        let limits = StreamLimits {
            total: self.config.max_streams,
            per_key: self.config.max_streams_per_key,
        };
        self.streams.take(key_id, limits)
    }

    fn forget_keys(&self) {
        if let Ok(mut keys) = self.keys.write() {
            keys.clear();
        }
    }

    async fn reload_logged(&self, store: &Store, feed: &Feed) {
        if let Err(error) = self.reload(store, feed).await {
            tracing::warn!(project = %feed.project, env = %feed.env, error = %error.message,
                "could not refresh delivered flags; will retry");
        }
    }

    /// Re-reads the environment and publishes it if anything changed.
    async fn reload(&self, store: &Store, feed: &Feed) -> ApiResult<()> {
        let _one_at_a_time = feed.reload.lock().await;
        let next = load(store, &feed.project, &feed.env).await?;
        feed.checked.fetch_max(next.revision, Ordering::Relaxed);
        feed.publish(next, self.config.history);
        Ok(())
    }

    fn loaded_feed(&self, scope: &str) -> Option<Arc<Feed>> {
        self.feeds.read().ok()?.get(scope).cloned()
    }

    /// Adds a feed unless another caller got there first; returns the one in place.
    fn insert_feed(&self, scope: String, feed: Feed) -> ApiResult<Arc<Feed>> {
        let mut feeds = self
            .feeds
            .write()
            .map_err(|_| ApiError::internal("delivery state poisoned"))?;
        Ok(feeds.entry(scope).or_insert_with(|| Arc::new(feed)).clone())
    }

    /// The feed of an environment, loading it from the store on first use.
    pub async fn feed(&self, project: &str, env: &str) -> ApiResult<Arc<Feed>> {
        let scope = env_scope(project, env);
        if let Some(feed) = self.loaded_feed(&scope) {
            return Ok(feed);
        }
        let store = match &self.source {
            Source::Store(store) => store,
            Source::Upstream(_) => {
                return Err(ApiError::new(
                    crate::error::Code::Unavailable,
                    "the relay has no data for this environment yet (upstream unreachable and \
                     nothing saved on disk)",
                ));
            }
        };
        let data = load(store, project, env).await?;
        let feed = self.insert_feed(scope, Feed::new(project, env, data))?;
        // A change committed while this feed was loading was announced before it existed.
        if store.revision().await? > feed.current().revision() {
            self.reload(store, &feed).await?;
        }
        Ok(feed)
    }

    /// Publishes an environment's data as delivered by an upstream (a relay's only way in).
    pub fn publish(&self, project: &str, env: &str, data: FlagData) -> ApiResult<Arc<Feed>> {
        let scope = env_scope(project, env);
        match self.loaded_feed(&scope) {
            Some(feed) => {
                feed.publish(data, self.config.history);
                Ok(feed)
            }
            None => self.insert_feed(scope, Feed::new(project, env, data)),
        }
    }

    /// Every environment's feed loaded now (`/metrics` reports their data age).
    pub fn loaded_feeds(&self) -> Vec<Arc<Feed>> {
        let feeds = self.feeds.read();
        feeds
            .map(|f| f.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The store this delivery serves from (`None` on a relay).
    pub fn store(&self) -> Option<&Store> {
        match &self.source {
            Source::Store(store) => Some(store),
            Source::Upstream(_) => None,
        }
    }

    /// Where events of an environment are recorded: created on first use when serving from
    /// the store; on a relay, only what [`Delivery::attach_recorder`] gave it.
    pub fn recorder(&self, project: &str, env: &str) -> Option<Arc<Recorder>> {
        let scope = (project.to_owned(), env.to_owned());
        if let Some(recorder) = self.recorders.read().ok()?.get(&scope) {
            return Some(recorder.clone());
        }
        let Source::Store(_) = &self.source else {
            return None;
        };
        let config = EventsConfig {
            // The store is local: a larger queue only costs memory while it is down.
            capacity: 100_000,
            ..EventsConfig::default()
        };
        let mut recorders = self.recorders.write().ok()?;
        let recorder = recorders
            .entry(scope)
            .or_insert_with(|| Arc::new(Recorder::new(config, now_ms())));
        Some(recorder.clone())
    }

    /// Makes `recorder` the place an environment's events go (a relay's SDK client's).
    pub fn attach_recorder(&self, project: &str, env: &str, recorder: Arc<Recorder>) {
        if let Ok(mut recorders) = self.recorders.write() {
            recorders.insert((project.to_owned(), env.to_owned()), recorder);
        }
    }

    /// Every environment's recorder with its `(project, env)`.
    pub fn recorders(&self) -> Vec<(String, String, Arc<Recorder>)> {
        self.recorders
            .read()
            .map(|recorders| {
                recorders
                    .iter()
                    .map(|((project, env), recorder)| {
                        (project.clone(), env.clone(), recorder.clone())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks an SDK key (`sys_…` or `syc_…`).
    pub async fn authenticate(&self, presented: &str) -> ApiResult<SdkAccess> {
        if let Source::Upstream(keys) = &self.source {
            let access = keys.authenticate(presented).ok_or_else(|| {
                let maybe_client = presented.starts_with(CLIENT_KEY_PREFIX);
                keys.not_known_yet(maybe_client).unwrap_or_else(unknown_key)
            })?;
            if self.is_refused(&access.key_id) {
                return Err(refused_key());
            }
            return Ok(access);
        }
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
        let access = match &self.source {
            Source::Upstream(keys) => keys
                .by_id(key_id)
                .ok_or_else(|| keys.not_known_yet(true).unwrap_or_else(unknown_key))?,
            Source::Store(_) => self.key_by_id(key_id).await?.1,
        };
        if !same_secret(&access.events_token, token) {
            return Err(unknown_key());
        }
        if self.is_refused(&access.key_id) {
            return Err(refused_key());
        }
        Ok(access)
    }

    /// A stored SDK key and what it grants (not yet checked against a presented secret).
    async fn key_by_id(&self, id: &str) -> ApiResult<(SdkKeyRecord, SdkAccess)> {
        let Source::Store(store) = &self.source else {
            return Err(unknown_key());
        };
        let doc = store
            .find_by_key(SdkKeyRecord::KIND, id)
            .await?
            .ok_or_else(unknown_key)?;
        let record: SdkKeyRecord = records::parse(&doc)?;
        let (project, env) = doc.scope.split_once('/').ok_or_else(unknown_key)?;
        let access = SdkAccess {
            key_id: record.id.clone(),
            project: project.to_owned(),
            env: env.to_owned(),
            kind: record.kind,
            events_token: events_token(&record.secret_hash),
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

fn refused_key() -> ApiError {
    ApiError::new(
        crate::error::Code::Unauthorized,
        "the upstream refused this SDK key (revoked); the relay no longer serves it",
    )
}

/// The OFREP events-URL token of a key, from the hash of its secret (as stored, or as a relay
/// computes it from the key it was given).
pub fn events_token(secret_hash: &str) -> String {
    sha256_hex(&format!("ofrep-events:{secret_hash}"))[..32].to_owned()
}

/// Whether a touched document is part of what `feed` serves.
fn affects(touched: &Touched, feed: &Feed) -> bool {
    let kind = touched.kind.as_str();
    if kind == FlagSpec::KIND {
        touched.scope == feed.project
    } else if kind == Targeting::KIND || kind == Segment::KIND {
        touched.scope == env_scope(&feed.project, &feed.env)
    } else if kind == EnvironmentRecord::KIND {
        touched.scope == feed.project && touched.key == feed.env
    } else if kind == ProjectRecord::KIND {
        touched.key == feed.project
    } else {
        false
    }
}

/// The environment as delivered, at a revision no newer than what was read.
async fn load(store: &Store, project: &str, env: &str) -> ApiResult<FlagData> {
    // Read the revision first: the data read after it is at least that new, so a stream that
    // resumes from this revision may get a change twice but never misses one.
    let revision = store.revision().await?;
    let dataset = EnvData::load(store, project, env).await?.delivered();
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
