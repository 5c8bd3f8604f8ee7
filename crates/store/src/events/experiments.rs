//! Experiment data (`docs/events.md`, "Experiment units"): per unit its variation, first exposure
//! and own numbers per metric event, and per arm the sums the statistics need, kept
//! incrementally as batches arrive (`experiment_ingest.rs`) so results read a few rows however
//! many units there are.
//!
//! A *unit* is one context part (kind and key) exposed to the experiment's flag at or after the
//! experiment's start; every part of a multi-part context is a unit of its kind, so arms are
//! reported per unit kind and the server reads the kind its rollout buckets by.
//!
//! Per unit and metric event the store keeps `value_sum`/`value_count` (events within the
//! analysis window `[first exposure, first exposure + window]`) and `pre_sum`/`pre_count` (the
//! CUPED covariate: events in `[start − pre-period, first exposure)`). Per arm and metric the
//! totals hold, over the arm's units, the moments of three per-unit values — converted (0/1),
//! event count and value sum — and of their pre-period twins, plus for a ratio Σ numerator ×
//! denominator ([`Moments`]). [`ArmTotals::aggregate`] turns them into the statistics crate's
//! [`ArmAggregate`].

use std::collections::BTreeMap;

use sqlx::Row;
use switchyard_stats::experiments::{ArmAggregate, MetricKind, PairedSums};

use crate::{Result, Store};

/// At most this many units (exposed or with pre-period values only) are stored per experiment
/// phase; exposures of further units are counted in [`ExperimentTotals::overflow`] only.
pub const MAX_UNITS_PER_EXPERIMENT: u64 = 5_000_000;

/// Unit rows of a stopped experiment are deleted this long after it stopped
/// ([`Store::prune_experiment_units`]); its totals and daily rows are kept.
pub const UNIT_RETENTION_MS: i64 = 90 * 24 * 60 * 60 * 1000;

pub(super) const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A running experiment an intake batch counts toward (the server fills these per batch from the
/// experiment documents of the batch's environment).
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentTag {
    pub id: String,
    /// Starts at 1; a new phase starts the data afresh.
    pub phase: i64,
    /// The flag whose exposures make units.
    pub flag: String,
    /// Exposures before this are not the experiment's.
    pub started_ms: i64,
    /// The metric events counted per unit (the primary, secondary and guardrail metrics).
    pub metrics: Vec<MetricTag>,
    /// How far before the start a unit's events count as its CUPED covariate.
    pub pre_period_ms: i64,
    /// Indices into the batch's `exposures` of exposures to `flag` whose unit is not in the
    /// experiment (the untracked rest of a partial-traffic rollout, or a reason the
    /// experiment's serving cannot give): they make no unit. The server works them out by
    /// the experiment's bucketing, since an exposure does not say `in_experiment`.
    pub outside: Vec<usize>,
}

/// One metric event an experiment counts per unit.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricTag {
    /// The `track` event name.
    pub event: String,
    /// The analysis window after a unit's first exposure.
    pub window_ms: i64,
    /// A ratio metric's denominator event (counted per unit too, in the same window): the totals
    /// then also hold Σ numerator × denominator.
    pub denominator: Option<String>,
}

/// An experiment the server knows is stopped, for [`Store::prune_experiment_units`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedExperiment {
    pub project: String,
    pub env: String,
    pub experiment: String,
    pub stopped_ms: i64,
}

/// Sums over an arm's units of the per-unit values of one metric event. Per unit: `b` = 1 when it
/// has an event in the window (else 0), `c` = its events in the window, `s` = the sum of their
/// values; `pb`, `pc`, `ps` the same over its pre-period events.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    /// Σ b: units converted.
    pub converted: f64,
    /// Σ pb.
    pub pre_converted: f64,
    /// Σ b·pb.
    pub converted_cross: f64,
    /// Σ c.
    pub count_sum: f64,
    /// Σ c².
    pub count_sum_sq: f64,
    /// Σ pc.
    pub pre_count_sum: f64,
    /// Σ pc².
    pub pre_count_sum_sq: f64,
    /// Σ c·pc.
    pub count_cross: f64,
    /// Σ s.
    pub value_sum: f64,
    /// Σ s².
    pub value_sum_sq: f64,
    /// Σ ps.
    pub pre_value_sum: f64,
    /// Σ ps².
    pub pre_value_sum_sq: f64,
    /// Σ s·ps.
    pub value_cross: f64,
    /// Σ s·s_denominator (only on a ratio's numerator × denominator row).
    pub ratio_cross: f64,
}

