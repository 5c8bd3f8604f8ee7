//! An experiment's results (`docs/experiments.md`, "Reading the results"): pure assembly of the
//! statistics crate's analyses into what the results API, the CLI and the console show.
//!
//! In: the pre-registered [`Plan`] (variations, control, weights, method, metrics with their
//! roles) and what the store counted ([`Observed`]: units per variation and one
//! [`ArmAggregate`] per metric and variation). Out: [`Results`] — the sample-ratio check and the
//! data-quality warnings first, then per metric every variation against the control with both
//! lifts, the method's evidence (p-value corrected across variations × primary and secondary
//! metrics, or chance to beat control and risk), a verdict in words and, for the fixed-horizon
//! method, the sample size the MDE needs; and the primary metric's cumulative lift per day.
//! No IO and no clock: the caller passes the unit rate.

mod inputs;
#[cfg(test)]
mod tests;
mod words;

use schemars::JsonSchema;
use serde::Serialize;
use switchyard_stats::StatsError;
use switchyard_stats::experiments::{
    ArmAggregate, ArmStatistic, Correction, Evidence, Lift, LiftResult, Method, MetricKind,
    Settings, adjust, analyze_metric, compare, days_to_reach, mean_sample_size,
    proportion_sample_size, sample_ratio_mismatch,
};

pub use inputs::{UNIT_KIND, observed, plan_of};
pub use words::{format_percent, verdict};

/// The power the fixed-horizon sample size is planned for.
pub const PLANNED_POWER: f64 = 0.8;

/// What a metric is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The metric the experiment decides on.
    Primary,
    /// Further metrics of interest, corrected together with the primary.
    Secondary,
    /// Metrics that must not get worse; judged on their own, not corrected.
    Guardrail,
}

/// One pre-registered metric.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedMetric {
    /// The metric's key.
    pub key: String,
    /// What the verdict calls it (its name, or its key).
    pub name: String,
    pub kind: MetricKind,
    /// Lower is better (latency, churn).
    pub lower_is_better: bool,
    /// Relative minimum detectable effect (0.02 = 2 %).
    pub mde: f64,
    pub role: Role,
}

/// The pre-registered plan the results follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Variation keys, in the order of every per-variation list here.
    pub variations: Vec<String>,
    /// The control's index in `variations`.
    pub control: usize,
    /// The configured split (any positive scale), one per variation.
    pub weights: Vec<f64>,
    /// Method, α and CUPED (`lower_is_better` is taken from each metric).
    pub settings: Settings,
    pub correction: Correction,
    pub metrics: Vec<PlannedMetric>,
}

/// What the store counted for one phase.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Units per variation (plan order), each counted once, excluded ones left out.
    pub units: Vec<u64>,
    /// Units exposed to more than one variation, left out of every analysis.
    pub excluded: u64,
    /// Units beyond the store's per-phase bound, counted but not analysed.
    pub overflow: u64,
    /// Per metric (plan order), one aggregate per variation (plan order).
    pub arms: Vec<Vec<ArmAggregate>>,
    /// New units a day so far (all variations), for the days a sample size needs.
    pub units_per_day: Option<f64>,
    /// The primary metric's aggregates as of the end of each day: (day's first ms, one
    /// aggregate per variation), oldest first.
    pub daily: Vec<(i64, Vec<ArmAggregate>)>,
}

/// Units a variation received.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VariationUnits {
    pub variation: String,
    pub units: u64,
    /// Its configured share, in percent.
    pub expected_percent: f64,
}

/// The sample-ratio check.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SrmView {
    /// Pearson chi-square p-value of the units against the configured split.
    pub p_value: f64,
    /// False when p < 0.001: assignment or event delivery is broken.
    pub trustworthy: bool,
}

/// An estimate with its interval (confidence, always-valid or credible at 1 − α).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Estimate {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// Bayesian expected loss on the lift's scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct RiskView {
    /// What shipping the control would lose if the variation is in fact better.
    pub control: f64,
    /// What shipping the variation would lose if the control is in fact better.
    pub variation: f64,
}

