//! From the stored experiment document and the store's totals to the analysis' [`Plan`] and
//! [`Observed`].

use switchyard_stats::DEFAULT_N_TUNE;
use switchyard_stats::experiments::{Correction, Method, MetricKind, Prior, Settings};
use switchyard_store::events::{ArmTotals, DailyTotals, ExperimentTotals};

use super::{Observed, Plan, PlannedMetric, Role};
use crate::records::experiments::{self as records, Experiment};

/// The unit kind experiment rollouts bucket by (`Experiment::rollout`).
pub const UNIT_KIND: &str = "user";

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: f64 = 86_400_000.0;

fn kind_of(kind: records::MetricKind) -> MetricKind {
    match kind {
        records::MetricKind::Proportion => MetricKind::Proportion,
        records::MetricKind::Count => MetricKind::Count,
        records::MetricKind::Mean => MetricKind::Mean,
        records::MetricKind::Ratio => MetricKind::Ratio,
    }
}

/// The pre-registered plan of `experiment`'s current phase: its metric snapshot, roles by the
/// plan's keys.
pub fn plan_of(experiment: &Experiment) -> Plan {
    let plan = &experiment.plan;
    let n = plan.variations.len();
    let weights = match &plan.weights {
        Some(weights) if weights.len() == n => weights.clone(),
        _ => vec![1.0; n],
    };
    let method = match plan.method {
        records::Method::FixedHorizon => Method::FixedHorizon,
        records::Method::Sequential => Method::Sequential {
            tuning: DEFAULT_N_TUNE,
        },
        records::Method::Bayesian => Method::Bayesian {
            prior: plan
                .prior
                .map_or(Prior::Uninformative, |prior| Prior::Normal {
                    mean: prior.mean,
                    std_dev: prior.stddev,
                }),
        },
    };
    let metrics = experiment
        .metrics
        .iter()
        .map(|metric| PlannedMetric {
            key: metric.key.clone(),
            name: metric.name.clone().unwrap_or_else(|| metric.key.clone()),
            kind: kind_of(metric.kind),
            lower_is_better: metric.direction == records::Direction::DecreaseIsGood,
            mde: metric.mde,
            role: if metric.key == plan.primary_metric {
                Role::Primary
            } else if plan.secondary_metrics.contains(&metric.key) {
                Role::Secondary
            } else {
                Role::Guardrail
            },
        })
        .collect();
    Plan {
        variations: plan.variations.clone(),
        control: plan
            .variations
            .iter()
            .position(|v| *v == plan.control)
            .unwrap_or(0),
        weights,
        settings: Settings {
            alpha: plan.alpha,
            cuped: plan.cuped,
            ..Settings::new(method)
        },
        correction: match plan.correction {
            records::Correction::Holm => Correction::HolmBonferroni,
            records::Correction::BenjaminiHochberg => Correction::BenjaminiHochberg,
        },
        metrics,
    }
}

/// The arm of `variation` among `arms` (units of [`UNIT_KIND`]); empty when none arrived.
fn arm<'a>(arms: &'a [ArmTotals], variation: &str) -> Option<&'a ArmTotals> {
    arms.iter()
        .find(|arm| arm.unit_kind == UNIT_KIND && arm.variation == variation)
}

/// One aggregate per variation of each metric of `experiment`.
fn aggregates(
    experiment: &Experiment,
    arms: &[ArmTotals],
    metrics: impl Iterator<Item = usize>,
) -> Vec<Vec<switchyard_stats::experiments::ArmAggregate>> {
    let empty = ArmTotals::default();
    metrics
        .filter_map(|i| experiment.metrics.get(i))
        .map(|metric| {
            experiment
                .plan
                .variations
                .iter()
                .map(|variation| {
                    arm(arms, variation).unwrap_or(&empty).aggregate(
                        kind_of(metric.kind),
                        &metric.event,
                        metric.denominator_event.as_deref(),
                    )
                })
                .collect()
        })
        .collect()
}

/// What the store counted for `experiment`'s current phase, with the unit rate as of `now_ms`.
pub fn observed(
    experiment: &Experiment,
    totals: &ExperimentTotals,
    daily: &[DailyTotals],
    now_ms: i64,
) -> Observed {
    let units: Vec<u64> = experiment
        .plan
        .variations
        .iter()
        .map(|v| arm(&totals.arms, v).map_or(0, |arm| u64::try_from(arm.units).unwrap_or(0)))
        .collect();
    let excluded = totals
        .arms
        .iter()
        .filter(|arm| arm.unit_kind == UNIT_KIND)
        .map(|arm| u64::try_from(arm.excluded).unwrap_or(0))
        .sum();
    let until = experiment.stopped_ms.unwrap_or(now_ms);
    let units_per_day = experiment.started_ms.and_then(|started| {
        // At least an hour, so the first minutes do not extrapolate wildly.
        let elapsed = (until - started).max(HOUR_MS) as f64 / DAY_MS;
        let total: u64 = units.iter().sum();
        (total > 0).then(|| total as f64 / elapsed)
    });
    let primary = experiment
        .metrics
        .iter()
        .position(|m| m.key == experiment.plan.primary_metric);
    let daily = daily
        .iter()
        .filter_map(|day| {
            let arms = aggregates(experiment, &day.arms, primary.into_iter())
                .into_iter()
                .next()?;
            Some((day.day_ms, arms))
        })
        .collect();
    Observed {
        units,
        excluded,
        overflow: u64::try_from(totals.overflow).unwrap_or(0),
        arms: aggregates(experiment, &totals.arms, 0..experiment.metrics.len()),
        units_per_day,
        daily,
    }
}
