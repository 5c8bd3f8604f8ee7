//! Fixed-horizon sample size and duration from a minimum detectable effect (MDE). `gbstats`
//! 0.8.0 has no power module, so this is our own: the standard two-sided z-test (normal
//! approximation, unpooled variances), per arm
//!
//!   n = ⌈(z_{1−α/2} + z_{power})² · (σ_C² + σ_T²) / δ²⌉,  δ = MDE · μ_C,
//!
//! with σ_T² = p_T(1 − p_T) at p_T = p_C(1 + MDE) for proportions and σ_T = σ_C for means. The
//! MDE is relative (0.05 = a 5 % lift), as experiments state it. No correction for several
//! variations or metrics is applied: pass a smaller α for that.

use super::distributions::normal_upper_quantile;
use crate::{StatsError, check_open, finite};

/// Units needed for a fixed-horizon experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSizePlan {
    /// Units each arm needs.
    pub units_per_arm: u64,
    /// Units over all arms (equal split).
    pub total_units: u64,
}

/// The plan for a proportion metric with control rate `baseline_rate` in (0, 1).
pub fn proportion_sample_size(
    baseline_rate: f64,
    mde: f64,
    alpha: f64,
    power: f64,
    arms: u32,
) -> Result<SampleSizePlan, StatsError> {
    check_open("baseline_rate", baseline_rate, 0.0, 1.0, "in (0, 1)")?;
    let treated = baseline_rate * (1.0 + mde);
    check_open(
        "mde",
        treated,
        0.0,
        1.0,
        "such that the treated rate stays in (0, 1)",
    )?;
    let variances = baseline_rate * (1.0 - baseline_rate) + treated * (1.0 - treated);
    plan(baseline_rate, variances, mde, alpha, power, arms)
}

/// The plan for a count or mean metric with control mean `baseline_mean` (not 0) and per-unit
/// standard deviation `std_dev` (for a ratio, its delta-method standard deviation).
pub fn mean_sample_size(
    baseline_mean: f64,
    std_dev: f64,
    mde: f64,
    alpha: f64,
    power: f64,
    arms: u32,
) -> Result<SampleSizePlan, StatsError> {
    check_open(
        "std_dev",
        std_dev,
        0.0,
        f64::INFINITY,
        "positive and finite",
    )?;
    plan(
        baseline_mean,
        2.0 * std_dev * std_dev,
        mde,
        alpha,
        power,
        arms,
    )
}

fn plan(
    baseline: f64,
    variances: f64,
    mde: f64,
    alpha: f64,
    power: f64,
    arms: u32,
) -> Result<SampleSizePlan, StatsError> {
    check_open("alpha", alpha, 0.0, 1.0, "in (0, 1)")?;
    check_open("power", power, 0.0, 1.0, "in (0, 1)")?;
    let delta = mde * baseline;
    if !(delta.is_finite() && delta != 0.0) {
        return Err(StatsError::InvalidParameter {
            name: "mde",
            expected: "nonzero and finite, over a baseline other than 0",
            value: mde,
        });
    }
    if arms < 2 {
        return Err(StatsError::InvalidParameter {
            name: "arms",
            expected: "at least 2",
            value: f64::from(arms),
        });
    }
    let z = normal_upper_quantile(alpha / 2.0)? + normal_upper_quantile(1.0 - power)?;
    let per_arm = finite((z * z * variances / (delta * delta)).ceil())?;
    // Beyond 2^53 units a plan means nothing; say so rather than saturate.
    if per_arm > 9.0e15 {
        return Err(StatsError::InvalidParameter {
            name: "mde",
            expected: "large enough to be detectable with a realistic number of units",
            value: mde,
        });
    }
    let units_per_arm = (per_arm as u64).max(1);
    Ok(SampleSizePlan {
        units_per_arm,
        total_units: units_per_arm.saturating_mul(u64::from(arms)),
    })
}

/// Whole days until `total_units` have entered, at `units_per_day` new units a day (after the
/// experiment's traffic share).
pub fn days_to_reach(total_units: u64, units_per_day: f64) -> Result<u64, StatsError> {
    check_open(
        "units_per_day",
        units_per_day,
        0.0,
        f64::INFINITY,
        "positive and finite",
    )?;
    let days = finite((total_units as f64 / units_per_day).ceil())?;
    Ok(days as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// p = 0.1, +10 %, α = 0.05, power 0.8: (1.959964 + 0.841621)² · (0.09 + 0.0979) / 0.01²
    /// = 14,748.0…, so 14,749 per arm.
    #[test]
    fn proportion_plan_matches_the_formula() {
        let plan = proportion_sample_size(0.1, 0.1, 0.05, 0.8, 2).unwrap();
        assert_eq!(plan.units_per_arm, 14_749);
        assert_eq!(plan.total_units, 29_498);
        assert_eq!(days_to_reach(plan.total_units, 1000.0).unwrap(), 30);
    }

    /// μ = 10, σ = 5, +5 %: 7.848879 · 50 / 0.25 = 1,569.8 → 1,570 per arm.
    #[test]
    fn mean_plan_matches_the_formula() {
        let plan = mean_sample_size(10.0, 5.0, 0.05, 0.05, 0.8, 3).unwrap();
        assert_eq!(plan.units_per_arm, 1_570);
        assert_eq!(plan.total_units, 4_710);
    }

    #[test]
    fn bad_plans_are_rejected() {
        assert!(proportion_sample_size(0.6, 1.0, 0.05, 0.8, 2).is_err());
        assert!(proportion_sample_size(0.1, 0.0, 0.05, 0.8, 2).is_err());
        assert!(mean_sample_size(0.0, 1.0, 0.1, 0.05, 0.8, 2).is_err());
        assert!(mean_sample_size(1.0, 1.0, 0.1, 0.05, 1.0, 2).is_err());
        assert!(mean_sample_size(1.0, 1.0, 0.1, 0.05, 0.8, 1).is_err());
        assert!(mean_sample_size(1.0, 1.0, 1e-12, 0.05, 0.8, 2).is_err());
        assert!(days_to_reach(10, 0.0).is_err());
    }
}
