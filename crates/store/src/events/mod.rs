//! Evaluation and metric events, stored as aggregates (`docs/events.md`):
//! - `evaluation_counts`: evaluations per environment × flag × version × variation × reason ×
//!   minute;
//! - `exposures`: one row per context × flag × variation, with first and last sight;
//! - `metric_aggregates`: count, sum and sum of squares per metric × flag × variation cohort ×
//!   minute, where a metric event's cohort for a flag is the variation the context was most
//!   recently exposed to at or before the event;
//! - `release_counts`, `release_exposures`, `release_metrics`: the same three per release
//!   stage and cohort, for guardrails, with the exposed contexts tallied per stage
//!   (`release_tallies.rs`). A metric event counts toward the cohort of the latest
//!   release stage the context was exposed to at or before the event;
//! - `release_histograms`: per release stage, cohort and metric, the values counted per
//!   histogram bucket (`switchyard_stats::histogram`), for the cohorts' quantiles.
//!
//! A metric event [`about`](MetricEvent::about) one flag evaluation (telemetry) is attributed
//! differently: see `metrics.rs`.
//!
//! **Invariant:** a batch is written in one transaction: all of it or none of it.

use std::collections::{BTreeMap, BTreeSet};

use switchyard_stats::Histogram;

use sqlx::error::BoxDynError;

use crate::writer::{GroupPlace, Step};
use crate::{Backend, Result, Store};
use exposure_rows::ExposureWrites;
use history::History;
use multi_row::Script;
use release_tallies::Additions;

mod batch_ids;
mod experiment_ingest;
pub mod experiments;
mod exposure_rows;
mod history;
mod metrics;
mod multi_row;
mod placeholders;
mod queries;
mod release_tallies;
mod usage;

pub use batch_ids::Ingested;
pub use experiments::{
    ArmTotals, DailyTotals, ExperimentTag, ExperimentTotals, MetricTag, MetricTotals, Moments,
    StoppedExperiment,
};
pub use usage::FlagUsage;

const MINUTE_MS: i64 = 60_000;

/// The minute (its first millisecond) that `at_ms` falls in.
pub fn minute_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// One context part of an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContextPart {
    pub kind: String,
    pub key: String,
}

/// Evaluations counted by an SDK over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationCount {
    pub flag: String,
    pub version: i64,
    /// `""`: the caller's default was served.
    pub variation: String,
    pub reason: String,
    pub release: Option<ReleaseTag>,
    pub count: i64,
}

/// The release stage and cohort an evaluation or exposure fell in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReleaseTag {
    pub stage: String,
    pub cohort: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub at_ms: i64,
    pub contexts: Vec<ContextPart>,
    pub flag: String,
    pub version: i64,
    pub variation: String,
    pub reason: String,
    pub release: Option<ReleaseTag>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricEvent {
    pub at_ms: i64,
    pub contexts: Vec<ContextPart>,
    pub name: String,
    pub value: f64,
    /// Set when the event is about one flag evaluation (an OpenTelemetry span that carries a
    /// `feature_flag.evaluation` event): it counts toward that flag only.
    pub about: Option<MetricSubject>,
}

/// The flag evaluation a metric event is about, as its reporter saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSubject {
    pub flag: String,
    /// The variation the evaluation served: the event's variation cohort, whatever the
    /// context's exposures say.
    pub variation: String,
    /// The release stage and cohort the server resolved from the variation alone, when it is
    /// unambiguous. Used when the event's contexts (possibly none) were never exposed to the
    /// flag's release; `None` then leaves the event unattributed, never guessed.
    pub release: Option<ReleaseTag>,
}

/// One intake batch for one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBatch {
    pub project: String,
    pub env: String,
    /// The minute the evaluation counts are filed under (the end of the SDK's window).
    pub counted_at_ms: i64,
    pub counts: Vec<EvaluationCount>,
    pub exposures: Vec<Exposure>,
    pub metrics: Vec<MetricEvent>,
    /// When set, metric events count only toward these flags' cohorts (a public client key's
    /// batch counts toward client-visible flags only).
    pub metric_flags: Option<BTreeSet<String>>,
    /// The environment's running experiments whose units and metrics this batch may add to
    /// (`experiments.rs`); empty costs nothing.
    pub experiments: Vec<ExperimentTag>,
}

