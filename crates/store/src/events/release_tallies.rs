//! A release stage's exposed contexts, counted as batches add them, so the guard reads a few
//! rows a second instead of recounting every release exposure of the stage (a recount that grew
//! with each batch: with a release on every flag it halved SQLite's intake, 2026-12-06):
//! - `release_stage_contexts`: per stage and cohort, the context parts exposed in it;
//! - `release_stage_crossed`: per stage, the context parts exposed in more than one of its
//!   cohorts. On SQLite the batch's history (`history.rs`) tells how many cohorts a context is
//!   in now. On PostgreSQL, where batches run concurrently, a batch locks its stages' rows here
//!   and then reads its contexts' release exposures: two batches adding one context to two
//!   cohorts then count in turn, and the second sees the first's row, so the crossing is counted
//!   once.
//!
//! **Invariant:** the tallies equal a recount of `release_exposures` ([`recount`] restores it
//! after retention deletes exposures).

use std::collections::{BTreeMap, BTreeSet};

use super::EventBatch;
use super::exposure_rows::AddedReleaseExposure;
use super::history::{History, lookup_sql};
use super::multi_row::Script;
use super::placeholders::{Placeholders, keys_json};
use crate::{Backend, Result};

type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;
/// (flag, stage).
type Stage<'a> = (&'a str, &'a str);

/// (kind, key, stage) → cohorts of the stage the batch added the context part to.
type PerContext<'a> = BTreeMap<(&'a str, &'a str, Stage<'a>), i64>;

/// What a batch adds to the tallies, worked out before its turn to upsert them: on SQLite
/// beside the batch's exposure writes, from its history ([`Additions::in_history`]); on
/// PostgreSQL after locking the stages and reading what concurrent batches added
/// ([`Additions::in_store`]).
#[derive(Default)]
pub(super) struct Additions {
    /// Per stage, the contexts the batch made crossed (0 where none did, so each stage of the
    /// batch has its row).
    crossed: Vec<((String, String), i64)>,
    /// Per stage and cohort, the contexts the batch added.
    cohorts: Vec<((String, String, String), i64)>,
}

impl Additions {
    /// From the batch's `history`, which holds its contexts' release exposures, its own
    /// included: on SQLite, where one writer writes at a time, exactly what the table holds.
    pub(super) fn in_history(added: &[AddedReleaseExposure], history: &History) -> Additions {
        let per_context = per_context(added);
        let now = cohorts_in_history(history, &per_context);
        Additions::of(added, &per_context, stages(&per_context), &now)
    }

    /// From the table, after locking the batch's stages (PostgreSQL), within `tx`.
    pub(super) async fn in_store(
        tx: &mut Tx<'_>,
        backend: Backend,
        batch: &EventBatch,
        added: &[AddedReleaseExposure],
    ) -> Result<Additions> {
        if added.is_empty() {
            return Ok(Additions::default());
        }
        let per_context = per_context(added);
        let stages = stages(&per_context);
        lock_stages(tx, backend, batch, &stages).await?;
        let now = cohorts_stored(tx, backend, batch, &per_context).await?;
        Ok(Additions::of(added, &per_context, stages, &now))
    }

