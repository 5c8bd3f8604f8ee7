//! `gbstats` 0.8.0's `EffectBayesianABTest`: a Gaussian model of the effect itself. The data
//! give the effect a normal likelihood N(estimate, SE²) (the frequentist estimate and delta-method
//! variance); a proper normal prior on the *relative* effect combines with it by precision, an
//! uninformative one leaves the likelihood as the posterior. From the posterior N(μ, σ²):
//! chance to win Φ(μ/σ), the credible interval μ ± z_{1−α/2}·σ, and the expected losses
//! E[max(X, 0)] (of shipping the control) and E[max(−X, 0)] (of shipping the treatment).

use super::distributions::{normal_cdf, normal_pdf, normal_sf, normal_upper_quantile};
use super::frequentist::{check_defined, point_estimate, positive_variance, symmetric};
use super::statistic::ArmStatistic;
use super::{Difference, Evidence, Lift, Risk};
use crate::{StatsError, check_open, finite};

/// A prior on the relative effect (0.1 = +10 %), as `gbstats`' per-metric prior settings
/// (`prior_proper`, `prior_mean`, `prior_stddev`, with `prior_type` "relative"). For an absolute
/// lift it is scaled by the control's mean, as `gbstats` does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prior {
    /// Flat: the posterior is the likelihood (`gbstats`' default, `prior_proper = false`).
    Uninformative,
    /// N(mean, std_dev²) on the relative effect (`prior_proper = true`).
    Normal {
        /// Prior mean of the relative effect.
        mean: f64,
        /// Prior standard deviation of the relative effect, positive.
        std_dev: f64,
    },
}

impl Prior {
    pub(crate) fn validate(&self) -> Result<(), StatsError> {
        if let Prior::Normal { mean, std_dev } = *self {
            if !mean.is_finite() {
                return Err(StatsError::InvalidParameter {
                    name: "prior.mean",
                    expected: "finite",
                    value: mean,
                });
            }
            check_open(
                "prior.std_dev",
                std_dev,
                0.0,
                f64::INFINITY,
                "positive and finite",
            )?;
        }
        Ok(())
    }
}

/// The posterior of the lift of `b` over the control `a` (CUPED's θ already set) with its chance
/// to win, credible interval at level 1 − α and risk; `lower_is_better` turns chance to win and
/// the two risks around, as `gbstats`' `inverse`.
pub fn effect(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
    prior: Prior,
    alpha: f64,
    lower_is_better: bool,
) -> Result<Lift, StatsError> {
    check_open("alpha", alpha, 0.0, 1.0, "in (0, 1)")?;
    prior.validate()?;
    check_defined(a, b, difference)?;
    let data_variance = positive_variance(a, b, difference)?;
    let data_mean = finite(point_estimate(a, b, difference))?;
    let (mean, std_dev) = match prior {
        Prior::Uninformative => (data_mean, data_variance.sqrt()),
        Prior::Normal { mean, std_dev } => {
            let (prior_mean, prior_variance) = match difference {
                Difference::Relative => (mean, std_dev * std_dev),
                Difference::Absolute => {
                    let control = a.unadjusted_mean();
                    (mean * control.abs(), std_dev * std_dev * control * control)
                }
            };
            if prior_variance <= 0.0 {
                return Err(StatsError::InsufficientData(
                    "a relative prior cannot be scaled to a control mean of 0",
                ));
            }
            let precision = 1.0 / data_variance + 1.0 / prior_variance;
            let mean = (data_mean / data_variance + prior_mean / prior_variance) / precision;
            (mean, (1.0 / precision).sqrt())
        }
    };
    let (mean, std_dev) = (finite(mean)?, finite(std_dev)?);
    let z = mean / std_dev;
    let higher_wins = normal_sf(-z);
    let chance_to_win = if lower_is_better {
        normal_cdf(-z)
    } else {
        higher_wins
    };
    let (gain, loss) = expected_parts(mean, std_dev);
    let risk = if lower_is_better {
        Risk {
            control: loss,
            treatment: gain,
        }
    } else {
        Risk {
            control: gain,
            treatment: loss,
        }
    };
    let half_width = finite(normal_upper_quantile(alpha / 2.0)? * std_dev)?;
    Ok(Lift {
        interval: symmetric(mean, half_width),
        std_error: std_dev,
        evidence: Evidence::Bayesian {
            chance_to_win,
            risk,
        },
    })
}

