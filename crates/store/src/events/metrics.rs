//! Metric events to cohorts, within a batch's transaction.
//!
//! An event without [`about`](MetricEvent::about) counts toward every flag its contexts were
//! exposed to at or before it: the variation cohort of the latest exposure to each flag, and
//! the release cohort of the latest release exposure to each flag.
//!
//! An event `about` one flag evaluation (an OpenTelemetry span) counts toward that flag only:
//! - variation cohort: the subject's variation (the reporter saw what was served), exposed or
//!   not;
//! - release cohort: the latest release exposure of its contexts to that flag at or before the
//!   event; else the subject's `release` (resolved from the variation alone); else none.
//!
//! Either way `metric_flags`, when set, limits the flags an event may count toward, and an
//! event is *attributed* when it reached any cohort.

use std::collections::{BTreeMap, HashMap};

use switchyard_stats::histogram::bucket_of;

use super::{ContextPart, EventBatch, MetricEvent, MetricMoments, ReleaseTag, minute_of};
use crate::{Result, Store};

/// What `part` had been exposed to, per flag and variation, by `$5`.
const EXPOSURES_SQL: &str = "SELECT flag, variation, first_seen FROM exposures \
     WHERE project = $1 AND env = $2 AND context_kind = $3 AND context_key = $4 \
     AND first_seen <= $5";
/// What release stages and cohorts `part` had been exposed to, per flag, by `$5`.
const RELEASE_EXPOSURES_SQL: &str = "SELECT flag, stage, cohort, first_seen \
     FROM release_exposures \
     WHERE project = $1 AND env = $2 AND context_kind = $3 AND context_key = $4 \
     AND first_seen <= $5";
/// The same for one flag, `$6`.
const FLAG_RELEASE_EXPOSURES_SQL: &str = "SELECT flag, stage, cohort, first_seen \
     FROM release_exposures \
     WHERE project = $1 AND env = $2 AND context_kind = $3 AND context_key = $4 \
     AND first_seen <= $5 AND flag = $6";

/// Histogram rows per statement: a batch of latencies spreads over hundreds of buckets, and one
/// statement per row cost as much as a fifth of the batch's write.
const HISTOGRAM_ROWS_PER_STATEMENT: usize = 100;

/// A batch's metric events summed in memory, so each aggregate row is written once per batch.
#[derive(Default)]
struct Sums {
    /// (metric, flag, variation, minute) → moments.
    variations: BTreeMap<(String, String, String, i64), MetricMoments>,
    /// (flag, release cohort, metric) → moments.
    releases: BTreeMap<(String, ReleaseTag, String), MetricMoments>,
    /// (flag, release cohort, metric, histogram bucket) → values.
    histograms: BTreeMap<HistogramRow, i64>,
}

impl Sums {
    fn add_variation(&mut self, event: &MetricEvent, flag: String, variation: String) {
        self.variations
            .entry((event.name.clone(), flag, variation, minute_of(event.at_ms)))
            .or_default()
            .add(event.value);
    }

    fn add_release(&mut self, event: &MetricEvent, flag: String, release: ReleaseTag) {
        // Intake refuses values that are not finite, the only ones without a bucket.
        if let Some(bucket) = bucket_of(event.value) {
            *self
                .histograms
                .entry((flag.clone(), release.clone(), event.name.clone(), bucket))
                .or_default() += 1;
        }
        self.releases
            .entry((flag, release, event.name.clone()))
            .or_default()
            .add(event.value);
    }
}

impl EventBatch {
    /// Whether the batch's metric events may count toward `flag`.
    fn counts_toward(&self, flag: &str) -> bool {
        self.metric_flags
            .as_ref()
            .is_none_or(|allowed| allowed.contains(flag))
    }
}

type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;
/// (flag, release cohort, metric, histogram bucket).
type HistogramRow = (String, ReleaseTag, String, i32);

