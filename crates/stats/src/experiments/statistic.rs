//! Per-arm statistics from aggregates, as `gbstats.models.statistics` defines them:
//! `ProportionStatistic`, `SampleMeanStatistic`, `RatioStatistic` (delta method) and
//! `RegressionAdjustedStatistic` (CUPED), with `compute_theta`'s pooled coefficient.
//!
//! Variances are kept exactly as `gbstats` writes them, including a proportion's p(1 − p) (no
//! n − 1) beside covariances with n − 1, and no clamping of a rounding-negative variance: a
//! variance ≤ 0 makes the lift undefined, as there.

use super::{ArmAggregate, MetricKind, PairedSums};
use crate::{StatsError, finite};

/// A proportion or a sample mean over `n` units: the building block of every statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Base {
    Proportion { n: f64, sum: f64 },
    Sample { n: f64, sum: f64, sum_sq: f64 },
}

impl Base {
    fn new(proportion: bool, n: f64, sum: f64, sum_sq: f64) -> Self {
        if proportion {
            Base::Proportion { n, sum }
        } else {
            Base::Sample { n, sum, sum_sq }
        }
    }

    fn n(&self) -> f64 {
        match *self {
            Base::Proportion { n, .. } | Base::Sample { n, .. } => n,
        }
    }

    fn sum(&self) -> f64 {
        match *self {
            Base::Proportion { sum, .. } | Base::Sample { sum, .. } => sum,
        }
    }

    fn mean(&self) -> f64 {
        if self.n() == 0.0 {
            0.0
        } else {
            self.sum() / self.n()
        }
    }

    fn variance(&self) -> f64 {
        match *self {
            Base::Proportion { .. } => {
                let p = self.mean();
                p * (1.0 - p)
            }
            Base::Sample { n, sum, sum_sq } => {
                if n <= 1.0 {
                    0.0
                } else {
                    (sum_sq - sum * sum / n) / (n - 1.0)
                }
            }
        }
    }

    /// The same kind of statistic over both arms' units together.
    fn joint(&self, other: &Base, n: f64) -> Base {
        match (*self, *other) {
            (Base::Sample { sum_sq: a, .. }, Base::Sample { sum_sq: b, .. }) => Base::Sample {
                n,
                sum: self.sum() + other.sum(),
                sum_sq: a + b,
            },
            _ => Base::Proportion {
                n,
                sum: self.sum() + other.sum(),
            },
        }
    }
}

