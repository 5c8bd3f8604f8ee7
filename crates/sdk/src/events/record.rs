//! Recording an evaluation. A context evaluated again (the common case: the same user on every
//! request) takes no lock: its count goes to the revision's [`Tally`] and its exposure is found
//! in the [`Recent`] table of fingerprints. Anything else (a first exposure, a count without a
//! tally slot) goes through the window's maps under its lock.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use rustc_hash::FxHasher;
use switchyard_engine::Context;

use super::{
    Counters, Evaluated, Event, Recent, Recorder, ReleaseCohortRef, Revision, Tally, Window,
};

/// At most this many recent exposures are remembered outside the lock (32 KiB).
const RECENT_MAX: usize = 4096;

impl Recent {
    /// A table of at most `exposure_cache` entries (a power of two), so that it never
    /// remembers more than the exact set does.
    pub(super) fn new(exposure_cache: usize) -> Recent {
        let size = match exposure_cache.min(RECENT_MAX) {
            0 => 0,
            n => 1 << n.ilog2(),
        };
        Recent((0..size).map(|_| AtomicU64::new(0)).collect())
    }

    /// The two slots a fingerprint may be in (two ways: the flags of one OFREP answer, 350 of
    /// them for one context, would otherwise keep evicting each other in a direct-mapped table).
    fn slots(&self, fingerprint: u64) -> Option<(&AtomicU64, &AtomicU64)> {
        let len = self.0.len();
        // Fingerprints are mixed: their high bits are as good an index as any.
        let index = (fingerprint >> 32) as usize & len.wrapping_sub(1);
        Some((
            self.0.get(index)?,
            self.0.get(index ^ 1).or(self.0.get(index))?,
        ))
    }

    fn holds(&self, fingerprint: u64) -> bool {
        self.slots(fingerprint).is_some_and(|(first, second)| {
            first.load(Ordering::Relaxed) == fingerprint
                || second.load(Ordering::Relaxed) == fingerprint
        })
    }

    fn remember(&self, fingerprint: u64) {
        let Some((first, second)) = self.slots(fingerprint) else {
            return;
        };
        let (in_first, in_second) = (
            first.load(Ordering::Relaxed),
            second.load(Ordering::Relaxed),
        );
        if in_first == fingerprint || in_second == fingerprint {
            return;
        }
        // An empty slot first; when both are taken the first is replaced.
        let slot = if in_first != 0 && in_second == 0 {
            second
        } else {
            first
        };
        slot.store(fingerprint, Ordering::Relaxed);
    }

    fn forget(&self) {
        for slot in self.0.iter() {
            slot.store(0, Ordering::Relaxed);
        }
    }
}

/// Who saw what: the context (kinds and keys), the flag and variation, the release stage and
/// cohort (cohorts restart every stage, so a new one is a new exposure), and whether it was
/// part of an experiment (entering one is a new exposure even with unchanged serving: the
/// contexts seen before it started would be missing from its arm). Never 0.
fn fingerprint(context: &Context, evaluated: &Evaluated<'_>, variation: &str) -> u64 {
    fingerprint_with(context, evaluated, exposure_key(evaluated.flag, variation))
}

/// The flag and variation part of an exposure's fingerprint, which a [`Tally`] keeps for each
/// of its revision's variations so that a bulk evaluation does not hash their names.
pub(super) fn exposure_key(flag: &str, variation: &str) -> u64 {
    let mut hasher = FxHasher::default();
    flag.hash(&mut hasher);
    variation.hash(&mut hasher);
    hasher.finish()
}

/// [`fingerprint`] from the flag and variation's [`exposure_key`].
fn fingerprint_with(context: &Context, evaluated: &Evaluated<'_>, exposure_key: u64) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write_u64(context.fingerprint());
    hasher.write_u64(exposure_key);
    evaluated.release.hash(&mut hasher);
    evaluated.in_experiment.hash(&mut hasher);
    // SplitMix64's finisher: Fx leaves some bits poorly mixed, and `Recent` indexes by them.
    let mut x = hasher.finish();
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) | 1
}