impl Store {
    /// Attributes the batch's metric events to cohorts and writes the sums (after the batch's
    /// exposures, so they are seen); returns how many events reached a cohort.
    pub(super) async fn write_metrics(&self, tx: &mut Tx<'_>, batch: &EventBatch) -> Result<u64> {
        let mut sums = Sums::default();
        let mut attributed = 0;
        // Most environments have no release running: one probe spares every metric event a
        // second lookup (the batch's own release exposures are already written, so it sees them).
        let releases_seen = !batch.metrics.is_empty()
            && batch
                .statement(
                    "SELECT 1 FROM release_exposures WHERE project = $1 AND env = $2 LIMIT 1",
                )
                .fetch_optional(&mut **tx)
                .await?
                .is_some();
        for event in &batch.metrics {
            let reached = match &event.about {
                Some(_) => {
                    self.attribute_subject_event(tx, batch, event, releases_seen, &mut sums)
                        .await?
                }
                None => {
                    self.attribute_by_exposures(tx, batch, event, releases_seen, &mut sums)
                        .await?
                }
            };
            attributed += u64::from(reached);
        }
        for ((flag, release, metric), moments) in sums.releases {
            let insert = batch
                .statement(
                    "INSERT INTO release_metrics \
                     (project, env, flag, stage, cohort, metric, count, sum, sum_sq) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (project, env, flag, stage, cohort, metric) DO UPDATE SET \
                     count = release_metrics.count + excluded.count, \
                     sum = release_metrics.sum + excluded.sum, \
                     sum_sq = release_metrics.sum_sq + excluded.sum_sq",
                )
                .bind(&flag)
                .bind(&release.stage)
                .bind(&release.cohort)
                .bind(&metric);
            moments.bind_to(insert).execute(&mut **tx).await?;
        }
        write_histograms(tx, batch, sums.histograms).await?;
        for ((metric, flag, variation, minute), moments) in sums.variations {
            let insert = batch
                .statement(
                    "INSERT INTO metric_aggregates \
                     (project, env, metric, flag, variation, minute, count, sum, sum_sq) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (project, env, metric, flag, variation, minute) DO UPDATE SET \
                     count = metric_aggregates.count + excluded.count, \
                     sum = metric_aggregates.sum + excluded.sum, \
                     sum_sq = metric_aggregates.sum_sq + excluded.sum_sq",
                )
                .bind(&metric)
                .bind(&flag)
                .bind(&variation)
                .bind(minute);
            moments.bind_to(insert).execute(&mut **tx).await?;
        }
        Ok(attributed)
    }

    /// An event without a subject: every flag its contexts were exposed to by then.
    async fn attribute_by_exposures(
        &self,
        tx: &mut Tx<'_>,
        batch: &EventBatch,
        event: &MetricEvent,
        releases_seen: bool,
        sums: &mut Sums,
    ) -> Result<bool> {
        // flag → (first seen, variation) of the latest exposure at or before the event.
        let mut cohorts: HashMap<String, (i64, String)> = HashMap::new();
        for part in &event.contexts {
            let rows: Vec<(String, String, i64)> = batch
                .exposures_by(EXPOSURES_SQL, part, event.at_ms)
                .fetch_all(&mut **tx)
                .await?;
            for (flag, variation, first_seen) in rows {
                let latest = cohorts.entry(flag).or_insert((i64::MIN, String::new()));
                if (first_seen, &variation) > (latest.0, &latest.1) {
                    *latest = (first_seen, variation);
                }
            }
        }
        cohorts.retain(|flag, _| batch.counts_toward(flag));
        let reached = !cohorts.is_empty();
        for (flag, (_, variation)) in cohorts {
            sums.add_variation(event, flag, variation);
        }
        if releases_seen {
            for (flag, release) in self.release_cohorts_at(tx, batch, event, None).await? {
                if batch.counts_toward(&flag) {
                    sums.add_release(event, flag, release);
                }
            }
        }
        Ok(reached)
    }

