//! The storage contract: one suite, run against SQLite and against a throwaway PostgreSQL cluster.
//! Each case gets a fresh, empty database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;

use serde_json::json;
use switchyard_store::{AuditRecord, Expected, Store, StoreError, Write};
use switchyard_testkit::postgres::TempCluster;

type Case = fn(Store) -> Pin<Box<dyn Future<Output = ()> + Send>>;

const CASES: &[(&str, Case)] = &[
    ("versions_and_revisions", |s| {
        Box::pin(versions_and_revisions(s))
    }),
    ("stale_writes_conflict_and_change_nothing", |s| {
        Box::pin(stale_writes_conflict_and_change_nothing(s))
    }),
    ("deletes_expect_a_version", |s| {
        Box::pin(deletes_expect_a_version(s))
    }),
    ("audit_chain_verifies_and_detects_tampering", |s| {
        Box::pin(audit_chain_verifies_and_detects_tampering(s))
    }),
    ("concurrent_writers_lose_nothing", |s| {
        Box::pin(concurrent_writers_lose_nothing(s))
    }),
    ("racing_updates_of_one_version_admit_one", |s| {
        Box::pin(racing_updates_of_one_version_admit_one(s))
    }),
    ("audit_pages_filter_by_resource", |s| {
        Box::pin(audit_pages_filter_by_resource(s))
    }),
    ("event_aggregates_are_exact", |s| {
        Box::pin(event_aggregates_are_exact(s))
    }),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = std::env::temp_dir().join(format!("switchyard-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (name, case)) in CASES.iter().enumerate() {
        let url = format!("sqlite://{}/case-{i}.db", dir.display());
        eprintln!("sqlite: {name}");
        case(Store::open(&url).await.unwrap()).await;
        // Reopening applies no migration twice and keeps the data.
        let reopened = Store::open(&url).await.unwrap();
        assert!(reopened.ready().await.unwrap());
        assert!(reopened.verify_audit_chain().await.unwrap().records >= 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(cluster) = TempCluster::start() else {
        return;
    };
    for (name, case) in CASES {
        let url = cluster.create_database();
        eprintln!("postgres: {name}");
        case(Store::open(&url).await.unwrap()).await;
        assert!(Store::open(&url).await.unwrap().ready().await.unwrap());
    }
}

fn record(action: &str, resource: &str) -> AuditRecord {
    AuditRecord {
        at_ms: 1_700_000_000_000,
        actor: json!({"kind": "account", "id": "admin"}),
        action: action.into(),
        resource: resource.into(),
        outcome: "allowed".into(),
        before: None,
        after: None,
        comment: Some("why".into()),
        request_id: Some("req-1".into()),
    }
}

fn put(key: &str, body: serde_json::Value, expected: Expected) -> Write {
    Write::Put {
        kind: "flag".into(),
        scope: "web".into(),
        key: key.into(),
        body,
        expected,
    }
}

async fn versions_and_revisions(store: Store) {
    assert!(store.ready().await.unwrap());
    assert_eq!(store.get("flag", "web", "a").await.unwrap(), None);
    let first = store
        .commit(
            &[put("a", json!({"n": 1}), Expected::Absent)],
            &record("flag:create", "proj/web:flag/a"),
        )
        .await
        .unwrap();
    assert_eq!((first.seq, first.versions.clone()), (1, vec![1]));
    let second = store
        .commit(
            &[
                put("a", json!({"n": 2}), Expected::Version(1)),
                put("b", json!({"n": 3}), Expected::Absent),
            ],
            &record("flag:update", "proj/web:flag/a"),
        )
        .await
        .unwrap();
    assert_eq!((second.seq, second.versions), (2, vec![2, 1]));
    let a = store.get("flag", "web", "a").await.unwrap().unwrap();
    assert_eq!((a.version, a.revision, a.body), (2, 2, json!({"n": 2})));
    let keys: Vec<String> = store
        .list("flag", "web")
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(keys, ["a", "b"]);
    assert!(store.list("flag", "other").await.unwrap().is_empty());
    assert_eq!(
        store.find_by_key("flag", "b").await.unwrap().unwrap().scope,
        "web"
    );
    assert_eq!(store.revision().await.unwrap(), 2);
}

async fn stale_writes_conflict_and_change_nothing(store: Store) {
    store
        .commit(
            &[put("a", json!(1), Expected::Absent)],
            &record("flag:create", "r"),
        )
        .await
        .unwrap();
    // The first write of the batch would succeed; the second's conflict undoes it.
    let err = store
        .commit(
            &[
                put("b", json!(2), Expected::Absent),
                put("a", json!(3), Expected::Version(7)),
            ],
            &record("flag:update", "r"),
        )
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict {
            key,
            current,
            expected,
            ..
        } => {
            assert_eq!(
                (key.as_str(), current, expected),
                ("a", Some(1), Expected::Version(7))
            );
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(store.get("flag", "web", "b").await.unwrap(), None);
    assert_eq!(
        store.get("flag", "web", "a").await.unwrap().unwrap().body,
        json!(1)
    );
    let again = store
        .commit(
            &[put("a", json!(4), Expected::Absent)],
            &record("flag:create", "r"),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        again,
        StoreError::Conflict {
            current: Some(1),
            ..
        }
    ));
    // A failed commit consumes no sequence number and leaves the chain intact.
    assert_eq!(store.revision().await.unwrap(), 1);
    assert!(store.verify_audit_chain().await.unwrap().ok);
}

async fn deletes_expect_a_version(store: Store) {
    store
        .commit(
            &[put("a", json!(1), Expected::Absent)],
            &record("flag:create", "r"),
        )
        .await
        .unwrap();
    let delete = |expected| Write::Delete {
        kind: "flag".into(),
        scope: "web".into(),
        key: "a".into(),
        expected,
    };
    assert!(
        store
            .commit(&[delete(Expected::Version(2))], &record("flag:delete", "r"))
            .await
            .is_err()
    );
    store
        .commit(&[delete(Expected::Version(1))], &record("flag:delete", "r"))
        .await
        .unwrap();
    assert_eq!(store.get("flag", "web", "a").await.unwrap(), None);
    // Re-creating a deleted key starts again at version 1.
    let recreated = store
        .commit(
            &[put("a", json!(2), Expected::Absent)],
            &record("flag:create", "r"),
        )
        .await
        .unwrap();
    assert_eq!(recreated.versions, vec![1]);
}

async fn audit_chain_verifies_and_detects_tampering(store: Store) {
    for i in 0..5 {
        let mut rec = record("flag:update", &format!("proj/web:flag/f{i}"));
        rec.after = Some(json!({"on": i % 2 == 0}));
        store.commit(&[], &rec).await.unwrap();
    }
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(
        (report.ok, report.records, report.first_broken),
        (true, 5, None)
    );

    let rows = store.audit_page(None, None, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [5, 4, 3, 2, 1]
    );
    assert_eq!(rows[2].parsed().unwrap().comment.as_deref(), Some("why"));

    // Rewrite record 3's content behind the store's back: the chain breaks exactly there.
    let forged = rows[2].record.replace("\"on\":true", "\"on\":false");
    assert_ne!(forged, rows[2].record);
    sqlx::query("UPDATE audit_log SET record = $1 WHERE seq = 3")
        .bind(&forged)
        .execute(store.pool())
        .await
        .unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(
        (report.ok, report.records, report.first_broken),
        (false, 2, Some(3))
    );

    // Restore it, then drop the last record: the head catches the truncation.
    sqlx::query("UPDATE audit_log SET record = $1 WHERE seq = 3")
        .bind(&rows[2].record)
        .execute(store.pool())
        .await
        .unwrap();
    assert!(store.verify_audit_chain().await.unwrap().ok);
    sqlx::query("DELETE FROM audit_log WHERE seq = 5")
        .execute(store.pool())
        .await
        .unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.ok, report.first_broken), (false, Some(5)));

    // Deleting from the middle breaks the link after the gap.
    sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(
        store.verify_audit_chain().await.unwrap().first_broken,
        Some(2)
    );
}

async fn concurrent_writers_lose_nothing(store: Store) {
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..15 {
                    let key = format!("t{t}-{i}");
                    store
                        .commit(
                            &[put(&key, json!(i), Expected::Absent)],
                            &record("flag:create", &key),
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.list("flag", "web").await.unwrap().len(), 120);
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.ok, report.records), (true, 120));
}

