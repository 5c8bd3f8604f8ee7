//! What a client reports about its data: where it came from, how fresh it is, what changed.

use std::time::{Duration, SystemTime};

use serde::Serialize;

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
