//! One metric, every variation against the control, as `gbstats`' `analyze_metric_df` loops over
//! them: each pair gets its own statistics (and its own pooled CUPED θ), then the chosen method
//! for the relative and the absolute lift. The sample-ratio check is the crate's chi-square
//! ([`crate::srm::chi_square_p_value`], equal to `gbstats`' `check_srm` for positive weights).

use super::statistic::{ArmStatistic, cuped_pair};
use super::{
    ArmAggregate, Difference, Lift, LiftResult, Method, MetricKind, Settings, bayesian, frequentist,
};
use crate::StatsError;
use crate::srm::{SRM_CHI_SQUARE_ALERT_P, chi_square_p_value};

/// `treatment` against `control` on one metric, both relative and absolute. Errors for invalid
/// input (bad aggregates or settings); a lift that is merely undefined on these data (a control
/// mean of 0, no variance) is an error inside the [`LiftResult`].
pub fn compare(
    kind: MetricKind,
    control: &ArmAggregate,
    treatment: &ArmAggregate,
    settings: &Settings,
) -> Result<LiftResult, StatsError> {
    settings.validate()?;
    let a = ArmStatistic::new(kind, control, settings.cuped)?;
    let b = ArmStatistic::new(kind, treatment, settings.cuped)?;
    let (a, b) = cuped_pair(&a, &b);
    let lift = |difference: Difference| -> Result<Lift, StatsError> {
        match settings.method {
            Method::FixedHorizon => frequentist::fixed_horizon(&a, &b, difference, settings.alpha),
            Method::Sequential { tuning } => {
                frequentist::sequential(&a, &b, difference, settings.alpha, tuning)
            }
            Method::Bayesian { prior } => bayesian::effect(
                &a,
                &b,
                difference,
                prior,
                settings.alpha,
                settings.lower_is_better,
            ),
        }
    };
    Ok(LiftResult {
        relative: lift(Difference::Relative),
        absolute: lift(Difference::Absolute),
    })
}

/// One variation against the control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VariationResult {
    /// The variation's index in the `arms` given to [`analyze_metric`].
    pub variation: usize,
    /// Units in the variation.
    pub units: u64,
    /// The variation's measured (unadjusted) mean.
    pub mean: f64,
    /// CUPED's θ for this pair (0 without CUPED, or when the pre-period has no variance).
    pub theta: f64,
    /// The lifts over the control.
    pub lift: LiftResult,
}

/// Every variation of one metric against the control.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricAnalysis {
    /// The control's index in `arms`.
    pub control: usize,
    /// Units in the control.
    pub control_units: u64,
    /// The control's measured (unadjusted) mean.
    pub control_mean: f64,
    /// One entry per other arm, in arm order.
    pub variations: Vec<VariationResult>,
}

/// Analyses `arms` (one aggregate per variation) with `arms[control]` as the control.
pub fn analyze_metric(
    kind: MetricKind,
    arms: &[ArmAggregate],
    control: usize,
    settings: &Settings,
) -> Result<MetricAnalysis, StatsError> {
    if arms.len() < 2 {
        return Err(StatsError::InsufficientData(
            "an experiment needs a control and at least one variation",
        ));
    }
    let Some(control_arm) = arms.get(control) else {
        return Err(StatsError::InvalidParameter {
            name: "control",
            expected: "the index of one of the arms",
            value: control as f64,
        });
    };
    settings.validate()?;
    let control_stat = ArmStatistic::new(kind, control_arm, settings.cuped)?;
    let mut variations = Vec::with_capacity(arms.len() - 1);
    for (variation, arm) in arms.iter().enumerate() {
        if variation == control {
            continue;
        }
        let stat = ArmStatistic::new(kind, arm, settings.cuped)?;
        let (_, adjusted) = cuped_pair(&control_stat, &stat);
        variations.push(VariationResult {
            variation,
            units: arm.units,
            mean: stat.unadjusted_mean(),
            theta: adjusted.theta(),
            lift: compare(kind, control_arm, arm, settings)?,
        });
    }
    Ok(MetricAnalysis {
        control,
        control_units: control_arm.units,
        control_mean: control_stat.unadjusted_mean(),
        variations,
    })
}

/// Sample-ratio mismatch of an experiment's units against its configured split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Srm {
    /// Pearson chi-square p-value (`gbstats`' `check_srm`).
    pub p_value: f64,
    /// p below [`SRM_CHI_SQUARE_ALERT_P`] (0.001, GrowthBook's default threshold): assignment or
    /// event delivery is broken and every result of the experiment is untrustworthy.
    pub mismatch: bool,
}