/// A row of a flag's evaluation time series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationBucket {
    pub minute_ms: i64,
    pub version: i64,
    pub variation: String,
    pub reason: String,
    pub count: i64,
}

impl EvaluationBucket {
    /// From the columns `minute, version, variation, reason, count`.
    fn from_columns(
        (minute_ms, version, variation, reason, count): (i64, i64, String, String, i64),
    ) -> Self {
        EvaluationBucket {
            minute_ms,
            version,
            variation,
            reason,
            count,
        }
    }
}

/// A context exposed to a flag variation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedContext {
    pub kind: String,
    pub key: String,
    pub variation: String,
    pub version: i64,
    pub reason: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// The columns an [`ExposedContext`] is read from: `context_kind, context_key, variation,
/// version, reason, first_seen, last_seen`.
type ExposedColumns = (String, String, String, i64, String, i64, i64);

impl ExposedContext {
    fn from_columns(
        (kind, key, variation, version, reason, first_seen_ms, last_seen_ms): ExposedColumns,
    ) -> Self {
        ExposedContext {
            kind,
            key,
            variation,
            version,
            reason,
            first_seen_ms,
            last_seen_ms,
        }
    }
}

/// A metric's aggregate over one cohort (variation) of a flag.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortAggregate {
    pub metric: String,
    pub variation: String,
    pub count: i64,
    pub sum: f64,
    pub sum_of_squares: f64,
}

impl CohortAggregate {
    /// From the columns `metric, variation, count, sum, sum of squares`.
    fn from_columns(
        (metric, variation, count, sum, sum_of_squares): (String, String, i64, f64, f64),
    ) -> Self {
        CohortAggregate {
            metric,
            variation,
            count,
            sum,
            sum_of_squares,
        }
    }
}

/// What one release stage has seen, per cohort (`audience`, `treated`, `control`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageCohorts {
    /// cohort → evaluations.
    pub evaluations: BTreeMap<String, i64>,
    /// cohort → distinct context parts exposed.
    pub contexts: BTreeMap<String, i64>,
    /// Context parts exposed in more than one cohort of the stage.
    pub crossed_contexts: i64,
    /// (metric, cohort) → aggregate.
    pub metrics: BTreeMap<(String, String), MetricMoments>,
    /// (metric, cohort) → the distribution of its values (1 % relative accuracy).
    pub histograms: BTreeMap<(String, String), Histogram>,
}

/// Count, sum and sum of squares of a metric's values.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct MetricMoments {
    pub count: i64,
    pub sum: f64,
    pub sum_of_squares: f64,
}

impl MetricMoments {
    fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.sum_of_squares += value * value;
    }
}

/// Which rows a query reads: one flag of one environment, `from_ms <= t < to_ms`.
#[derive(Debug, Clone, Copy)]
pub struct FlagRange<'a> {
    pub project: &'a str,
    pub env: &'a str,
    pub flag: &'a str,
    pub from_ms: i64,
    pub to_ms: i64,
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;
/// A query whose rows are read as `O` (a tuple of the selected columns, in order).
type AnyQueryAs<'q, O> = sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>;

impl EventBatch {
    /// A statement on the batch's environment, with `$1` and `$2` bound to its project and env.
    fn statement<'q>(&'q self, sql: &'q str) -> AnyQuery<'q> {
        sqlx::query(sql).bind(&self.project).bind(&self.env)
    }
}

impl MetricMoments {
    /// Adds the count, sum and sum of squares as a row's next three values.
    fn add_to(&self, values: &mut multi_row::Values<'_>) -> std::result::Result<(), BoxDynError> {
        values
            .int(self.count)?
            .real(self.sum)?
            .real(self.sum_of_squares)?;
        Ok(())
    }
}

impl<'a> FlagRange<'a> {
    /// A per-minute aggregate query with `$1`…`$5` bound: project, env, flag, and the range
    /// widened to the minute `from_ms` falls in.
    fn select_by_minute<'q, O>(&self, sql: &'q str) -> AnyQueryAs<'q, O>
    where
        'a: 'q,
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as(sql)
            .bind(self.project)
            .bind(self.env)
            .bind(self.flag)
            .bind(minute_of(self.from_ms))
            .bind(self.to_ms)
    }
}

