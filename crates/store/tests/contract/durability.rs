//! What the store claims about its connections and its schema, checked on the store's own pool:
//! SQLite runs in WAL with `synchronous=FULL` on every pooled connection (README: "embedded
//! SQLite (WAL, durable commits)"), PostgreSQL commits synchronously, and several stores opening
//! one fresh database at once all succeed with every migration applied exactly once.

use sqlx::Row;
use switchyard_store::Store;
use switchyard_store::migrations::for_backend;
use switchyard_testkit::postgres::TempCluster;

/// SQLite's `synchronous` values: 2 is `FULL` (sync the WAL at every commit).
const SYNCHRONOUS_FULL: i64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pragmas_hold_on_every_pooled_connection() {
    let dir = std::env::temp_dir().join(format!("switchyard-pragmas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&format!("sqlite://{}/p.db", dir.display()))
        .await
        .unwrap();
    // Hold four connections at once (the pool's maximum), so each is a different one and every
    // connection the pool opened is checked, not one reused four times.
    let mut connections = Vec::new();
    for _ in 0..4 {
        connections.push(store.pool().acquire().await.unwrap());
    }
    for conn in &mut connections {
        let pragma = |name: &str| format!("PRAGMA {name}");
        let journal: String = sqlx::query(&pragma("journal_mode"))
            .fetch_one(&mut **conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(journal, "wal");
        let synchronous: i64 = sqlx::query(&pragma("synchronous"))
            .fetch_one(&mut **conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(synchronous, SYNCHRONOUS_FULL, "synchronous=FULL");
        let busy_timeout: i64 = sqlx::query(&pragma("busy_timeout"))
            .fetch_one(&mut **conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(busy_timeout, 10_000, "writers wait 10 s for the lock");
    }
    drop(connections);
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Opens `url` from `opens` stores at once: every open succeeds, each migration is recorded
/// once, and the schema answers (a write and a read through a store that did not win).
async fn concurrent_opens_migrate_once(url: &str, opens: usize) {
    // One thread and runtime per open, started together: truly parallel, as replicas are.
    let start = std::sync::Arc::new(std::sync::Barrier::new(opens));
    let opening: Vec<_> = (0..opens)
        .map(|_| {
            let (url, start) = (url.to_owned(), start.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                start.wait();
                runtime.block_on(async {
                    let store = Store::open(&url).await?;
                    let ready = store.ready().await?;
                    store.close().await;
                    Ok::<bool, switchyard_store::StoreError>(ready)
                })
            })
        })
        .collect();
    for open in opening {
        let ready = open
            .join()
            .unwrap()
            .expect("every concurrent open succeeds");
        assert!(ready, "every store sees every migration applied");
    }
    let store = Store::open(url).await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let known: Vec<i64> = for_backend(store.backend())
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(versions, known, "each migration applied exactly once");
    crate::create(&store, "after-migration", serde_json::json!({"on": true}))
        .await
        .unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 1);
    store.close().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_sqlite() {
    let dir = std::env::temp_dir().join(format!("switchyard-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    concurrent_opens_migrate_once(&format!("sqlite://{}/m.db", dir.display()), 6).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_postgres() {
    let Some(cluster) = TempCluster::start() else {
        return;
    };
    let url = cluster.create_database();
    concurrent_opens_migrate_once(&url, 6).await;
    // Durable commits: the store's sessions commit synchronously (the server's default, which
    // nothing in the store turns off).
    let store = Store::open(&url).await.unwrap();
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(synchronous_commit, "on");
}
