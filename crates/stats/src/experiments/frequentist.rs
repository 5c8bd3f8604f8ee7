//! Frequentist lifts as `gbstats.frequentist.tests` computes them: the delta-method relative
//! lift (or the absolute difference), Welch's two-sided t-test for a fixed horizon
//! (`TwoSidedTTest`), and the always-valid confidence sequence of Waudby-Smith et al. 2023
//! (`SequentialTwoSidedTTest`, eq. 9 for the interval and eq. 155 for the p-value), whose
//! half-width is [`crate::means::cs_half_width`], the guardrails' own.

use super::distributions::{t_sf, t_upper_quantile};
use super::statistic::ArmStatistic;
use super::{Difference, Evidence, Lift};
use crate::means::{Alternative, Interval, cs_half_width, cs_rho};
use crate::{StatsError, check_open, finite};

/// `gbstats`' `frequentist_diff`: (μ_T − μ_C)/μ̃_C relative, with μ̃_C the control's unadjusted
/// mean, or μ_T − μ_C absolute.
pub(crate) fn point_estimate(a: &ArmStatistic, b: &ArmStatistic, difference: Difference) -> f64 {
    match difference {
        Difference::Relative => (b.mean() - a.mean()) / a.unadjusted_mean(),
        Difference::Absolute => b.mean() - a.mean(),
    }
}

/// `gbstats`' `frequentist_variance`: the delta method's σ²_T/(μ̃_C² n_T) + σ²_C μ̃_T²/(μ̃_C⁴ n_C)
/// relative, or σ²_T/n_T + σ²_C/n_C absolute.
pub(crate) fn estimate_variance(a: &ArmStatistic, b: &ArmStatistic, difference: Difference) -> f64 {
    let (na, nb) = (a.units() as f64, b.units() as f64);
    let (va, vb) = (a.variance(), b.variance());
    match difference {
        Difference::Relative => {
            let (ma, mb) = (a.unadjusted_mean(), b.unadjusted_mean());
            vb / (ma.powi(2) * nb) + va * mb.powi(2) / (ma.powi(4) * na)
        }
        Difference::Absolute => vb / nb + va / na,
    }
}

/// Why a lift is undefined, checked as `gbstats` checks it before computing (a control mean of
/// 0 for a relative lift; an empty arm; a variance ≤ 0 in either arm).
pub(crate) fn check_defined(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
) -> Result<(), StatsError> {
    if difference == Difference::Relative && (a.mean() == 0.0 || a.unadjusted_mean() == 0.0) {
        return Err(StatsError::InsufficientData(
            "a relative lift needs a control mean other than 0",
        ));
    }
    if a.units() == 0 || b.units() == 0 {
        return Err(StatsError::InsufficientData("an arm has no units"));
    }
    if !(a.variance() > 0.0 && b.variance() > 0.0) {
        return Err(StatsError::InsufficientData(
            "an arm has no variance (too few units, or all alike)",
        ));
    }
    Ok(())
}

/// The estimate's variance when it is positive and finite (it underflows only for absurd
/// aggregates, such as values near 1e-160).
pub(crate) fn positive_variance(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
) -> Result<f64, StatsError> {
    let v = estimate_variance(a, b, difference);
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(StatsError::NoConvergence)
    }
}

/// Welch–Satterthwaite degrees of freedom of the two arms' variances.
pub(crate) fn welch_dof(a: &ArmStatistic, b: &ArmStatistic) -> f64 {
    let (na, nb) = (a.units() as f64, b.units() as f64);
    let (va, vb) = (a.variance(), b.variance());
    (vb / nb + va / na).powi(2)
        / (vb.powi(2) / (nb.powi(2) * (nb - 1.0)) + va.powi(2) / (na.powi(2) * (na - 1.0)))
}

/// `TwoSidedTTest`: the estimate ± t_{1−α/2, ν}·SE and p = 2·P(T_ν > |estimate/SE|), with ν
/// Welch's degrees of freedom. `a` is the control; CUPED's θ must already be set.
pub fn fixed_horizon(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
    alpha: f64,
) -> Result<Lift, StatsError> {
    check_open("alpha", alpha, 0.0, 1.0, "in (0, 1)")?;
    check_defined(a, b, difference)?;
    let estimate = finite(point_estimate(a, b, difference))?;
    let std_error = positive_variance(a, b, difference)?.sqrt();
    let dof = welch_dof(a, b);
    if !(dof.is_finite() && dof > 0.0) {
        return Err(StatsError::InsufficientData(
            "each arm needs two units for Welch's degrees of freedom",
        ));
    }
    let p_value = (2.0 * t_sf((estimate / std_error).abs(), dof)?).min(1.0);
    let half_width = finite(t_upper_quantile(alpha / 2.0, dof)? * std_error)?;
    Ok(Lift {
        interval: symmetric(estimate, half_width),
        std_error,
        evidence: Evidence::PValue(p_value),
    })
}

