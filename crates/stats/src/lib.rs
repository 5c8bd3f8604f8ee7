//! Guardrail statistics for Switchyard's guarded releases: the numbers that decide whether a
//! rollout stage continues, holds or rolls back, computed so that they stay valid when they are
//! looked at after every event ("anytime-valid"), not only at a fixed sample size.
//!
//! - [`count`] — Tier 1: a one-sided beta-binomial mixture e-value for bad-event counts (errors,
//!   timeouts, slow requests) in the treated versus the control cohort (Lindon & Malek 2022).
//! - [`means`] — Tier 2: an asymptotic confidence sequence for a difference in means
//!   (Waudby-Smith et al. 2023, as in GrowthBook's `gbstats`).
//! - [`srm`] — health checks for sample-ratio mismatch: Pearson's chi-square p-value and a
//!   sequential Dirichlet-multinomial e-value for gating.
//! - [`experiments`] — experiment analysis per metric and variation (fixed-horizon, sequential
//!   and Bayesian lifts, CUPED, SRM, multiple-comparison corrections, sample sizes), equal to
//!   GrowthBook's `gbstats` 0.8.0 on the same aggregates.
//! - [`histogram`] — mergeable log-bucketed histograms (DDSketch's mapping, 1 % relative
//!   accuracy) for the quantiles of a metric per cohort; descriptive, no test decides on them.
//!
//! The methods, defaults and cross-check values are those of the shared document
//! `guardrail-statistics.md`; the tests reproduce every value in it.
//!
//! **Architecture invariant:** this crate is pure arithmetic. It does no IO, reads no clock, draws
//! no randomness, spawns nothing and never panics: every public function validates its inputs and
//! returns a [`StatsError`] instead of a NaN, and probabilities are carried in logarithms so that
//! overwhelming evidence never underflows to zero. It depends on nothing of ours; the server feeds
//! it counts and acts on the answers.

pub mod count;
pub mod experiments;
pub mod histogram;
pub mod means;
mod special;
pub mod srm;

pub use count::{
    CountEvidence, DEFAULT_ALPHA_TOTAL, DEFAULT_N_OPT, Decision, decide, k_for, ln_e_one_sided,
    ln_e_two_sided, rho_with_margin, rollback_threshold,
};
pub use histogram::{Histogram, RELATIVE_ACCURACY};
pub use means::{
    Alternative, ArmMoments, DEFAULT_N_TUNE, Interval, MIN_SAMPLES_PER_ARM, cs_half_width, cs_rho,
    mean_difference_cs,
};
pub use srm::{
    SRM_ALPHA, SRM_CHI_SQUARE_ALERT_P, SRM_K, SrmReport, chi_square_p_value, srm_check,
    srm_sequential_ln_e,
};

/// Why a statistic could not be computed. Callers treat any of these as "no evidence yet" (hold
/// or continue), never as a reason to roll back.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// A parameter is NaN, infinite or outside its domain.
    #[error("`{name}` must be {expected}, got {value}")]
    InvalidParameter {
        /// The parameter's name as it appears in the function signature.
        name: &'static str,
        /// The domain it must lie in, in words.
        expected: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// Too few observations for the statistic to be defined.
    #[error("not enough data: {0}")]
    InsufficientData(&'static str),
    /// A series or continued fraction did not converge within its iteration budget, or a result
    /// was not finite. Only far outside real use: more than about 10^12 events in a stage, or
    /// prior parameters kρ_m, k(1−ρ_m) below about 10^-10.
    #[error("numerical evaluation did not converge")]
    NoConvergence,
}

/// `v` when it is finite; otherwise the computation did not converge.
pub(crate) fn finite(v: f64) -> Result<f64, StatsError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(StatsError::NoConvergence)
    }
}

/// Checks that `value` is finite and strictly inside `(lo, hi)`.
pub(crate) fn check_open(
    name: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    expected: &'static str,
) -> Result<f64, StatsError> {
    if value.is_finite() && value > lo && value < hi {
        Ok(value)
    } else {
        Err(StatsError::InvalidParameter {
            name,
            expected,
            value,
        })
    }
}
