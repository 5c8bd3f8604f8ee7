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
mod config;
mod detail;
pub mod events;
pub mod sse;
mod status;
mod sync;

#[cfg(feature = "openfeature")]
pub mod openfeature;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use serde_json::Value;
use switchyard_engine::wire::FlagData;
use switchyard_engine::{Env, RandomSource, Snapshot, ValueType};
use tokio::sync::{broadcast, watch};

pub use config::{ClientBuilder, Config, SyncMode};
pub use detail::{AllFlags, Detail, Reason};
pub use events::EventsConfig;
pub use status::{DataSource, FlagsChanged, SyncStatus, UpstreamState};
pub use switchyard_engine::{Context, ContextError, ErrorKind, SingleContext};

use events::{Evaluated, Recorder};

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

impl Client {
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
                            in_experiment: detail.reason.in_experiment(),
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
