//! A release stage's exposed-context tallies against a recount, when batches racing on one
//! stage put the same contexts in different cohorts, and after retention deletes some.

use std::collections::BTreeMap;

use switchyard_store::Store;
use switchyard_store::events::{ContextPart, EventBatch, Exposure, ReleaseTag};

const START: i64 = 1_700_000_000_000;
const CONTEXTS: usize = 40;
const STAGE: &str = "r.1";
const RACING_PAIRS: usize = 4;
const RACING_USERS: usize = 300;

/// A batch exposing users `users` to `checkout` in `cohort` of [`STAGE`] at `at_ms`.
fn exposing(users: std::ops::Range<usize>, cohort: &str, at_ms: i64) -> EventBatch {
    let exposures = users
        .map(|u| Exposure {
            at_ms,
            contexts: vec![ContextPart {
                kind: "user".into(),
                key: format!("u{u}"),
            }],
            flag: "checkout".into(),
            version: 1,
            variation: if cohort == "treated" { "on" } else { "off" }.into(),
            reason: "FALLTHROUGH".into(),
            release: Some(ReleaseTag {
                stage: STAGE.into(),
                cohort: cohort.into(),
            }),
        })
        .collect();
    EventBatch {
        project: "web".into(),
        env: "prod".into(),
        counted_at_ms: at_ms,
        counts: Vec::new(),
        exposures,
        metrics: Vec::new(),
        metric_flags: None,
        experiments: Vec::new(),
    }
}

/// Writes `batches` concurrently, each in a task of its own, and waits for all of them.
async fn ingest_at_once(store: &Store, batches: impl IntoIterator<Item = EventBatch>) {
    let writers: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            let store = store.clone();
            tokio::spawn(async move { store.ingest_events(&batch).await.unwrap() })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
}

async fn tallies(store: &Store) -> (BTreeMap<String, i64>, i64) {
    let cohorts = store
        .stage_cohorts("web", "prod", "checkout", STAGE)
        .await
        .unwrap();
    (cohorts.contexts, cohorts.crossed_contexts)
}

pub(crate) async fn release_tallies_match_a_recount(store: Store) {
    // Users 0..30 treated early; then, racing, users 10..40 control and again 0..20 treated (no
    // new row) and 20..40 treated, in batches of ten, all at once.
    store
        .ingest_events(&exposing(0..30, "treated", START))
        .await
        .unwrap();
    let mut racing = Vec::new();
    for first in (10..CONTEXTS).step_by(10) {
        racing.push(exposing(first..first + 10, "control", START + 60_000));
    }
    for first in (0..CONTEXTS).step_by(10) {
        racing.push(exposing(first..first + 10, "treated", START + 60_000));
    }
    ingest_at_once(&store, racing).await;
    // Every user treated, users 10..40 also control: 30 of them crossed.
    let want: BTreeMap<String, i64> = [("control".into(), 30), ("treated".into(), 40)].into();
    assert_eq!(tallies(&store).await, (want, 30));

    // Retention drops exposures first seen before the racing minute: the treated rows of
    // users 0..30; left are treated 30..40 and control 10..40, so users 30..40 stay crossed.
    store.prune_exposures(START + 1).await.unwrap();
    let want: BTreeMap<String, i64> = [("control".into(), 30), ("treated".into(), 10)].into();
    assert_eq!(tallies(&store).await, (want, 10));

    // Counting goes on from the recount: users 0..10 control now too (new, not crossed), and
    // treated again for 0..10 (crossed).
    store
        .ingest_events(&exposing(0..10, "control", START + 120_000))
        .await
        .unwrap();
    store
        .ingest_events(&exposing(0..10, "treated", START + 120_000))
        .await
        .unwrap();
    let want: BTreeMap<String, i64> = [("control".into(), 40), ("treated".into(), 20)].into();
    assert_eq!(tallies(&store).await, (want, 20));

    // Wider races: pairs of batches putting the same new users in both cohorts at once, so
    // both insert before either commits (on PostgreSQL), each pair its own users.
    let pairs = (0..RACING_PAIRS).flat_map(|pair| {
        let users = || CONTEXTS + pair * RACING_USERS..CONTEXTS + (pair + 1) * RACING_USERS;
        [
            exposing(users(), "treated", START + 180_000),
            exposing(users(), "control", START + 180_000),
        ]
    });
    ingest_at_once(&store, pairs).await;
    let raced = (RACING_PAIRS * RACING_USERS) as i64;
    let want: BTreeMap<String, i64> = [
        ("control".into(), 40 + raced),
        ("treated".into(), 20 + raced),
    ]
    .into();
    assert_eq!(tallies(&store).await, (want, 20 + raced));
}
