//! Evaluation counters of one revision, indexed by flag position: counting an evaluation is one
//! atomic add on the flag's own cache line instead of a locked map keyed by name. Each flag has a
//! few slots, claimed by (variation, reason) the first time they are counted; an evaluation that
//! finds no free slot (or serves a release cohort) is counted in the recorder's map instead. The
//! recorder folds every revision's counts into its map when it cuts a batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use switchyard_engine::Snapshot;

use super::record::exposure_key;
use super::{Counters, ReleaseCohortRef};

/// The low bits of a slot count; the bits above hold the slot's key (0: unclaimed).
const COUNT_BITS: u32 = 44;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// One flag's slots, on a cache line of its own so that threads counting different flags do
/// not contend.
#[derive(Debug, Default)]
#[repr(align(64))]
struct FlagSlots([AtomicU64; 8]);

/// A compiled revision a `Tally` counts for, kept alive until its last counts are folded
/// (its flags are named from it then). The SDK's is the snapshot itself; a server's OFREP
/// answers count per published revision.
pub trait Revision: Send + Sync + 'static {
    fn snapshot(&self) -> &Snapshot;
}

impl Revision for Snapshot {
    fn snapshot(&self) -> &Snapshot {
        self
    }
}

/// The counters of one compiled revision.
pub(crate) struct Tally {
    revision: Arc<dyn Revision>,
    flags: Box<[FlagSlots]>,
    /// Each flag's variations' exposure keys, by position and variation index.
    exposure_keys: Box<[Box<[u64]>]>,
}

impl std::fmt::Debug for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tally")
            .field("flags", &self.flags.len())
            .finish_non_exhaustive()
    }
}

/// The reason kinds, in the order of their slot codes.
const REASONS: [&str; 6] = [
    "OFF",
    "TARGET_MATCH",
    "RULE_MATCH",
    "FALLTHROUGH",
    "PREREQUISITE_FAILED",
    "ERROR",
];

/// A slot's key: the variation index (or none) and the reason kind; `None` when they do not
/// fit (a variation index beyond 65,534, a reason this version does not know).
fn slot_key(variation_index: Option<usize>, reason: &str) -> Option<u64> {
    // A match compares lengths first (all differ) and then one string, where a search of
    // `REASONS` compared up to six; the order is REASONS' (held by a test).
    let reason: u64 = match reason {
        "OFF" => 0,
        "TARGET_MATCH" => 1,
        "RULE_MATCH" => 2,
        "FALLTHROUGH" => 3,
        "PREREQUISITE_FAILED" => 4,
        "ERROR" => 5,
        _ => return None,
    };
    let variation = match variation_index {
        None => 0,
        Some(i) if i < 0xFFFF => i as u64 + 1,
        Some(_) => return None,
    };
    Some(1 << 19 | reason << 16 | variation)
}

impl Tally {
    pub(crate) fn new(revision: Arc<dyn Revision>) -> Tally {
        let snapshot = revision.snapshot();
        let flags = snapshot.flags().map(|_| FlagSlots::default()).collect();
        let exposure_keys = snapshot
            .flags()
            .map(|flag| {
                flag.variations()
                    .iter()
                    .map(|variation| exposure_key(flag.key(), &variation.key))
                    .collect()
            })
            .collect();
        Tally {
            revision,
            flags,
            exposure_keys,
        }
    }

    /// The exposure key of the flag at `position` serving its variation at `index`.
    pub(super) fn exposure_key(&self, position: usize, index: usize) -> Option<u64> {
        self.exposure_keys.get(position)?.get(index).copied()
    }

