//! The hash-chained, signed audit log (`docs/security.md`, "Audit log").
//!
//! Records come in two forms. The legacy form (records before the chain's `signed_from`
//! sequence number, written by earlier versions) hashes `SHA-256("{seq}\n{prev_hash}\n{record}")`,
//! where `record` is the record's JSON text exactly as stored. The signed form (from
//! `signed_from` on) hashes every column, `at` included ([`ChainLink::hash`]), and carries an
//! Ed25519 signature of that hash by a key kept outside the database ([`AuditSigner`]): a
//! database writer can still recompute hashes, but not signatures. In both forms `prev_hash` is
//! the previous record's hash ([`GENESIS_HASH`] for the first), so changing, removing or
//! reordering a record breaks every later link, and the chain head (the last sequence number
//! and hash, updated in the same transaction) catches a truncated tail.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::audit_key::{AuditPublicKey, AuditSigner, encode_hex};
use crate::{Result, StoreError};

mod export;
mod search;
pub use export::{ChainHead, ExportVerifier};
pub use search::AuditSearch;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audited event: a change, or an attempt that was denied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at_ms: i64,
    /// Who: `{"kind": "account"|"token"|"release"|"system", "id": …, "name"?: …}`.
    pub actor: Value,
    /// What was attempted, such as `flag:toggle`.
    pub action: String,
    /// The access-control resource, such as `proj/web:env/production:flag/checkout`.
    pub resource: String,
    /// `"allowed"` for an applied change, `"denied"` for a refused attempt.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A stored audit record with its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at_ms: i64,
    /// The record's JSON text as hashed.
    pub record: String,
    pub prev_hash: String,
    pub hash: String,
    /// The Ed25519 signature of `hash` in hex (signed-form records written with a key).
    pub signature: Option<String>,
}

/// The columns an [`AuditRow`] is read from: `seq, at, record, prev_hash, hash, signature`.
type RowColumns = (i64, i64, String, String, String, Option<String>);

impl AuditRow {
    pub(crate) fn from_columns(
        (seq, at_ms, record, prev_hash, hash, signature): RowColumns,
    ) -> Self {
        AuditRow {
            seq,
            at_ms,
            record,
            prev_hash,
            hash,
            signature,
        }
    }

    pub fn parsed(&self) -> Result<AuditRecord> {
        serde_json::from_str(&self.record).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// Every column of a signed-form record that its hash covers.
#[derive(Debug, Clone, Copy)]
pub struct ChainLink<'a> {
    pub seq: i64,
    pub at_ms: i64,
    pub prev_hash: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    pub outcome: &'a str,
    pub record: &'a str,
}

impl ChainLink<'_> {
    /// `SHA-256` in lowercase hex of
    /// `"switchyard-audit-v2\n{seq}\n{at}\n{prev_hash}\n{len}:{action}\n{len}:{resource}\n{len}:{outcome}\n{record}"`,
    /// where each `len` is the next field's length in bytes, so no two rows hash the same text.
    pub fn hash(&self) -> String {
        let ChainLink {
            seq,
            at_ms,
            prev_hash,
            action,
            resource,
            outcome,
            record,
        } = self;
        let digest = Sha256::new()
            .chain_update(format!(
                "switchyard-audit-v2\n{seq}\n{at_ms}\n{prev_hash}\n{}:{action}\n{}:{resource}\n{}:{outcome}\n",
                action.len(),
                resource.len(),
                outcome.len()
            ))
            .chain_update(record)
            .finalize();
        encode_hex(&digest)
    }

    /// The legacy form's hash, which covers only `seq`, `prev_hash` and `record`.
    pub fn legacy_hash(&self) -> String {
        let digest = Sha256::new()
            .chain_update(format!("{}\n{}\n", self.seq, self.prev_hash))
            .chain_update(self.record)
            .finalize();
        encode_hex(&digest)
    }
}

