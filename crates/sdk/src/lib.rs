//! The Switchyard Rust SDK: evaluates flags locally against an environment's flag data, which it
//! keeps current from a `switchyard serve` or `switchyard relay` (a live stream, falling back to
//! polling the snapshot) and can mirror to a last-known-good file.
//!
//! ```no_run
//! # async fn example() {
//! use switchyard_sdk::{Client, Context};
//! let client = Client::builder("http://127.0.0.1:8470", "sys_…").build().await;
//! let user = Context::from_json(&serde_json::json!({"key": "user-42", "country": "DE"})).unwrap();
//! if client.bool_value("new-checkout", &user, false) { /* … */ }
//! client.close().await;
//! # }
//! ```
//!
//! **Architecture invariant:** evaluation reads one immutable compiled snapshot through an atomic
//! pointer ([`arc_swap`]); it never takes a lock the sync task holds, never waits and never
//! touches the network. Sync replaces the whole snapshot at once, so an evaluation sees one
//! revision, never a mix. The SDK depends on the engine and the wire format, not on the server.

mod cache;
pub mod events;
pub mod sse;
mod sync;

#[cfg(feature = "openfeature")]
pub mod openfeature;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use serde::Serialize;
use serde_json::Value;
use switchyard_engine::wire::{FlagData, ReleaseCohortRef};
use switchyard_engine::{Env, RandomSource, Snapshot, ValueType};
use tokio::sync::{broadcast, watch};

pub use events::EventsConfig;
pub use switchyard_engine::{Context, ContextError, ErrorKind, SingleContext};

use events::{Evaluated, Recorder};

/// How the SDK keeps its data current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// A server-sent-event stream; while it cannot connect, the snapshot is polled instead.
    Streaming,
    /// Poll the snapshot at this interval (for networks that cut long-lived connections).
    Polling(Duration),
    /// No network: serve the last-known-good file only.
    Offline,
}

/// Client settings. Build with [`Client::builder`].
#[derive(Debug, Clone)]
pub struct Config {
    pub base_url: String,
    pub sdk_key: String,
    /// How long [`ClientBuilder::build`] waits for data before it returns a client that serves
    /// defaults (reason `ERROR`/`CLIENT_NOT_READY`) until data arrives.
    pub init_timeout: Duration,
    pub sync: SyncMode,
    /// The last-known-good file: read at start, rewritten (atomically) on every change.
    pub cache_file: Option<PathBuf>,
    /// Reconnection delays grow from `backoff_initial` to `backoff_max`, with full jitter.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A stream silent this long (no change, no heartbeat) is presumed dead and reopened.
    pub stream_read_timeout: Duration,
    /// While the stream is down, the snapshot is polled at most this often.
    pub fallback_poll_interval: Duration,
    /// Evaluation summaries, exposures and metric events (`docs/events.md`).
    pub events: EventsConfig,
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    config: Config,
}

impl ClientBuilder {
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.config.init_timeout = timeout;
        self
    }
    pub fn sync(mut self, mode: SyncMode) -> Self {
        self.config.sync = mode;
        self
    }
    pub fn cache_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.cache_file = Some(path.into());
        self
    }
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.backoff_initial = initial;
        self.config.backoff_max = max;
        self
    }
    pub fn stream_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.stream_read_timeout = timeout;
        self
    }
    pub fn fallback_poll_interval(mut self, interval: Duration) -> Self {
        self.config.fallback_poll_interval = interval;
        self
    }
    /// Event settings; `EventsConfig { enabled: false, .. }` records and sends nothing.
    pub fn events(mut self, events: EventsConfig) -> Self {
        self.config.events = events;
        self
    }

    /// Starts syncing (on the current Tokio runtime) and waits up to the init timeout for data.
    /// Data from the last-known-good file counts: a client that found one returns at once.
    /// Never fails: without data the client serves the caller's defaults until data arrives.
    pub async fn build(self) -> Client {
        let client = Client::start(self.config);
        client
            .wait_initialized(client.inner.config.init_timeout)
            .await;
        client
    }
}