/// The SRM check over the units per arm (each unit counted once) and the configured weights
/// (any positive scale). Weights of 0 are rejected: an arm without traffic is not compared.
pub fn sample_ratio_mismatch(units: &[u64], weights: &[f64]) -> Result<Srm, StatsError> {
    let p_value = chi_square_p_value(units, weights)?;
    Ok(Srm {
        p_value,
        mismatch: p_value < SRM_CHI_SQUARE_ALERT_P,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::experiments::{Evidence, PairedSums, Prior};

    fn proportion(units: u64, converted: u64) -> ArmAggregate {
        ArmAggregate {
            units,
            sum: converted as f64,
            ..ArmAggregate::default()
        }
    }

    #[test]
    fn every_variation_is_compared_with_the_control() {
        let arms = [
            proportion(1000, 100),
            proportion(1000, 130),
            proportion(1000, 90),
        ];
        let settings = Settings::new(Method::Bayesian {
            prior: Prior::Uninformative,
        });
        let analysis = analyze_metric(MetricKind::Proportion, &arms, 1, &settings).unwrap();
        assert_eq!(analysis.control_mean, 0.13);
        let indices: Vec<usize> = analysis.variations.iter().map(|v| v.variation).collect();
        assert_eq!(indices, [0, 2]);
        for v in &analysis.variations {
            let lift = v.lift.relative.unwrap();
            assert!(lift.interval.estimate < 0.0);
            assert!(lift.evidence.chance_to_win().unwrap() < 0.5);
        }
    }

    #[test]
    fn bad_shapes_are_rejected() {
        let settings = Settings::new(Method::FixedHorizon);
        let one = [proportion(10, 1)];
        assert!(analyze_metric(MetricKind::Proportion, &one, 0, &settings).is_err());
        let two = [proportion(10, 1), proportion(10, 2)];
        assert!(analyze_metric(MetricKind::Proportion, &two, 2, &settings).is_err());
        let bad_alpha = Settings {
            alpha: 0.0,
            ..settings
        };
        assert!(analyze_metric(MetricKind::Proportion, &two, 0, &bad_alpha).is_err());
    }

    /// Whatever the aggregates, nothing panics and every number returned is finite.
    #[test]
    fn arbitrary_aggregates_never_panic_or_give_nan() {
        let mut state = 0x2300_u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state >> 11
        };
        let values = [0.0, 1.0, -3.5, 1e-300, 1e300, 7.0, 1e9, 0.5];
        let mut pick = move || values[(next() % values.len() as u64) as usize];
        let kinds = [
            MetricKind::Proportion,
            MetricKind::Count,
            MetricKind::Mean,
            MetricKind::Ratio,
        ];
        let mut finite_lifts = 0;
        for round in 0..20_000 {
            let mut arm = || {
                let paired = PairedSums {
                    sum: pick(),
                    sum_sq: pick().abs(),
                    cross: pick(),
                };
                ArmAggregate {
                    units: (pick().abs().min(1e6)) as u64,
                    sum: pick().abs(),
                    sum_sq: pick().abs(),
                    denominator: Some(paired),
                    covariate: Some(paired),
                }
            };
            let arms = [arm(), arm()];
            let method = match round % 3 {
                0 => Method::FixedHorizon,
                1 => Method::Sequential { tuning: 5000.0 },
                _ => Method::Bayesian {
                    prior: Prior::Normal {
                        mean: 0.0,
                        std_dev: 0.3,
                    },
                },
            };
            let settings = Settings {
                cuped: round % 2 == 0,
                ..Settings::new(method)
            };
            let kind = kinds[round % kinds.len()];
            let Ok(analysis) = analyze_metric(kind, &arms, 0, &settings) else {
                continue;
            };
            for lift in analysis
                .variations
                .iter()
                .flat_map(|v| [v.lift.relative, v.lift.absolute])
                .flatten()
            {
                let i = lift.interval;
                let mut numbers = vec![i.estimate, i.lower, i.upper, lift.std_error];
                match lift.evidence {
                    Evidence::PValue(p) => numbers.push(p),
                    Evidence::Bayesian {
                        chance_to_win,
                        risk,
                    } => numbers.extend([chance_to_win, risk.control, risk.treatment]),
                }
                assert!(numbers.iter().all(|n| n.is_finite()), "{arms:?} {lift:?}");
                finite_lifts += 1;
            }
        }
        assert!(finite_lifts > 500, "only {finite_lifts} lifts computed");
    }

    #[test]
    fn srm_flags_a_broken_split() {
        let srm = sample_ratio_mismatch(&[600, 400], &[0.5, 0.5]).unwrap();
        assert!(srm.mismatch && (srm.p_value - 2.53963e-10).abs() < 1e-14);
        assert!(
            !sample_ratio_mismatch(&[5000, 5200], &[1.0, 1.0])
                .unwrap()
                .mismatch
        );
        assert!(sample_ratio_mismatch(&[10, 10], &[1.0, 0.0]).is_err());
    }
}
