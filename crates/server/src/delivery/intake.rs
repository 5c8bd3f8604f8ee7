//! Admission of event batches: at most [`MAX_CONCURRENT_BATCHES`] are written at once (more
//! are turned away with `429`), and when exposures were last pruned.

use std::sync::atomic::AtomicI64;

use tokio::sync::Semaphore;

/// Batches written at once; beyond this, `429`.
pub const MAX_CONCURRENT_BATCHES: usize = 4;

/// Intake state: the admission limit and when exposures were last pruned.
#[derive(Debug)]
pub struct Intake {
    pub(super) admission: Semaphore,
    pub(super) last_pruned_ms: AtomicI64,
}

impl Default for Intake {
    fn default() -> Self {
        Intake {
            admission: Semaphore::new(MAX_CONCURRENT_BATCHES),
            last_pruned_ms: AtomicI64::new(0),
        }
    }
}