/// Sample covariance of two bases over the same `n` units from their cross sum.
fn covariance(n: f64, cross: f64, a: &Base, b: &Base) -> f64 {
    if n <= 1.0 {
        0.0
    } else {
        (cross - a.sum() * b.sum() / n) / (n - 1.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Plain(Base),
    Ratio {
        numerator: Base,
        denominator: Base,
        cross: f64,
    },
    Adjusted {
        post: Base,
        pre: Base,
        cross: f64,
        theta: f64,
    },
}

/// One arm's statistic for one metric: its mean (CUPED-adjusted when θ ≠ 0), unadjusted mean and
/// per-unit variance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmStatistic {
    units: u64,
    shape: Shape,
}

impl ArmStatistic {
    /// Validates `arm` for `kind` and builds its statistic; with `cuped` the arm must carry a
    /// covariate, and θ stays 0 until [`cuped_pair`] pools it with the control.
    pub fn new(kind: MetricKind, arm: &ArmAggregate, cuped: bool) -> Result<Self, StatsError> {
        let n = arm.units as f64;
        let proportion = kind == MetricKind::Proportion;
        check_finite("sum", arm.sum)?;
        if proportion {
            check_count("sum", arm.sum, n)?;
        } else {
            check_sum_sq("sum_sq", arm.sum_sq)?;
        }
        let main = Base::new(proportion, n, arm.sum, arm.sum_sq);
        let shape = match (kind, cuped) {
            (MetricKind::Ratio, true) => {
                return Err(StatsError::InvalidParameter {
                    name: "cuped",
                    expected: "off for ratio metrics (gbstats 0.8.0 adjusts means and proportions only)",
                    value: 1.0,
                });
            }
            (MetricKind::Ratio, false) => {
                let d = paired(arm.denominator, "denominator", false, n)?;
                Shape::Ratio {
                    numerator: main,
                    denominator: Base::new(false, n, d.sum, d.sum_sq),
                    cross: d.cross,
                }
            }
            (_, true) => {
                let c = paired(arm.covariate, "covariate", proportion, n)?;
                Shape::Adjusted {
                    post: main,
                    pre: Base::new(proportion, n, c.sum, c.sum_sq),
                    cross: c.cross,
                    theta: 0.0,
                }
            }
            (_, false) => Shape::Plain(main),
        };
        Ok(Self {
            units: arm.units,
            shape,
        })
    }

    /// Units in the arm.
    pub fn units(&self) -> u64 {
        self.units
    }

    /// The mean the lift compares: CUPED-adjusted (post − θ·pre) or, for a ratio, Σ num / Σ den.
    pub fn mean(&self) -> f64 {
        match self.shape {
            Shape::Plain(base) => base.mean(),
            Shape::Ratio {
                numerator,
                denominator,
                ..
            } => {
                if denominator.sum() == 0.0 {
                    0.0
                } else {
                    numerator.sum() / denominator.sum()
                }
            }
            Shape::Adjusted {
                post, pre, theta, ..
            } => post.mean() - theta * pre.mean(),
        }
    }

    /// The mean without CUPED's adjustment: what the arm actually measured.
    pub fn unadjusted_mean(&self) -> f64 {
        match self.shape {
            Shape::Adjusted { post, .. } => post.mean(),
            _ => self.mean(),
        }
    }

    /// Per-unit variance of [`Self::mean`]'s estimator times n (delta method for ratios).
    pub fn variance(&self) -> f64 {
        let n = self.units as f64;
        match self.shape {
            Shape::Plain(base) => base.variance(),
            Shape::Ratio {
                numerator: m,
                denominator: d,
                cross,
            } => {
                let dm = d.mean();
                if dm == 0.0 || n <= 1.0 {
                    return 0.0;
                }
                let cov = covariance(n, cross, &m, &d);
                m.variance() / dm.powi(2) - 2.0 * cov * m.mean() / dm.powi(3)
                    + m.mean().powi(2) * d.variance() / dm.powi(4)
            }
            Shape::Adjusted {
                post,
                pre,
                cross,
                theta,
            } => {
                if n <= 1.0 {
                    return 0.0;
                }
                post.variance() + theta * theta * pre.variance()
                    - 2.0 * theta * covariance(n, cross, &post, &pre)
            }
        }
    }

    /// θ, CUPED's coefficient (0 without CUPED).
    pub fn theta(&self) -> f64 {
        match self.shape {
            Shape::Adjusted { theta, .. } => theta,
            _ => 0.0,
        }
    }
}

/// `gbstats`' `compute_theta`: θ = Cov(post, pre)/Var(pre) over both arms' units pooled, or 0
/// when either pooled variance is 0 (or the statistics are not CUPED ones).
pub fn cuped_theta(control: &ArmStatistic, treatment: &ArmStatistic) -> f64 {
    let (
        Shape::Adjusted {
            post: post_a,
            pre: pre_a,
            cross: cross_a,
            ..
        },
        Shape::Adjusted {
            post: post_b,
            pre: pre_b,
            cross: cross_b,
            ..
        },
    ) = (control.shape, treatment.shape)
    else {
        return 0.0;
    };
    let n = (control.units + treatment.units) as f64;
    let post = post_a.joint(&post_b, n);
    let pre = pre_a.joint(&pre_b, n);
    if pre.variance() == 0.0 || post.variance() == 0.0 {
        return 0.0;
    }
    let theta = covariance(n, cross_a + cross_b, &post, &pre) / pre.variance();
    finite(theta).unwrap_or(0.0)
}

/// The control and treatment statistics with the pair's pooled θ set, as `gbstats`' tests do on
/// construction (θ = 0 leaves them unadjusted).
pub fn cuped_pair(
    control: &ArmStatistic,
    treatment: &ArmStatistic,
) -> (ArmStatistic, ArmStatistic) {
    let theta = cuped_theta(control, treatment);
    let with = |arm: &ArmStatistic| {
        let mut arm = *arm;
        if let Shape::Adjusted { theta: t, .. } = &mut arm.shape {
            *t = theta;
        }
        arm
    };
    (with(control), with(treatment))
}

fn paired(
    sums: Option<PairedSums>,
    name: &'static str,
    proportion: bool,
    n: f64,
) -> Result<PairedSums, StatsError> {
    let Some(s) = sums else {
        return Err(StatsError::InvalidParameter {
            name,
            expected: "present in every arm",
            value: f64::NAN,
        });
    };
    check_finite(name, s.sum)?;
    check_finite(name, s.cross)?;
    if proportion {
        check_count(name, s.sum, n)?;
    } else {
        check_sum_sq(name, s.sum_sq)?;
    }
    Ok(s)
}

fn check_finite(name: &'static str, v: f64) -> Result<(), StatsError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name,
            expected: "finite",
            value: v,
        })
    }
}