    /// `stages`: every stage of `per_context`, so each gets its crossed row.
    fn of<'a>(
        added: &'a [AddedReleaseExposure],
        per_context: &PerContext<'a>,
        stages: BTreeSet<Stage<'a>>,
        now: &CohortsNow<'a>,
    ) -> Additions {
        let mut cohorts: BTreeMap<(&str, &str, &str), i64> = BTreeMap::new();
        for (_, _, flag, stage, cohort) in added {
            *cohorts.entry((flag, stage, cohort)).or_default() += 1;
        }
        let crossed = crossings(per_context, now);
        let owned = |text: &str| text.to_owned();
        Additions {
            crossed: stages
                .into_iter()
                .map(|stage @ (flag, name)| {
                    let contexts = crossed.get(&stage).copied().unwrap_or(0);
                    ((owned(flag), owned(name)), contexts)
                })
                .collect(),
            cohorts: cohorts
                .into_iter()
                .map(|((flag, stage, cohort), contexts)| {
                    ((owned(flag), owned(stage), owned(cohort)), contexts)
                })
                .collect(),
        }
    }

    /// Adds the upserts of the tallies to `script`, run after every other release write of the
    /// batch (see the module's note on locking).
    pub(super) fn add_to<'q>(
        &'q self,
        script: &mut Script<'q>,
        batch: &'q EventBatch,
    ) -> Result<()> {
        let crossed: Vec<_> = self
            .crossed
            .iter()
            .map(|((flag, stage), contexts)| ((flag.as_str(), stage.as_str()), *contexts))
            .collect();
        let cohorts: Vec<_> = self
            .cohorts
            .iter()
            .map(|((flag, stage, cohort), contexts)| {
                ((flag.as_str(), stage.as_str(), cohort.as_str()), *contexts)
            })
            .collect();
        script.upsert(
            "release_stage_crossed (project, env, flag, stage, contexts)",
            "ON CONFLICT (project, env, flag, stage) \
             DO UPDATE SET contexts = release_stage_crossed.contexts + excluded.contexts",
            5,
            &crossed,
            |values, &((flag, stage), crossed)| {
                values.text(&batch.project)?.text(&batch.env)?.text(flag)?;
                values.text(stage)?.int(crossed)?;
                Ok(())
            },
        )?;
        script.upsert(
            "release_stage_contexts (project, env, flag, stage, cohort, contexts)",
            "ON CONFLICT (project, env, flag, stage, cohort) \
             DO UPDATE SET contexts = release_stage_contexts.contexts + excluded.contexts",
            6,
            &cohorts,
            |values, &((flag, stage, cohort), contexts)| {
                values.text(&batch.project)?.text(&batch.env)?.text(flag)?;
                values.text(stage)?.text(cohort)?.int(contexts)?;
                Ok(())
            },
        )
    }
}

/// The stages the batch added context parts to.
fn stages<'a>(per_context: &PerContext<'a>) -> BTreeSet<Stage<'a>> {
    per_context.keys().map(|(_, _, stage)| *stage).collect()
}

/// The cohorts of each stage the batch added each context part to.
fn per_context(added: &[AddedReleaseExposure]) -> PerContext<'_> {
    let mut per_context = PerContext::new();
    for (kind, key, flag, stage, _) in added {
        *per_context
            .entry((kind.as_str(), key.as_str(), (flag.as_str(), stage.as_str())))
            .or_default() += 1;
    }
    per_context
}

/// Makes sure each stage has its crossed row and locks it until the transaction ends, in key
/// order (so concurrent batches cannot deadlock on them): PostgreSQL, before it reads what
/// concurrent batches added.
async fn lock_stages(
    tx: &mut Tx<'_>,
    backend: Backend,
    batch: &EventBatch,
    stages: &BTreeSet<Stage<'_>>,
) -> Result<()> {
    let sql = format!(
        "INSERT INTO release_stage_crossed (project, env, flag, stage, contexts) VALUES {} \
         ON CONFLICT (project, env, flag, stage) \
         DO UPDATE SET contexts = release_stage_crossed.contexts",
        Placeholders::new(backend).rows(stages.len(), 5)
    );
    // A statement per distinct number of stages: not worth a cache entry each.
    let mut lock = sqlx::query(&sql).persistent(false);
    for (flag, stage) in stages {
        lock = lock
            .bind(&batch.project)
            .bind(&batch.env)
            .bind(*flag)
            .bind(*stage)
            .bind(0_i64);
    }
    lock.execute(&mut **tx).await?;
    Ok(())
}

/// (kind, key, stage) → cohorts of the stage the context part is exposed in.
type CohortsNow<'a> = BTreeMap<(&'a str, &'a str, Stage<'a>), i64>;

/// [`CohortsNow`] of the contexts the batch added to a stage, from its history.
fn cohorts_in_history<'a>(history: &History, per_context: &PerContext<'a>) -> CohortsNow<'a> {
    per_context
        .keys()
        .map(|&(kind, key, (flag, stage))| {
            let cohorts = history.cohorts_in_stage(kind, key, flag, stage);
            ((kind, key, (flag, stage)), cohorts)
        })
        .collect()
}