/// `SequentialTwoSidedTTest`: the estimate ± the confidence sequence's half-width for
/// s² = SE²·N at N = n_C + n_T, and the always-valid p-value 1/E (capped at 1) with
/// ln E = ρ²·(estimate²·N/SE²)/(2(Nρ² + 1)) − ln(Nρ² + 1)/2.
pub fn sequential(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
    alpha: f64,
    tuning: f64,
) -> Result<Lift, StatsError> {
    check_defined(a, b, difference)?;
    let estimate = finite(point_estimate(a, b, difference))?;
    let variance = positive_variance(a, b, difference)?;
    let n = (a.units() + b.units()) as f64;
    let rho = cs_rho(alpha, tuning, Alternative::TwoSided)?;
    let half_width = cs_half_width(variance * n, n, alpha, tuning, Alternative::TwoSided)?;
    let st2 = estimate * estimate * n / variance;
    let tr2p1 = n * rho * rho + 1.0;
    let ln_e = rho * rho * st2 / (2.0 * tr2p1) - 0.5 * tr2p1.ln();
    let p_value = finite((-ln_e).exp().min(1.0))?;
    Ok(Lift {
        interval: symmetric(estimate, half_width),
        std_error: variance.sqrt(),
        evidence: Evidence::PValue(p_value),
    })
}

/// The interval [estimate − h, estimate + h].
pub(crate) fn symmetric(estimate: f64, half_width: f64) -> Interval {
    Interval {
        estimate,
        half_width,
        lower: estimate - half_width,
        upper: estimate + half_width,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::experiments::{ArmAggregate, MetricKind};

    fn proportion(units: u64, converted: u64) -> ArmStatistic {
        let arm = ArmAggregate {
            units,
            sum: converted as f64,
            ..ArmAggregate::default()
        };
        ArmStatistic::new(MetricKind::Proportion, &arm, false).unwrap()
    }

    /// The shared guardrail document's end-to-end value (gbstats 0.8.0, sequential, absolute,
    /// α = 0.05, tuning 5000): 100/10000 vs 150/10000 → [8.7842147e-05, 0.0099121579].
    #[test]
    fn sequential_matches_the_guardrail_document() {
        let (a, b) = (proportion(10_000, 100), proportion(10_000, 150));
        let lift = sequential(&a, &b, Difference::Absolute, 0.05, 5000.0).unwrap();
        assert!((lift.interval.lower - 8.7842147e-05).abs() < 1e-12);
        assert!((lift.interval.upper - 0.0099121579).abs() < 1e-10);
    }

    /// gbstats 0.8.0 `TwoSidedTTest` on the same data, relative: expected 0.5,
    /// p = 0.009394332504680136, ci [0.12271502571502912, 0.8772849742849707].
    #[test]
    fn fixed_horizon_relative_matches_gbstats() {
        let (a, b) = (proportion(10_000, 100), proportion(10_000, 150));
        let lift = fixed_horizon(&a, &b, Difference::Relative, 0.05).unwrap();
        assert!((lift.interval.estimate - 0.5).abs() < 1e-12);
        let p = lift.evidence.p_value().unwrap();
        assert!((p - P_FIXED).abs() < 1e-12, "{p}");
        assert!(
            (lift.interval.lower - LOWER_FIXED).abs() < 1e-12,
            "{:?}",
            lift.interval
        );
    }
    const P_FIXED: f64 = 0.009394332504680136;
    const LOWER_FIXED: f64 = 0.12271502571502912;

    #[test]
    fn undefined_lifts_are_errors() {
        let (a, b) = (proportion(100, 0), proportion(100, 5));
        assert!(fixed_horizon(&a, &b, Difference::Relative, 0.05).is_err());
        // No variance in the control: undefined either way.
        assert!(fixed_horizon(&a, &b, Difference::Absolute, 0.05).is_err());
        let (a, b) = (proportion(100, 3), proportion(100, 5));
        assert!(fixed_horizon(&a, &b, Difference::Absolute, 0.05).is_ok());
        assert!(fixed_horizon(&a, &b, Difference::Absolute, 1.5).is_err());
    }
}
