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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;
    use switchyard_store::events::{MetricTotals, Moments};

    use super::*;
    use crate::records::experiments::ExperimentState;

    fn experiment() -> Experiment {
        let metric = |key: &str, event: &str, kind: &str, direction: &str| {
            serde_json::from_value::<records::Metric>(
                json!({"key": key, "name": key.to_uppercase(),
                "event": event, "kind": kind, "direction": direction, "mde": 0.05}),
            )
            .unwrap()
        };
        Experiment {
            id: "abcd".into(),
            project: "default".into(),
            environment: "production".into(),
            plan: serde_json::from_value(json!({
                "flag": "checkout", "name": "new checkout", "variations": ["b", "a"],
                "control": "a", "weights": [30, 70], "traffic_percent": 100,
                "primary_metric": "conversion", "secondary_metrics": ["orders"],
                "guardrail_metrics": ["latency"], "method": "bayesian",
                "prior": {"mean": 0.0, "stddev": 0.3}, "correction": "benjamini_hochberg"
            }))
            .unwrap(),
            seed: Experiment::seed_of("abcd"),
            state: ExperimentState::Running,
            phase: 2,
            started_ms: Some(0),
            stopped_ms: None,
            shipped_variation: None,
            previous: None,
            metrics: vec![
                metric("conversion", "purchase", "proportion", "increase_is_good"),
                metric("orders", "purchase", "count", "increase_is_good"),
                metric("latency", "page_load", "mean", "decrease_is_good"),
            ],
            history: Vec::new(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn arm(kind: &str, variation: &str, units: i64, excluded: i64) -> ArmTotals {
        let moments = Moments {
            converted: units as f64 / 2.0,
            count_sum: units as f64,
            count_sum_sq: 2.0 * units as f64,
            ..Moments::default()
        };
        ArmTotals {
            unit_kind: kind.into(),
            variation: variation.into(),
            units,
            excluded,
            metrics: BTreeMap::from([(
                "purchase".to_owned(),
                MetricTotals {
                    moments,
                    ratio_cross: BTreeMap::new(),
                },
            )]),
        }
    }

    #[test]
    fn the_plan_keeps_order_roles_direction_and_method() {
        let plan = plan_of(&experiment());
        assert_eq!(plan.variations, ["b", "a"]);
        assert_eq!(plan.control, 1);
        assert_eq!(plan.weights, [30.0, 70.0]);
        assert_eq!(plan.correction, Correction::BenjaminiHochberg);
        assert_eq!(
            plan.settings.method,
            Method::Bayesian {
                prior: Prior::Normal {
                    mean: 0.0,
                    std_dev: 0.3
                }
            }
        );
        let roles: Vec<(Role, bool, &str)> = plan
            .metrics
            .iter()
            .map(|m| (m.role, m.lower_is_better, m.name.as_str()))
            .collect();
        assert_eq!(
            roles,
            [
                (Role::Primary, false, "CONVERSION"),
                (Role::Secondary, false, "ORDERS"),
                (Role::Guardrail, true, "LATENCY")
            ]
        );
    }

    #[test]
    fn totals_map_to_aggregates_per_kind_in_plan_order() {
        let totals = ExperimentTotals {
            arms: vec![
                arm("user", "a", 700, 3),
                arm("user", "b", 300, 1),
                // Another unit kind is not the rollout's: ignored.
                arm("device", "a", 50, 9),
            ],
            overflow: 4,
            stored: 1_013,
        };
        let day = DailyTotals {
            day_ms: 0,
            arms: vec![arm("user", "a", 70, 0), arm("user", "b", 30, 0)],
        };
        // 1,000 units in 12 hours: 2,000 a day.
        let observed = observed(&experiment(), &totals, &[day], 12 * HOUR_MS);
        assert_eq!(observed.units, [300, 700]);
        assert_eq!(observed.excluded, 4);
        assert_eq!(observed.overflow, 4);
        assert_eq!(observed.units_per_day, Some(2_000.0));
        // Proportion: converted units; count: events per unit.
        assert_eq!(observed.arms[0][0].units, 300);
        assert_eq!(observed.arms[0][0].sum, 150.0);
        assert_eq!(observed.arms[1][1].sum, 700.0);
        assert_eq!(observed.arms[1][1].sum_sq, 1_400.0);
        // No page_load events yet: zeros, not missing arms.
        assert_eq!(observed.arms[2][0].sum, 0.0);
        assert_eq!(observed.daily.len(), 1);
        assert_eq!(observed.daily[0].1[1].units, 70);
    }
}