/// Counts one evaluation in the window's map.
fn count_in(counters: &mut Counters, evaluated: &Evaluated<'_>) {
    // Look up by `&str` first: the flag's key is copied only the first time.
    let slots = match counters.get_mut(evaluated.flag) {
        Some(slots) => slots,
        None => counters.entry(evaluated.flag.to_owned()).or_default(),
    };
    let slot = (
        evaluated.version,
        evaluated.variation_index,
        evaluated.reason,
        evaluated.release.map(|r| r.cohort),
    );
    slots
        .entry(slot)
        .or_insert_with(|| {
            let release = evaluated.release.map(ReleaseCohortRef::from);
            (evaluated.variation.map(str::to_owned), release, 0)
        })
        .2 += 1;
}

impl Recorder {
    /// Counts the evaluations and queues the exposures not seen before.
    pub(super) fn record(
        &self,
        evaluations: &[Evaluated<'_>],
        context: &Context,
        now_ms: impl FnOnce() -> i64,
    ) {
        if !self.is_recording() || evaluations.is_empty() {
            return;
        }
        let mut first_exposures = Vec::new();
        if let Ok(mut window) = self.window.lock() {
            for evaluated in evaluations {
                count_in(&mut window.counters, evaluated);
                if let Some(variation) = evaluated.variation
                    && self.first_exposure(&mut window, fingerprint(context, evaluated, variation))
                {
                    first_exposures.push((evaluated, variation));
                }
            }
        }
        if !first_exposures.is_empty() {
            let now_ms = now_ms();
            for (evaluated, variation) in first_exposures {
                self.expose(evaluated, variation, context, now_ms);
            }
        }
    }

    /// [`Recorder::record`] for one evaluation, counted in `tally` when it can be.
    pub(super) fn record_one(
        &self,
        evaluated: &Evaluated<'_>,
        context: &Context,
        now_ms: impl FnOnce() -> i64,
        tally: Option<(&Tally, usize)>,
    ) {
        if !self.is_recording() {
            return;
        }
        // Release cohorts are rare and carry a stage: those go to the map.
        let counted = evaluated.release.is_none()
            && tally.is_some_and(|(tally, position)| {
                tally.count(position, evaluated.variation_index, evaluated.reason)
            });
        let exposure = evaluated
            .variation
            .map(|variation| (variation, fingerprint(context, evaluated, variation)))
            .filter(|(_, fingerprint)| !self.recent.holds(*fingerprint));
        if counted && exposure.is_none() {
            return;
        }
        let mut first = false;
        if let Ok(mut window) = self.window.lock() {
            if !counted {
                count_in(&mut window.counters, evaluated);
            }
            if let Some((_, fingerprint)) = exposure {
                first = self.first_exposure(&mut window, fingerprint);
            }
        }
        if let (true, Some((variation, _))) = (first, exposure) {
            self.expose(evaluated, variation, context, now_ms());
        }
    }

    /// Whether this exposure is new, remembering it.
    fn first_exposure(&self, window: &mut Window, fingerprint: u64) -> bool {
        if window.seen.len() >= self.config.exposure_cache {
            // Forgetting everything at once keeps the bound simple; a context seen again is
            // reported again, which the server deduplicates.
            window.seen.clear();
            self.recent.forget();
        }
        let first = window.seen.insert(fingerprint);
        self.recent.remember(fingerprint);
        first
    }

    fn expose(&self, evaluated: &Evaluated<'_>, variation: &str, context: &Context, now_ms: i64) {
        self.enqueue(Event::Exposure {
            at_ms: now_ms,
            contexts: super::context_refs(context),
            flag: evaluated.flag.to_owned(),
            version: evaluated.version,
            variation: variation.to_owned(),
            reason: evaluated.reason.to_owned(),
            release: evaluated.release.map(ReleaseCohortRef::from),
        });
    }

    /// Counters for one compiled revision, folded into the batches this recorder cuts; `None`
    /// when it is not recording.
    pub(crate) fn tally(&self, snapshot: &Arc<switchyard_engine::Snapshot>) -> Option<Arc<Tally>> {
        if !self.is_recording() {
            return None;
        }
        Some(self.register(snapshot.clone()))
    }

    /// New counters for `revision`, folded into the batches this recorder cuts.
    fn register(&self, revision: Arc<dyn Revision>) -> Arc<Tally> {
        let tally = Arc::new(Tally::new(revision));
        if let Ok(mut tallies) = self.tallies.lock() {
            tallies.push(tally.clone());
        }
        tally
    }

    /// Moves every revision's counts into `counters`, and lets go of the revisions no longer
    /// served. One is no longer served when this list holds its only reference: nobody can count
    /// in it any more, so the fold just before it is dropped takes its last counts.
    pub(super) fn fold_tallies(&self, counters: &mut Counters) {
        if let Ok(mut tallies) = self.tallies.lock() {
            tallies.retain(|tally| {
                let served = Arc::strong_count(tally) > 1;
                if !served {
                    // The last holder's drop released its Relaxed counts; this pairs with it
                    // so the final fold reads them all.
                    fence(Ordering::Acquire);
                }
                tally.fold_into(counters);
                served
            });
        }
    }
}

/// A bulk evaluation being recorded (an OFREP answer with every flag for one context): each
/// flag is counted at its position in the revision's `Tally` and its exposure looked up in
/// `Recent`, without a lock; only what those cannot take (a first exposure, a release
/// cohort, a flag out of slots) is kept for [`Bulk::finish`], which takes the window's lock
/// once. Records exactly what [`Recorder::evaluated_all`] records.
#[derive(Debug)]
pub struct Bulk<'a> {
    recorder: &'a Recorder,
    context: &'a Context,
    tally: Arc<Tally>,
    pending: Vec<Pending<'a>>,
}