/// The outcome of recomputing the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub ok: bool,
    /// Records checked before stopping.
    pub records: i64,
    /// The sequence number of the first record that does not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The first record in the signed form; those before it are legacy records.
    pub signed_from: i64,
    /// The public key signatures were checked with (hex); `None` when none was given, and then
    /// only hashes were checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The newest record whose signature verified: the signed head of the chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_head: Option<SignedHead>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedHead {
    pub seq: i64,
    pub hash: String,
    pub signature: String,
}

/// Seals `record` as record `seq`: in the signed form (hash of every column, signed when there is
/// a `signer`) from `signed_from` on, in the legacy form before it.
fn seal(
    seq: i64,
    prev_hash: &str,
    record: &AuditRecord,
    signed_from: i64,
    signer: Option<&AuditSigner>,
) -> Result<AuditRow> {
    let text = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let link = ChainLink {
        seq,
        at_ms: record.at_ms,
        prev_hash,
        action: &record.action,
        resource: &record.resource,
        outcome: &record.outcome,
        record: &text,
    };
    let (hash, signature) = if seq >= signed_from {
        let hash = link.hash();
        let signature = signer.map(|signer| signer.sign(&hash));
        (hash, signature)
    } else {
        (link.legacy_hash(), None)
    };
    Ok(AuditRow {
        seq,
        at_ms: record.at_ms,
        hash,
        record: text,
        prev_hash: prev_hash.to_owned(),
        signature,
    })
}

/// An [`AuditRow`]'s columns followed by the `action, resource, outcome` columns kept beside the
/// record for filtering, as [`Verifier::check`] reads them.
type VerifiedColumns = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
);

/// Walks the chain in sequence order and remembers the first broken link.
#[derive(Debug)]
struct Verifier {
    signed_from: i64,
    key: Option<AuditPublicKey>,
    expected_seq: i64,
    prev_hash: String,
    checked: i64,
    signed_head: Option<SignedHead>,
    broken: Option<(i64, String)>,
}

impl Verifier {
    fn new(signed_from: i64, key: Option<AuditPublicKey>) -> Verifier {
        Verifier {
            signed_from,
            key,
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            checked: 0,
            signed_head: None,
            broken: None,
        }
    }

    /// Checks one row; `columns` are the (action, resource, outcome) columns kept beside the
    /// record for filtering, which the signed form hashes and both forms compare with the
    /// record.
    fn check(&mut self, row: &AuditRow, columns: (String, String, String)) {
        if self.broken.is_some() {
            return;
        }
        match self.problem(row, &columns) {
            Some(problem) => self.broken = Some((self.expected_seq, problem)),
            None => {
                // Only a signature that was checked makes a signed head.
                let checked = self.key.is_some() && row.seq >= self.signed_from;
                if let (true, Some(signature)) = (checked, &row.signature) {
                    self.signed_head = Some(SignedHead {
                        seq: row.seq,
                        hash: row.hash.clone(),
                        signature: signature.clone(),
                    });
                }
                self.checked += 1;
                self.expected_seq += 1;
                self.prev_hash = row.hash.clone();
            }
        }
    }

    fn problem(&self, row: &AuditRow, columns: &(String, String, String)) -> Option<String> {
        if row.seq != self.expected_seq {
            return Some(format!(
                "expected record {}, found {}",
                self.expected_seq, row.seq
            ));
        }
        if row.prev_hash != self.prev_hash {
            return Some("prev_hash does not match the previous record's hash".to_owned());
        }
        let link = ChainLink {
            seq: row.seq,
            at_ms: row.at_ms,
            prev_hash: &row.prev_hash,
            action: &columns.0,
            resource: &columns.1,
            outcome: &columns.2,
            record: &row.record,
        };
        let signed_form = row.seq >= self.signed_from;
        let expected_hash = if signed_form {
            link.hash()
        } else {
            link.legacy_hash()
        };
        if expected_hash != row.hash {
            return Some("the record does not hash to its stored hash".to_owned());
        }
        let key = self.key.as_ref().filter(|_| signed_form);
        match (key, &row.signature) {
            (Some(_), None) => return Some("the record is not signed".to_owned()),
            (Some(key), Some(signature)) if !key.verifies(&row.hash, signature) => {
                return Some("the record's signature does not verify".to_owned());
            }
            _ => {}
        }
        match row.parsed() {
            Ok(record)
                if (&record.action, &record.resource, &record.outcome)
                    == (&columns.0, &columns.1, &columns.2)
                    && record.at_ms == row.at_ms =>
            {
                None
            }
            Ok(_) => Some("indexed columns disagree with the hashed record".to_owned()),
            Err(e) => Some(e.to_string()),
        }
    }