impl Store {
    /// Writes a batch atomically; returns how many metric events were attributed to a cohort.
    /// A batch with its sender's id goes through [`Store::ingest_events_once`] instead.
    pub async fn ingest_events(&self, batch: &EventBatch) -> Result<u64> {
        let exposures = ExposureWrites::of(self.backend, batch)?;
        let mut place = self.batch_place().await?;
        let written = async {
            let attributed = self.write_batch(place.tx()?, batch, exposures).await?;
            Ok(Step::Keep(attributed))
        }
        .await;
        place.finish(written).await
    }

    /// Where one batch is written: a transaction of its own (PostgreSQL, where batches write
    /// concurrently) or its place in SQLite's group of batches (`writer.rs`).
    pub(super) async fn batch_place(&self) -> Result<BatchPlace<'_>> {
        Ok(match self.backend {
            Backend::Sqlite => BatchPlace::Group(self.sqlite_writer.place(&self.group_pool).await?),
            Backend::Postgres => BatchPlace::Own(self.group_pool.begin().await?),
        })
    }
    /// Adds a batch to the aggregates within `tx`, its `exposures` as built before its turn to
    /// write; returns how many metric events were attributed to a cohort.
    async fn write_batch<'b>(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        batch: &'b EventBatch,
        exposures: ExposureWrites<'b>,
    ) -> Result<u64> {
        // Most environments have no release running: one probe spares every metric event a
        // second lookup. The tallies count every release exposure (`release_tallies.rs`), and
        // their key, unlike `release_exposures`', starts with the project and env.
        let releases_seen = batch.exposures.iter().any(|e| e.release.is_some())
            || (!batch.metrics.is_empty()
                && batch
                    .statement(
                        "SELECT 1 FROM release_stage_contexts \
                         WHERE project = $1 AND env = $2 AND contexts > 0 LIMIT 1",
                    )
                    .fetch_optional(&mut **tx)
                    .await?
                    .is_some());
        let mut history = History::load(tx, self.backend, batch, releases_seen).await?;
        // What the rest of the batch writes is worked out from its history alone, so that Rust
        // runs while the database writes the exposures: on SQLite the write turn is one batch's
        // at a time, and the work beside it is taken out of the turn.
        let sqlite = self.backend == Backend::Sqlite;
        let (stored, (sums, tallies)) = tokio::join!(
            biased;
            exposures.write(tx, self.backend, batch),
            async {
                let new_in_history = history.add(batch);
                let sums = metrics::attribute(batch, &history, releases_seen);
                // On SQLite the history holds what the table does (see `history.rs`).
                let tallies = sqlite.then(|| Additions::in_history(&new_in_history, &history));
                (sums, tallies)
            },
        );
        let tallies = match stored? {
            // PostgreSQL: the release exposures the database says the batch added.
            Some(added) => Additions::in_store(tx, self.backend, batch, &added).await?,
            None => tallies.unwrap_or_default(),
        };
        self.write_experiments(tx, batch).await?;
        // Last, in one script: every batch adds to the same few summary rows, and on PostgreSQL
        // a batch holds their locks from its upsert until it commits, so concurrent batches wait
        // on each other only for the end of a transaction, not all of it.
        let minute = minute_of(batch.counted_at_ms);
        let (releases, evaluations) = summary_rows(&batch.counts);
        let releases: Vec<_> = releases.into_iter().collect();
        let evaluations: Vec<_> = evaluations.into_iter().collect();
        let mut summaries = Script::new(self.backend);
        tallies.add_to(&mut summaries, batch)?;
        sums.add_to(&mut summaries, batch)?;
        summaries.upsert(
            "release_counts (project, env, flag, stage, cohort, evaluations)",
            "ON CONFLICT (project, env, flag, stage, cohort) \
             DO UPDATE SET evaluations = release_counts.evaluations + excluded.evaluations",
            6,
            &releases,
            |values, ((flag, stage, cohort), evaluations)| {
                values.text(&batch.project)?.text(&batch.env)?.text(flag)?;
                values.text(stage)?.text(cohort)?.int(*evaluations)?;
                Ok(())
            },
        )?;
        summaries.upsert(
            "evaluation_counts (project, env, flag, version, variation, reason, minute, count)",
            "ON CONFLICT (project, env, flag, version, variation, reason, minute) \
             DO UPDATE SET count = evaluation_counts.count + excluded.count",
            8,
            &evaluations,
            |values, ((flag, version, variation, reason), count)| {
                values.text(&batch.project)?.text(&batch.env)?.text(flag)?;
                values.int(*version)?.text(variation)?.text(reason)?;
                values.int(minute)?.int(*count)?;
                Ok(())
            },
        )?;
        summaries.run(tx).await?;
        Ok(sums.attributed)
    }
}

