//! The audit chain: verification, tampering, paging.

use serde_json::json;
use switchyard_store::Store;

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