/// A variation against the control on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct LiftView {
    /// Relative lift (0.031 = +3.1 %); absent when the control's mean is 0.
    pub relative: Option<Estimate>,
    /// Absolute lift in the metric's unit.
    pub absolute: Option<Estimate>,
    /// Frequentist p-value of the relative lift (always-valid for the sequential method).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// The p-value corrected across variations × primary and secondary metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adjusted_p_value: Option<f64>,
    /// Bayesian: the chance the variation is better than the control, in the metric's better
    /// direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chance_to_beat_control: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<RiskView>,
}

/// One variation's numbers on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VariationMetric {
    pub variation: String,
    pub units: u64,
    /// Its measured (unadjusted) mean.
    pub mean: f64,
    /// Absent for the control.
    pub lift: Option<LiftView>,
    /// The evidence is beyond chance (interval away from 0, corrected p below α).
    pub significant: bool,
    /// True when the difference goes the metric's better way.
    pub better: Option<bool>,
    /// Why the lift could not be computed yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Units the MDE needs at the fixed horizon.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SampleSize {
    /// The relative MDE planned for.
    pub mde: f64,
    pub power: f64,
    pub units_per_variation: u64,
    pub total_units: u64,
    /// Days from the start at the current unit rate.
    pub days: Option<u64>,
    /// Days still needed at that rate (0 once reached).
    pub remaining_days: Option<u64>,
}

/// One metric's results.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MetricResult {
    pub metric: String,
    pub name: String,
    pub role: Role,
    /// `proportion`, `count`, `mean` or `ratio`.
    pub kind: String,
    /// `increase_is_good` or `decrease_is_good`.
    pub direction: String,
    /// Every variation, the control first.
    pub variations: Vec<VariationMetric>,
    /// The result in words, one sentence per variation against the control.
    pub verdict: String,
    /// Fixed horizon only: units needed to detect the MDE.
    pub sample_size: Option<SampleSize>,
}

/// The primary metric's relative lift of one variation, cumulative to the end of a day.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CumulativePoint {
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    pub variation: String,
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// Everything the results page shows.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Results {
    pub units: Vec<VariationUnits>,
    pub excluded: u64,
    pub overflow: u64,
    /// Absent until a unit arrives.
    pub srm: Option<SrmView>,
    /// False when the sample ratio is off: read no result until that is fixed.
    pub trustworthy: bool,
    /// Data-quality warnings in words, the most serious first.
    pub warnings: Vec<String>,
    /// Primary, then secondary, then guardrail metrics.
    pub metrics: Vec<MetricResult>,
    pub cumulative: Vec<CumulativePoint>,
}

/// Assembles the results of `observed` under `plan`.
pub fn analyze(plan: &Plan, observed: &Observed) -> Results {
    let total_units: u64 = observed.units.iter().sum();
    let weight_sum: f64 = plan.weights.iter().sum();
    let units = plan
        .variations
        .iter()
        .enumerate()
        .map(|(i, variation)| VariationUnits {
            variation: variation.clone(),
            units: observed.units.get(i).copied().unwrap_or(0),
            expected_percent: if weight_sum > 0.0 {
                plan.weights.get(i).copied().unwrap_or(0.0) * 100.0 / weight_sum
            } else {
                0.0
            },
        })
        .collect::<Vec<_>>();
    let srm = if total_units == 0 {
        None
    } else {
        sample_ratio_mismatch(&observed.units, &plan.weights)
            .ok()
            .map(|srm| SrmView {
                p_value: srm.p_value,
                trustworthy: !srm.mismatch,
            })
    };
    let trustworthy = srm.as_ref().is_none_or(|srm| srm.trustworthy);
    let warnings = words::warnings(&units, srm.as_ref(), observed, total_units);

    let mut metrics = plan
        .metrics
        .iter()
        .enumerate()
        .map(|(i, metric)| {
            let arms = observed.arms.get(i).map(Vec::as_slice).unwrap_or(&[]);
            metric_result(plan, metric, arms, observed)
        })
        .collect::<Vec<_>>();
    correct(plan, &mut metrics);
    for (metric, planned) in metrics.iter_mut().zip(&plan.metrics) {
        metric.verdict = verdict(plan, planned, &metric.variations);
    }
    let order = |role: Role| match role {
        Role::Primary => 0,
        Role::Secondary => 1,
        Role::Guardrail => 2,
    };
    metrics.sort_by_key(|metric| order(metric.role));
    Results {
        units,
        excluded: observed.excluded,
        overflow: observed.overflow,
        srm,
        trustworthy,
        warnings,
        metrics,
        cumulative: cumulative(plan, observed),
    }
}

