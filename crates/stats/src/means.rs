//! Tier 2: an asymptotic confidence sequence for the difference of two means (log-latency,
//! per-user KPIs), after Waudby-Smith et al. 2023 as implemented in GrowthBook's `gbstats`
//! (`SequentialTwoSidedTTest`, absolute effect).
//!
//! The interval covers the true difference at every sample size simultaneously with probability
//! about 1 − α, so it may be recomputed as often as data arrive. It is asymptotic (it leans on the
//! central limit theorem), hence [`MIN_SAMPLES_PER_ARM`] before acting on it.

use crate::{StatsError, check_open, finite};

/// The sample size (both arms together) at which the sequence is tightest; `gbstats`' default.
pub const DEFAULT_N_TUNE: f64 = 5000.0;

/// Below this many samples in either arm the normal approximation is not trusted.
pub const MIN_SAMPLES_PER_ARM: u64 = 100;

/// Which differences the interval guards against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alternative {
    /// Either direction: a finite interval [Δ̂ − h, Δ̂ + h] at level α.
    TwoSided,
    /// Treatment mean greater than control (e.g. latency up): a lower bound [Δ̂ − h, +∞).
    Greater,
    /// Treatment mean less than control (e.g. conversions down): an upper bound (−∞, Δ̂ + h].
    Less,
}

/// One arm's sufficient statistics: count, sum and sum of squares, which add across shards and
/// time. Build it with [`ArmMoments::from_sums`] for real-valued metrics or
/// [`ArmMoments::proportion`] for 0/1 metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmMoments {
    n: u64,
    sum: f64,
    sum_sq: f64,
    proportion: bool,
}

impl ArmMoments {
    /// A real-valued metric; its variance is the unbiased sample variance (divisor n − 1).
    /// `sum` must be finite and `sum_sq` finite and nonnegative.
    pub fn from_sums(n: u64, sum: f64, sum_sq: f64) -> Result<Self, StatsError> {
        if !sum.is_finite() {
            return Err(StatsError::InvalidParameter {
                name: "sum",
                expected: "finite",
                value: sum,
            });
        }
        if !(sum_sq.is_finite() && sum_sq >= 0.0) {
            return Err(StatsError::InvalidParameter {
                name: "sum_sq",
                expected: "finite and nonnegative",
                value: sum_sq,
            });
        }
        Ok(Self {
            n,
            sum,
            sum_sq,
            proportion: false,
        })
    }

    /// A 0/1 metric with `successes` ones out of `n`; its variance is p̂(1 − p̂), as `gbstats`
    /// uses for proportions.
    pub fn proportion(n: u64, successes: u64) -> Result<Self, StatsError> {
        if successes > n {
            return Err(StatsError::InvalidParameter {
                name: "successes",
                expected: "at most n",
                value: successes as f64,
            });
        }
        let s = successes as f64;
        Ok(Self {
            n,
            sum: s,
            sum_sq: s,
            proportion: true,
        })
    }

    /// Number of observations.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// Sample mean (0 with no observations).
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }

    /// Per-observation variance (see the constructors), never negative.
    pub fn variance(&self) -> f64 {
        let n = self.n as f64;
        if self.proportion {
            let p = self.mean();
            return (p * (1.0 - p)).max(0.0);
        }
        if self.n < 2 {
            return 0.0;
        }
        ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0)
    }

    fn min_n(&self) -> u64 {
        if self.proportion { 1 } else { 2 }
    }
}

/// The mixing parameter ρ for tuning size `n_tune`:
/// ρ = sqrt((−2 ln α′ + ln(−2 ln α′ + 1)) / N_tune), with α′ = α two-sided and 2α one-sided.
pub fn cs_rho(alpha: f64, n_tune: f64, alternative: Alternative) -> Result<f64, StatsError> {
    let a = effective_alpha(alpha, alternative)?;
    check_open("n_tune", n_tune, 0.0, f64::INFINITY, "positive and finite")?;
    let l = -2.0 * a.ln();
    Ok(((l + (l + 1.0).ln()) / n_tune).sqrt())
}

