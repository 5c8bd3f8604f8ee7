//! How a client is configured: the sync mode, the settings and the builder that fills them.

use std::path::PathBuf;
use std::time::Duration;

use crate::Client;
use crate::events::EventsConfig;

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
    /// Changes one setting (every setter below is one of these).
    fn with(mut self, set: impl FnOnce(&mut Config)) -> Self {
        set(&mut self.config);
        self
    }

    pub fn init_timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.init_timeout = timeout)
    }
    pub fn sync(self, mode: SyncMode) -> Self {
        self.with(|c| c.sync = mode)
    }
    pub fn cache_file(self, path: impl Into<PathBuf>) -> Self {
        self.with(|c| c.cache_file = Some(path.into()))
    }
    pub fn backoff(self, initial: Duration, max: Duration) -> Self {
        self.with(|c| {
            c.backoff_initial = initial;
            c.backoff_max = max;
        })
    }
    pub fn stream_read_timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.stream_read_timeout = timeout)
    }
    pub fn fallback_poll_interval(self, interval: Duration) -> Self {
        self.with(|c| c.fallback_poll_interval = interval)
    }
    /// Event settings; `EventsConfig { enabled: false, .. }` records and sends nothing.
    pub fn events(self, events: EventsConfig) -> Self {
        self.with(|c| c.events = events)
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
}