async fn racing_updates_of_one_version_admit_one(store: Store) {
    store
        .commit(
            &[put("a", json!(0), Expected::Absent)],
            &record("flag:create", "r"),
        )
        .await
        .unwrap();
    let racers: Vec<_> = (0..6)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .commit(
                        &[put("a", json!(n), Expected::Version(1))],
                        &record("flag:update", "r"),
                    )
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => winners += 1,
            Err(StoreError::Conflict { current, .. }) => assert_eq!(current, Some(2)),
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(
        store
            .get("flag", "web", "a")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

async fn audit_pages_filter_by_resource(store: Store) {
    for resource in [
        "proj/web:flag/a",
        "proj/api:flag/b",
        "proj/web:env/prod:flag/a",
        "audit",
    ] {
        store.commit(&[], &record("x:y", resource)).await.unwrap();
    }
    let web: Vec<i64> = store
        .audit_page(None, Some("proj/web:"), 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(web, [3, 1]);
    let page: Vec<i64> = store
        .audit_page(Some(3), None, 1)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(page, [2]);
}

/// Replays a known stream of exposures and metric events in batches and compares every
/// aggregate with a computation of its own, straight from the stream.
async fn event_aggregates_are_exact(store: Store) {
    use std::collections::BTreeMap;
    use switchyard_store::events::{
        ContextPart, EvaluationCount, EventBatch, Exposure, FlagRange, MetricEvent, ReleaseTag,
        minute_of,
    };

    let mut seed: u64 = 42;
    let mut next = move |bound: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % bound
    };
    let user = |i: u64| {
        vec![ContextPart {
            kind: "user".into(),
            key: format!("u{i}"),
        }]
    };
    // Time-ordered stream: exposures to `checkout` (a context may switch variation) and
    // latency/error events, some from contexts never exposed.
    enum Item {
        Exposure(Exposure),
        Metric(MetricEvent),
    }
    let start = 1_700_000_000_000_i64;
    let mut stream = Vec::new();
    for step in 0..3_000_i64 {
        let at_ms = start + step * 97;
        let who = next(60);
        if next(3) == 0 {
            let on = (who + next(10) / 9) % 2 == 0;
            let version = 1 + (step / 1_000);
            stream.push(Item::Exposure(Exposure {
                at_ms,
                contexts: user(who),
                flag: "checkout".into(),
                version,
                variation: if on { "on" } else { "off" }.into(),
                reason: "FALLTHROUGH".into(),
                // A release stage per version; most exposures are in it.
                release: (next(5) != 0).then(|| ReleaseTag {
                    stage: format!("r.{version}"),
                    cohort: if on { "treated" } else { "control" }.into(),
                }),
            }));
        } else {
            stream.push(Item::Metric(MetricEvent {
                at_ms,
                contexts: user(who),
                name: if next(4) == 0 { "error" } else { "latency_ms" }.into(),
                // Whole numbers: their sums are exact in f64, so "exact" means equal.
                value: (next(500) + 1) as f64,
            }));
        }
    }

    // The independent computation: for each metric event, the variation of the context's
    // most recent exposure to the flag at or before the event (ties: the larger variation).
    let mut expected: BTreeMap<(String, String), (i64, f64, f64)> = BTreeMap::new();
    let mut exposed: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    let mut latest: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new(); // who → variation → first seen
    // The same for release cohorts: who → (stage, cohort) → first seen; then per stage.
    let mut in_release: BTreeMap<String, BTreeMap<ReleaseTag, i64>> = BTreeMap::new();
    let mut release_metrics: BTreeMap<(String, String, String), (i64, f64, f64)> = BTreeMap::new();
    for item in &stream {
        match item {
            Item::Exposure(e) => {
                let key = &e.contexts[0].key;
                if let Some(tag) = &e.release {
                    in_release
                        .entry(key.clone())
                        .or_default()
                        .entry(tag.clone())
                        .or_insert(e.at_ms);
                }
                latest
                    .entry(key.clone())
                    .or_default()
                    .entry(e.variation.clone())
                    .or_insert(e.at_ms);
                let seen = exposed
                    .entry((key.clone(), e.variation.clone()))
                    .or_insert((e.at_ms, e.at_ms));
                seen.1 = e.at_ms;
            }
            Item::Metric(m) => {
                if let Some(tags) = in_release.get(&m.contexts[0].key) {
                    let (tag, _) = tags
                        .iter()
                        .max_by_key(|(tag, first)| (**first, (*tag).clone()))
                        .unwrap();
                    let cohort = release_metrics
                        .entry((tag.stage.clone(), tag.cohort.clone(), m.name.clone()))
                        .or_insert((0, 0.0, 0.0));
                    cohort.0 += 1;
                    cohort.1 += m.value;
                    cohort.2 += m.value * m.value;
                }
                let Some(variations) = latest.get(&m.contexts[0].key) else {
                    continue;
                };
                let (variation, _) = variations
                    .iter()
                    .max_by_key(|(variation, first)| (**first, (*variation).clone()))
                    .unwrap();
                let cohort = expected
                    .entry((m.name.clone(), variation.clone()))
                    .or_insert((0, 0.0, 0.0));
                cohort.0 += 1;
                cohort.1 += m.value;
                cohort.2 += m.value * m.value;
            }
        }
    }

    // Ingest in batches of varying size, with evaluation counts alongside.
    let mut total_evaluations = 0;
    let mut batches = 0;
    let mut items = stream.into_iter().peekable();
    while items.peek().is_some() {
        let size = 1 + next(200) as usize;
        let mut batch = EventBatch {
            project: "p".into(),
            env: "production".into(),
            counted_at_ms: start,
            counts: vec![EvaluationCount {
                flag: "checkout".into(),
                version: 1,
                variation: "on".into(),
                reason: "FALLTHROUGH".into(),
                release: None,
                count: size as i64,
            }],
            exposures: Vec::new(),
            metrics: Vec::new(),
        };
        total_evaluations += size as i64;
        batches += 1;
        batch.counts.push(EvaluationCount {
            flag: "checkout".into(),
            version: 2,
            variation: "on".into(),
            reason: "FALLTHROUGH".into(),
            release: Some(ReleaseTag {
                stage: "r.2".into(),
                cohort: "treated".into(),
            }),
            count: 1,
        });
        for item in items.by_ref().take(size) {
            match item {
                Item::Exposure(e) => batch.exposures.push(e),
                Item::Metric(m) => batch.metrics.push(m),
            }
        }
        store.ingest_events(&batch).await.unwrap();
    }

    let range = FlagRange {
        project: "p",
        env: "production",
        flag: "checkout",
        from_ms: start,
        to_ms: start + 3_600_000,
    };
    let got: BTreeMap<(String, String), (i64, f64, f64)> = store
        .metric_cohorts(range)
        .await
        .unwrap()
        .into_iter()
        .map(|c| ((c.metric, c.variation), (c.count, c.sum, c.sum_of_squares)))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);

    let series = store.evaluation_series(range).await.unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].minute_ms, minute_of(start));
    assert_eq!(series[0].count, total_evaluations);
    assert_eq!(series[1].version, 2);

    // Release cohorts, stage by stage.
    for stage in ["r.1", "r.2", "r.3"] {
        let got = store
            .stage_cohorts("p", "production", "checkout", stage)
            .await
            .unwrap();
        let want_metrics: BTreeMap<(String, String), (i64, f64, f64)> = release_metrics
            .iter()
            .filter(|((s, _, _), _)| s == stage)
            .map(|((_, cohort, metric), v)| ((metric.clone(), cohort.clone()), *v))
            .collect();
        let got_metrics: BTreeMap<(String, String), (i64, f64, f64)> = got
            .metrics
            .iter()
            .map(|(k, m)| (k.clone(), (m.count, m.sum, m.sum_of_squares)))
            .collect();
        assert!(!want_metrics.is_empty(), "{stage}");
        assert_eq!(got_metrics, want_metrics, "{stage}");
        let mut want_contexts: BTreeMap<String, i64> = BTreeMap::new();
        let mut crossed = 0;
        for tags in in_release.values() {
            let cohorts: Vec<&ReleaseTag> = tags.keys().filter(|t| t.stage == stage).collect();
            for tag in &cohorts {
                *want_contexts.entry(tag.cohort.clone()).or_default() += 1;
            }
            crossed += i64::from(cohorts.len() > 1);
        }
        assert_eq!(got.contexts, want_contexts, "{stage}");
        assert_eq!(got.crossed_contexts, crossed, "{stage}");
        let want_evaluations: BTreeMap<String, i64> = match stage {
            "r.2" => [("treated".to_owned(), batches)].into(),
            _ => BTreeMap::new(),
        };
        assert_eq!(got.evaluations, want_evaluations, "{stage}");
    }

    let contexts = store.exposed_contexts(range, None, 10_000).await.unwrap();
    let got: BTreeMap<(String, String), (i64, i64)> = contexts
        .into_iter()
        .map(|c| ((c.key, c.variation), (c.first_seen_ms, c.last_seen_ms)))
        .collect();
    assert_eq!(got, exposed);
    let only_on = store
        .exposed_contexts(range, Some("on"), 10_000)
        .await
        .unwrap();
    assert!(!only_on.is_empty() && only_on.iter().all(|c| c.variation == "on"));

    // Retention: everything last seen before the cut goes.
    let cut = start + 150_000;
    let before = exposed.values().filter(|(_, last)| *last < cut).count() as u64;
    assert_eq!(store.prune_exposures(cut).await.unwrap(), before);
}
