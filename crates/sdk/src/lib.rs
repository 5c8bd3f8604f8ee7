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
use switchyard_engine::{CompiledFlag, Env, RandomSource, Snapshot, ValueType};
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
    compiled: Arc<Snapshot>,
    from: DataSource,
    /// This revision's evaluation counters (while recording events).
    tally: Option<Arc<events::Tally>>,
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
        self.value(flag, context, ValueType::Bool, default, Value::as_bool)
    }
    pub fn bool_detail(&self, flag: &str, context: &Context, default: bool) -> Detail<bool> {
        self.typed(flag, context, ValueType::Bool, default, |v| v.as_bool())
    }

    pub fn string_value(&self, flag: &str, context: &Context, default: &str) -> String {
        self.value(flag, context, ValueType::String, None, |v| {
            v.as_str().map(|s| Some(s.to_owned()))
        })
        .unwrap_or_else(|| default.to_owned())
    }
    pub fn string_detail(&self, flag: &str, context: &Context, default: &str) -> Detail<String> {
        self.typed(flag, context, ValueType::String, default.to_owned(), |v| {
            v.as_str().map(str::to_owned)
        })
    }

    pub fn number_value(&self, flag: &str, context: &Context, default: f64) -> f64 {
        self.value(flag, context, ValueType::Double, default, Value::as_f64)
    }
    pub fn number_detail(&self, flag: &str, context: &Context, default: f64) -> Detail<f64> {
        self.typed(flag, context, ValueType::Double, default, |v| v.as_f64())
    }

    pub fn json_value(&self, flag: &str, context: &Context, default: Value) -> Value {
        self.value(flag, context, ValueType::Json, None, |v| {
            Some(Some(v.clone()))
        })
        .unwrap_or(default)
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
                let detail =
                    self.inner
                        .evaluate(loaded, flag, context, ValueType::Any, Value::Null, |v| {
                            Some(v.clone())
                        });
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
        let Some(loaded) = guard.as_ref() else {
            return Detail {
                value: default,
                variation: None,
                variation_index: None,
                reason: Reason::error(ErrorKind::ClientNotReady),
                flag_version: None,
                openfeature_reason: "ERROR",
            };
        };
        let Some(compiled) = loaded.compiled.flag(flag) else {
            // An unknown flag is not counted: there is no version to count it under.
            return Detail {
                value: default,
                variation: None,
                variation_index: None,
                reason: Reason::error(ErrorKind::FlagNotFound),
                flag_version: None,
                openfeature_reason: "ERROR",
            };
        };
        let detail = self
            .inner
            .evaluate(loaded, compiled, context, want, default, convert);
        self.inner.events.evaluated_lazily(
            &Evaluated {
                flag: compiled.key(),
                version: compiled.version(),
                variation_index: detail.variation_index,
                variation: detail.variation.as_deref(),
                reason: detail.reason.kind_name(),
                release: detail.reason.release(),
                in_experiment: detail.reason.in_experiment(),
            },
            context,
            now_ms,
            None,
        );
        detail
    }

    /// [`Client::typed`] without the detail: no owned reason or variation key is built, the
    /// clock is read only when the flag or an exposure needs it, and the flag is looked up
    /// once. Records the same events.
    fn value<T>(
        &self,
        flag: &str,
        context: &Context,
        want: ValueType,
        default: T,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> T {
        let guard = self.inner.current.load();
        let Some((loaded, (position, compiled))) = guard
            .as_ref()
            .and_then(|loaded| Some((loaded, loaded.compiled.flag_with_position(flag)?)))
        else {
            return default;
        };
        let env = self.inner.env_for(compiled);
        let evaluation = loaded
            .compiled
            .evaluate_flag_typed(compiled, context, &env, want);
        let served = evaluation
            .variation
            .and_then(|v| Some((convert(&v.value)?, &*v.key)));
        if self.inner.events.is_recording() {
            let rollout = evaluation.reason.rollout();
            self.inner.events.evaluated_lazily(
                &Evaluated {
                    flag: compiled.key(),
                    version: compiled.version(),
                    variation_index: served.as_ref().and(evaluation.variation_index),
                    variation: served.as_ref().map(|(_, key)| *key),
                    reason: evaluation.reason.kind_name(),
                    release: evaluation.reason.release(),
                    in_experiment: rollout.is_some_and(|r| r.in_experiment),
                },
                context,
                now_ms,
                loaded.tally.as_deref().map(|tally| (tally, position)),
            );
        }
        served.map_or(default, |(value, _)| value)
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

    /// The environment `flag` is evaluated in: the clock and a random number only when it
    /// reads them (reading the clock costs more than evaluating a plain flag).
    fn env_for(&self, flag: &CompiledFlag) -> Env {
        if flag.reads_env() {
            Env {
                now_ms: now_ms(),
                random: self.random.next_u32(),
            }
        } else {
            Env::default()
        }
    }

    fn evaluate<T>(
        &self,
        loaded: &Loaded,
        compiled: &CompiledFlag,
        context: &Context,
        want: ValueType,
        default: T,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> Detail<T> {
        let env = self.env_for(compiled);
        let evaluation = loaded
            .compiled
            .evaluate_flag_typed(compiled, context, &env, want);
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
            flag_version: Some(compiled.version()),
            openfeature_reason: evaluation.reason.openfeature(compiled.is_static()),
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
        let compiled = Arc::new(Snapshot::compile(&data.dataset()));
        let tally = self.events.tally(&compiled);
        self.current.store(Some(Arc::new(Loaded {
            data,
            compiled,
            from,
            tally,
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

    /// Evaluations counted in a revision's tally, in the window's map (details) and by several
    /// threads at once all arrive in one summary slot, across a revision change, and a context
    /// evaluated again is exposed once.
    #[tokio::test]
    async fn repeat_evaluations_are_counted_exactly_and_exposed_once() {
        let hour = Duration::from_secs(3600);
        let client = Client::builder("http://127.0.0.1:9", "sys_x_y")
            .sync(SyncMode::Polling(hour))
            .backoff(hour, hour)
            .events(EventsConfig {
                flush_interval: hour,
                ..EventsConfig::default()
            })
            .init_timeout(Duration::ZERO)
            .build()
            .await;
        client.inner.replace(data(1, &["ann"]), DataSource::Server);
        let ann = Context::from_json(&serde_json::json!({"key": "ann"})).unwrap();
        std::thread::scope(|threads| {
            for _ in 0..4 {
                threads.spawn(|| {
                    for _ in 0..1_000 {
                        assert!(client.bool_value("a", &ann, false));
                    }
                });
            }
        });
        assert!(!client.bool_value("b", &ann, true));
        assert!(client.bool_detail("a", &ann, false).value);
        client
            .inner
            .replace(data(2, &["ann", "bob"]), DataSource::Server);
        assert!(client.bool_value("a", &ann, false));
        let batch = client.inner.events.take_batch(100, now_ms()).unwrap();
        let count = |flag: &str| -> Vec<(Option<String>, String, u64)> {
            batch
                .summaries
                .iter()
                .filter(|s| s.flag == flag)
                .map(|s| (s.variation.clone(), s.reason.clone(), s.count))
                .collect()
        };
        assert_eq!(
            count("a"),
            [(Some("on".into()), "FALLTHROUGH".into(), 4_002)]
        );
        assert_eq!(count("b"), [(Some("off".into()), "OFF".into(), 1)]);
        let exposed: Vec<(&str, &str)> = batch
            .events
            .iter()
            .filter_map(|e| match e {
                events::Event::Exposure {
                    flag, variation, ..
                } => Some((&**flag, &**variation)),
                _ => None,
            })
            .collect();
        assert_eq!(exposed, [("a", "on"), ("b", "off")]);
        // Counted after the cut: in the next batch, not lost.
        assert!(client.bool_value("a", &ann, false));
        let next = client.inner.events.take_batch(100, now_ms()).unwrap();
        assert_eq!(next.summaries.len(), 1);
        assert_eq!(next.summaries[0].count, 1);
        assert!(next.events.is_empty(), "{:?}", next.events);
    }
}
