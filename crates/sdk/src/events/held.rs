//! Batches kept whole to be sent as they are, and the ids that make a resent batch count once.

use std::collections::VecDeque;
use std::fmt::Write as _;

use super::Batch;

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

    /// Last out, if the held batches' items stay within `capacity`; gives it back otherwise.
    pub(super) fn push_back_within(&mut self, batch: Batch, capacity: usize) -> Option<Batch> {
        let items = batch_items(&batch);
        if self.items + items > capacity {
            return Some(batch);
        }
        self.items += items;
        self.batches.push_back(batch);
        None
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
