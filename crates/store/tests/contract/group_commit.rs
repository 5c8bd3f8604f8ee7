//! Event batches written concurrently (on SQLite: committed in groups, `writer.rs`): each batch
//! is all or nothing, a failing batch takes none of the others down, and a batch whose caller
//! goes away mid-write leaves nothing half-written.

use std::time::Duration;

use switchyard_store::events::{
    ContextPart, EvaluationCount, EventBatch, Exposure, FlagRange, MetricEvent,
};
use switchyard_store::{Backend, Store};

const START: i64 = 1_700_000_000_000;
/// Exposures per batch: several multi-row statements (500 rows each), so a batch stopped
/// midway could have left some of them.
const EXPOSURES: usize = 1_500;

/// Batch `n`: users `n-0`… exposed to `checkout` and counted once, with a `latency_ms` event
/// from its first user of value `value`.
fn batch(n: usize, value: f64) -> EventBatch {
    let exposures = (0..EXPOSURES)
        .map(|i| Exposure {
            at_ms: START,
            contexts: vec![ContextPart {
                kind: "user".into(),
                key: format!("{n}-{i}"),
            }],
            flag: "checkout".into(),
            version: 1,
            variation: "on".into(),
            reason: "FALLTHROUGH".into(),
            release: None,
        })
        .collect();
    EventBatch {
        project: "web".into(),
        env: "prod".into(),
        counted_at_ms: START,
        counts: vec![EvaluationCount {
            flag: "checkout".into(),
            version: 1,
            variation: "on".into(),
            reason: "FALLTHROUGH".into(),
            release: None,
            count: 1,
        }],
        exposures,
        metrics: vec![MetricEvent {
            at_ms: START + 1,
            contexts: vec![ContextPart {
                kind: "user".into(),
                key: format!("{n}-0"),
            }],
            name: "latency_ms".into(),
            value,
            about: None,
        }],
        metric_flags: None,
        experiments: Vec::new(),
    }
}

const RANGE: FlagRange<'static> = FlagRange {
    project: "web",
    env: "prod",
    flag: "checkout",
    from_ms: START,
    to_ms: START + 3_600_000,
};

/// Batches counted (one evaluation each), exposed contexts, and `latency_ms` events.
async fn totals(store: &Store) -> (i64, usize, i64) {
    let evaluations = store.evaluation_series(RANGE).await.unwrap();
    let contexts = store
        .exposed_contexts(RANGE, None, 1_000_000)
        .await
        .unwrap();
    let latency = store.metric_cohorts(RANGE).await.unwrap();
    (
        evaluations.iter().map(|bucket| bucket.count).sum(),
        contexts.len(),
        latency.iter().map(|cohort| cohort.count).sum(),
    )
}

pub(crate) async fn concurrent_batches_are_each_all_or_nothing(store: Store) {
    // Eight batches at once, one of which fails on SQLite (a NaN sum is stored as NULL, which
    // the aggregate's NOT NULL refuses) after writing its exposures.
    let failing = 3;
    let writers: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            let value = if n == failing { f64::NAN } else { n as f64 };
            tokio::spawn(async move { store.ingest_events(&batch(n, value)).await })
        })
        .collect();
    let mut failed = Vec::new();
    for (n, writer) in writers.into_iter().enumerate() {
        if writer.await.unwrap().is_err() {
            failed.push(n);
        }
    }
    let sqlite = store.backend() == Backend::Sqlite;
    if sqlite {
        assert_eq!(failed, vec![failing]);
    } else {
        // PostgreSQL stores NaN: nothing fails there.
        assert!(failed.is_empty(), "{failed:?}");
    }
    let kept = 8 - failed.len();
    assert_eq!(
        totals(&store).await,
        (kept as i64, kept * EXPOSURES, kept as i64)
    );

    // Callers that go away at every point of a write (waiting, mid-write, waiting for the
    // commit) beside ones that stay: a stopped batch is wholly there or wholly not.
    let mut stayed = kept;
    for (round, stop_after_us) in [0, 200, 1_000, 3_000, 10_000, 30_000]
        .into_iter()
        .enumerate()
    {
        let stopped = 100 + 2 * round;
        let staying = {
            let store = store.clone();
            tokio::spawn(async move { store.ingest_events(&batch(stopped + 1, 1.0)).await })
        };
        let stopping = {
            let store = store.clone();
            tokio::spawn(async move {
                let stopped = batch(stopped, 1.0);
                let write = store.ingest_events(&stopped);
                tokio::time::timeout(Duration::from_micros(stop_after_us), write).await
            })
        };
        let answered = stopping.await.unwrap();
        staying.await.unwrap().unwrap();
        stayed += 1;
        // A later write finds the stopped batch wholly there or wholly gone (its group is
        // committed without a caller; `writer.rs`'s tests show it without a later write).
        store
            .ingest_events(&batch(stopped + 1_000, 1.0))
            .await
            .unwrap();
        stayed += 1;
        let of_stopped = store
            .exposed_contexts(RANGE, None, 1_000_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|context| context.key.starts_with(&format!("{stopped}-")))
            .count();
        assert!(
            of_stopped == 0 || of_stopped == EXPOSURES,
            "round {round}: {of_stopped} of the stopped batch's exposures stored"
        );
        if of_stopped == EXPOSURES {
            stayed += 1;
        } else {
            assert!(
                !matches!(answered, Ok(Ok(_))),
                "round {round}: answered as written, but nothing of it is stored"
            );
        }
        assert_eq!(
            totals(&store).await,
            (stayed as i64, stayed * EXPOSURES, stayed as i64),
            "round {round}"
        );
    }
}