/// Half-width of the confidence sequence for per-observation variance `s2` after `n`
/// observations (for two arms: s² = SE²·N with N = n_T + n_C):
/// two-sided h = sqrt(s² · 2(Nρ²+1)/(Nρ)² · ln(sqrt(Nρ²+1)/α)),
/// one-sided h = sqrt(s² · 2(Nρ²+1)/(Nρ)² · ln(1 + sqrt(Nρ²+1)/(2α))).
pub fn cs_half_width(
    s2: f64,
    n: f64,
    alpha: f64,
    n_tune: f64,
    alternative: Alternative,
) -> Result<f64, StatsError> {
    if !(s2.is_finite() && s2 >= 0.0) {
        return Err(StatsError::InvalidParameter {
            name: "s2",
            expected: "finite and nonnegative",
            value: s2,
        });
    }
    check_open("n", n, 0.0, f64::INFINITY, "positive and finite")?;
    let rho = cs_rho(alpha, n_tune, alternative)?;
    let nr2 = n * rho * rho + 1.0;
    let log_term = match alternative {
        Alternative::TwoSided => (nr2.sqrt() / alpha).ln(),
        Alternative::Greater | Alternative::Less => (nr2.sqrt() / (2.0 * alpha)).ln_1p(),
    };
    let h = (s2 * 2.0 * nr2 / (n * rho).powi(2) * log_term).sqrt();
    finite(h)
}

/// A confidence sequence for Δ = mean(treated) − mean(control) at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Δ̂ = x̄_T − x̄_C.
    pub estimate: f64,
    /// h, the distance from Δ̂ to the finite bound(s).
    pub half_width: f64,
    /// Δ̂ − h, or −∞ for [`Alternative::Less`].
    pub lower: f64,
    /// Δ̂ + h, or +∞ for [`Alternative::Greater`].
    pub upper: f64,
}

impl Interval {
    /// Whether `value` (typically 0, or a tolerated difference) is still plausible; when it is
    /// not, the data show a difference beyond it.
    pub fn contains(&self, value: f64) -> bool {
        self.lower <= value && value <= self.upper
    }
}

/// The confidence sequence for the difference of means between `treated` and `control`, with
/// SE² = s_T²/n_T + s_C²/n_C. Zero variance in both arms gives a zero-width interval.
///
/// Errors if an arm has too few observations to estimate a variance (1 for proportions, 2 for
/// real values); callers should in any case wait for [`MIN_SAMPLES_PER_ARM`].
pub fn mean_difference_cs(
    treated: &ArmMoments,
    control: &ArmMoments,
    alpha: f64,
    n_tune: f64,
    alternative: Alternative,
) -> Result<Interval, StatsError> {
    if treated.n < treated.min_n() || control.n < control.min_n() {
        return Err(StatsError::InsufficientData(
            "each arm needs enough observations to estimate a variance",
        ));
    }
    let (nt, nc) = (treated.n as f64, control.n as f64);
    let se2 = treated.variance() / nt + control.variance() / nc;
    let n = nt + nc;
    let h = cs_half_width(se2 * n, n, alpha, n_tune, alternative)?;
    let estimate = treated.mean() - control.mean();
    if !estimate.is_finite() {
        return Err(StatsError::NoConvergence);
    }
    let (lower, upper) = match alternative {
        Alternative::TwoSided => (estimate - h, estimate + h),
        Alternative::Greater => (estimate - h, f64::INFINITY),
        Alternative::Less => (f64::NEG_INFINITY, estimate + h),
    };
    Ok(Interval {
        estimate,
        half_width: h,
        lower,
        upper,
    })
}

fn effective_alpha(alpha: f64, alternative: Alternative) -> Result<f64, StatsError> {
    match alternative {
        Alternative::TwoSided => check_open("alpha", alpha, 0.0, 1.0, "in (0, 1)"),
        Alternative::Greater | Alternative::Less => check_open(
            "alpha",
            alpha,
            0.0,
            0.5,
            "in (0, 0.5) for a one-sided interval",
        )
        .map(|a| 2.0 * a),
    }
}
