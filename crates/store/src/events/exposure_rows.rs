//! A batch's exposures and release exposures, written as multi-row upserts (a few statements per
//! batch instead of one or two per exposure). Rows with the same key are merged in memory first,
//! exactly as upserting them one after another would have left the row, since one PostgreSQL
//! statement may not touch a row twice.

use std::collections::BTreeMap;

use super::placeholders::{Placeholders, cached_at_full_size};
use super::{EventBatch, ReleaseTag};
use crate::{Backend, Result};

/// Rows per statement: 10 parameters each, well under both backends' parameter limits.
const ROWS_PER_STATEMENT: usize = 500;

type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;

/// An `exposures` row: the latest sighting's version and reason (a later row wins a tie, as in
/// the upsert), the earliest and latest sighting.
struct ExposureRow<'b> {
    version: i64,
    reason: &'b str,
    first_seen: i64,
    last_seen: i64,
}

/// (flag, context kind, context key, variation).
type ExposureKey<'b> = (&'b str, &'b str, &'b str, &'b str);
/// (context kind, context key, flag, stage, cohort) → first seen.
type ReleaseKey<'b> = (&'b str, &'b str, &'b str, &'b str, &'b str);

/// Writes the batch's exposures and release exposures within `tx`.
pub(super) async fn write_exposures(
    tx: &mut Tx<'_>,
    backend: Backend,
    batch: &EventBatch,
) -> Result<()> {
    // In key order, so concurrent batches on PostgreSQL lock shared rows in the same order.
    let mut rows: BTreeMap<ExposureKey<'_>, ExposureRow<'_>> = BTreeMap::new();
    let mut releases: BTreeMap<ReleaseKey<'_>, i64> = BTreeMap::new();
    for exposure in &batch.exposures {
        for part in &exposure.contexts {
            if let Some(ReleaseTag { stage, cohort }) = &exposure.release {
                let key = (
                    part.kind.as_str(),
                    part.key.as_str(),
                    exposure.flag.as_str(),
                    stage.as_str(),
                    cohort.as_str(),
                );
                releases
                    .entry(key)
                    .and_modify(|first| *first = (*first).min(exposure.at_ms))
                    .or_insert(exposure.at_ms);
            }
            let key = (
                exposure.flag.as_str(),
                part.kind.as_str(),
                part.key.as_str(),
                exposure.variation.as_str(),
            );
            rows.entry(key)
                .and_modify(|row| {
                    if exposure.at_ms >= row.last_seen {
                        row.version = exposure.version;
                        row.reason = &exposure.reason;
                    }
                    row.first_seen = row.first_seen.min(exposure.at_ms);
                    row.last_seen = row.last_seen.max(exposure.at_ms);
                })
                .or_insert(ExposureRow {
                    version: exposure.version,
                    reason: &exposure.reason,
                    first_seen: exposure.at_ms,
                    last_seen: exposure.at_ms,
                });
        }
    }
    let releases: Vec<(ReleaseKey<'_>, i64)> = releases.into_iter().collect();
    for chunk in releases.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO release_exposures (project, env, context_kind, context_key, \
             flag, stage, cohort, first_seen) VALUES {} \
             ON CONFLICT (project, env, context_kind, context_key, flag, stage, cohort) \
             DO UPDATE SET first_seen = CASE WHEN excluded.first_seen < \
             release_exposures.first_seen THEN excluded.first_seen \
             ELSE release_exposures.first_seen END",
            Placeholders::new(backend).rows(chunk.len(), 8)
        );
        let mut insert =
            sqlx::query(&sql).persistent(cached_at_full_size(chunk.len(), ROWS_PER_STATEMENT));
        for &((kind, context_key, flag, stage, cohort), first_seen) in chunk {
            insert = insert
                .bind(&batch.project)
                .bind(&batch.env)
                .bind(kind)
                .bind(context_key)
                .bind(flag)
                .bind(stage)
                .bind(cohort)
                .bind(first_seen);
        }
        insert.execute(&mut **tx).await?;
    }
    let rows: Vec<(ExposureKey<'_>, ExposureRow<'_>)> = rows.into_iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO exposures (project, env, flag, context_kind, context_key, \
             variation, version, reason, first_seen, last_seen) VALUES {} \
             ON CONFLICT (project, env, flag, context_kind, context_key, variation) \
             DO UPDATE SET \
             version = CASE WHEN excluded.last_seen >= exposures.last_seen \
             THEN excluded.version ELSE exposures.version END, \
             reason = CASE WHEN excluded.last_seen >= exposures.last_seen \
             THEN excluded.reason ELSE exposures.reason END, \
             first_seen = CASE WHEN excluded.first_seen < exposures.first_seen \
             THEN excluded.first_seen ELSE exposures.first_seen END, \
             last_seen = CASE WHEN excluded.last_seen > exposures.last_seen \
             THEN excluded.last_seen ELSE exposures.last_seen END",
            Placeholders::new(backend).rows(chunk.len(), 10)
        );
        let mut insert =
            sqlx::query(&sql).persistent(cached_at_full_size(chunk.len(), ROWS_PER_STATEMENT));
        for ((flag, kind, context_key, variation), row) in chunk {
            insert = insert
                .bind(&batch.project)
                .bind(&batch.env)
                .bind(*flag)
                .bind(*kind)
                .bind(*context_key)
                .bind(*variation)
                .bind(row.version)
                .bind(row.reason)
                .bind(row.first_seen)
                .bind(row.last_seen);
        }
        insert.execute(&mut **tx).await?;
    }
    Ok(())
}