/// An evaluation that needs the window: counted there unless `counted`, and its exposure
/// checked there when it has one.
#[derive(Debug)]
struct Pending<'a> {
    evaluated: Evaluated<'a>,
    counted: bool,
    exposure: Option<(&'a str, u64)>,
}

impl<'a> Bulk<'a> {
    /// Records the evaluation of the flag at `position` in the revision (`evaluated` names
    /// that flag, and its variation at `variation_index`, as the revision does).
    pub fn add(&mut self, position: usize, evaluated: Evaluated<'a>) {
        let counted = evaluated.release.is_none()
            && self
                .tally
                .count(position, evaluated.variation_index, evaluated.reason);
        let exposure = evaluated
            .variation
            .map(|variation| {
                let key = evaluated
                    .variation_index
                    .and_then(|index| self.tally.exposure_key(position, index))
                    .unwrap_or_else(|| exposure_key(evaluated.flag, variation));
                (variation, fingerprint_with(self.context, &evaluated, key))
            })
            .filter(|(_, fingerprint)| !self.recorder.recent.holds(*fingerprint));
        if counted && exposure.is_none() {
            return;
        }
        self.pending.push(Pending {
            evaluated,
            counted,
            exposure,
        });
    }

    /// Counts and checks what [`Bulk::add`] could not, under one lock, and queues the first
    /// exposures (reading the clock only if there is one).
    pub fn finish(self, now_ms: impl FnOnce() -> i64) {
        if self.pending.is_empty() {
            return;
        }
        let mut first_exposures = Vec::new();
        if let Ok(mut window) = self.recorder.window.lock() {
            for pending in &self.pending {
                if !pending.counted {
                    count_in(&mut window.counters, &pending.evaluated);
                }
                if let Some((variation, fingerprint)) = pending.exposure
                    && self.recorder.first_exposure(&mut window, fingerprint)
                {
                    first_exposures.push((&pending.evaluated, variation));
                }
            }
        }
        if !first_exposures.is_empty() {
            let now_ms = now_ms();
            for (evaluated, variation) in first_exposures {
                self.recorder
                    .expose(evaluated, variation, self.context, now_ms);
            }
        }
    }
}

impl Recorder {
    /// Starts recording a bulk evaluation of `revision` for `context`; `None` when not
    /// recording. The revision's counters are made the first time it is recorded and kept
    /// until another revision is (then folded and let go of by the next batch).
    pub fn bulk<'a, R: Revision>(
        &'a self,
        revision: &Arc<R>,
        context: &'a Context,
    ) -> Option<Bulk<'a>> {
        if !self.is_recording() {
            return None;
        }
        let this = Arc::as_ptr(revision).cast::<()>();
        let tally = match self.current.load_full() {
            Some(tally) if tally.counts_for(this) => tally,
            _ => {
                let tally = self.register(revision.clone());
                self.current.store(Some(tally.clone()));
                tally
            }
        };
        Some(Bulk {
            recorder: self,
            context,
            tally,
            pending: Vec::new(),
        })
    }
}