/// A live view of one environment's flags. Cheap to clone (one `Arc`); `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    current: ArcSwapOption<Loaded>,
    initialized: watch::Sender<bool>,
    changes: broadcast::Sender<FlagsChanged>,
    /// The revision of every install, changed or not (relays follow this).
    installed: watch::Sender<Option<i64>>,
    status: watch::Sender<SyncStatus>,
    closing: watch::Sender<bool>,
    /// The sync task and the events sender, awaited by `close`.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    random: RandomSource,
    events: Arc<Recorder>,
}

/// Flag data and its compiled form, replaced as a whole.
#[derive(Debug)]
struct Loaded {
    data: FlagData,
    compiled: Snapshot,
    from: DataSource,
}

/// Where the current data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    Server,
    CacheFile,
}

/// How the client is connected to its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamState {
    /// Not yet connected since the client started.
    Connecting,
    /// The stream is open: the data is current.
    Streaming,
    /// Polling mode, and the last poll succeeded.
    Polling,
    /// The stream (or poll) failed; retrying with backoff.
    Reconnecting,
    /// The upstream refused the SDK key; the client no longer tries.
    Refused,
    /// Configured not to sync.
    Offline,
}

/// What the client knows about the freshness of its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncStatus {
    pub state: UpstreamState,
    /// When `state` was entered.
    pub since: SystemTime,
    /// The last moment the data was known to match the upstream (for data from the
    /// last-known-good file, when the file was written).
    pub verified_at: Option<SystemTime>,
}

impl SyncStatus {
    /// How old the data may be: zero while streaming, otherwise the time since it was last known
    /// to be current; `None` when that was never known.
    pub fn data_age(&self) -> Option<Duration> {
        if self.state == UpstreamState::Streaming {
            return Some(Duration::ZERO);
        }
        self.verified_at
            .map(|at| SystemTime::now().duration_since(at).unwrap_or_default())
    }
}

/// Sent to subscribers when flag data changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagsChanged {
    pub revision: i64,
    /// Flags whose configuration changed, appeared or disappeared; after a segment change,
    /// every flag.
    pub flags: Vec<String>,
}

/// Why a value was served (owned; see the engine's `Reason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    Off,
    TargetMatch,
    RuleMatch {
        rule_index: usize,
        rule_id: String,
        in_rollout: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<ReleaseCohortRef>,
    },
    Fallthrough {
        in_rollout: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<ReleaseCohortRef>,
    },
    PrerequisiteFailed {
        prerequisite_key: String,
    },
    Error {
        error_kind: ErrorKind,
    },
}

impl Reason {
    fn error(error_kind: ErrorKind) -> Reason {
        Reason::Error { error_kind }
    }

    fn from_engine(reason: &switchyard_engine::Reason<'_>) -> Reason {
        use switchyard_engine::Reason as R;
        match *reason {
            R::Off => Reason::Off,
            R::TargetMatch => Reason::TargetMatch,
            R::RuleMatch {
                rule_index,
                rule_id,
                rollout,
                release,
            } => Reason::RuleMatch {
                rule_index,
                rule_id: rule_id.to_owned(),
                in_rollout: rollout.is_some(),
                release: release.map(ReleaseCohortRef::from),
            },
            R::Fallthrough { rollout, release } => Reason::Fallthrough {
                in_rollout: rollout.is_some(),
                release: release.map(ReleaseCohortRef::from),
            },
            R::PrerequisiteFailed { prerequisite_key } => Reason::PrerequisiteFailed {
                prerequisite_key: prerequisite_key.to_owned(),
            },
            R::Error { error_kind } => Reason::error(error_kind),
        }
    }

    /// The reason's kind, as events and OFREP metadata name it (`RULE_MATCH`, …).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Reason::Off => "OFF",
            Reason::TargetMatch => "TARGET_MATCH",
            Reason::RuleMatch { .. } => "RULE_MATCH",
            Reason::Fallthrough { .. } => "FALLTHROUGH",
            Reason::PrerequisiteFailed { .. } => "PREREQUISITE_FAILED",
            Reason::Error { .. } => "ERROR",
        }
    }

    /// The release stage and cohort, when a release layer decided the serving.
    pub fn release(&self) -> Option<switchyard_engine::ReleaseCohort<'_>> {
        match self {
            Reason::RuleMatch { release, .. } | Reason::Fallthrough { release, .. } => {
                release.as_ref().map(|r| switchyard_engine::ReleaseCohort {
                    stage: &r.stage,
                    cohort: r.cohort,
                })
            }
            _ => None,
        }
    }

    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Reason::Error { error_kind } => Some(*error_kind),
            _ => None,
        }
    }
}

