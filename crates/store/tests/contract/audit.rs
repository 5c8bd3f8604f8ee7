//! The audit chain: verification, tampering, paging.

use serde_json::json;
use switchyard_store::{AuditSigner, Backend, ChainLink, GENESIS_HASH, Store, migrations};

use crate::record;

pub(crate) async fn audit_chain_verifies_and_detects_tampering(store: Store) {
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

pub(crate) async fn audit_pages_filter_by_resource(store: Store) {
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

/// The test key: any fixed seed does; what matters is that the tamperer does not have it.
fn signer() -> AuditSigner {
    AuditSigner::from_seed([42; 32])
}

/// One audit_log row, every column.
type Row = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

async fn rows(store: &Store) -> Vec<Row> {
    sqlx::query_as(
        "SELECT seq, at, action, resource, outcome, record, prev_hash, hash, signature \
         FROM audit_log ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

/// Rewrites the log as `rows`, recomputing every hash from the first row on the way a database
/// writer would (signed form from `signed_from`), keeping the signatures it cannot forge, and
/// moving the head to the new last record.
async fn rewrite_and_rechain(store: &Store, mut rows: Vec<Row>, signed_from: i64) {
    let mut prev = GENESIS_HASH.to_owned();
    for row in &mut rows {
        let link = ChainLink {
            seq: row.0,
            at_ms: row.1,
            prev_hash: &prev,
            action: &row.2,
            resource: &row.3,
            outcome: &row.4,
            record: &row.5,
        };
        let hash = if row.0 >= signed_from {
            link.hash()
        } else {
            link.legacy_hash()
        };
        row.6 = prev.clone();
        row.7 = hash.clone();
        prev = hash;
    }
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("DELETE FROM audit_log")
        .execute(&mut *tx)
        .await
        .unwrap();
    for row in &rows {
        sqlx::query(
            "INSERT INTO audit_log \
             (seq, at, action, resource, outcome, record, prev_hash, hash, signature) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(row.0)
        .bind(row.1)
        .bind(&row.2)
        .bind(&row.3)
        .bind(&row.4)
        .bind(&row.5)
        .bind(&row.6)
        .bind(&row.7)
        .bind(&row.8)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE chain_head SET seq = $1, hash = $2, signed_from = $3 WHERE id = 1")
        .bind(rows.last().map_or(0, |r| r.0))
        .bind(&prev)
        .bind(signed_from)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

pub(crate) async fn signed_chain_detects_a_recomputed_chain(store: Store) {
    let store = store.with_audit_signer(signer());
    for i in 0..5 {
        let mut rec = record("flag:update", &format!("proj/web:flag/f{i}"));
        rec.at_ms += i;
        rec.after = Some(json!({"on": i % 2 == 0}));
        store.commit(&[], &rec).await.unwrap();
    }
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.records, report.signed_from), (5, 1));
    assert_eq!(report.public_key, Some(signer().public_key().to_string()));
    let head = report.signed_head.unwrap();
    assert_eq!(head.seq, 5);
    assert!(signer().public_key().verifies(&head.hash, &head.signature));
    let original = rows(&store).await;
    assert!(original.iter().all(|row| row.8.is_some()), "all signed");

    // Edit record 3's content and recompute every later hash: the hashes agree again (a check
    // without the key passes), but record 3's signature no longer matches its hash.
    let mut edited = original.clone();
    edited[2].5 = edited[2].5.replace("\"on\":true", "\"on\":false");
    assert_ne!(edited[2].5, original[2].5);
    rewrite_and_rechain(&store, edited, 1).await;
    assert!(store.verify_audit_chain_with(None).await.unwrap().ok);
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(
        (report.ok, report.records, report.first_broken),
        (false, 2, Some(3)),
        "{report:?}"
    );
    assert_eq!(report.signed_head.map(|h| h.seq), Some(2));

    // Delete record 2, renumber the rest and recompute: broken where the renumbering starts.
    let mut deleted = original.clone();
    deleted.remove(1);
    for (i, row) in deleted.iter_mut().enumerate() {
        row.0 = i as i64 + 1;
    }
    rewrite_and_rechain(&store, deleted, 1).await;
    assert!(store.verify_audit_chain_with(None).await.unwrap().ok);
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.ok, report.first_broken), (false, Some(2)));

    // Edit only the `at` column: the signed form hashes it.
    rewrite_and_rechain(&store, original.clone(), 1).await;
    assert!(store.verify_audit_chain().await.unwrap().ok);
    sqlx::query("UPDATE audit_log SET at = at + 1 WHERE seq = 4")
        .execute(store.pool())
        .await
        .unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.ok, report.first_broken), (false, Some(4)));
    // …and editing `at` in both the column and the record, then recomputing, fails the signature.
    let mut retimed = original.clone();
    retimed[3].1 += 60_000;
    retimed[3].5 = retimed[3]
        .5
        .replace(&format!("{}", original[3].1), &format!("{}", retimed[3].1));
    assert_ne!(retimed[3].5, original[3].5);
    rewrite_and_rechain(&store, retimed, 1).await;
    assert!(store.verify_audit_chain_with(None).await.unwrap().ok);
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.ok, report.first_broken), (false, Some(4)));

    // Stripping the signatures and claiming the records are legacy (moving `signed_from` past
    // the head) is refused too; moving it to exactly the head's next record is the residual
    // risk `docs/security.md` describes, visible as `signed_from` moving.
    rewrite_and_rechain(&store, original.clone(), 99).await;
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.ok, report.first_broken), (false, Some(6)));

    // A record written without the key is refused where a key is expected.
    rewrite_and_rechain(&store, original, 1).await;
    sqlx::query("UPDATE audit_log SET signature = NULL WHERE seq = 5")
        .execute(store.pool())
        .await
        .unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(
        (report.ok, report.first_broken, report.problem.as_deref()),
        (false, Some(5), Some("the record is not signed"))
    );
    // A different key does not verify the records.
    let other = AuditSigner::from_seed([1; 32]).public_key();
    let report = store.verify_audit_chain_with(Some(other)).await.unwrap();
    assert_eq!((report.ok, report.first_broken), (false, Some(1)));
}

