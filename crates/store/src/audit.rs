//! The hash-chained audit log. Each record's hash is
//! `SHA-256("{seq}\n{prev_hash}\n{record}")` in lowercase hex, where `record` is the record's JSON
//! text exactly as stored and `prev_hash` is the previous record's hash ([`GENESIS_HASH`] for the
//! first). Changing, removing or reordering any stored record breaks every later link, and the
//! chain head (the last sequence number and hash, updated in the same transaction) catches a
//! truncated tail.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

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
}

/// The columns an [`AuditRow`] is read from: `seq, at, record, prev_hash, hash`.
type RowColumns = (i64, i64, String, String, String);

impl AuditRow {
    pub(crate) fn from_columns((seq, at_ms, record, prev_hash, hash): RowColumns) -> Self {
        AuditRow {
            seq,
            at_ms,
            record,
            prev_hash,
            hash,
        }
    }

    pub fn parsed(&self) -> Result<AuditRecord> {
        serde_json::from_str(&self.record).map_err(|e| StoreError::Corrupt(e.to_string()))
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
}

fn link_hash(seq: i64, prev_hash: &str, record: &str) -> String {
    let digest = Sha256::new()
        .chain_update(format!("{seq}\n{prev_hash}\n"))
        .chain_update(record)
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn seal(seq: i64, prev_hash: &str, record: &AuditRecord) -> Result<AuditRow> {
    let text = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(AuditRow {
        seq,
        at_ms: record.at_ms,
        hash: link_hash(seq, prev_hash, &text),
        record: text,
        prev_hash: prev_hash.to_owned(),
    })
}

/// An [`AuditRow`]'s columns followed by the `action, resource, outcome` columns kept beside the
/// record for filtering, as [`Verifier::check`] reads them.
pub(crate) type VerifiedColumns = (i64, i64, String, String, String, String, String, String);

/// Walks the chain in sequence order and remembers the first broken link.
#[derive(Debug)]
pub(crate) struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    checked: i64,
    broken: Option<(i64, String)>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            checked: 0,
            broken: None,
        }
    }
}

impl Verifier {
    /// Checks one row; `columns` are the (action, resource, outcome) columns kept beside the
    /// record for filtering, which must agree with the hashed record.
    pub(crate) fn check(&mut self, row: &AuditRow, columns: (String, String, String)) {
        if self.broken.is_some() {
            return;
        }
        let problem = if row.seq != self.expected_seq {
            Some(format!(
                "expected record {}, found {}",
                self.expected_seq, row.seq
            ))
        } else if row.prev_hash != self.prev_hash {
            Some("prev_hash does not match the previous record's hash".to_owned())
        } else if link_hash(row.seq, &row.prev_hash, &row.record) != row.hash {
            Some("the record does not hash to its stored hash".to_owned())
        } else {
            match row.parsed() {
                Ok(AuditRecord {
                    action,
                    resource,
                    outcome,
                    ..
                }) if (&action, &resource, &outcome) == (&columns.0, &columns.1, &columns.2) => {
                    None
                }
                Ok(_) => Some("indexed columns disagree with the hashed record".to_owned()),
                Err(e) => Some(e.to_string()),
            }
        };
        match problem {
            Some(problem) => self.broken = Some((self.expected_seq, problem)),
            None => {
                self.checked += 1;
                self.expected_seq += 1;
                self.prev_hash = row.hash.clone();
            }
        }
    }

    pub(crate) fn broken(&self) -> Option<i64> {
        self.broken.as_ref().map(|(seq, _)| *seq)
    }

    pub(crate) fn finish(mut self, head_seq: i64, head_hash: &str) -> ChainReport {
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
        let (first_broken, problem) = self
            .broken
            .map_or((None, None), |(s, p)| (Some(s), Some(p)));
        ChainReport {
            ok: first_broken.is_none(),
            records: self.checked,
            first_broken,
            problem,
        }
    }
}