/// The moment columns of `experiment_totals` and `experiment_daily`, in [`Moments::to_array`]'s
/// order.
pub(super) const MOMENT_COLUMNS: [&str; 14] = [
    "converted",
    "pre_converted",
    "converted_cross",
    "count_sum",
    "count_sum_sq",
    "pre_count_sum",
    "pre_count_sum_sq",
    "count_cross",
    "value_sum",
    "value_sum_sq",
    "pre_value_sum",
    "pre_value_sum_sq",
    "value_cross",
    "ratio_cross",
];

impl Moments {
    pub(super) fn to_array(self) -> [f64; 14] {
        [
            self.converted,
            self.pre_converted,
            self.converted_cross,
            self.count_sum,
            self.count_sum_sq,
            self.pre_count_sum,
            self.pre_count_sum_sq,
            self.count_cross,
            self.value_sum,
            self.value_sum_sq,
            self.pre_value_sum,
            self.pre_value_sum_sq,
            self.value_cross,
            self.ratio_cross,
        ]
    }

    pub(super) fn from_array(a: [f64; 14]) -> Self {
        let [
            converted,
            pre_converted,
            converted_cross,
            count_sum,
            count_sum_sq,
            pre_count_sum,
            pre_count_sum_sq,
            count_cross,
            value_sum,
            value_sum_sq,
            pre_value_sum,
            pre_value_sum_sq,
            value_cross,
            ratio_cross,
        ] = a;
        Moments {
            converted,
            pre_converted,
            converted_cross,
            count_sum,
            count_sum_sq,
            pre_count_sum,
            pre_count_sum_sq,
            count_cross,
            value_sum,
            value_sum_sq,
            pre_value_sum,
            pre_value_sum_sq,
            value_cross,
            ratio_cross,
        }
    }

    /// `self + sign·other`, column by column.
    pub(super) fn add(&mut self, other: &Moments, sign: f64) {
        let mut sum = self.to_array();
        for (a, b) in sum.iter_mut().zip(other.to_array()) {
            *a += sign * b;
        }
        *self = Moments::from_array(sum);
    }
}

/// One metric event's totals in one arm.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricTotals {
    pub moments: Moments,
    /// denominator event → Σ numerator value sum × denominator value sum over the arm's units.
    pub ratio_cross: BTreeMap<String, f64>,
}

/// One arm: the units of one kind first exposed to one variation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArmTotals {
    pub unit_kind: String,
    pub variation: String,
    /// Units in the arm now (never exposed to another variation).
    pub units: i64,
    /// Units first exposed to this variation, then to another: out of every arm.
    pub excluded: i64,
    /// metric event → totals (absent: no unit has an event of it yet, all sums 0).
    pub metrics: BTreeMap<String, MetricTotals>,
}

impl ArmTotals {
    /// The statistics crate's aggregate of `metric` (its `track` event) of `kind`; `denominator`
    /// is a ratio's denominator event. Per unit: proportion 1 when converted, count its events,
    /// mean and ratio the sum of its values. The covariate (the same value over the pre-period) is
    /// always present except for ratios (CUPED does not apply to them).
    pub fn aggregate(
        &self,
        kind: MetricKind,
        metric: &str,
        denominator: Option<&str>,
    ) -> ArmAggregate {
        let empty = MetricTotals::default();
        let totals = self.metrics.get(metric).unwrap_or(&empty);
        let m = &totals.moments;
        let units = u64::try_from(self.units).unwrap_or(0);
        let (sum, sum_sq, covariate) = match kind {
            MetricKind::Proportion => (
                m.converted,
                m.converted,
                paired(m.pre_converted, m.pre_converted, m.converted_cross),
            ),
            MetricKind::Count => (
                m.count_sum,
                m.count_sum_sq,
                paired(m.pre_count_sum, m.pre_count_sum_sq, m.count_cross),
            ),
            MetricKind::Mean | MetricKind::Ratio => (
                m.value_sum,
                m.value_sum_sq,
                paired(m.pre_value_sum, m.pre_value_sum_sq, m.value_cross),
            ),
        };
        if kind == MetricKind::Ratio {
            let den = denominator
                .and_then(|d| self.metrics.get(d))
                .unwrap_or(&empty);
            let cross = denominator
                .and_then(|d| totals.ratio_cross.get(d))
                .copied()
                .unwrap_or(0.0);
            return ArmAggregate {
                units,
                sum,
                sum_sq,
                denominator: paired(den.moments.value_sum, den.moments.value_sum_sq, cross),
                covariate: None,
            };
        }
        ArmAggregate {
            units,
            sum,
            sum_sq,
            denominator: None,
            covariate,
        }
    }
}

fn paired(sum: f64, sum_sq: f64, cross: f64) -> Option<PairedSums> {
    Some(PairedSums { sum, sum_sq, cross })
}

