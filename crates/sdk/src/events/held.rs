//! Batches kept whole to be sent as they are, and the ids that make a resent batch count once;
//! how a relay takes in what its SDKs posted ([`Recorder::absorb`]).

use std::collections::VecDeque;
use std::fmt::Write as _;

use super::{Batch, MAX_BATCH_EVENTS, Recorder, must_stay_whole};

impl Recorder {
    /// Queues a batch recorded elsewhere (a relay forwarding what its SDKs posted). One with an
    /// id is kept whole and sent on as it is, so the upstream counts a downstream retry once;
    /// what was recorded before it is first cut into batches of its own ahead of it, so the
    /// upstream receives everything in the order it arrived here (a metric after the exposure
    /// this relay's OFREP answer recorded). A batch without an id, and one with an id while the
    /// held batches would exceed the capacity, is merged instead: its summaries merged and its
    /// events queued behind what is already queued (its id is then lost).
    ///
    /// A [`Batch::client_visible_only`] batch is never merged (its restriction must cover
    /// exactly its own events): it is given an id if it has none, and when it does not fit it
    /// is given back, for the caller to refuse (the sender retries later).
    pub fn absorb(&self, mut batch: Batch, now_ms: i64) -> Result<(), Box<Batch>> {
        if !self.is_recording() {
            return Ok(());
        }
        if batch.client_visible_only && batch.batch_id.is_none() {
            batch.batch_id = new_batch_id();
        }
        if !must_stay_whole(&batch) {
            self.merge_in(batch);
            return Ok(());
        }
        match self.hold_whole(batch, now_ms) {
            None => Ok(()),
            Some(batch) if batch.client_visible_only => Err(Box::new(batch)),
            Some(batch) => {
                self.merge_in(batch);
                Ok(())
            }
        }
    }

    /// Holds `batch` behind the held ones and behind what is recorded now (cut into batches
    /// first), if all of it fits the capacity; gives it back otherwise.
    fn hold_whole(&self, batch: Batch, now_ms: i64) -> Option<Batch> {
        let Ok(mut held) = self.held.lock() else {
            return Some(batch);
        };
        let queued = self.queue.lock().map(|queue| queue.len()).unwrap_or(0);
        let summaries = self
            .window
            .lock()
            .map(|window| {
                window.carried.len() + window.counters.values().map(|s| s.len()).sum::<usize>()
            })
            .unwrap_or(0);
        if held.items + queued + summaries + batch_items(&batch) > self.config.capacity {
            return Some(batch);
        }
        // Bounded by what was counted: events recorded meanwhile may stay queued.
        for _ in 0..=queued / MAX_BATCH_EVENTS {
            let Some(recorded) = self.cut(MAX_BATCH_EVENTS, now_ms) else {
                break;
            };
            held.push_back(recorded);
        }
        held.push_back(batch);
        None
    }
}

/// Batches held whole, and their summaries plus events (bounded by the capacity).
#[derive(Debug, Default)]
pub(super) struct Held {
    batches: VecDeque<Batch>,
    items: usize,
}

impl Held {
    /// Next out: a batch being retried goes before everything else.
    pub(super) fn push_front(&mut self, batch: Batch) {
        self.items += batch_items(&batch);
        self.batches.push_front(batch);
    }

    /// Last out (the caller checked the capacity).
    fn push_back(&mut self, batch: Batch) {
        self.items += batch_items(&batch);
        self.batches.push_back(batch);
    }

    pub(super) fn pop_front(&mut self) -> Option<Batch> {
        let batch = self.batches.pop_front()?;
        self.items = self.items.saturating_sub(batch_items(&batch));
        Some(batch)
    }
}

fn batch_items(batch: &Batch) -> usize {
    batch.summaries.len() + batch.events.len()
}

/// A random id for a new batch: 128 bits from the operating system, as 32 hex digits. Without
/// a random source the batch goes without one (counted as often as it is received).
pub(super) fn new_batch_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    match getrandom::fill(&mut bytes) {
        Ok(()) => {
            let mut id = String::with_capacity(32);
            for byte in bytes {
                let _ = write!(id, "{byte:02x}");
            }
            Some(id)
        }
        Err(error) => {
            tracing::warn!(%error, "no random source; an event batch goes without an id");
            None
        }
    }
}
