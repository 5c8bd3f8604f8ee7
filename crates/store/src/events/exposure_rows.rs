//! A batch's exposures and release exposures, written as multi-row upserts (a few statements per
//! batch instead of one or two per exposure). Rows with the same key are merged in memory first,
//! exactly as upserting them one after another would have left the row, since one PostgreSQL
//! statement may not touch a row twice.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::error::BoxDynError;

use super::multi_row::{Insert, Script, Values};
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

/// (context kind, context key, flag, variation): the order batches write rows in (any one order
/// keeps concurrent PostgreSQL batches from deadlocking on shared rows).
type ExposureKey<'b> = (&'b str, &'b str, &'b str, &'b str);
/// (context kind, context key, flag, stage, cohort) → first seen.
type ReleaseKey<'b> = (&'b str, &'b str, &'b str, &'b str, &'b str);

/// A release exposure the batch added: (context kind, context key, flag, stage, cohort).
pub(super) type AddedReleaseExposure = (String, String, String, String, String);

/// A batch's exposure and release exposure rows, merged, in key order (so concurrent batches on
/// PostgreSQL lock shared rows in the same order), and the statements that write them: built
/// before the batch's turn to write, since on SQLite the turn is one writer's at a time.
pub(super) struct ExposureWrites<'b> {
    /// The upserts of the exposures and, on SQLite, of the release exposures (PostgreSQL's
    /// depend on what its insert returns).
    upserts: Script<'b>,
    releases: Vec<(ReleaseKey<'b>, i64)>,
}

impl<'b> ExposureWrites<'b> {
    pub(super) fn of(backend: Backend, batch: &'b EventBatch) -> Result<ExposureWrites<'b>> {
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
                    part.kind.as_str(),
                    part.key.as_str(),
                    exposure.flag.as_str(),
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
        let rows: Vec<(ExposureKey<'_>, ExposureRow<'_>)> = rows.into_iter().collect();
        let releases: Vec<(ReleaseKey<'_>, i64)> = releases.into_iter().collect();
        let mut upserts = Script::new(backend);
        if backend == Backend::Sqlite {
            add_release_upserts(&mut upserts, batch, &releases)?;
        }
        add_exposure_upserts(&mut upserts, batch, &rows)?;
        Ok(ExposureWrites { upserts, releases })
    }

    /// Writes the batch's exposures and release exposures within `tx`. On PostgreSQL returns
    /// the release exposures that were not stored before (for the stage tallies,
    /// `release_tallies.rs`); on SQLite, where one writer writes at a time, the batch's history
    /// tells them ([`super::history::History::add`]) and this returns `None`.
    pub(super) async fn write(
        self,
        tx: &mut Tx<'_>,
        backend: Backend,
        batch: &'b EventBatch,
    ) -> Result<Option<Vec<AddedReleaseExposure>>> {
        let added = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                Some(write_release_exposures(tx, backend, batch, &self.releases).await?)
            }
        };
        self.upserts.run(tx).await?;
        Ok(added)
    }
}

/// Adds the upserts of `exposures` rows, [`ROWS_PER_STATEMENT`] a statement.
fn add_exposure_upserts<'b>(
    script: &mut Script<'b>,
    batch: &'b EventBatch,
    rows: &[(ExposureKey<'b>, ExposureRow<'b>)],
) -> Result<()> {
    let insert = Insert {
        into: "exposures (project, env, flag, context_kind, context_key, \
               variation, version, reason, first_seen, last_seen)",
        on_conflict: "ON CONFLICT (project, env, context_kind, context_key, flag, variation) \
             DO UPDATE SET \
             version = CASE WHEN excluded.last_seen >= exposures.last_seen \
             THEN excluded.version ELSE exposures.version END, \
             reason = CASE WHEN excluded.last_seen >= exposures.last_seen \
             THEN excluded.reason ELSE exposures.reason END, \
             first_seen = CASE WHEN excluded.first_seen < exposures.first_seen \
             THEN excluded.first_seen ELSE exposures.first_seen END, \
             last_seen = CASE WHEN excluded.last_seen > exposures.last_seen \
             THEN excluded.last_seen ELSE exposures.last_seen END",
        width: 10,
        rows_per_statement: ROWS_PER_STATEMENT,
    };
    script.insert(
        &insert,
        &in_env(batch),
        rows,
        |values, &((kind, key, flag, variation), ref row)| {
            values.text(flag)?.text(kind)?.text(key)?.text(variation)?;
            values.int(row.version)?.text(row.reason)?;
            values.int(row.first_seen)?.int(row.last_seen)?;
            Ok(())
        },
    )
}

