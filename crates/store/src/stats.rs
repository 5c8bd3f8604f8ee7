//! Latency and errors of store operations, per operation, for the server's `/metrics`: plain
//! atomics (no lock, no allocation per call), shared by every clone of a [`crate::Store`] and
//! read at scrape time.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Result, Store, StoreError};

/// A timed store operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    Get,
    List,
    FindByKey,
    Commit,
    Revision,
    /// Writing an event batch (with or without a batch id).
    IngestEvents,
    /// Reading a release stage's cohorts (the guard's read).
    StageCohorts,
}

impl StoreOp {
    pub const ALL: [StoreOp; 7] = [
        StoreOp::Get,
        StoreOp::List,
        StoreOp::FindByKey,
        StoreOp::Commit,
        StoreOp::Revision,
        StoreOp::IngestEvents,
        StoreOp::StageCohorts,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            StoreOp::Get => "get",
            StoreOp::List => "list",
            StoreOp::FindByKey => "find_by_key",
            StoreOp::Commit => "commit",
            StoreOp::Revision => "revision",
            StoreOp::IngestEvents => "ingest_events",
            StoreOp::StageCohorts => "stage_cohorts",
        }
    }
}

/// Upper bounds of the latency buckets, in seconds (a last, unbounded bucket follows).
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Kinds of failure counted per operation.
pub const ERROR_KINDS: [&str; 3] = ["conflict", "database", "corrupt"];

#[derive(Debug, Default)]
struct OpStats {
    /// One per bucket of [`LATENCY_BUCKETS`], then the unbounded one; not cumulative.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    errors: [AtomicU64; ERROR_KINDS.len()],
}

/// Every operation's latency histogram and error counts.
#[derive(Debug, Default)]
pub struct StoreStats {
    ops: [OpStats; StoreOp::ALL.len()],
}

/// One operation's figures, as read now.
#[derive(Debug, Clone, PartialEq)]
pub struct OpFigures {
    pub op: StoreOp,
    /// Calls per latency bucket (upper bound in seconds, `f64::MAX` for the last), not
    /// cumulative; their sum is the number of calls.
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    /// Failed calls per kind of [`ERROR_KINDS`].
    pub errors: Vec<(&'static str, u64)>,
}

impl OpFigures {
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }
}

impl StoreStats {
    /// Counts one call of `op` that took `elapsed` and ended in `result`.
    pub fn record<T>(&self, op: StoreOp, elapsed: Duration, result: &Result<T>) {
        let stats = &self.ops[op as usize];
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        stats.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        stats.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        if let Err(error) = result {
            let kind = match error {
                StoreError::Conflict { .. } => 0,
                StoreError::Database(_) | StoreError::UnsupportedUrl(_) => 1,
                StoreError::Corrupt(_) => 2,
            };
            stats.errors[kind].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every operation's figures.
    pub fn figures(&self) -> Vec<OpFigures> {
        StoreOp::ALL
            .iter()
            .map(|&op| {
                let stats = &self.ops[op as usize];
                let bounds = LATENCY_BUCKETS.iter().copied().chain([f64::MAX]);
                OpFigures {
                    op,
                    buckets: bounds
                        .zip(&stats.buckets)
                        .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
                        .collect(),
                    sum_seconds: stats.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
                    errors: ERROR_KINDS
                        .iter()
                        .zip(&stats.errors)
                        .map(|(kind, n)| (*kind, n.load(Ordering::Relaxed)))
                        .collect(),
                }
            })
            .collect()
    }
}

impl Store {
    /// This store's operation figures (shared by all its clones).
    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    /// Runs `work` (a call on this store) and counts it as `op`.
    pub async fn timed<T>(&self, op: StoreOp, work: impl Future<Output = Result<T>>) -> Result<T> {
        let started = Instant::now();
        let result = work.await;
        self.stats.record(op, started.elapsed(), &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_land_in_their_bucket_and_failures_by_kind() {
        let stats = StoreStats::default();
        stats.record(StoreOp::Get, Duration::from_micros(300), &Ok(()));
        stats.record(StoreOp::Get, Duration::from_secs(30), &Ok(()));
        let corrupt: Result<()> = Err(StoreError::Corrupt("x".into()));
        stats.record(StoreOp::Commit, Duration::from_millis(3), &corrupt);
        let figures = stats.figures();
        let get = &figures[0];
        assert_eq!(get.op, StoreOp::Get);
        assert_eq!(get.count(), 2);
        assert_eq!(get.buckets[0], (0.0005, 1));
        assert_eq!(get.buckets.last(), Some(&(f64::MAX, 1)));
        assert!((get.sum_seconds - 30.0003).abs() < 1e-6);
        let commit = &figures[3];
        assert_eq!(commit.count(), 1);
        assert_eq!(commit.buckets[3], (0.005, 1));
        assert_eq!(
            commit.errors,
            [("conflict", 0), ("database", 0), ("corrupt", 1)]
        );
    }
}