/// A value with how it was decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detail<T> {
    pub value: T,
    /// The served variation's key (`None`: the caller's default was served).
    pub variation: Option<String>,
    pub variation_index: Option<usize>,
    pub reason: Reason,
    /// The flag's version in this environment (`None` when the flag is unknown).
    pub flag_version: Option<u64>,
    /// OpenFeature's name for the reason (`STATIC`, `TARGETING_MATCH`, `SPLIT`, …).
    pub openfeature_reason: &'static str,
}

/// Every flag's evaluation for one context, as a front end would bootstrap from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllFlags {
    pub revision: Option<i64>,
    pub flags: BTreeMap<String, Detail<Value>>,
}

impl Client {
    pub fn builder(base_url: impl Into<String>, sdk_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            config: Config {
                base_url: base_url.into().trim_end_matches('/').to_owned(),
                sdk_key: sdk_key.into(),
                init_timeout: Duration::from_secs(5),
                sync: SyncMode::Streaming,
                cache_file: None,
                backoff_initial: Duration::from_millis(500),
                backoff_max: Duration::from_secs(30),
                stream_read_timeout: Duration::from_secs(60),
                fallback_poll_interval: Duration::from_secs(30),
                events: EventsConfig::default(),
            },
        }
    }

    fn start(config: Config) -> Client {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let state = match config.sync {
            SyncMode::Offline => UpstreamState::Offline,
            _ => UpstreamState::Connecting,
        };
        let inner = Arc::new(Inner {
            current: ArcSwapOption::empty(),
            initialized: watch::channel(false).0,
            changes: broadcast::channel(64).0,
            installed: watch::channel(None).0,
            status: watch::channel(SyncStatus {
                state,
                since: SystemTime::now(),
                verified_at: None,
            })
            .0,
            closing: watch::channel(false).0,
            tasks: Mutex::new(Vec::new()),
            random: RandomSource::new(seed),
            events: Arc::new(Recorder::new(
                EventsConfig {
                    // Offline clients have nowhere to send events.
                    enabled: config.events.enabled && config.sync != SyncMode::Offline,
                    ..config.events.clone()
                },
                now_ms(),
            )),
            config,
        });
        if let Some((data, written)) = inner.config.cache_file.as_deref().and_then(cache::read) {
            inner.replace(data, DataSource::CacheFile);
            inner.status.send_modify(|s| s.verified_at = written);
        }
        let mut tasks = vec![sync::spawn(inner.clone())];
        if inner.events.is_recording() {
            tasks.push(events::spawn_sender(
                inner.events.clone(),
                inner.config.base_url.clone(),
                inner.config.sdk_key.clone(),
                inner.closing.subscribe(),
                inner.status.subscribe(),
            ));
        }
        if let Ok(mut slot) = inner.tasks.lock() {
            *slot = tasks;
        }
        Client { inner }
    }

    /// Whether the client has flag data (from the server or the last-known-good file).
    pub fn is_initialized(&self) -> bool {
        *self.inner.initialized.borrow()
    }

    /// Waits up to `timeout` for data; returns whether there is some.
    pub async fn wait_initialized(&self, timeout: Duration) -> bool {
        let mut initialized = self.inner.initialized.subscribe();
        let ready = tokio::time::timeout(timeout, initialized.wait_for(|ready| *ready)).await;
        matches!(ready, Ok(Ok(_)))
    }

    /// The revision of the data being served.
    pub fn revision(&self) -> Option<i64> {
        self.inner.current.load().as_ref().map(|l| l.data.revision)
    }

    /// Where the data being served came from.
    pub fn data_source(&self) -> Option<DataSource> {
        self.inner.current.load().as_ref().map(|l| l.from)
    }

    /// The upstream connection and how fresh the data is.
    pub fn sync_status(&self) -> SyncStatus {
        *self.inner.status.borrow()
    }

    /// Follows [`Client::sync_status`] as it changes.
    pub fn watch_sync_status(&self) -> watch::Receiver<SyncStatus> {
        self.inner.status.subscribe()
    }

    /// A copy of the flag data being served (for relays; applications evaluate instead).
    pub fn flag_data(&self) -> Option<FlagData> {
        self.inner.current.load().as_ref().map(|l| l.data.clone())
    }

    /// The revision of each installed data set, including changes no flag listener would see
    /// (a segment, the revision alone).
    pub fn watch_revision(&self) -> watch::Receiver<Option<i64>> {
        self.inner.installed.subscribe()
    }

    /// Change notifications (flag keys and the new revision).
    pub fn subscribe(&self) -> broadcast::Receiver<FlagsChanged> {
        self.inner.changes.subscribe()
    }

    pub fn bool_value(&self, flag: &str, context: &Context, default: bool) -> bool {
        self.bool_detail(flag, context, default).value
    }
    pub fn bool_detail(&self, flag: &str, context: &Context, default: bool) -> Detail<bool> {
        self.typed(flag, context, ValueType::Bool, default, |v| v.as_bool())
    }

    pub fn string_value(&self, flag: &str, context: &Context, default: &str) -> String {
        self.string_detail(flag, context, default).value
    }
    pub fn string_detail(&self, flag: &str, context: &Context, default: &str) -> Detail<String> {
        self.typed(flag, context, ValueType::String, default.to_owned(), |v| {
            v.as_str().map(str::to_owned)
        })
    }

    pub fn number_value(&self, flag: &str, context: &Context, default: f64) -> f64 {
        self.number_detail(flag, context, default).value
    }
    pub fn number_detail(&self, flag: &str, context: &Context, default: f64) -> Detail<f64> {
        self.typed(flag, context, ValueType::Double, default, |v| v.as_f64())
    }

    pub fn json_value(&self, flag: &str, context: &Context, default: Value) -> Value {
        self.json_detail(flag, context, default).value
    }
    pub fn json_detail(&self, flag: &str, context: &Context, default: Value) -> Detail<Value> {
        self.typed(flag, context, ValueType::Json, default, |v| Some(v.clone()))
    }

    /// Every flag evaluated for `context`, with values as JSON.
    pub fn all_flags(&self, context: &Context) -> AllFlags {
        let guard = self.inner.current.load();
        let Some(loaded) = guard.as_ref() else {
            return AllFlags {
                revision: None,
                flags: BTreeMap::new(),
            };
        };
        let flags = loaded
            .compiled
            .flags()
            .map(|flag| {
                let detail = self.inner.evaluate(
                    loaded,
                    flag.key(),
                    context,
                    ValueType::Any,
                    Value::Null,
                    |v| Some(v.clone()),
                );
                (flag.key().to_owned(), detail)
            })
            .collect();
        AllFlags {
            revision: Some(loaded.data.revision),
            flags,
        }
    }

    fn typed<T>(
        &self,
        flag: &str,
        context: &Context,
        want: ValueType,
        default: T,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> Detail<T> {
        let guard = self.inner.current.load();
        match guard.as_ref() {
            Some(loaded) => {
                let detail = self
                    .inner
                    .evaluate(loaded, flag, context, want, default, convert);
                if let Some(version) = detail.flag_version {
                    self.inner.events.evaluated(
                        &Evaluated {
                            flag,
                            version,
                            variation_index: detail.variation_index,
                            variation: detail.variation.as_deref(),
                            reason: detail.reason.kind_name(),
                            release: detail.reason.release(),
                        },
                        context,
                        now_ms(),
                    );
                }
                detail
            }
            None => Detail {
                value: default,
                variation: None,
                variation_index: None,
                reason: Reason::error(ErrorKind::ClientNotReady),
                flag_version: None,
                openfeature_reason: "ERROR",
            },
        }
    }

    /// Records a metric event for `context` (an error, a latency in ms, a purchase amount…);
    /// it is attributed to the variations this context was exposed to. Never blocks.
    pub fn track(&self, name: &str, context: &Context, value: f64) {
        self.inner.events.track(name, context, value, now_ms());
    }

    /// This client's event recorder, for code that evaluates on others' behalf (a relay
    /// answering OFREP, or forwarding what its own SDKs post) and wants the events sent
    /// upstream by this client's sender: batched, retried, bounded while the server is away.
    pub fn events_recorder(&self) -> Arc<events::Recorder> {
        self.inner.events.clone()
    }

    /// Stops syncing, sends the events still queued, and waits for both to finish. Evaluation
    /// keeps serving the last data.
    pub async fn close(&self) {
        self.inner.closing.send_replace(true);
        let tasks = self
            .inner
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Inner {
    /// Records a change of connection state (and, when given, a moment the data was current).
    fn set_status(&self, state: UpstreamState, verified_at: Option<SystemTime>) {
        self.status.send_if_modified(|status| {
            let before = *status;
            if status.state != state {
                status.state = state;
                status.since = SystemTime::now();
            }
            if verified_at.is_some() {
                status.verified_at = verified_at;
            }
            *status != before
        });
    }

    fn evaluate<T>(
        &self,
        loaded: &Loaded,
        flag: &str,
        context: &Context,
        want: ValueType,
        default: T,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> Detail<T> {
        let env = Env {
            now_ms: now_ms(),
            random: self.random.next_u32(),
        };
        let compiled = loaded.compiled.flag(flag);
        let evaluation = loaded.compiled.evaluate_typed(flag, context, &env, want);
        // A served value the caller cannot take is the caller's default, with no variation.
        let served = evaluation
            .variation
            .and_then(|v| Some((convert(&v.value)?, v.key.clone())));
        let variation_index = served.as_ref().and(evaluation.variation_index);
        let (value, variation) = match served {
            Some((value, key)) => (value, Some(key)),
            None => (default, None),
        };
        Detail {
            value,
            variation,
            variation_index,
            reason: Reason::from_engine(&evaluation.reason),
            flag_version: compiled.map(|f| f.version()),
            openfeature_reason: evaluation
                .reason
                .openfeature(compiled.is_some_and(|f| f.is_static())),
        }
    }

    /// Installs new data: compiled once, swapped in whole, then announced and saved.
    fn replace(&self, data: FlagData, from: DataSource) {
        let previous = self.current.load_full();
        let changed: Vec<String> = match previous.as_ref() {
            Some(previous) => {
                let patch = previous.data.diff(&data);
                if patch.segments.is_empty() {
                    patch.flags.into_keys().collect()
                } else {
                    // Any flag may read a segment (directly or through another segment), so a
                    // segment change may change every flag's answers.
                    let mut keys: std::collections::BTreeSet<String> =
                        patch.flags.into_keys().collect();
                    keys.extend(data.flags.keys().cloned());
                    keys.into_iter().collect()
                }
            }
            None => data.flags.keys().cloned().collect(),
        };
        let revision = data.revision;
        let compiled = Snapshot::compile(&data.dataset());
        self.current.store(Some(Arc::new(Loaded {
            data,
            compiled,
            from,
        })));
        if !changed.is_empty() {
            let _ = self.changes.send(FlagsChanged {
                revision,
                flags: changed,
            });
        }
        self.installed.send_replace(Some(revision));
        // Marked last, so a caller that subscribes once initialized never sees the first load
        // as a change.
        self.initialized.send_replace(true);
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn data(revision: i64, segment_values: &[&str]) -> FlagData {
        serde_json::from_value(serde_json::json!({
            "format": switchyard_engine::wire::FORMAT,
            "revision": revision,
            "flags": {
                "a": {"key": "a", "kind": "boolean", "variations": [{"key": "on", "value": true}, {"key": "off", "value": false}],
                      "on": true, "off_variation": 1, "fallthrough": {"variation": 0}},
                "b": {"key": "b", "kind": "boolean", "variations": [{"key": "on", "value": true}, {"key": "off", "value": false}],
                      "on": false, "off_variation": 1, "fallthrough": {"variation": 0}}
            },
            "segments": {"staff": {"key": "staff", "included": [{"kind": "user", "values": segment_values}]}}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_segment_change_is_announced_for_every_flag() {
        let client = Client::builder("http://127.0.0.1:9", "sys_x_y")
            .sync(SyncMode::Offline)
            .init_timeout(Duration::ZERO)
            .build()
            .await;
        client.inner.replace(data(1, &["ann"]), DataSource::Server);
        let mut changes = client.subscribe();
        client
            .inner
            .replace(data(2, &["ann", "bob"]), DataSource::Server);
        let change = changes.try_recv().unwrap();
        assert_eq!(change.revision, 2);
        assert_eq!(change.flags, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(*client.watch_revision().borrow(), Some(2));
    }
}