/// An experiment phase's totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExperimentTotals {
    /// Per unit kind and variation, ordered by both.
    pub arms: Vec<ArmTotals>,
    /// Exposures of units not stored because the phase reached [`MAX_UNITS_PER_EXPERIMENT`].
    pub overflow: i64,
    /// Units stored (exposed, excluded or with pre-period values only).
    pub stored: i64,
}

/// The totals as of the end of one UTC day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyTotals {
    /// The day's first millisecond (UTC).
    pub day_ms: i64,
    pub arms: Vec<ArmTotals>,
}

/// The UTC day (its first millisecond) that `at_ms` falls in.
pub fn day_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(DAY_MS) * DAY_MS
}

/// Adds one `experiment_totals`/`experiment_daily` row to `arms`.
fn add_row(
    arms: &mut BTreeMap<(String, String), ArmTotals>,
    row: &sqlx::any::AnyRow,
) -> Result<()> {
    let unit_kind: String = row.try_get("unit_kind")?;
    let variation: String = row.try_get("variation")?;
    let metric: String = row.try_get("metric")?;
    let denominator: String = row.try_get("denominator")?;
    let mut values = [0.0; 14];
    for (value, column) in values.iter_mut().zip(MOMENT_COLUMNS) {
        *value = row.try_get(column)?;
    }
    let moments = Moments::from_array(values);
    let arm = arms
        .entry((unit_kind.clone(), variation.clone()))
        .or_insert_with(|| ArmTotals {
            unit_kind,
            variation,
            ..ArmTotals::default()
        });
    if metric.is_empty() {
        arm.units += row.try_get::<i64, _>("units")?;
        arm.excluded += row.try_get::<i64, _>("excluded")?;
        return Ok(());
    }
    let totals = arm.metrics.entry(metric).or_default();
    if denominator.is_empty() {
        totals.moments.add(&moments, 1.0);
    } else {
        *totals.ratio_cross.entry(denominator).or_default() += moments.ratio_cross;
    }
    Ok(())
}

impl Store {
    /// Stores at most `cap` units per experiment phase instead of [`MAX_UNITS_PER_EXPERIMENT`]
    /// (tests of the cap).
    pub fn with_experiment_unit_cap(mut self, cap: u64) -> Store {
        self.experiment_unit_cap = cap;
        self
    }

    /// An experiment phase's totals per arm and metric: a few rows, however many units.
    pub async fn experiment_totals(
        &self,
        project: &str,
        env: &str,
        experiment: &str,
        phase: i64,
    ) -> Result<ExperimentTotals> {
        let rows = sqlx::query(&format!(
            "SELECT unit_kind, variation, metric, denominator, units, excluded, {} \
             FROM experiment_totals WHERE project = $1 AND env = $2 AND experiment = $3 \
             AND phase = $4",
            MOMENT_COLUMNS.join(", ")
        ))
        .bind(project)
        .bind(env)
        .bind(experiment)
        .bind(phase)
        .fetch_all(&self.pool)
        .await?;
        let mut arms = BTreeMap::new();
        for row in &rows {
            add_row(&mut arms, row)?;
        }
        let head: Option<(i64, i64)> = sqlx::query_as(
            "SELECT stored, overflow FROM experiment_heads \
             WHERE project = $1 AND env = $2 AND experiment = $3 AND phase = $4",
        )
        .bind(project)
        .bind(env)
        .bind(experiment)
        .bind(phase)
        .fetch_optional(&self.pool)
        .await?;
        let (stored, overflow) = head.unwrap_or((0, 0));
        Ok(ExperimentTotals {
            arms: arms.into_values().collect(),
            overflow,
            stored,
        })
    }

    /// The totals as of the end of each UTC day with data, oldest first (cumulative: each day
    /// includes every earlier day). Changes are filed under the day they happened: a unit's
    /// under its first exposure, a value's under its event.
    pub async fn experiment_daily(
        &self,
        project: &str,
        env: &str,
        experiment: &str,
        phase: i64,
    ) -> Result<Vec<DailyTotals>> {
        let rows = sqlx::query(&format!(
            "SELECT day, unit_kind, variation, metric, denominator, units, excluded, {} \
             FROM experiment_daily WHERE project = $1 AND env = $2 AND experiment = $3 \
             AND phase = $4 ORDER BY day",
            MOMENT_COLUMNS.join(", ")
        ))
        .bind(project)
        .bind(env)
        .bind(experiment)
        .bind(phase)
        .fetch_all(&self.pool)
        .await?;
        let mut days = Vec::new();
        let mut running = BTreeMap::new();
        let mut current: Option<i64> = None;
        for row in &rows {
            let day: i64 = row.try_get("day")?;
            if let Some(previous) = current.filter(|previous| *previous != day) {
                days.push(DailyTotals {
                    day_ms: previous,
                    arms: running.values().cloned().collect(),
                });
            }
            current = Some(day);
            add_row(&mut running, row)?;
        }
        if let Some(day_ms) = current {
            days.push(DailyTotals {
                day_ms,
                arms: running.into_values().collect(),
            });
        }
        Ok(days)
    }