/// The settings of one metric's analysis: the plan's, in the metric's better direction.
fn settings_for(plan: &Plan, metric: &PlannedMetric) -> Settings {
    Settings {
        // Ratios have no CUPED (as in gbstats 0.8.0): analysed unadjusted.
        cuped: plan.settings.cuped && metric.kind != MetricKind::Ratio,
        lower_is_better: metric.lower_is_better,
        ..plan.settings
    }
}

fn metric_result(
    plan: &Plan,
    metric: &PlannedMetric,
    arms: &[ArmAggregate],
    observed: &Observed,
) -> MetricResult {
    let settings = settings_for(plan, metric);
    let name_of = |i: usize| plan.variations.get(i).cloned().unwrap_or_default();
    let mean_of = |arm: &ArmAggregate| {
        ArmStatistic::new(metric.kind, arm, false)
            .map(|stat| stat.unadjusted_mean())
            .unwrap_or(0.0)
    };
    let mut variations: Vec<VariationMetric> = Vec::with_capacity(arms.len());
    let analysis = if arms.len() == plan.variations.len() {
        analyze_metric(metric.kind, arms, plan.control, &settings)
    } else {
        Err(StatsError::InsufficientData("no data for this metric yet"))
    };
    let control_units = observed.units.get(plan.control).copied().unwrap_or(0);
    let control_arm = arms.get(plan.control).copied().unwrap_or_default();
    variations.push(VariationMetric {
        variation: name_of(plan.control),
        units: control_units,
        mean: mean_of(&control_arm),
        lift: None,
        significant: false,
        better: None,
        problem: None,
    });
    match analysis {
        Ok(analysis) => {
            for result in &analysis.variations {
                variations.push(variation_metric(
                    name_of(result.variation),
                    result.units,
                    result.mean,
                    &result.lift,
                    &settings,
                ));
            }
        }
        Err(error) => {
            for (i, arm) in arms.iter().enumerate().filter(|(i, _)| *i != plan.control) {
                variations.push(VariationMetric {
                    variation: name_of(i),
                    units: arm.units,
                    mean: mean_of(arm),
                    lift: None,
                    significant: false,
                    better: None,
                    problem: Some(words::problem(&error)),
                });
            }
        }
    }
    let sample_size = match plan.settings.method {
        Method::FixedHorizon => sample_size(plan, metric, &control_arm, observed),
        _ => None,
    };
    MetricResult {
        metric: metric.key.clone(),
        name: metric.name.clone(),
        role: metric.role,
        kind: kind_name(metric.kind).to_owned(),
        direction: if metric.lower_is_better {
            "decrease_is_good"
        } else {
            "increase_is_good"
        }
        .to_owned(),
        variations,
        verdict: String::new(),
        sample_size,
    }
}

fn estimate(lift: &Result<Lift, StatsError>) -> Option<Estimate> {
    let lift = lift.as_ref().ok()?;
    Some(Estimate {
        estimate: lift.interval.estimate,
        low: lift.interval.lower,
        high: lift.interval.upper,
    })
}

fn variation_metric(
    variation: String,
    units: u64,
    mean: f64,
    lift: &LiftResult,
    settings: &Settings,
) -> VariationMetric {
    // The relative lift decides; over a control mean of 0 the absolute one does.
    let decisive = lift.relative.as_ref().or(lift.absolute.as_ref());
    let mut view = LiftView {
        relative: estimate(&lift.relative),
        absolute: estimate(&lift.absolute),
        p_value: None,
        adjusted_p_value: None,
        chance_to_beat_control: None,
        risk: None,
    };
    let (significant, better, problem) = match decisive {
        Ok(decisive) => {
            match decisive.evidence {
                Evidence::PValue(p) => view.p_value = Some(p),
                Evidence::Bayesian {
                    chance_to_win,
                    risk,
                } => {
                    view.chance_to_beat_control = Some(chance_to_win);
                    view.risk = Some(RiskView {
                        control: risk.control,
                        variation: risk.treatment,
                    });
                }
            }
            let interval = decisive.interval;
            let significant = !interval.contains(0.0);
            let up = interval.estimate > 0.0;
            let better = (interval.estimate != 0.0).then_some(up != settings.lower_is_better);
            (significant, better, None)
        }
        Err(error) => (false, None, Some(words::problem(error))),
    };
    VariationMetric {
        variation,
        units,
        mean,
        lift: problem.is_none().then_some(view),
        significant,
        better,
        problem,
    }
}

