//! Migration 10 re-keys `exposures` context first, copying the rows of a database written by
//! migrations 1–9.

use switchyard_store::Store;
use switchyard_store::events::{ContextPart, EventBatch, Exposure, FlagRange};

use crate::audit::at_first_migrations;

/// The copied rows are all there, and a later exposure of a copied context updates its row
/// instead of adding one.
pub(crate) async fn exposures_survive_the_context_first_migration(url: &str) {
    let pool = at_first_migrations(url, 9).await;
    for (key, variation, seen) in [("u-1", "on", 1_000), ("u-2", "off", 2_000)] {
        sqlx::query(
            "INSERT INTO exposures (project, env, flag, context_kind, context_key, variation, \
             version, reason, first_seen, last_seen) \
             VALUES ('p', 'production', 'checkout', 'user', $1, $2, 1, 'FALLTHROUGH', $3, $3)",
        )
        .bind(key)
        .bind(variation)
        .bind(seen as i64)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = Store::open(url).await.unwrap();
    let range = FlagRange {
        project: "p",
        env: "production",
        flag: "checkout",
        from_ms: 0,
        to_ms: i64::MAX,
    };
    let seen = |store: Store| async move {
        let mut rows: Vec<_> = store
            .exposed_contexts(range, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.key, c.variation, c.first_seen_ms, c.last_seen_ms))
            .collect();
        rows.sort();
        rows
    };
    let copied = vec![
        ("u-1".to_owned(), "on".to_owned(), 1_000, 1_000),
        ("u-2".to_owned(), "off".to_owned(), 2_000, 2_000),
    ];
    assert_eq!(seen(store.clone()).await, copied);

    let batch = EventBatch {
        project: "p".into(),
        env: "production".into(),
        counted_at_ms: 3_000,
        counts: Vec::new(),
        exposures: vec![Exposure {
            at_ms: 3_000,
            contexts: vec![ContextPart {
                kind: "user".into(),
                key: "u-1".into(),
            }],
            flag: "checkout".into(),
            version: 2,
            variation: "on".into(),
            reason: "FALLTHROUGH".into(),
            release: None,
        }],
        metrics: Vec::new(),
        metric_flags: None,
        experiments: Vec::new(),
    };
    store.ingest_events(&batch).await.unwrap();
    let mut updated = copied;
    updated[0].3 = 3_000;
    assert_eq!(seen(store).await, updated);
}
