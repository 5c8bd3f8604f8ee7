//! The audit log for export (`docs/security.md`, "Audit export"): reading records after a cursor,
//! and verifying exported records without the database, with the same rules as
//! [`crate::Store::verify_audit_chain`] (one [`Verifier`], so the hashing is written once).

use super::{AuditRow, ChainReport, GENESIS_HASH, RowColumns, SignedHead, Verifier};
use crate::{AuditPublicKey, Result, Store};

/// The chain head: the newest record's sequence number and hash, and the first record in the
/// signed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
    pub signed_from: i64,
}

impl Store {
    /// Up to `limit` audit records with `seq > after`, oldest first: an export's next page.
    pub async fn audit_after(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let rows: Vec<RowColumns> = sqlx::query_as(
            "SELECT seq, at, record, prev_hash, hash, signature FROM audit_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(AuditRow::from_columns).collect())
    }

    /// The chain head as committed now. Every record up to its `seq` is committed too: writers
    /// take their number from the head inside their transaction, one at a time.
    pub async fn audit_head(&self) -> Result<ChainHead> {
        let (seq, hash, signed_from) =
            sqlx::query_as("SELECT seq, hash, signed_from FROM chain_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(ChainHead {
            seq,
            hash,
            signed_from,
        })
    }
}

/// Verifies exported records in order, link by link, with only the public key.
///
/// An export may start anywhere: its first record's `prev_hash` is taken as given unless
/// [`ExportVerifier::after`] pins it (the last hash of the export before), or the first record
/// is record 1 (whose previous hash is [`GENESIS_HASH`]). Each record says whether it is in the
/// signed form; the signed form starts at the first that says so (or where
/// [`ExportVerifier::signed_from`] pins it) and never stops. A signed head kept from the server
/// ([`ExportVerifier::expect_head`]) must be in the export with the same hash, which catches a
/// log truncated before that record.
#[derive(Debug)]
pub struct ExportVerifier {
    verifier: Verifier,
    started: bool,
    signed_from_pinned: bool,
    head: Option<SignedHead>,
    head_seen: bool,
    first: Option<i64>,
}

impl ExportVerifier {
    /// A verifier checking signatures with `key` (only hashes when `None`).
    pub fn new(key: Option<AuditPublicKey>) -> ExportVerifier {
        ExportVerifier {
            verifier: Verifier::new(i64::MAX, key),
            started: false,
            signed_from_pinned: false,
            head: None,
            head_seen: false,
            first: None,
        }
    }

    /// The export continues after record `seq`, whose hash is `hash`.
    pub fn after(mut self, seq: i64, hash: &str) -> ExportVerifier {
        self.verifier.expected_seq = seq + 1;
        self.verifier.prev_hash = hash.to_owned();
        self.started = true;
        self
    }

    /// Records from `seq` on must be in the signed form, and those before it in the legacy form
    /// (`signed_from` of `GET /api/v1/audit/verify`).
    pub fn signed_from(mut self, seq: i64) -> ExportVerifier {
        self.verifier.signed_from = seq;
        self.signed_from_pinned = true;
        self
    }

    /// The export must hold record `head.seq` with `head.hash`, and `head.signature` must verify.
    pub fn expect_head(mut self, head: SignedHead) -> ExportVerifier {
        self.head = Some(head);
        self
    }

    /// The first broken record's sequence number, once there is one (later records are not
    /// checked).
    pub fn broken(&self) -> Option<i64> {
        self.verifier.broken()
    }

    /// Marks the export broken at the next expected record, for a line that is not a record.
    pub fn fail(&mut self, problem: impl Into<String>) {
        if self.verifier.broken.is_none() {
            self.verifier.broken = Some((self.verifier.expected_seq, problem.into()));
        }
    }

    /// Checks the next exported record; `signed_form` is what the export says its form is.
    pub fn check(&mut self, row: &AuditRow, signed_form: bool) {
        if self.verifier.broken.is_some() {
            return;
        }
        if !self.started {
            self.started = true;
            self.verifier.expected_seq = row.seq;
            self.verifier.prev_hash = if row.seq == 1 {
                GENESIS_HASH.to_owned()
            } else {
                row.prev_hash.clone()
            };
        }
        self.first.get_or_insert(row.seq);
        if signed_form && !self.signed_from_pinned && self.verifier.signed_from == i64::MAX {
            self.verifier.signed_from = row.seq;
        }
        if signed_form != (row.seq >= self.verifier.signed_from) {
            let said = if signed_form { "signed" } else { "legacy" };
            return self.fail(format!(
                "record {} says it is in the {said} form, but the signed form starts at record {}",
                row.seq, self.verifier.signed_from
            ));
        }
        let columns = match row.parsed() {
            Ok(record) => (record.action, record.resource, record.outcome),
            Err(error) => return self.fail(error.to_string()),
        };
        self.verifier.check(row, columns);
        if self.verifier.broken.is_some() {
            return;
        }
        if let Some(head) = self.head.as_ref().filter(|head| head.seq == row.seq) {
            if head.hash == row.hash {
                self.head_seen = true;
            } else {
                self.fail_at(row.seq, "the record's hash is not the signed head's");
            }
        }
    }

    fn fail_at(&mut self, seq: i64, problem: &str) {
        self.verifier.broken = Some((seq, problem.to_owned()));
    }

    /// The first record checked, if any.
    pub fn first(&self) -> Option<i64> {
        self.first
    }

    /// The last record that verified, if any.
    pub fn last(&self) -> Option<i64> {
        (self.verifier.checked > 0).then_some(self.verifier.expected_seq - 1)
    }