/// Adjusts the p-values of every variation × primary and secondary metric together, as
/// pre-registered; significance then follows the adjusted p-value. Guardrails stand alone.
fn correct(plan: &Plan, metrics: &mut [MetricResult]) {
    let mut family: Vec<(usize, usize, f64)> = Vec::new();
    for (m, metric) in metrics.iter().enumerate() {
        if metric.role == Role::Guardrail {
            continue;
        }
        for (v, variation) in metric.variations.iter().enumerate() {
            if let Some(p) = variation.lift.as_ref().and_then(|lift| lift.p_value) {
                family.push((m, v, p));
            }
        }
    }
    let p_values: Vec<f64> = family.iter().map(|&(_, _, p)| p).collect();
    let Ok(adjusted) = adjust(&p_values, plan.correction) else {
        return;
    };
    for (&(m, v, _), adjusted) in family.iter().zip(adjusted) {
        if let Some(variation) = metrics.get_mut(m).and_then(|m| m.variations.get_mut(v)) {
            if let Some(lift) = variation.lift.as_mut() {
                lift.adjusted_p_value = Some(adjusted);
            }
            variation.significant = adjusted < plan.settings.alpha;
        }
    }
}

fn sample_size(
    plan: &Plan,
    metric: &PlannedMetric,
    control: &ArmAggregate,
    observed: &Observed,
) -> Option<SampleSize> {
    let arms = u32::try_from(plan.variations.len()).ok()?;
    let stat = ArmStatistic::new(metric.kind, control, false).ok()?;
    let alpha = plan.settings.alpha;
    let needed = match metric.kind {
        MetricKind::Proportion => {
            proportion_sample_size(stat.mean(), metric.mde, alpha, PLANNED_POWER, arms)
        }
        _ => mean_sample_size(
            stat.mean(),
            stat.variance().sqrt(),
            metric.mde,
            alpha,
            PLANNED_POWER,
            arms,
        ),
    }
    .ok()?;
    let so_far: u64 = observed.units.iter().sum();
    let rate = observed.units_per_day.filter(|rate| *rate > 0.0);
    let days = rate.and_then(|rate| days_to_reach(needed.total_units, rate).ok());
    let remaining_days =
        rate.and_then(|rate| days_to_reach(needed.total_units.saturating_sub(so_far), rate).ok());
    Some(SampleSize {
        mde: metric.mde,
        power: PLANNED_POWER,
        units_per_variation: needed.units_per_arm,
        total_units: needed.total_units,
        days,
        remaining_days,
    })
}

/// The primary metric's relative lift per variation as it stood at the end of each day.
fn cumulative(plan: &Plan, observed: &Observed) -> Vec<CumulativePoint> {
    let Some(primary) = plan.metrics.iter().find(|m| m.role == Role::Primary) else {
        return Vec::new();
    };
    let settings = settings_for(plan, primary);
    let mut points = Vec::new();
    for (day_ms, arms) in &observed.daily {
        let Some(control) = arms.get(plan.control) else {
            continue;
        };
        for (i, arm) in arms.iter().enumerate() {
            if i == plan.control {
                continue;
            }
            let Ok(lift) = compare(primary.kind, control, arm, &settings) else {
                continue;
            };
            if let Some(relative) = estimate(&lift.relative) {
                points.push(CumulativePoint {
                    day: words::utc_day(*day_ms),
                    variation: plan.variations.get(i).cloned().unwrap_or_default(),
                    estimate: relative.estimate,
                    low: relative.low,
                    high: relative.high,
                });
            }
        }
    }
    points
}

/// The API's name of a metric kind.
pub fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Proportion => "proportion",
        MetricKind::Count => "count",
        MetricKind::Mean => "mean",
        MetricKind::Ratio => "ratio",
    }
}
