//! Documents: versions, revisions, optimistic concurrency, deletes, concurrent writers.

use serde_json::json;
use switchyard_store::{Expected, Store, StoreError, Write};

use crate::{create, put, record};

pub(crate) async fn versions_and_revisions(store: Store) {
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

pub(crate) async fn stale_writes_conflict_and_change_nothing(store: Store) {
    create(&store, "a", json!(1)).await.unwrap();
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
    let again = create(&store, "a", json!(4)).await.unwrap_err();
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

pub(crate) async fn deletes_expect_a_version(store: Store) {
    create(&store, "a", json!(1)).await.unwrap();
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
    let recreated = create(&store, "a", json!(2)).await.unwrap();
    assert_eq!(recreated.versions, vec![1]);
}

pub(crate) async fn concurrent_writers_lose_nothing(store: Store) {
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

pub(crate) async fn racing_updates_of_one_version_admit_one(store: Store) {
    create(&store, "a", json!(0)).await.unwrap();
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