/// A database written by the previous schema (migrations 1–3, legacy records only) upgrades:
/// its records still verify, and the signed form starts at the next record.
pub(crate) async fn legacy_records_still_verify(url: &str) {
    let pool = at_first_migrations(url, 3).await;
    // Three records as the previous version wrote them.
    let mut prev = GENESIS_HASH.to_owned();
    for seq in 1..=3_i64 {
        let mut rec = record("flag:update", "proj/web:flag/old");
        rec.at_ms += seq;
        let text = serde_json::to_string(&rec).unwrap();
        let hash = ChainLink {
            seq,
            at_ms: rec.at_ms,
            prev_hash: &prev,
            action: "",
            resource: "",
            outcome: "",
            record: &text,
        }
        .legacy_hash();
        sqlx::query(
            "INSERT INTO audit_log (seq, at, action, resource, outcome, record, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(rec.at_ms)
        .bind(&rec.action)
        .bind(&rec.resource)
        .bind(&rec.outcome)
        .bind(&text)
        .bind(&prev)
        .bind(&hash)
        .execute(&pool)
        .await
        .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE chain_head SET seq = 3, hash = $1 WHERE id = 1")
        .bind(&prev)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let store = Store::open(url).await.unwrap().with_audit_signer(signer());
    assert!(store.ready().await.unwrap());
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(
        (report.ok, report.records, report.signed_from),
        (true, 3, 4),
        "{report:?}"
    );
    assert_eq!(report.signed_head, None);
    for _ in 0..2 {
        store
            .commit(&[], &record("flag:update", "proj/web:flag/new"))
            .await
            .unwrap();
    }
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(
        (report.ok, report.records, report.signed_from),
        (true, 5, 4)
    );
    assert_eq!(report.signed_head.map(|h| h.seq), Some(5));
    let signed: Vec<Option<String>> =
        sqlx::query_scalar("SELECT signature FROM audit_log ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(signed.iter().filter(|s| s.is_some()).count(), 2);
    assert!(signed[..3].iter().all(Option::is_none));

    // A legacy record's `at` column is checked against its hashed record.
    sqlx::query("UPDATE audit_log SET at = at + 1 WHERE seq = 2")
        .execute(store.pool())
        .await
        .unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.ok, report.first_broken), (false, Some(2)));
    store.close().await;
}

/// A pool on the fresh database `url` with only its backend's first `n` migrations applied, as
/// an earlier version left it.
pub(crate) async fn at_first_migrations(url: &str, n: usize) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let (connect, backend) = match url.starts_with("sqlite:") {
        true => (format!("{url}?mode=rwc"), Backend::Sqlite),
        false => (url.to_owned(), Backend::Postgres),
    };
    let pool = sqlx::AnyPool::connect(&connect).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (\
         version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for migration in &migrations::for_backend(backend)[..n] {
        sqlx::raw_sql(migration.sql).execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)")
            .bind(migration.version)
            .bind(migration.name)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool
}