    fn broken(&self) -> Option<i64> {
        self.broken.as_ref().map(|(seq, _)| *seq)
    }

    fn finish(mut self, head_seq: i64, head_hash: &str) -> ChainReport {
        if self.broken.is_none()
            && (self.expected_seq - 1 != head_seq || self.prev_hash != head_hash)
        {
            self.broken = Some((
                self.expected_seq,
                format!(
                    "the chain ends at record {} but its head says {head_seq}",
                    self.expected_seq - 1
                ),
            ));
        }
        // The signed form starts at the head's next record when the migration runs, and the head
        // only grows: a later start means someone moved it to pass off signed records as legacy.
        if self.broken.is_none() && self.signed_from > head_seq + 1 {
            self.broken = Some((
                head_seq + 1,
                format!(
                    "the signed form is said to start at record {}, after the head {head_seq}",
                    self.signed_from
                ),
            ));
        }
        let (first_broken, problem) = self
            .broken
            .map_or((None, None), |(s, p)| (Some(s), Some(p)));
        ChainReport {
            ok: first_broken.is_none(),
            records: self.checked,
            first_broken,
            problem,
            signed_from: self.signed_from,
            public_key: self.key.map(|key| key.to_string()),
            signed_head: self.signed_head,
        }
    }
}

/// Seals `record` as record `seq`, inserts it and moves the chain head to it, in `tx`.
pub(crate) async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    (seq, prev_hash, signed_from): (i64, &str, i64),
    record: &AuditRecord,
    signer: Option<&AuditSigner>,
) -> Result<AuditRow> {
    let row = seal(seq, prev_hash, record, signed_from, signer)?;
    sqlx::query(
        "INSERT INTO audit_log \
         (seq, at, action, resource, outcome, record, prev_hash, hash, signature) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(row.seq)
    .bind(row.at_ms)
    .bind(&record.action)
    .bind(&record.resource)
    .bind(&record.outcome)
    .bind(&row.record)
    .bind(&row.prev_hash)
    .bind(&row.hash)
    .bind(&row.signature)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE chain_head SET hash = $1 WHERE id = 1")
        .bind(&row.hash)
        .execute(&mut **tx)
        .await?;
    Ok(row)
}

/// Recomputes the whole chain, checking signed-form records' signatures with `key` when given,
/// and reports the first broken link.
pub(crate) async fn verify_chain(
    pool: &sqlx::AnyPool,
    key: Option<AuditPublicKey>,
) -> Result<ChainReport> {
    let (head_seq, head_hash, signed_from): (i64, String, i64) =
        sqlx::query_as("SELECT seq, hash, signed_from FROM chain_head WHERE id = 1")
            .fetch_one(pool)
            .await?;
    let mut verifier = Verifier::new(signed_from, key);
    let mut after = 0_i64;
    loop {
        let rows: Vec<VerifiedColumns> = sqlx::query_as(
            "SELECT seq, at, record, prev_hash, hash, signature, action, resource, outcome \
             FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1000",
        )
        .bind(after)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        for (seq, at_ms, record, prev_hash, hash, signature, action, resource, outcome) in rows {
            let row = AuditRow::from_columns((seq, at_ms, record, prev_hash, hash, signature));
            verifier.check(&row, (action, resource, outcome));
        }
        if verifier.broken().is_some() {
            break;
        }
    }
    Ok(verifier.finish(head_seq, &head_hash))
}
