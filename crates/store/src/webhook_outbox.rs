//! The webhook outbox (`docs/webhooks.md`). The audit log is the outbox: every change already
//! writes one audit record in its own transaction, so nothing more is written per change. What
//! a subscription keeps here is its place in the log (`delivered_seq`, the last sequence number
//! it handled), the retry state of its next delivery, and a lease naming the replica sending it,
//! taken and given back by compare-and-set on `version` so two replicas never send one delivery
//! at once. Beside it, the last delivery attempts of each subscription (the delivery log).
//!
//! These rows are bookkeeping, not changes: writing them appends no audit record (which would
//! itself be a change to deliver).

use serde::Serialize;

use crate::{AuditRow, Result, Store};

/// Where one subscription stands in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxState {
    /// The last audit sequence number delivered or passed over.
    pub delivered_seq: i64,
    /// Failed attempts at the next delivery.
    pub attempts: i64,
    /// When the last attempt was made (Unix ms; 0 before any).
    pub last_attempt_at_ms: i64,
    pub last_error: Option<String>,
    /// The replica holding the lease ("" when none does).
    pub lease_owner: String,
    pub lease_until_ms: i64,
    /// Raised by every claim and settlement: the compare-and-set token.
    pub version: i64,
}

/// How a claimed delivery ended, written by [`Store::outbox_settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub delivered_seq: i64,
    pub attempts: i64,
    pub last_attempt_at_ms: i64,
    pub last_error: Option<String>,
}

/// One delivery attempt, as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryAttempt {
    /// This attempt's own id.
    pub attempt: String,
    /// The delivery it tried (stable across retries and redeliveries).
    pub delivery: String,
    /// The audit sequence number delivered.
    pub seq: i64,
    pub at_ms: i64,
    /// The receiver's HTTP status (none when no answer came).
    pub status: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// Asked for through the API, not sent by the outbox.
    pub redelivery: bool,
}

type StateColumns = (i64, i64, i64, Option<String>, String, i64, i64);
type AttemptColumns = (
    String,
    String,
    i64,
    i64,
    Option<i64>,
    i64,
    Option<String>,
    i64,
);

