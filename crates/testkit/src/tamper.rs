//! Tampering with the audit log the way a database writer could: rewrite rows and recompute
//! every hash and the chain head (`docs/security.md`, "Audit log"). Signatures cannot be
//! recomputed without the key, so they are kept as they were.

use switchyard_store::{ChainLink, GENESIS_HASH, Store};

/// Every column of one `audit_log` row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditColumns {
    pub seq: i64,
    pub at: i64,
    pub action: String,
    pub resource: String,
    pub outcome: String,
    pub record: String,
    pub prev_hash: String,
    pub hash: String,
    pub signature: Option<String>,
}

type Tuple = (
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

/// The audit log in sequence order.
pub async fn audit_rows(store: &Store) -> Vec<AuditColumns> {
    let rows: Vec<Tuple> = sqlx::query_as(
        "SELECT seq, at, action, resource, outcome, record, prev_hash, hash, signature \
         FROM audit_log ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await
    .expect("read the audit log");
    rows.into_iter()
        .map(
            |(seq, at, action, resource, outcome, record, prev_hash, hash, signature)| {
                AuditColumns {
                    seq,
                    at,
                    action,
                    resource,
                    outcome,
                    record,
                    prev_hash,
                    hash,
                    signature,
                }
            },
        )
        .collect()
}

/// Replaces the log with `rows`, recomputing every hash in the form each record's sequence
/// number calls for (signed form from `signed_from`), and moves the head to the last one.
pub async fn rewrite_audit_chain(store: &Store, mut rows: Vec<AuditColumns>, signed_from: i64) {
    let mut prev = GENESIS_HASH.to_owned();
    for row in &mut rows {
        let link = ChainLink {
            seq: row.seq,
            at_ms: row.at,
            prev_hash: &prev,
            action: &row.action,
            resource: &row.resource,
            outcome: &row.outcome,
            record: &row.record,
        };
        let hash = if row.seq >= signed_from {
            link.hash()
        } else {
            link.legacy_hash()
        };
        row.prev_hash = std::mem::replace(&mut prev, hash.clone());
        row.hash = hash;
    }
    let mut tx = store.pool().begin().await.expect("begin");
    sqlx::query("DELETE FROM audit_log")
        .execute(&mut *tx)
        .await
        .expect("delete the log");
    for row in &rows {
        sqlx::query(
            "INSERT INTO audit_log \
             (seq, at, action, resource, outcome, record, prev_hash, hash, signature) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(row.seq)
        .bind(row.at)
        .bind(&row.action)
        .bind(&row.resource)
        .bind(&row.outcome)
        .bind(&row.record)
        .bind(&row.prev_hash)
        .bind(&row.hash)
        .bind(&row.signature)
        .execute(&mut *tx)
        .await
        .expect("insert a row");
    }
    sqlx::query("UPDATE chain_head SET seq = $1, hash = $2, signed_from = $3 WHERE id = 1")
        .bind(rows.last().map_or(0, |row| row.seq))
        .bind(&prev)
        .bind(signed_from)
        .execute(&mut *tx)
        .await
        .expect("move the head");
    tx.commit().await.expect("commit");
}