/// See [`Store::batch_place`].
pub(super) enum BatchPlace<'w> {
    Own(sqlx::Transaction<'static, sqlx::Any>),
    Group(GroupPlace<'w>),
}

impl BatchPlace<'_> {
    pub(super) fn tx(&mut self) -> Result<&mut sqlx::Transaction<'static, sqlx::Any>> {
        match self {
            BatchPlace::Own(tx) => Ok(tx),
            BatchPlace::Group(place) => place.tx(),
        }
    }

    /// Commits what the batch kept (or rolls back what it discards), and answers.
    pub(super) async fn finish<T>(self, written: Result<Step<T>>) -> Result<T> {
        match (self, written) {
            (BatchPlace::Group(place), written) => place.finish(written).await,
            (BatchPlace::Own(tx), Ok(Step::Keep(answer))) => {
                tx.commit().await?;
                Ok(answer)
            }
            (BatchPlace::Own(tx), Ok(Step::Discard(answer))) => {
                tx.rollback().await?;
                Ok(answer)
            }
            // Dropping the transaction rolls it back.
            (BatchPlace::Own(_), Err(error)) => Err(error),
        }
    }
}

type ReleaseKey<'a> = (&'a str, &'a str, &'a str);
type EvaluationKey<'a> = (&'a str, i64, &'a str, &'a str);

/// The batch's counts merged per row, in key order: concurrent batches (on PostgreSQL) then
/// lock the rows they share in the same order and cannot deadlock, whatever order the SDK's
/// hash map handed them in.
fn summary_rows(
    counts: &[EvaluationCount],
) -> (
    BTreeMap<ReleaseKey<'_>, i64>,
    BTreeMap<EvaluationKey<'_>, i64>,
) {
    let mut releases = BTreeMap::new();
    let mut evaluations = BTreeMap::new();
    for count in counts {
        if let Some(release) = &count.release {
            let total: &mut i64 = releases
                .entry((
                    count.flag.as_str(),
                    release.stage.as_str(),
                    release.cohort.as_str(),
                ))
                .or_default();
            *total = total.saturating_add(count.count); // counts are input: no overflow panic
        }
        let total: &mut i64 = evaluations
            .entry((
                count.flag.as_str(),
                count.version,
                count.variation.as_str(),
                count.reason.as_str(),
            ))
            .or_default();
        *total = total.saturating_add(count.count); // counts are input: no overflow panic
    }
    (releases, evaluations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(flag: &str, variation: &str, cohort: Option<&str>, count: i64) -> EvaluationCount {
        EvaluationCount {
            flag: flag.to_owned(),
            version: 1,
            variation: variation.to_owned(),
            reason: "FALLTHROUGH".to_owned(),
            release: cohort.map(|cohort| ReleaseTag {
                stage: "canary".to_owned(),
                cohort: cohort.to_owned(),
            }),
            count,
        }
    }

    #[test]
    fn summary_rows_are_merged_and_in_key_order() {
        let counts = [
            count("b", "on", Some("treatment"), 2),
            count("a", "off", None, 1),
            count("b", "on", Some("treatment"), 3),
            count("a", "on", Some("control"), 4),
        ];
        let (releases, evaluations) = summary_rows(&counts);
        let releases: Vec<_> = releases.into_iter().collect();
        assert_eq!(
            releases,
            vec![
                (("a", "canary", "control"), 4),
                (("b", "canary", "treatment"), 5)
            ]
        );
        let evaluations: Vec<_> = evaluations.into_iter().collect();
        assert_eq!(
            evaluations,
            vec![
                (("a", 1, "off", "FALLTHROUGH"), 1),
                (("a", 1, "on", "FALLTHROUGH"), 4),
                (("b", 1, "on", "FALLTHROUGH"), 5)
            ]
        );
    }
}