    /// The report: `records` verified, the first broken one, the public key, and the newest
    /// record whose signature verified (`signed_head`). `signed_from` is where the signed form
    /// starts (after the export when no record in it is signed).
    pub fn finish(mut self) -> ChainReport {
        if let (None, Some(head)) = (self.verifier.broken.as_ref(), self.head.clone()) {
            let signature_ok = self
                .verifier
                .key
                .as_ref()
                .is_none_or(|key| key.verifies(&head.hash, &head.signature));
            if !signature_ok {
                self.fail_at(head.seq, "the signed head's signature does not verify");
            } else if !self.head_seen {
                let problem = match self.last() {
                    Some(last) if last < head.seq => format!(
                        "the export ends at record {last}, before the signed head (record {})",
                        head.seq
                    ),
                    _ => format!("the signed head (record {}) is not in the export", head.seq),
                };
                self.fail_at(head.seq, &problem);
            }
        }
        let signed_from = if self.verifier.signed_from == i64::MAX {
            self.verifier.expected_seq
        } else {
            self.verifier.signed_from
        };
        let Verifier {
            key,
            checked,
            signed_head,
            broken,
            ..
        } = self.verifier;
        let (first_broken, problem) = broken.map_or((None, None), |(s, p)| (Some(s), Some(p)));
        ChainReport {
            ok: first_broken.is_none(),
            records: checked,
            first_broken,
            problem,
            signed_from,
            public_key: key.map(|key| key.to_string()),
            signed_head,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::super::{AuditRecord, seal};
    use super::*;
    use crate::AuditSigner;

    /// Records 1..=n, legacy before `signed_from`, signed by `signer` from it on.
    fn chain(n: i64, signed_from: i64, signer: &AuditSigner) -> Vec<AuditRow> {
        let mut rows: Vec<AuditRow> = Vec::new();
        for seq in 1..=n {
            let record = AuditRecord {
                at_ms: 1_000 + seq,
                actor: json!({"kind": "system"}),
                action: "flag:toggle".into(),
                resource: format!("proj/p:flag/f{seq}"),
                outcome: "allowed".into(),
                before: None,
                after: None,
                comment: None,
                request_id: None,
            };
            let prev = rows.last().map_or(GENESIS_HASH, |row| row.hash.as_str());
            rows.push(seal(seq, prev, &record, signed_from, Some(signer)).unwrap());
        }
        rows
    }

    fn verify(rows: &[AuditRow], signed_from: i64, verifier: ExportVerifier) -> ChainReport {
        let mut verifier = verifier;
        for row in rows {
            verifier.check(row, row.seq >= signed_from);
        }
        verifier.finish()
    }

    #[test]
    fn an_export_verifies_from_any_cursor_and_breaks_where_it_was_changed() {
        let signer = AuditSigner::from_seed([1; 32]);
        let key = signer.public_key();
        let rows = chain(6, 3, &signer);
        let report = verify(&rows, 3, ExportVerifier::new(Some(key)));
        assert!(report.ok, "{report:?}");
        assert_eq!((report.records, report.signed_from), (6, 3));
        assert_eq!(report.signed_head.as_ref().map(|h| h.seq), Some(6));
        // From a cursor, alone or pinned to the previous export's last hash.
        assert!(verify(&rows[3..], 3, ExportVerifier::new(Some(key))).ok);
        let pinned = ExportVerifier::new(Some(key)).after(3, &rows[2].hash);
        assert!(verify(&rows[3..], 3, pinned).ok);
        let wrong = ExportVerifier::new(Some(key)).after(3, &rows[1].hash);
        assert_eq!(verify(&rows[3..], 3, wrong).first_broken, Some(4));

        let mut edited = rows.clone();
        edited[3].record = edited[3].record.replace("f4", "f9");
        assert_eq!(
            verify(&edited, 3, ExportVerifier::new(Some(key))).first_broken,
            Some(4)
        );
        let mut gap = rows.clone();
        gap.remove(4);
        assert_eq!(
            verify(&gap, 3, ExportVerifier::new(Some(key))).first_broken,
            Some(5)
        );
        let other = AuditSigner::from_seed([2; 32]).public_key();
        assert_eq!(
            verify(&rows, 3, ExportVerifier::new(Some(other))).first_broken,
            Some(3)
        );
        // A signed record passed off as legacy is caught once the signed form is pinned.
        let report = verify(&rows, 7, ExportVerifier::new(Some(key)).signed_from(3));
        assert_eq!(report.first_broken, Some(3), "{report:?}");
    }

    #[test]
    fn a_signed_head_must_be_in_the_export() {
        let signer = AuditSigner::from_seed([1; 32]);
        let key = signer.public_key();
        let rows = chain(5, 1, &signer);
        let head = |row: &AuditRow| SignedHead {
            seq: row.seq,
            hash: row.hash.clone(),
            signature: row.signature.clone().unwrap(),
        };
        let with_head = |h| ExportVerifier::new(Some(key)).expect_head(h);
        assert!(verify(&rows, 1, with_head(head(&rows[4]))).ok);
        assert!(verify(&rows, 1, with_head(head(&rows[2]))).ok);
        let truncated = verify(&rows[..3], 1, with_head(head(&rows[4])));
        assert_eq!(truncated.first_broken, Some(5), "{truncated:?}");
        let mut forged = head(&rows[4]);
        forged.hash = rows[3].hash.clone();
        assert_eq!(verify(&rows, 1, with_head(forged)).first_broken, Some(5));
    }
}