/// E[max(X, 0)] and E[max(−X, 0)] for X ~ N(μ, σ²): σ(zΦ(z) + φ(z)) and σ(φ(z) − zΦ(−z)) with
/// z = μ/σ — `gbstats`' truncated-normal products (1 − P(X<0))·E[X | X>0] and
/// −P(X<0)·E[X | X<0], in closed form. Never negative.
fn expected_parts(mu: f64, sigma: f64) -> (f64, f64) {
    let z = mu / sigma;
    let density = normal_pdf(z);
    let gain = sigma * (z * normal_cdf(z) + density);
    let loss = sigma * (density - z * normal_cdf(-z));
    (gain.max(0.0), loss.max(0.0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
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

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-12, "{actual} vs {expected}");
    }

    /// gbstats 0.8.0 `EffectBayesianABTest`, 100/10000 vs 150/10000, relative.
    #[test]
    fn matches_gbstats_with_either_prior() {
        let (a, b) = (proportion(10_000, 100), proportion(10_000, 150));
        let flat = effect(
            &a,
            &b,
            Difference::Relative,
            Prior::Uninformative,
            0.05,
            false,
        )
        .unwrap();
        close(flat.interval.estimate, FLAT[0]);
        close(flat.interval.lower, FLAT[1]);
        close(flat.evidence.chance_to_win().unwrap(), FLAT[2]);
        let Evidence::Bayesian { risk, .. } = flat.evidence else {
            panic!("not Bayesian");
        };
        close(risk.control, FLAT[3]);
        close(risk.treatment, FLAT[4]);
        let prior = Prior::Normal {
            mean: 0.0,
            std_dev: 0.3,
        };
        let proper = effect(&a, &b, Difference::Relative, prior, 0.05, false).unwrap();
        close(proper.interval.estimate, PROPER[0]);
        close(proper.interval.lower, PROPER[1]);
        close(proper.evidence.chance_to_win().unwrap(), PROPER[2]);
        let inverse = effect(&a, &b, Difference::Relative, prior, 0.05, true).unwrap();
        close(inverse.evidence.chance_to_win().unwrap(), 1.0 - PROPER[2]);
    }
    /// expected, ci[0], chance_to_win, risk[0], risk[1].
    const FLAT: [f64; 5] = [
        0.4999999999999999,
        0.12273875191491312,
        0.9953064071001173,
        0.5002839144632595,
        0.00028391446325957915,
    ];
    const PROPER: [f64; 3] = [0.3541912632821723, 0.036667584789033814, 0.9856031795979954];

    #[test]
    fn risk_is_never_negative_and_sums_to_the_mean() {
        for (mu, sigma) in [
            (0.3, 0.1),
            (-0.3, 0.1),
            (0.0, 1.0),
            (40.0, 1.0),
            (-40.0, 1.0),
        ] {
            let (gain, loss) = expected_parts(mu, sigma);
            assert!(gain >= 0.0 && loss >= 0.0);
            assert!((gain - loss - mu).abs() < 1e-12, "{mu} {sigma}");
        }
    }

    #[test]
    fn bad_priors_are_rejected() {
        let (a, b) = (proportion(100, 10), proportion(100, 12));
        for prior in [
            Prior::Normal {
                mean: f64::NAN,
                std_dev: 0.1,
            },
            Prior::Normal {
                mean: 0.0,
                std_dev: 0.0,
            },
        ] {
            assert!(effect(&a, &b, Difference::Relative, prior, 0.05, false).is_err());
        }
    }
}
