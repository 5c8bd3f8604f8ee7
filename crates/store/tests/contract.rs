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