impl Store {
    /// The outbox state of a subscription, if it has one yet.
    pub async fn outbox_state(&self, project: &str, webhook: &str) -> Result<Option<OutboxState>> {
        let row: Option<StateColumns> = sqlx::query_as(
            "SELECT delivered_seq, attempts, last_attempt_at, last_error, lease_owner, \
             lease_until, version FROM webhook_outbox WHERE project = $1 AND webhook = $2",
        )
        .bind(project)
        .bind(webhook)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(delivered_seq, attempts, last_attempt_at_ms, last_error, owner, until, version)| {
                OutboxState {
                    delivered_seq,
                    attempts,
                    last_attempt_at_ms,
                    last_error,
                    lease_owner: owner,
                    lease_until_ms: until,
                    version,
                }
            },
        ))
    }

    /// Gives a subscription its place in the log, after `from_seq`, unless it has one.
    pub async fn outbox_open(&self, project: &str, webhook: &str, from_seq: i64) -> Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO webhook_outbox (project, webhook, delivered_seq, attempts, \
             last_attempt_at, last_error, lease_owner, lease_until, version) \
             VALUES ($1, $2, $3, 0, 0, NULL, '', 0, 1) ON CONFLICT (project, webhook) DO NOTHING",
        )
        .bind(project)
        .bind(webhook)
        .bind(from_seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the lease of a subscription for `owner` until `until_ms`, if it is still at
    /// `version` (read with [`Store::outbox_state`]): `Some(new version)` when taken, `None` when
    /// another replica moved first.
    pub async fn outbox_claim(
        &self,
        project: &str,
        webhook: &str,
        version: i64,
        owner: &str,
        until_ms: i64,
    ) -> Result<Option<i64>> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE webhook_outbox SET lease_owner = $1, lease_until = $2, version = version + 1 \
             WHERE project = $3 AND webhook = $4 AND version = $5",
        )
        .bind(owner)
        .bind(until_ms)
        .bind(project)
        .bind(webhook)
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(version + 1))
    }

    /// Records how a claimed delivery ended and gives the lease back, if the claim (at
    /// `version`) still holds: `false` when it was lost (the lease ran out and another replica
    /// took it), and nothing is written.
    pub async fn outbox_settle(
        &self,
        project: &str,
        webhook: &str,
        version: i64,
        settlement: &Settlement,
    ) -> Result<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE webhook_outbox SET delivered_seq = $1, attempts = $2, last_attempt_at = $3, \
             last_error = $4, lease_owner = '', lease_until = 0, version = version + 1 \
             WHERE project = $5 AND webhook = $6 AND version = $7",
        )
        .bind(settlement.delivered_seq)
        .bind(settlement.attempts)
        .bind(settlement.last_attempt_at_ms)
        .bind(settlement.last_error.as_deref())
        .bind(project)
        .bind(webhook)
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives back a lease taken at `version` without recording an attempt (a send abandoned at
    /// shutdown): `false` when it was no longer held.
    pub async fn outbox_release(&self, project: &str, webhook: &str, version: i64) -> Result<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE webhook_outbox SET lease_owner = '', lease_until = 0, version = version + 1 \
             WHERE project = $1 AND webhook = $2 AND version = $3",
        )
        .bind(project)
        .bind(webhook)
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets a deleted subscription: its place in the log and its delivery log.
    pub async fn outbox_remove(&self, project: &str, webhook: &str) -> Result<()> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        for table in ["webhook_outbox", "webhook_deliveries"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE project = $1 AND webhook = $2"
            ))
            .bind(project)
            .bind(webhook)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Audit records after `after`, oldest first, at most `limit` (the outbox's next page).
    pub async fn outbox_records_after(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query_as(
            "SELECT seq, at, record, prev_hash, hash, signature FROM audit_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(AuditRow::from_columns).collect())
    }

    /// One audit record (a redelivery's).
    pub async fn outbox_record(&self, seq: i64) -> Result<Option<AuditRow>> {
        let row = sqlx::query_as(
            "SELECT seq, at, record, prev_hash, hash, signature FROM audit_log WHERE seq = $1",
        )
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(AuditRow::from_columns))
    }

    /// Adds an attempt to a subscription's delivery log, keeping its newest `keep`.
    pub async fn delivery_log_append(
        &self,
        project: &str,
        webhook: &str,
        attempt: &DeliveryAttempt,
        keep: i64,
    ) -> Result<()> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (project, webhook, attempt, delivery, seq, at, \
             status, duration_ms, error, redelivery) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(project)
        .bind(webhook)
        .bind(&attempt.attempt)
        .bind(&attempt.delivery)
        .bind(attempt.seq)
        .bind(attempt.at_ms)
        .bind(attempt.status)
        .bind(attempt.duration_ms)
        .bind(attempt.error.as_deref())
        .bind(i64::from(attempt.redelivery))
        .execute(&mut *tx)
        .await?;
        // Keeps the newest `keep` (by time; attempts within one millisecond may tie).
        let oldest_kept: Option<i64> = sqlx::query_scalar(
            "SELECT at FROM webhook_deliveries WHERE project = $1 AND webhook = $2 \
             ORDER BY at DESC LIMIT 1 OFFSET $3",
        )
        .bind(project)
        .bind(webhook)
        .bind(keep - 1)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(oldest_kept) = oldest_kept {
            sqlx::query(
                "DELETE FROM webhook_deliveries WHERE project = $1 AND webhook = $2 AND at < $3",
            )
            .bind(project)
            .bind(webhook)
            .bind(oldest_kept)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A subscription's delivery log, newest first.
    pub async fn delivery_log(
        &self,
        project: &str,
        webhook: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryAttempt>> {
        let rows: Vec<AttemptColumns> = sqlx::query_as(
            "SELECT attempt, delivery, seq, at, status, duration_ms, error, redelivery \
             FROM webhook_deliveries WHERE project = $1 AND webhook = $2 \
             ORDER BY at DESC, seq DESC LIMIT $3",
        )
        .bind(project)
        .bind(webhook)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(attempt, delivery, seq, at_ms, status, duration_ms, error, redelivery)| {
                    DeliveryAttempt {
                        attempt,
                        delivery,
                        seq,
                        at_ms,
                        status,
                        duration_ms,
                        error,
                        redelivery: redelivery != 0,
                    }
                },
            )
            .collect())
    }
}