    /// Whether these are the counters of `revision` (the very same one, not an equal one).
    pub(super) fn counts_for(&self, revision: *const ()) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.revision).cast::<()>(), revision)
    }

    /// Counts one evaluation of the flag at `position`; `false` when it has to be counted
    /// elsewhere (no slot left, or a key that does not fit).
    pub(super) fn count(
        &self,
        position: usize,
        variation_index: Option<usize>,
        reason: &str,
    ) -> bool {
        let (Some(slots), Some(key)) =
            (self.flags.get(position), slot_key(variation_index, reason))
        else {
            return false;
        };
        for slot in &slots.0 {
            let mut current = slot.load(Ordering::Relaxed);
            if current == 0 {
                match slot.compare_exchange(
                    0,
                    key << COUNT_BITS | 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => current = now,
                }
            }
            if current >> COUNT_BITS == key {
                slot.fetch_add(1, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    /// Moves the counts into `counters`. An evaluation counted meanwhile stays for the next
    /// fold: nothing is lost, it only lands in the next window.
    pub(super) fn fold_into(&self, counters: &mut Counters) {
        for (position, slots) in self.flags.iter().enumerate() {
            for slot in &slots.0 {
                let current = slot.load(Ordering::Relaxed);
                let count = current & COUNT_MASK;
                if count == 0 {
                    continue;
                }
                slot.fetch_sub(count, Ordering::Relaxed);
                let Some(flag) = self.revision.snapshot().flag_at(position) else {
                    continue;
                };
                let key = current >> COUNT_BITS;
                let reason = REASONS[((key >> 16) & 0b111) as usize % REASONS.len()];
                let variation_index = match key & 0xFFFF {
                    0 => None,
                    v => Some(v as usize - 1),
                };
                let variation = variation_index
                    .and_then(|i| flag.variations().get(i))
                    .map(|v| v.key.clone());
                let slots = match counters.get_mut(flag.key()) {
                    Some(slots) => slots,
                    None => counters.entry(flag.key().to_owned()).or_default(),
                };
                slots
                    .entry((flag.version(), variation_index, reason, None))
                    .or_insert_with(|| (variation, None::<ReleaseCohortRef>, 0))
                    .2 += count;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn snapshot() -> Arc<Snapshot> {
        let data: switchyard_engine::Dataset = serde_json::from_value(serde_json::json!({"flags": [
            {"key": "a", "version": 1, "kind": "boolean", "on": true, "variations": [{"value": true}, {"value": false}],
             "fallthrough": {"variation": 0}}]}))
        .unwrap();
        Arc::new(Snapshot::compile(&data))
    }

    #[test]
    fn every_reason_has_its_slot_code() {
        for (code, reason) in REASONS.iter().enumerate() {
            let key = slot_key(Some(2), reason).unwrap();
            assert_eq!((key >> 16) & 0b111, code as u64, "{reason}");
            assert_eq!(key & 0xFFFF, 3);
        }
    }

    #[test]
    fn counts_fold_into_the_map_and_overflow_is_refused() {
        let tally = Tally::new(snapshot());
        for _ in 0..3 {
            assert!(tally.count(0, Some(0), "FALLTHROUGH"));
        }
        assert!(tally.count(0, None, "ERROR"));
        // Eight slots per flag: the ninth distinct key is counted elsewhere.
        for i in 1..7 {
            assert!(tally.count(0, Some(i), "RULE_MATCH"));
        }
        assert!(!tally.count(0, Some(9), "RULE_MATCH"));
        assert!(!tally.count(1, Some(0), "FALLTHROUGH"), "no such flag");
        assert!(!tally.count(0, Some(0), "NEW_REASON"));
        let mut counters = Counters::default();
        tally.fold_into(&mut counters);
        let slots = &counters["a"];
        assert_eq!(slots[&(1, Some(0), "FALLTHROUGH", None)].2, 3);
        assert_eq!(
            slots[&(1, Some(0), "FALLTHROUGH", None)].0.as_deref(),
            Some("0")
        );
        assert_eq!(slots[&(1, None, "ERROR", None)], (None, None, 1));
        // Folded counts are gone; the slots stay claimed.
        let mut again = Counters::default();
        tally.fold_into(&mut again);
        assert!(again.is_empty());
        assert!(tally.count(0, Some(0), "FALLTHROUGH"));
        tally.fold_into(&mut again);
        assert_eq!(again["a"][&(1, Some(0), "FALLTHROUGH", None)].2, 1);
    }
}