/// [`CohortsNow`] of the contexts the batch added to a stage, read from the table (after the
/// stages are locked, so it includes every batch that counted before). Only contexts in two
/// cohorts or more are read (the others are in the cohort the batch added): crossings are rare,
/// and the batch's contexts' rows would come back to it for nothing.
async fn cohorts_stored<'a>(
    tx: &mut Tx<'_>,
    backend: Backend,
    batch: &EventBatch,
    per_context: &PerContext<'a>,
) -> Result<CohortsNow<'a>> {
    let mut keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (kind, key, _) in per_context.keys() {
        keys.entry(kind).or_default().insert(key);
    }
    let found = lookup_sql(
        &mut Placeholders::new(backend),
        "flag, stage",
        "release_exposures",
    );
    let several_cohorts = format!(
        "SELECT context_key, flag, stage, COUNT(*) FROM ({found}) AS found \
         GROUP BY context_key, flag, stage HAVING COUNT(*) > 1"
    );
    let mut rows: Vec<(&str, String, String, String, i64)> = Vec::new();
    for (kind, keys) in keys {
        let of_kind: Vec<(String, String, String, i64)> = sqlx::query_as(&several_cohorts)
            .bind(keys_json(keys)?)
            .bind(&batch.project)
            .bind(&batch.env)
            .bind(kind)
            .fetch_all(&mut **tx)
            .await?;
        let of_kind = of_kind.into_iter();
        rows.extend(of_kind.map(|(key, flag, stage, cohorts)| (kind, key, flag, stage, cohorts)));
    }
    let found: BTreeMap<(&str, &str, Stage<'_>), i64> = rows
        .iter()
        .map(|(kind, key, flag, stage, cohorts)| {
            (
                (*kind, key.as_str(), (flag.as_str(), stage.as_str())),
                *cohorts,
            )
        })
        .collect();
    Ok(per_context
        .keys()
        .filter_map(|context| Some((*context, *found.get(context)?)))
        .collect())
}

/// Per stage, the contexts the batch made crossed: those whose cohorts in the stage, counted
/// now (with the batch's own rows), reached two while the ones before the batch were fewer.
fn crossings<'a>(per_context: &PerContext<'a>, now: &CohortsNow<'a>) -> BTreeMap<Stage<'a>, i64> {
    let mut crossed: BTreeMap<Stage<'a>, i64> = BTreeMap::new();
    for (&(kind, key, stage), &added) in per_context {
        let cohorts_now = now.get(&(kind, key, stage)).copied().unwrap_or(added);
        if cohorts_now >= 2 && cohorts_now - added < 2 {
            *crossed.entry(stage).or_default() += 1;
        }
    }
    crossed
}

/// Counts the tallies again from `release_exposures`, after exposures were deleted. On
/// PostgreSQL the caller holds [`lock_tallies`] from before its deletion.
pub(super) async fn recount(tx: &mut Tx<'_>) -> Result<()> {
    // Statement by statement: `raw_sql`'s future is not `Send`.
    for statement in [
        "DELETE FROM release_stage_contexts",
        "INSERT INTO release_stage_contexts (project, env, flag, stage, cohort, contexts) \
         SELECT project, env, flag, stage, cohort, COUNT(*) FROM release_exposures \
         GROUP BY project, env, flag, stage, cohort",
        "DELETE FROM release_stage_crossed",
        "INSERT INTO release_stage_crossed (project, env, flag, stage, contexts) \
         SELECT project, env, flag, stage, SUM(CASE WHEN cohorts > 1 THEN 1 ELSE 0 END) \
         FROM (SELECT project, env, flag, stage, COUNT(*) AS cohorts FROM release_exposures \
         GROUP BY project, env, context_kind, context_key, flag, stage) AS per_context \
         GROUP BY project, env, flag, stage",
    ] {
        sqlx::query(statement).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Keeps batches from counting into the tallies until the transaction ends (PostgreSQL; SQLite
/// writes one transaction at a time anyway).
pub(super) async fn lock_tallies(tx: &mut Tx<'_>, backend: Backend) -> Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("LOCK TABLE release_stage_crossed, release_stage_contexts IN EXCLUSIVE MODE")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
