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

use sqlx::error::BoxDynError;
use switchyard_stats::histogram::bucket_of;

use super::history::History;
use super::multi_row::{Script, Values};
use super::{EventBatch, MetricEvent, MetricMoments, ReleaseTag, minute_of};
use crate::Result;

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

/// (flag, release cohort, metric, histogram bucket).
type HistogramRow = (String, ReleaseTag, String, i32);

/// A batch's metric events attributed to cohorts and summed: the aggregate rows they add to.
pub(super) struct MetricSums {
    sums: Sums,
    /// How many events reached a cohort.
    pub(super) attributed: u64,
}

/// Attributes the batch's metric events to cohorts by the `history` of their contexts (the
/// batch's own exposures included) and sums them. Without `releases_seen`, no release cohorts
/// are looked for. Reads and writes nothing, so it may run while the database writes.
pub(super) fn attribute(batch: &EventBatch, history: &History, releases_seen: bool) -> MetricSums {
    let mut sums = Sums::default();
    let mut attributed = 0;
    for event in &batch.metrics {
        let reached = match &event.about {
            Some(_) => attribute_subject_event(history, batch, event, releases_seen, &mut sums),
            None => attribute_by_exposures(history, batch, event, releases_seen, &mut sums),
        };
        attributed += u64::from(reached);
    }
    MetricSums { sums, attributed }
}

impl MetricSums {
    /// Adds the upserts of the sums' rows to `script`.
    pub(super) fn add_to<'q>(
        &'q self,
        script: &mut Script<'q>,
        batch: &'q EventBatch,
    ) -> Result<()> {
        let releases: Vec<_> = self.sums.releases.iter().collect();
        script.upsert(
            "release_metrics (project, env, flag, stage, cohort, metric, count, sum, sum_sq)",
            "ON CONFLICT (project, env, flag, stage, cohort, metric) DO UPDATE SET \
             count = release_metrics.count + excluded.count, \
             sum = release_metrics.sum + excluded.sum, \
             sum_sq = release_metrics.sum_sq + excluded.sum_sq",
            9,
            &releases,
            |values, &((flag, release, metric), moments)| {
                add_release_key(values, batch, flag, release, metric)?;
                moments.add_to(values)
            },
        )?;
        let histograms: Vec<_> = self.sums.histograms.iter().collect();
        script.upsert(
            "release_histograms (project, env, flag, stage, cohort, metric, bucket, count)",
            "ON CONFLICT (project, env, flag, stage, cohort, metric, bucket) \
             DO UPDATE SET count = release_histograms.count + excluded.count",
            8,
            &histograms,
            |values, &((flag, release, metric, bucket), count)| {
                add_release_key(values, batch, flag, release, metric)?;
                values.int(i64::from(*bucket))?.int(*count)?;
                Ok(())
            },
        )?;
        let variations: Vec<_> = self.sums.variations.iter().collect();
        script.upsert(
            "metric_aggregates (project, env, metric, flag, variation, minute, count, sum, sum_sq)",
            "ON CONFLICT (project, env, metric, flag, variation, minute) DO UPDATE SET \
             count = metric_aggregates.count + excluded.count, \
             sum = metric_aggregates.sum + excluded.sum, \
             sum_sq = metric_aggregates.sum_sq + excluded.sum_sq",
            9,
            &variations,
            |values, &((metric, flag, variation, minute), moments)| {
                values
                    .text(&batch.project)?
                    .text(&batch.env)?
                    .text(metric)?;
                values.text(flag)?.text(variation)?.int(*minute)?;
                moments.add_to(values)
            },
        )
    }
}

/// Adds the key a release metric row and a release histogram row start with: project, env,
/// flag, stage, cohort, metric.
fn add_release_key<'q>(
    values: &mut Values<'q>,
    batch: &'q EventBatch,
    flag: &'q str,
    release: &'q ReleaseTag,
    metric: &'q str,
) -> std::result::Result<(), BoxDynError> {
    values.text(&batch.project)?.text(&batch.env)?.text(flag)?;
    values
        .text(&release.stage)?
        .text(&release.cohort)?
        .text(metric)?;
    Ok(())
}

/// An event without a subject: every flag its contexts were exposed to by then.
fn attribute_by_exposures(
    history: &History,
    batch: &EventBatch,
    event: &MetricEvent,
    releases_seen: bool,
    sums: &mut Sums,
) -> bool {
    // flag → (first seen, variation) of the latest exposure at or before the event.
    let mut cohorts: HashMap<&str, (i64, &str)> = HashMap::new();
    for part in &event.contexts {
        for (flag, variation, first_seen) in history.exposures_of(part, event.at_ms) {
            let latest = cohorts.entry(flag).or_insert((i64::MIN, ""));
            if (*first_seen, variation.as_str()) > *latest {
                *latest = (*first_seen, variation);
            }
        }
    }
    cohorts.retain(|flag, _| batch.counts_toward(flag));
    let reached = !cohorts.is_empty();
    for (flag, (_, variation)) in cohorts {
        sums.add_variation(event, flag.to_owned(), variation.to_owned());
    }
    if releases_seen {
        for (flag, release) in history.release_cohorts_at(&event.contexts, event.at_ms, None) {
            if batch.counts_toward(&flag) {
                sums.add_release(event, flag, release);
            }
        }
    }
    reached
}

/// An event about one flag evaluation: that flag only, its variation as reported.
fn attribute_subject_event(
    history: &History,
    batch: &EventBatch,
    event: &MetricEvent,
    releases_seen: bool,
    sums: &mut Sums,
) -> bool {
    let Some(subject) = &event.about else {
        return false;
    };
    if !batch.counts_toward(&subject.flag) {
        return false;
    }
    sums.add_variation(event, subject.flag.clone(), subject.variation.clone());
    let exposed = if releases_seen {
        history
            .release_cohorts_at(&event.contexts, event.at_ms, Some(&subject.flag))
            .remove(&subject.flag)
    } else {
        None
    };
    if let Some(release) = exposed.or_else(|| subject.release.clone()) {
        sums.add_release(event, subject.flag.clone(), release);
    }
    true
}