    /// An event about one flag evaluation: that flag only, its variation as reported.
    async fn attribute_subject_event(
        &self,
        tx: &mut Tx<'_>,
        batch: &EventBatch,
        event: &MetricEvent,
        releases_seen: bool,
        sums: &mut Sums,
    ) -> Result<bool> {
        let Some(subject) = &event.about else {
            return Ok(false);
        };
        if !batch.counts_toward(&subject.flag) {
            return Ok(false);
        }
        sums.add_variation(event, subject.flag.clone(), subject.variation.clone());
        let exposed = if releases_seen {
            self.release_cohorts_at(tx, batch, event, Some(&subject.flag))
                .await?
                .remove(&subject.flag)
        } else {
            None
        };
        if let Some(release) = exposed.or_else(|| subject.release.clone()) {
            sums.add_release(event, subject.flag.clone(), release);
        }
        Ok(true)
    }

    /// flag → the release stage and cohort the event's contexts were most recently exposed to
    /// at or before the event (only `flag`, when given).
    async fn release_cohorts_at(
        &self,
        tx: &mut Tx<'_>,
        batch: &EventBatch,
        event: &MetricEvent,
        flag: Option<&str>,
    ) -> Result<HashMap<String, ReleaseTag>> {
        let mut latest: HashMap<String, (i64, ReleaseTag)> = HashMap::new();
        for part in &event.contexts {
            let rows = release_exposures_of(tx, batch, part, event.at_ms, flag).await?;
            for (flag, stage, cohort, seen) in rows {
                let tag = ReleaseTag { stage, cohort };
                let slot = latest.entry(flag).or_insert_with(|| (seen, tag.clone()));
                if (seen, &tag.stage, &tag.cohort) > (slot.0, &slot.1.stage, &slot.1.cohort) {
                    *slot = (seen, tag);
                }
            }
        }
        Ok(latest
            .into_iter()
            .map(|(flag, (_, tag))| (flag, tag))
            .collect())
    }
}

/// `part`'s release exposures at or before `at_ms`: (flag, stage, cohort, first seen).
async fn release_exposures_of(
    tx: &mut Tx<'_>,
    batch: &EventBatch,
    part: &ContextPart,
    at_ms: i64,
    flag: Option<&str>,
) -> Result<Vec<(String, String, String, i64)>> {
    Ok(match flag {
        Some(flag) => {
            batch
                .exposures_by(FLAG_RELEASE_EXPOSURES_SQL, part, at_ms)
                .bind(flag)
                .fetch_all(&mut **tx)
                .await?
        }
        None => {
            batch
                .exposures_by(RELEASE_EXPOSURES_SQL, part, at_ms)
                .fetch_all(&mut **tx)
                .await?
        }
    })
}

/// Adds the batch's histogram counts, several rows per statement (each key once per batch, as
/// PostgreSQL's `ON CONFLICT` requires of one statement).
async fn write_histograms(
    tx: &mut Tx<'_>,
    batch: &EventBatch,
    histograms: BTreeMap<HistogramRow, i64>,
) -> Result<()> {
    let rows: Vec<(HistogramRow, i64)> = histograms.into_iter().collect();
    for chunk in rows.chunks(HISTOGRAM_ROWS_PER_STATEMENT) {
        // $1 and $2 are the batch's project and env; six parameters per row after them.
        let values: Vec<String> = (0..chunk.len())
            .map(|row| {
                let p = 3 + 6 * row;
                format!(
                    "($1, $2, ${}, ${}, ${}, ${}, ${}, ${})",
                    p,
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO release_histograms \
             (project, env, flag, stage, cohort, metric, bucket, count) VALUES {} \
             ON CONFLICT (project, env, flag, stage, cohort, metric, bucket) \
             DO UPDATE SET count = release_histograms.count + excluded.count",
            values.join(", ")
        );
        let mut insert = batch.statement(&sql);
        for ((flag, release, metric, bucket), count) in chunk {
            insert = insert
                .bind(flag)
                .bind(&release.stage)
                .bind(&release.cohort)
                .bind(metric)
                .bind(i64::from(*bucket))
                .bind(*count);
        }
        insert.execute(&mut **tx).await?;
    }
    Ok(())
}