    /// Deletes the unit rows of every experiment in `stopped` that stopped at least
    /// [`UNIT_RETENTION_MS`] before `now_ms` (all its phases); totals, daily rows and counts stay.
    /// Returns how many unit rows went. Meant for the hourly retention task.
    pub async fn prune_experiment_units(
        &self,
        stopped: &[StoppedExperiment],
        now_ms: i64,
    ) -> Result<u64> {
        let due: Vec<&StoppedExperiment> = stopped
            .iter()
            .filter(|e| e.stopped_ms.saturating_add(UNIT_RETENTION_MS) <= now_ms)
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        let mut deleted = 0;
        for experiment in due {
            // Once per experiment: the retention task names it every hour from then on, and
            // finding its rows reads the whole table (their keys start with the unit key).
            let unpruned: Option<(i64,)> = sqlx::query_as(
                "SELECT phase FROM experiment_heads WHERE project = $1 AND env = $2 \
                 AND experiment = $3 AND pruned_at IS NULL LIMIT 1",
            )
            .bind(&experiment.project)
            .bind(&experiment.env)
            .bind(&experiment.experiment)
            .fetch_optional(&mut *tx)
            .await?;
            if unpruned.is_none() {
                continue;
            }
            sqlx::query(
                "UPDATE experiment_heads SET pruned_at = $4 WHERE project = $1 AND env = $2 \
                 AND experiment = $3 AND pruned_at IS NULL",
            )
            .bind(&experiment.project)
            .bind(&experiment.env)
            .bind(&experiment.experiment)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            for table in ["experiment_unit_metrics", "experiment_units"] {
                let done = sqlx::query(&format!(
                    "DELETE FROM {table} WHERE project = $1 AND env = $2 AND experiment = $3"
                ))
                .bind(&experiment.project)
                .bind(&experiment.env)
                .bind(&experiment.experiment)
                .execute(&mut *tx)
                .await?;
                if table == "experiment_units" {
                    deleted += done.rows_affected();
                }
            }
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_start_at_utc_midnight() {
        assert_eq!(day_of(DAY_MS + 5), DAY_MS);
        assert_eq!(day_of(-1), -DAY_MS);
    }

    #[test]
    fn aggregates_pick_the_values_of_their_kind() {
        let moments = Moments {
            converted: 3.0,
            pre_converted: 2.0,
            converted_cross: 1.0,
            count_sum: 7.0,
            count_sum_sq: 19.0,
            pre_count_sum: 4.0,
            pre_count_sum_sq: 6.0,
            count_cross: 5.0,
            value_sum: 12.5,
            value_sum_sq: 80.25,
            pre_value_sum: 3.0,
            pre_value_sum_sq: 9.0,
            value_cross: 7.5,
            ratio_cross: 0.0,
        };
        let orders = Moments {
            value_sum: 4.0,
            value_sum_sq: 6.0,
            ..Moments::default()
        };
        let arm = ArmTotals {
            unit_kind: "user".into(),
            variation: "on".into(),
            units: 10,
            excluded: 1,
            metrics: [
                (
                    "revenue".to_owned(),
                    MetricTotals {
                        moments,
                        ratio_cross: [("orders".to_owned(), 9.5)].into(),
                    },
                ),
                (
                    "orders".to_owned(),
                    MetricTotals {
                        moments: orders,
                        ratio_cross: BTreeMap::new(),
                    },
                ),
            ]
            .into(),
        };
        let proportion = arm.aggregate(MetricKind::Proportion, "revenue", None);
        assert_eq!((proportion.units, proportion.sum), (10, 3.0));
        assert_eq!(proportion.covariate, paired(2.0, 2.0, 1.0));
        let count = arm.aggregate(MetricKind::Count, "revenue", None);
        assert_eq!((count.sum, count.sum_sq), (7.0, 19.0));
        assert_eq!(count.covariate, paired(4.0, 6.0, 5.0));
        let mean = arm.aggregate(MetricKind::Mean, "revenue", None);
        assert_eq!((mean.sum, mean.sum_sq), (12.5, 80.25));
        assert_eq!(mean.covariate, paired(3.0, 9.0, 7.5));
        let ratio = arm.aggregate(MetricKind::Ratio, "revenue", Some("orders"));
        assert_eq!(ratio.denominator, paired(4.0, 6.0, 9.5));
        assert_eq!(ratio.covariate, None);
        let nothing = arm.aggregate(MetricKind::Mean, "unknown", None);
        assert_eq!((nothing.units, nothing.sum), (10, 0.0));
    }
}
