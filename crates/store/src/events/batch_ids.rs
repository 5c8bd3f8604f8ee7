//! Idempotent intake: the ids of batches already counted, per environment (`event_batches`).
//!
//! **Invariant:** a batch's id is recorded in the transaction that adds its counts, so after a
//! crash either both exist or neither does: a retry is never counted twice, and a batch is never
//! marked without being counted.

use super::EventBatch;
use super::exposure_rows::ExposureWrites;
use crate::writer::Step;
use crate::{Result, Store};

/// What writing an identified batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// Metric events attributed to a cohort (for a duplicate: when it was first counted).
    pub attributed: u64,
    /// The id was already recorded: nothing of this batch was written.
    pub duplicate: bool,
}

impl Store {
    /// Writes a batch that carries its sender's id `batch_id`, unless a batch with that id was
    /// already counted in its environment (and not yet forgotten by
    /// [`Store::prune_event_batch_ids`]). `seen_at_ms` is when the id is recorded.
    pub async fn ingest_events_once(
        &self,
        batch: &EventBatch,
        batch_id: &str,
        seen_at_ms: i64,
    ) -> Result<Ingested> {
        let exposures = ExposureWrites::of(self.backend, batch)?;
        let mut place = self.batch_place().await?;
        let written = async {
            let tx = place.tx()?;
            write_once(self, tx, batch, exposures, batch_id, seen_at_ms).await
        }
        .await;
        place.finish(written).await
    }

    /// Forgets the ids of batches recorded before `before_ms` (retention); returns how many.
    /// A batch retried with a forgotten id is counted again.
    pub async fn prune_event_batch_ids(&self, before_ms: i64) -> Result<u64> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM event_batches WHERE seen_at < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Whether a batch with `batch_id` is recorded as counted in the environment.
    pub async fn event_batch_seen(&self, project: &str, env: &str, batch_id: &str) -> Result<bool> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT seen_at FROM event_batches WHERE project = $1 AND env = $2 AND batch_id = $3",
        )
        .bind(project)
        .bind(env)
        .bind(batch_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }
}

/// The batch unless its id was recorded: the id first, then the batch (`Discard` for a
/// duplicate, with what the first copy attributed).
async fn write_once<'b>(
    store: &Store,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    batch: &'b EventBatch,
    exposures: ExposureWrites<'b>,
    batch_id: &str,
    seen_at_ms: i64,
) -> Result<Step<Ingested>> {
    // First, so a concurrent copy of the batch (PostgreSQL) waits on this row and then
    // finds it, instead of both counting.
    let marked = batch
        .statement(
            "INSERT INTO event_batches (project, env, batch_id, seen_at, attributed) \
             VALUES ($1, $2, $3, $4, 0) ON CONFLICT (project, env, batch_id) DO NOTHING",
        )
        .bind(batch_id)
        .bind(seen_at_ms)
        .execute(&mut **tx)
        .await?;
    if marked.rows_affected() == 0 {
        let (attributed,): (i64,) = sqlx::query_as(
            "SELECT attributed FROM event_batches \
             WHERE project = $1 AND env = $2 AND batch_id = $3",
        )
        .bind(&batch.project)
        .bind(&batch.env)
        .bind(batch_id)
        .fetch_one(&mut **tx)
        .await?;
        return Ok(Step::Discard(Ingested {
            attributed: u64::try_from(attributed).unwrap_or(0),
            duplicate: true,
        }));
    }
    let attributed = store.write_batch(tx, batch, exposures).await?;
    if attributed > 0 {
        batch
            .statement(
                "UPDATE event_batches SET attributed = $4 \
                 WHERE project = $1 AND env = $2 AND batch_id = $3",
            )
            .bind(batch_id)
            .bind(i64::try_from(attributed).unwrap_or(i64::MAX))
            .execute(&mut **tx)
            .await?;
    }
    Ok(Step::Keep(Ingested {
        attributed,
        duplicate: false,
    }))
}
