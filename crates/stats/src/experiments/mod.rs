//! Experiment analysis: each variation against the control on one metric, from per-arm
//! aggregates, by the method an experiment picks — frequentist fixed horizon, sequential
//! (always-valid) or Bayesian — with CUPED, sample-ratio mismatch, multiple-comparison
//! corrections and a fixed-horizon sample-size plan.
//!
//! The numbers are those of GrowthBook's statistics engine `gbstats` 0.8.0 on the same
//! aggregates (`crates/stats/tests/gbstats.rs` runs it and compares to 1e-6); `docs/experiments.md`
//! names the `gbstats` classes followed and every place this module deliberately differs.
//!
//! - [`statistic`] — the per-arm statistics (proportion, mean, ratio by the delta method,
//!   regression-adjusted for CUPED) and the pooled CUPED coefficient θ.
//! - [`frequentist`] — Welch's t-test (fixed horizon) and the Waudby-Smith et al. asymptotic
//!   confidence sequence (sequential), relative lift by the delta method or absolute.
//! - [`bayesian`] — `gbstats`' Gaussian effect model: chance to beat control, expected loss,
//!   credible interval.
//! - [`analysis`] — every variation against the control in one call, plus the SRM check.
//! - [`correction`] — Holm–Bonferroni and Benjamini–Hochberg adjusted p-values.
//! - [`power`] — units per arm and days to detect a minimum detectable effect.

pub mod analysis;
pub mod bayesian;
pub mod correction;
mod distributions;
pub mod frequentist;
pub mod power;
pub mod statistic;

pub use analysis::{
    MetricAnalysis, Srm, VariationResult, analyze_metric, compare, sample_ratio_mismatch,
};
pub use bayesian::Prior;
pub use correction::{Correction, adjust, benjamini_hochberg, holm_bonferroni};
pub use power::{SampleSizePlan, days_to_reach, mean_sample_size, proportion_sample_size};
pub use statistic::ArmStatistic;

use crate::means::Interval;
use crate::{StatsError, check_open};

/// What a metric measures per unit, which decides its variance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// "Converted at least once": each unit is 0 or 1; variance p(1 − p) (`gbstats` "binomial").
    Proportion,
    /// Events per unit; sample variance (`gbstats` "count").
    Count,
    /// A real value per unit (revenue, minutes); sample variance (`gbstats` "count").
    Mean,
    /// Σ numerator / Σ denominator across units (revenue per order), by the delta method; both
    /// parts are per-unit sums with sample variances (`gbstats` "ratio" of two "count" metrics).
    Ratio,
}

/// Sums of one per-unit value paired with the metric's main value over an arm's units.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PairedSums {
    /// Σ v over units (for a proportion covariate: the units with v = 1).
    pub sum: f64,
    /// Σ v² over units (ignored for a proportion covariate).
    pub sum_sq: f64,
    /// Σ main·v over units.
    pub cross: f64,
}

/// One arm's sufficient statistics, which add across shards and time; the store keeps them per
/// variation and metric.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ArmAggregate {
    /// Units (contexts) in the arm, each counted once; units without events count with value 0.
    pub units: u64,
    /// Σ per-unit value (for proportions: the units that converted; for ratios: the numerator).
    pub sum: f64,
    /// Σ per-unit value² (ignored for proportions).
    pub sum_sq: f64,
    /// The ratio's per-unit denominator; required for [`MetricKind::Ratio`].
    pub denominator: Option<PairedSums>,
    /// The unit's pre-exposure value of the same metric; required when CUPED is on.
    pub covariate: Option<PairedSums>,
}

/// How to analyse an experiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Welch's two-sided t-test at a planned sample size (`gbstats` `TwoSidedTTest`).
    FixedHorizon,
    /// Always-valid intervals and p-values, safe to look at any time (`gbstats`
    /// `SequentialTwoSidedTTest`); `tuning` is the total sample size where the interval is
    /// tightest ([`crate::DEFAULT_N_TUNE`], `gbstats`' `sequential_tuning_parameter`).
    Sequential {
        /// N_tune, positive.
        tuning: f64,
    },
    /// `gbstats`' `EffectBayesianABTest` with this prior on the relative lift.
    Bayesian {
        /// The prior on the relative effect.
        prior: Prior,
    },
}

/// Settings of one metric's analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// The method.
    pub method: Method,
    /// 1 − the interval's coverage (0.05: 95 % intervals), in (0, 1).
    pub alpha: f64,
    /// CUPED: adjust with each unit's pre-exposure value (every arm must carry a covariate).
    pub cuped: bool,
    /// Lower is better (latency, churn): chance to win and risk look the other way.
    pub lower_is_better: bool,
}

impl Settings {
    /// The settings `gbstats` defaults to for `method`: α = 0.05, no CUPED, higher is better.
    pub fn new(method: Method) -> Self {
        Self {
            method,
            alpha: 0.05,
            cuped: false,
            lower_is_better: false,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), StatsError> {
        check_open("alpha", self.alpha, 0.0, 1.0, "in (0, 1)")?;
        match self.method {
            Method::FixedHorizon => Ok(()),
            Method::Sequential { tuning } => {
                check_open("tuning", tuning, 0.0, f64::INFINITY, "positive and finite").map(|_| ())
            }
            Method::Bayesian { prior } => prior.validate(),
        }
    }
}

/// Relative lift (treatment/control − 1, by the delta method) or absolute (treatment − control).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Difference {
    /// (μ_T − μ_C)/μ_C, with the control's unadjusted mean in the denominator.
    Relative,
    /// μ_T − μ_C.
    Absolute,
}

/// Expected loss (`gbstats` "risk"), on the lift's scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Risk {
    /// What shipping the control would lose if the treatment is in fact better.
    pub control: f64,
    /// What shipping the treatment would lose if the control is in fact better.
    pub treatment: f64,
}

/// The evidence a method gives besides the interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Evidence {
    /// Frequentist two-sided p-value (always-valid for the sequential method).
    PValue(f64),
    /// Bayesian posterior summaries.
    Bayesian {
        /// P(the treatment is better than the control), in the metric's better direction.
        chance_to_win: f64,
        /// Expected loss of each choice.
        risk: Risk,
    },
}

impl Evidence {
    /// The p-value, for frequentist evidence.
    pub fn p_value(&self) -> Option<f64> {
        match self {
            Evidence::PValue(p) => Some(*p),
            Evidence::Bayesian { .. } => None,
        }
    }

    /// The chance to beat control, for Bayesian evidence.
    pub fn chance_to_win(&self) -> Option<f64> {
        match self {
            Evidence::PValue(_) => None,
            Evidence::Bayesian { chance_to_win, .. } => Some(*chance_to_win),
        }
    }
}

/// One lift with its interval (confidence, always-valid or credible) and evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lift {
    /// Estimate (posterior mean for Bayesian) with its symmetric interval at level 1 − α.
    pub interval: Interval,
    /// Standard error of the estimate (posterior standard deviation for Bayesian).
    pub std_error: f64,
    /// p-value or chance to win and risk.
    pub evidence: Evidence,
}

/// A variation against the control on one metric, both ways. Each side is an error when it is
/// not defined (a relative lift over a control mean of 0; no variance in an arm).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiftResult {
    /// Relative lift (0.031 = +3.1 %).
    pub relative: Result<Lift, StatsError>,
    /// Absolute lift in the metric's unit.
    pub absolute: Result<Lift, StatsError>,
}
