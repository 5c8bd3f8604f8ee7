//! One environment's [`Feed`]: its current [`Published`] state, pre-encoded once per revision
//! (snapshot body and gzip, stream frames, OFREP fragments), its change broadcast and a short
//! history of patches so a reconnecting stream receives only what it missed.

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde_json::json;
use switchyard_engine::Snapshot;
use switchyard_engine::wire::{FORMAT, FlagData, Patch};
use tokio::sync::broadcast;

use crate::clock::now_ms;

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
    /// OFREP answer pieces for this revision's flags.
    pub ofrep: super::fragments::OfrepFragments,
    /// When publishing this revision began (its diff and encodings included).
    pub(super) published_at: Instant,
    /// The longest time, in ns from `published_at`, a stream took to hand this revision's frame
    /// to its connection so far: the fan-out's server share once every stream has it.
    pub(super) fanout_ns: AtomicU64,
}

impl Published {
    fn new(data: FlagData, patch: Option<Patch>, published_at: Instant) -> Published {
        let snapshot = serde_json::to_vec(&data).unwrap_or_default();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let snapshot_gzip = gzip
            .write_all(&snapshot)
            .and_then(|()| gzip.finish())
            .unwrap_or_default();
        let revision = data.revision;
        let etag = format!("\"v{FORMAT}-{revision}\"");
        let refetch = json!({"type": "refetchEvaluation", "etag": etag, "revision": revision});
        let compiled = Snapshot::compile(&data.dataset());
        Published {
            ofrep: super::fragments::OfrepFragments::new(&compiled),
            compiled,
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
            published_at,
            fanout_ns: AtomicU64::new(0),
        }
    }

    pub fn revision(&self) -> i64 {
        self.data.revision
    }

    /// Notes that one more stream handed this revision's frame to its connection (hyper
    /// writes it to the socket in the same poll); returns the fan-out time so far.
    pub(super) fn note_handed(&self) -> Duration {
        let now = u64::try_from(self.published_at.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let longest = self.fanout_ns.fetch_max(now, Ordering::Relaxed).max(now);
        Duration::from_nanos(longest)
    }
}

/// A server-sent event. Data is JSON, which never contains a raw newline.
pub(super) fn frame(id: i64, event: &str, data: &[u8]) -> Bytes {
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
    pub(super) checked: AtomicI64,
    /// Serializes reloads so published revisions only move forward.
    pub(super) reload: tokio::sync::Mutex<()>,
    /// When the data was last known to be current, in Unix ms; [`CURRENT`] while it is.
    verified_at_ms: AtomicI64,
}

/// `verified_at_ms` of a feed whose data is current (the store's, or a relay's while its
/// upstream stream is open).
const CURRENT: i64 = i64::MAX;
/// `verified_at_ms` when nobody knows how old the data is.
const UNKNOWN: i64 = i64::MIN;

/// Response header with how many seconds old the served data may be (0: current).
pub const DATA_AGE_HEADER: &str = "x-switchyard-data-age";

impl Feed {
    pub(super) fn new(project: &str, env: &str, data: FlagData) -> Feed {
        Feed {
            checked: AtomicI64::new(data.revision),
            project: project.to_owned(),
            env: env.to_owned(),
            current: ArcSwap::from_pointee(Published::new(data, None, Instant::now())),
            changes: broadcast::channel(64).0,
            history: Mutex::default(),
            reload: tokio::sync::Mutex::new(()),
            verified_at_ms: AtomicI64::new(CURRENT),
        }
    }

    /// How old the data may be: zero while current, `None` when unknown.
    pub fn data_age(&self) -> Option<Duration> {
        match self.verified_at_ms.load(Ordering::Relaxed) {
            CURRENT => Some(Duration::ZERO),
            UNKNOWN => None,
            at => Some(Duration::from_millis(
                u64::try_from(now_ms().saturating_sub(at)).unwrap_or(0),
            )),
        }
    }

    /// Records how fresh the data is: `None` for current, else when it was last verified.
    pub fn set_verified(&self, verified_at: Option<Option<SystemTime>>) {
        let ms = match verified_at {
            None => CURRENT,
            Some(None) => UNKNOWN,
            Some(Some(at)) => at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        };
        self.verified_at_ms.store(ms, Ordering::Relaxed);
    }

    /// Makes `next` the current state when it is newer and differs in what is served: records
    /// the patch for resuming streams and announces it. Returns whether it published.
    pub(super) fn publish(&self, next: FlagData, history_len: usize) -> bool {
        let started = Instant::now();
        let current = self.current();
        if next.revision <= current.revision() {
            return false;
        }
        let patch = current.data.diff(&next);
        if patch.is_empty() {
            // Nothing this environment serves changed; streams keep their revision.
            return false;
        }
        let published = Arc::new(Published::new(next, Some(patch.clone()), started));
        if let Ok(mut history) = self.history.lock() {
            if history.len() >= history_len {
                history.pop_front();
            }
            history.push_back(Arc::new(patch));
        }
        self.current.store(published.clone());
        // No receivers is fine: nobody is streaming this environment right now.
        let _ = self.changes.send(published);
        true
    }

    pub fn current(&self) -> Arc<Published> {
        self.current.load_full()
    }

    /// Notes that one more stream handed `published`'s frame; returns the fan-out time so far,
    /// or `None` once a newer revision is current: a slow stream handing an older one must not
    /// overwrite the newer revision's reading.
    pub(super) fn note_handed(&self, published: &Published) -> Option<Duration> {
        let longest = published.note_handed();
        (published.revision() >= self.current.load().revision()).then_some(longest)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn data(revision: i64, value: bool) -> FlagData {
        serde_json::from_value(
            json!({"format": FORMAT, "revision": revision, "flags": {"a":
            {"key": "a", "version": revision, "kind": "boolean", "on": value,
             "variations": [{"value": true}, {"value": false}], "fallthrough": {"variation": 0}}}}),
        )
        .unwrap()
    }

    #[test]
    fn an_older_revision_handed_late_gives_no_fanout_reading() {
        let feed = Feed::new("p", "e", data(1, true));
        let first = feed.current();
        assert!(feed.note_handed(&first).is_some());
        assert!(feed.publish(data(2, false), 8));
        assert!(feed.note_handed(&first).is_none(), "revision 2 is current");
        assert!(feed.note_handed(&feed.current()).is_some());
    }
}
