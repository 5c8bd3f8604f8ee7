//! Reading the event aggregates: a release stage's cohorts (with their histograms), a flag's evaluation series, its
//! exposed contexts and metric cohorts; and pruning old exposures.

use std::collections::BTreeMap;

use switchyard_stats::Histogram;

use super::release_tallies;
use super::{
    AnyQueryAs, CohortAggregate, EvaluationBucket, ExposedContext, FlagRange, MetricMoments,
    StageCohorts,
};
use crate::{Result, Store};

const COUNTS_SQL: &str = "SELECT cohort, evaluations FROM release_counts \
     WHERE project = $1 AND env = $2 AND flag = $3 AND stage = $4";
const CONTEXTS_SQL: &str = "SELECT cohort, contexts FROM release_stage_contexts \
     WHERE project = $1 AND env = $2 AND flag = $3 AND stage = $4";
/// Context parts exposed in more than one cohort of the stage.
const CROSSED_SQL: &str = "SELECT contexts FROM release_stage_crossed \
     WHERE project = $1 AND env = $2 AND flag = $3 AND stage = $4";
const METRICS_SQL: &str = "SELECT metric, cohort, count, sum, sum_sq FROM release_metrics \
     WHERE project = $1 AND env = $2 AND flag = $3 AND stage = $4";
const HISTOGRAMS_SQL: &str = "SELECT metric, cohort, bucket, count FROM release_histograms \
     WHERE project = $1 AND env = $2 AND flag = $3 AND stage = $4";

/// A release stage query with `$1`…`$4` bound: project, env, flag, stage.
fn select_stage<'q, O>(
    sql: &'q str,
    (project, env, flag, stage): (&'q str, &'q str, &'q str, &'q str),
) -> AnyQueryAs<'q, O>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    sqlx::query_as(sql)
        .bind(project)
        .bind(env)
        .bind(flag)
        .bind(stage)
}

impl Store {
    /// What a release stage has seen so far, per cohort.
    pub async fn stage_cohorts(
        &self,
        project: &str,
        env: &str,
        flag: &str,
        stage: &str,
    ) -> Result<StageCohorts> {
        let stage = (project, env, flag, stage);
        let evaluations: Vec<(String, i64)> = select_stage(COUNTS_SQL, stage)
            .fetch_all(&self.pool)
            .await?;
        let contexts: Vec<(String, i64)> = select_stage(CONTEXTS_SQL, stage)
            .fetch_all(&self.pool)
            .await?;
        let crossed: Option<(i64,)> = select_stage(CROSSED_SQL, stage)
            .fetch_optional(&self.pool)
            .await?;
        let metrics: Vec<(String, String, i64, f64, f64)> = select_stage(METRICS_SQL, stage)
            .fetch_all(&self.pool)
            .await?;
        let buckets: Vec<(String, String, i64, i64)> = select_stage(HISTOGRAMS_SQL, stage)
            .fetch_all(&self.pool)
            .await?;
        let mut histograms: BTreeMap<(String, String), Histogram> = BTreeMap::new();
        for (metric, cohort, bucket, count) in buckets {
            // Rows this version did not write (keys out of range, negative counts) are skipped.
            if let (Ok(bucket), Ok(count)) = (i32::try_from(bucket), u64::try_from(count)) {
                histograms
                    .entry((metric, cohort))
                    .or_default()
                    .add_to_bucket(bucket, count);
            }
        }
        Ok(StageCohorts {
            evaluations: evaluations.into_iter().collect(),
            contexts: contexts.into_iter().collect(),
            crossed_contexts: crossed.map_or(0, |(contexts,)| contexts),
            metrics: metrics
                .into_iter()
                .map(|(metric, cohort, count, sum, sum_of_squares)| {
                    let moments = MetricMoments {
                        count,
                        sum,
                        sum_of_squares,
                    };
                    ((metric, cohort), moments)
                })
                .collect(),
            histograms,
        })
    }

    /// A flag's evaluations per minute, version, variation and reason, oldest first.
    pub async fn evaluation_series(&self, range: FlagRange<'_>) -> Result<Vec<EvaluationBucket>> {
        let rows = range
            .select_by_minute(
                "SELECT minute, version, variation, reason, count FROM evaluation_counts \
                 WHERE project = $1 AND env = $2 AND flag = $3 AND minute >= $4 AND minute < $5 \
                 ORDER BY minute, version, variation, reason",
            )
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(EvaluationBucket::from_columns)
            .collect())
    }

    /// Contexts exposed to a flag (optionally one variation) and last seen in the range,
    /// most recently seen first.
    pub async fn exposed_contexts(
        &self,
        range: FlagRange<'_>,
        variation: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ExposedContext>> {
        let rows = sqlx::query_as(
            "SELECT context_kind, context_key, variation, version, reason, first_seen, last_seen \
             FROM exposures WHERE project = $1 AND env = $2 AND flag = $3 \
             AND last_seen >= $4 AND first_seen < $5 AND ($6 = '' OR variation = $6) \
             ORDER BY last_seen DESC, context_kind, context_key LIMIT $7",
        )
        .bind(range.project)
        .bind(range.env)
        .bind(range.flag)
        .bind(range.from_ms)
        .bind(range.to_ms)
        .bind(variation.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ExposedContext::from_columns).collect())
    }

    /// Each metric's count, sum and sum of squares per cohort of a flag over the range.
    pub async fn metric_cohorts(&self, range: FlagRange<'_>) -> Result<Vec<CohortAggregate>> {
        let rows = range
            .select_by_minute(
                "SELECT metric, variation, CAST(SUM(count) AS BIGINT), SUM(sum), SUM(sum_sq) \
                 FROM metric_aggregates \
                 WHERE project = $1 AND env = $2 AND flag = $3 AND minute >= $4 AND minute < $5 \
                 GROUP BY metric, variation ORDER BY metric, variation",
            )
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(CohortAggregate::from_columns)
            .collect())
    }

    /// Forgets exposures last seen before `before_ms` (retention); returns how many.
    pub async fn prune_exposures(&self, before_ms: i64) -> Result<u64> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM exposures WHERE last_seen < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        release_tallies::lock_tallies(&mut tx, self.backend).await?;
        let releases_done = sqlx::query("DELETE FROM release_exposures WHERE first_seen < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        if releases_done.rows_affected() > 0 {
            release_tallies::recount(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
