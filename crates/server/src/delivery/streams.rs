//! The open streams of a [`super::Delivery`], per SDK key: counted against the total and
//! per-key limits, and ended when their key is revoked (deleted on any replica, or refused by a
//! relay's upstream).
//!
//! **Invariant:** a stream holds a [`StreamSlot`] for as long as it is open; the slot's
//! `revoked` receiver turns `true` when its key is revoked, and the stream then ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::AtomicU64;
use tokio::sync::watch;

use crate::tasks::Tasks;

/// Streams open at once, in all and per SDK key (0: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StreamLimits {
    pub(super) total: usize,
    pub(super) per_key: usize,
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The server or relay holds as many streams as it allows.
    Total,
    /// This key holds as many streams as one key may.
    PerKey,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_key: HashMap<String, KeyStreams>,
}

#[derive(Debug)]
struct KeyStreams {
    open: usize,
    revoked: watch::Sender<bool>,
}

/// Every open stream, by the id of the key that opened it.
#[derive(Debug)]
pub(super) struct OpenStreams {
    open: Mutex<Open>,
    /// The total, exported as `switchyard_sdk_streams_open`.
    pub(super) gauge: Gauge,
    /// Seconds from the publication of the latest change to the moment the last stream so far
    /// handed it to its connection, exported as `switchyard_sdk_stream_fanout_seconds`.
    pub(super) fanout: Gauge<f64, AtomicU64>,
    /// Ticks once per heartbeat period; every open stream then sends a heartbeat comment. One
    /// timer for all streams instead of one each: less memory per stream, and no timer to
    /// re-arm on every frame of a fan-out.
    heartbeat: watch::Sender<()>,
}

impl Default for OpenStreams {
    fn default() -> Self {
        OpenStreams {
            open: Mutex::default(),
            gauge: Gauge::default(),
            fanout: Gauge::default(),
            heartbeat: watch::channel(()).0,
        }
    }
}

