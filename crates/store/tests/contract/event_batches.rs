//! Idempotent intake: a batch's id is recorded with its counts, a second batch with the same
//! id in the same environment writes nothing, and pruning forgets ids by when they were seen.

use switchyard_store::Store;
use switchyard_store::events::{
    ContextPart, EvaluationCount, EventBatch, Exposure, FlagRange, Ingested, MetricEvent,
};

const AT: i64 = 1_700_000_000_000;

fn batch(env: &str) -> EventBatch {
    let user = vec![ContextPart {
        kind: "user".into(),
        key: "u1".into(),
    }];
    EventBatch {
        project: "web".into(),
        env: env.into(),
        counted_at_ms: AT,
        counts: vec![EvaluationCount {
            flag: "checkout".into(),
            version: 1,
            variation: "on".into(),
            reason: "FALLTHROUGH".into(),
            release: None,
            count: 5,
        }],
        exposures: vec![Exposure {
            at_ms: AT - 10,
            contexts: user.clone(),
            flag: "checkout".into(),
            version: 1,
            variation: "on".into(),
            reason: "FALLTHROUGH".into(),
            release: None,
        }],
        metrics: vec![MetricEvent {
            at_ms: AT,
            contexts: user,
            name: "latency_ms".into(),
            value: 7.0,
            about: None,
        }],
        metric_flags: None,
        experiments: Vec::new(),
    }
}

/// (evaluations, metric events) counted for `checkout` in `env`.
async fn counted(store: &Store, env: &str) -> (i64, i64) {
    let range = FlagRange {
        project: "web",
        env,
        flag: "checkout",
        from_ms: 0,
        to_ms: i64::MAX,
    };
    let evaluations = store.evaluation_series(range).await.unwrap();
    let metrics = store.metric_cohorts(range).await.unwrap();
    (
        evaluations.iter().map(|bucket| bucket.count).sum(),
        metrics.iter().map(|cohort| cohort.count).sum(),
    )
}

pub(crate) async fn a_batch_id_is_counted_once_until_forgotten(store: Store) {
    let id = "0123456789abcdef0123456789abcdef";
    let first = store
        .ingest_events_once(&batch("prod"), id, AT)
        .await
        .unwrap();
    assert_eq!(
        first,
        Ingested {
            attributed: 1,
            duplicate: false
        }
    );
    assert!(store.event_batch_seen("web", "prod", id).await.unwrap());
    // The retry: answered with the first time's attribution, nothing written.
    let again = store
        .ingest_events_once(&batch("prod"), id, AT + 5_000)
        .await
        .unwrap();
    assert_eq!(
        again,
        Ingested {
            attributed: 1,
            duplicate: true
        }
    );
    assert_eq!(counted(&store, "prod").await, (5, 1));

    // Ids are per environment: the same id elsewhere is another batch.
    let elsewhere = store
        .ingest_events_once(&batch("staging"), id, AT)
        .await
        .unwrap();
    assert!(!elsewhere.duplicate);
    assert_eq!(counted(&store, "staging").await, (5, 1));
    assert_eq!(counted(&store, "prod").await, (5, 1));

    // Batches without an id count every time (older senders).
    store.ingest_events(&batch("prod")).await.unwrap();
    store.ingest_events(&batch("prod")).await.unwrap();
    assert_eq!(counted(&store, "prod").await, (15, 3));

    // Retention by when the id was seen (the retry did not refresh it): a cut at the moment
    // it was recorded keeps it, one a millisecond later forgets it, in every environment.
    assert_eq!(store.prune_event_batch_ids(AT).await.unwrap(), 0);
    assert!(store.event_batch_seen("web", "prod", id).await.unwrap());
    assert_eq!(store.prune_event_batch_ids(AT + 1).await.unwrap(), 2);
    assert!(!store.event_batch_seen("web", "prod", id).await.unwrap());
    let forgotten = store
        .ingest_events_once(&batch("prod"), id, AT + 86_400_000)
        .await
        .unwrap();
    assert!(!forgotten.duplicate, "a forgotten id counts again");
    assert_eq!(counted(&store, "prod").await, (20, 4));
}

/// Copies of one batch sent at once (a retry racing a slow first attempt): one counts.
pub(crate) async fn racing_copies_of_a_batch_count_once(store: Store) {
    let id = "racing-copies-of-one-batch";
    let copies: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .ingest_events_once(&batch("prod"), id, AT)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut written = 0;
    for copy in copies {
        if !copy.await.unwrap().duplicate {
            written += 1;
        }
    }
    assert_eq!(written, 1);
    assert_eq!(counted(&store, "prod").await, (5, 1));
}