fn check_sum_sq(name: &'static str, v: f64) -> Result<(), StatsError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name,
            expected: "a finite, nonnegative sum of squares",
            value: v,
        })
    }
}

fn check_count(name: &'static str, v: f64, n: f64) -> Result<(), StatsError> {
    if (0.0..=n).contains(&v) {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name,
            expected: "a count of converted units between 0 and units",
            value: v,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn arm(units: u64, sum: f64, sum_sq: f64) -> ArmAggregate {
        ArmAggregate {
            units,
            sum,
            sum_sq,
            ..ArmAggregate::default()
        }
    }

    #[test]
    fn proportion_and_mean_variances_follow_gbstats() {
        let p = ArmStatistic::new(MetricKind::Proportion, &arm(100, 20.0, 0.0), false).unwrap();
        assert_eq!(p.mean(), 0.2);
        assert!((p.variance() - 0.16).abs() < 1e-15);
        let m = ArmStatistic::new(MetricKind::Mean, &arm(4, 10.0, 30.0), false).unwrap();
        assert_eq!(m.mean(), 2.5);
        assert!((m.variance() - (30.0 - 25.0) / 3.0).abs() < 1e-15);
    }

    #[test]
    fn theta_recovers_a_linear_relation() {
        // post = 2·pre exactly: θ = 2 and the adjusted variance is 0.
        let mk = |pre: [f64; 3]| {
            let post = pre.map(|v| 2.0 * v);
            ArmAggregate {
                units: 3,
                sum: post.iter().sum(),
                sum_sq: post.iter().map(|v| v * v).sum(),
                denominator: None,
                covariate: Some(PairedSums {
                    sum: pre.iter().sum(),
                    sum_sq: pre.iter().map(|v| v * v).sum(),
                    cross: pre.iter().zip(&post).map(|(a, b)| a * b).sum(),
                }),
            }
        };
        let a = ArmStatistic::new(MetricKind::Mean, &mk([1.0, 2.0, 4.0]), true).unwrap();
        let b = ArmStatistic::new(MetricKind::Mean, &mk([3.0, 5.0, 6.0]), true).unwrap();
        let (a, b) = cuped_pair(&a, &b);
        assert!((a.theta() - 2.0).abs() < 1e-12 && (b.theta() - 2.0).abs() < 1e-12);
        assert!(a.variance().abs() < 1e-9, "{}", a.variance());
        assert_eq!(a.unadjusted_mean(), 14.0 / 3.0);
    }

    #[test]
    fn bad_aggregates_are_rejected() {
        let kind = MetricKind::Proportion;
        assert!(ArmStatistic::new(kind, &arm(10, 11.0, 0.0), false).is_err());
        assert!(ArmStatistic::new(MetricKind::Mean, &arm(10, 1.0, -1.0), false).is_err());
        assert!(ArmStatistic::new(MetricKind::Mean, &arm(10, f64::NAN, 1.0), false).is_err());
        assert!(ArmStatistic::new(MetricKind::Ratio, &arm(10, 1.0, 1.0), false).is_err());
        assert!(ArmStatistic::new(MetricKind::Mean, &arm(10, 1.0, 1.0), true).is_err());
        assert!(ArmStatistic::new(MetricKind::Ratio, &arm(10, 1.0, 1.0), true).is_err());
    }
}