const RELEASE_KEY: &str = "project, env, context_kind, context_key, flag, stage, cohort";

/// Inserts the release exposures not stored yet, returning them; then moves the first sighting
/// of the others earlier where the batch saw them earlier. Two statements, not one upsert,
/// because an upsert's `RETURNING` cannot tell an inserted row from an updated one on SQLite.
async fn write_release_exposures(
    tx: &mut Tx<'_>,
    backend: Backend,
    batch: &EventBatch,
    releases: &[(ReleaseKey<'_>, i64)],
) -> Result<Vec<AddedReleaseExposure>> {
    let returning = format!(
        "ON CONFLICT ({RELEASE_KEY}) DO NOTHING \
         RETURNING context_kind, context_key, flag, stage, cohort"
    );
    let insert = release_insert(&returning);
    let mut added: Vec<AddedReleaseExposure> = Vec::new();
    for statement in insert.statements(backend, &in_env(batch), releases, release_row)? {
        added.extend(statement.fetch_all(tx).await?);
    }
    if added.len() < releases.len() {
        upsert_release_exposures(tx, backend, batch, &stored_before(releases, &added)).await?;
    }
    Ok(added)
}

/// Inserts the release exposures, or moves a stored one's first sighting earlier where the
/// batch saw it earlier.
async fn upsert_release_exposures(
    tx: &mut Tx<'_>,
    backend: Backend,
    batch: &EventBatch,
    releases: &[(ReleaseKey<'_>, i64)],
) -> Result<()> {
    let mut script = Script::new(backend);
    add_release_upserts(&mut script, batch, releases)?;
    script.run(tx).await
}

/// Adds the statements of [`upsert_release_exposures`].
fn add_release_upserts<'q>(
    script: &mut Script<'q>,
    batch: &'q EventBatch,
    releases: &[(ReleaseKey<'q>, i64)],
) -> Result<()> {
    let on_conflict = format!(
        "ON CONFLICT ({RELEASE_KEY}) DO UPDATE SET first_seen = excluded.first_seen \
         WHERE excluded.first_seen < release_exposures.first_seen"
    );
    script.insert(
        &release_insert(&on_conflict),
        &in_env(batch),
        releases,
        release_row,
    )
}

/// The leading columns every row of both tables shares: the batch's project and env.
fn in_env(batch: &EventBatch) -> [&str; 2] {
    [&batch.project, &batch.env]
}

/// An insert of release exposure rows ([`release_row`]'s parameters), `on_conflict`.
fn release_insert(on_conflict: &str) -> Insert<'_> {
    Insert {
        into: "release_exposures \
               (project, env, context_kind, context_key, flag, stage, cohort, first_seen)",
        on_conflict,
        width: 8,
        rows_per_statement: ROWS_PER_STATEMENT,
    }
}

/// The `releases` that are not among the `added` ones.
fn stored_before<'b>(
    releases: &[(ReleaseKey<'b>, i64)],
    added: &[AddedReleaseExposure],
) -> Vec<(ReleaseKey<'b>, i64)> {
    let is_added: BTreeSet<(&str, &str, &str, &str, &str)> = added
        .iter()
        .map(|(kind, key, flag, stage, cohort)| {
            (
                kind.as_str(),
                key.as_str(),
                flag.as_str(),
                stage.as_str(),
                cohort.as_str(),
            )
        })
        .collect();
    releases
        .iter()
        .filter(|(key, _)| !is_added.contains(key))
        .copied()
        .collect()
}

/// Adds a release exposure row's parameters after the project and env, in
/// [`release_insert`]'s column order.
fn release_row<'q>(
    values: &mut Values<'q>,
    &((kind, key, flag, stage, cohort), first_seen): &(ReleaseKey<'q>, i64),
) -> std::result::Result<(), BoxDynError> {
    values
        .text(kind)?
        .text(key)?
        .text(flag)?
        .text(stage)?
        .text(cohort)?;
    values.int(first_seen)?;
    Ok(())
}