impl OpenStreams {
    /// Starts the shared heartbeat tick in `tasks`, every `period` until they stop (only within
    /// a runtime, which every stream is served in).
    pub(super) fn start_heartbeat(self: &Arc<Self>, period: Duration, tasks: &Tasks) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let streams = Arc::downgrade(self);
        let stopping = tasks.stopping();
        tasks.spawn(async move {
            let start = tokio::time::Instant::now() + period;
            let mut tick = tokio::time::interval_at(start, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut stopping = std::pin::pin!(stopping);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = &mut stopping => return,
                }
                let Some(streams) = streams.upgrade() else {
                    return;
                };
                streams.heartbeat.send_replace(());
            }
        });
    }

    /// Takes a place for a stream of `key_id`, or says which limit refused it. A key revoked
    /// while some of its streams are still closing hands new streams a revoked receiver, so a
    /// stream authenticated just before the revocation ends too.
    pub(super) fn take(
        self: &Arc<Self>,
        key_id: &str,
        limits: StreamLimits,
    ) -> Result<StreamSlot, Refusal> {
        let Ok(mut open) = self.open.lock() else {
            return Err(Refusal::Total);
        };
        if limits.total > 0 && open.total >= limits.total {
            return Err(Refusal::Total);
        }
        let streams = open
            .by_key
            .entry(key_id.to_owned())
            .or_insert_with(|| KeyStreams {
                open: 0,
                revoked: watch::channel(false).0,
            });
        if limits.per_key > 0 && streams.open >= limits.per_key {
            return Err(Refusal::PerKey);
        }
        streams.open += 1;
        let revoked = streams.revoked.subscribe();
        open.total += 1;
        self.show(open.total);
        Ok(StreamSlot {
            streams: self.clone(),
            key_id: key_id.to_owned(),
            revoked,
            heartbeat: self.heartbeat.subscribe(),
        })
    }

    /// The ids of the keys with open streams.
    pub(super) fn keys(&self) -> Vec<String> {
        self.open
            .lock()
            .map(|open| open.by_key.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Open streams per key id, most first: the first `top` keys, and the sum of the rest.
    pub(super) fn per_key(&self, top: usize) -> (Vec<(String, usize)>, usize) {
        let mut keys: Vec<(String, usize)> = self
            .open
            .lock()
            .map(|open| {
                let keys = open.by_key.iter();
                keys.map(|(key, streams)| (key.clone(), streams.open))
                    .collect()
            })
            .unwrap_or_default();
        keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let rest = keys.iter().skip(top).map(|(_, open)| open).sum();
        keys.truncate(top);
        (keys, rest)
    }

    /// Ends every open stream of `key_id`.
    pub(super) fn revoke(&self, key_id: &str) {
        if let Ok(open) = self.open.lock()
            && let Some(streams) = open.by_key.get(key_id)
        {
            streams.revoked.send_replace(true);
        }
    }

    fn show(&self, total: usize) {
        self.gauge.set(i64::try_from(total).unwrap_or(i64::MAX));
    }

    fn give_back(&self, key_id: &str) {
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        open.total = open.total.saturating_sub(1);
        if let Some(streams) = open.by_key.get_mut(key_id) {
            streams.open = streams.open.saturating_sub(1);
            if streams.open == 0 {
                open.by_key.remove(key_id);
            }
        }
        self.show(open.total);
    }
}

/// One stream's place, given back when the stream ends.
#[derive(Debug)]
pub(super) struct StreamSlot {
    streams: Arc<OpenStreams>,
    key_id: String,
    /// Turns `true` when the key is revoked.
    pub(super) revoked: watch::Receiver<bool>,
    /// Changes once per heartbeat period (the sender lives as long as this slot's streams).
    pub(super) heartbeat: watch::Receiver<()>,
}

impl StreamSlot {
    /// Notes that this stream handed `published`'s frame (of `feed`) to its connection.
    pub(super) fn handed(&self, feed: &super::feed::Feed, published: &super::feed::Published) {
        if let Some(longest) = feed.note_handed(published) {
            self.streams.fanout.set(longest.as_secs_f64());
        }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.streams.give_back(&self.key_id);
    }
}

impl super::Delivery {
    /// Open streams per SDK key id (`switchyard_sdk_streams_open_by_key`), most first: the
    /// first `top` keys, and the sum of the rest.
    pub fn open_streams_per_key(&self, top: usize) -> (Vec<(String, usize)>, usize) {
        self.streams.per_key(top)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_per_key_and_in_all_and_places_come_back() {
        let streams = Arc::new(OpenStreams::default());
        let limits = StreamLimits {
            total: 3,
            per_key: 2,
        };
        let a1 = streams.take("a", limits).unwrap();
        let _a2 = streams.take("a", limits).unwrap();
        assert_eq!(streams.take("a", limits).unwrap_err(), Refusal::PerKey);
        let _b1 = streams.take("b", limits).unwrap();
        assert_eq!(streams.take("c", limits).unwrap_err(), Refusal::Total);
        assert_eq!(streams.gauge.get(), 3);
        drop(a1);
        assert_eq!(streams.gauge.get(), 2);
        assert!(streams.take("a", limits).is_ok());
    }

    #[test]
    fn revoking_a_key_ends_its_streams_only() {
        let streams = Arc::new(OpenStreams::default());
        let unlimited = StreamLimits {
            total: 0,
            per_key: 0,
        };
        let a = streams.take("a", unlimited).unwrap();
        let b = streams.take("b", unlimited).unwrap();
        streams.revoke("a");
        assert!(*a.revoked.borrow());
        assert!(!*b.revoked.borrow());
        // A stream of the revoked key opened while the others close is revoked from the start.
        let late = streams.take("a", unlimited).unwrap();
        assert!(*late.revoked.borrow());
        assert_eq!(streams.per_key(1), (vec![("a".to_owned(), 2)], 1));
        drop((a, late));
        assert_eq!(streams.keys(), ["b"]);
    }
}
