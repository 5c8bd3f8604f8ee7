//! Tier 1: an anytime-valid e-value for "bad event" counts (errors, timeouts, crashes, requests
//! slower than a fixed latency limit).
//!
//! Under the null hypothesis each bad event lands in the treated cohort with probability ρ, the
//! treated share of eligible evaluations (optionally inflated by a tolerated rate ratio 1 + m to
//! ρ_m). The e-value is the beta-binomial mixture likelihood ratio of Lindon & Malek (NeurIPS 2022)
//! with prior Beta(kρ_m, k(1−ρ_m)); the one-sided form truncates the prior to "treatment worse"
//! (θ > ρ_m). It is a nonnegative martingale under the null, so by Ville's inequality rolling back
//! the first time ln E ≥ ln(M/α_total) keeps the false-alarm probability of each of M metrics
//! below α_total/M however often it is checked. Stage values multiply: the ramp's evidence for a
//! metric is the *sum* of its stages' ln E.
//!
//! Everything is computed in logs, so overwhelming evidence either way stays finite. Rounding in
//! the large cancelling terms grows with the number of events N, about N·10⁻¹⁶ in ln E: below
//! 10⁻⁸ up to 10⁸ events per stage (checked against a 60-digit evaluation).

use crate::special::{ln_beta, ln_inc_beta};
use crate::{StatsError, check_open, finite};

/// Family-wise false-alarm budget across all guardrail metrics of a release.
pub const DEFAULT_ALPHA_TOTAL: f64 = 0.01;

/// Number of bad events at which the default prior is tuned to detect fastest (see [`k_for`]).
pub const DEFAULT_N_OPT: f64 = 100.0;

/// The null treated share of bad events when the treatment may be up to `1 + margin` times as
/// bad as control without counting as harm: ρ_m = ρ(1+m) / (ρ(1+m) + 1 − ρ).
///
/// `rho` must lie in (0, 1) and `margin` in (−1, ∞); `margin = 0` returns `rho`.
pub fn rho_with_margin(rho: f64, margin: f64) -> Result<f64, StatsError> {
    Ok(Split::new(rho, margin)?.rho_m)
}

/// The prior concentration k that makes the test fastest at about `n_opt` bad events for a
/// per-metric level `alpha_j` (Howard et al. 2021's tuning):
/// k = n_opt / (2 ln(1/(2α)) + ln(1 + 2 ln(1/(2α)))) − 1.
///
/// `alpha_j` must lie in (0, 0.5); `n_opt` must be large enough for k to be positive (about 14
/// events at α_j = 0.0025).
pub fn k_for(n_opt: f64, alpha_j: f64) -> Result<f64, StatsError> {
    check_open("n_opt", n_opt, 0.0, f64::INFINITY, "positive and finite")?;
    check_open("alpha_j", alpha_j, 0.0, 0.5, "in (0, 0.5)")?;
    let l = 2.0 * (1.0 / (2.0 * alpha_j)).ln();
    let k = n_opt / (l + (1.0 + l).ln()) - 1.0;
    if k > 0.0 {
        Ok(k)
    } else {
        Err(StatsError::InvalidParameter {
            name: "n_opt",
            expected: "large enough that k is positive",
            value: n_opt,
        })
    }
}

/// ln E for "the treatment has a higher bad-event rate than control (beyond the margin)".
///
/// This is the guardrail statistic: it grows with treated bad events (monotone non-decreasing in
/// `y_t`), falls with control ones, is exactly 0 with no events, and can be very negative but never
/// −∞ or NaN. `rho` is the treated share of eligible evaluations observed in the stage so far,
/// `k` the prior concentration ([`k_for`]), `margin` the tolerated relative increase (0 for none).
pub fn ln_e_one_sided(
    y_t: u64,
    y_c: u64,
    rho: f64,
    k: f64,
    margin: f64,
) -> Result<f64, StatsError> {
    let p = Prior::new(rho, k, margin)?;
    let (yt, yc) = (y_t as f64, y_c as f64);
    let x = p.split.one_minus;
    let y = p.split.rho_m;
    // θ ~ Beta(a, b) is the treated share of bad events; the one-sided prior keeps only θ > ρ_m,
    // whose mass is I_{1−ρ_m}(b, a). The ln B terms of the formula cancel against the
    // regularization of I, leaving unregularized incomplete betas.
    let posterior = ln_inc_beta(p.b + yc, p.a + yt, x, y)?;
    let prior = ln_inc_beta(p.b, p.a, x, y)?;
    finite(posterior - prior - yt * y.ln() - yc * x.ln())
}

/// ln E for "the treated share of bad events differs from ρ_m" in either direction.
///
/// Useful for reports; guardrails use [`ln_e_one_sided`] because only it is monotone in `y_t`
/// (an improvement must not roll a release back).
pub fn ln_e_two_sided(
    y_t: u64,
    y_c: u64,
    rho: f64,
    k: f64,
    margin: f64,
) -> Result<f64, StatsError> {
    let p = Prior::new(rho, k, margin)?;
    let (yt, yc) = (y_t as f64, y_c as f64);
    let v = ln_beta(p.a + yt, p.b + yc)
        - ln_beta(p.a, p.b)
        - yt * p.split.rho_m.ln()
        - yc * p.split.one_minus.ln();
    finite(v)
}

/// The roll-back threshold ln(M/α_total) for `metrics` guardrail metrics sharing a false-alarm
/// budget `alpha_total` (Bonferroni across metrics; e-values need no correction across looks).
pub fn rollback_threshold(metrics: u32, alpha_total: f64) -> Result<f64, StatsError> {
    if metrics == 0 {
        return Err(StatsError::InvalidParameter {
            name: "metrics",
            expected: "at least 1",
            value: 0.0,
        });
    }
    check_open("alpha_total", alpha_total, 0.0, 1.0, "in (0, 1)")?;
    Ok((f64::from(metrics) / alpha_total).ln())
}

/// What the Tier 1 evidence says to do with a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Not enough evidence of harm: keep going.
    Continue,
    /// The evidence crossed the threshold: revert the release now.
    RollBack,
}

/// Compares a metric's ramp evidence (the sum of its stages' ln E) with the threshold from
/// [`rollback_threshold`]. A NaN on either side means no decision was possible: [`Decision::Continue`].
pub fn decide(ln_e: f64, threshold: f64) -> Decision {
    if ln_e >= threshold {
        Decision::RollBack
    } else {
        Decision::Continue
    }
}

/// Bad-event counts of one metric in one stage, accumulated as events arrive.
///
/// The e-value depends only on the totals, so events may be recorded one at a time, in batches or
/// in any order with the same result; counts saturate instead of overflowing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CountEvidence {
    treated: u64,
    control: u64,
}

impl CountEvidence {
    /// No events yet (E = 1, ln E = 0).
    pub const fn new() -> Self {
        Self {
            treated: 0,
            control: 0,
        }
    }

    /// Adds `n` bad events seen in the treated cohort.
    pub fn record_treated(&mut self, n: u64) {
        self.treated = self.treated.saturating_add(n);
    }

    /// Adds `n` bad events seen in the control cohort.
    pub fn record_control(&mut self, n: u64) {
        self.control = self.control.saturating_add(n);
    }

    /// Adds another accumulator's counts (e.g. from another server shard of the same stage).
    pub fn merge(&mut self, other: &CountEvidence) {
        self.record_treated(other.treated);
        self.record_control(other.control);
    }

    /// Bad events in the treated cohort so far.
    pub fn treated(&self) -> u64 {
        self.treated
    }

    /// Bad events in the control cohort so far.
    pub fn control(&self) -> u64 {
        self.control
    }

    /// [`ln_e_one_sided`] of the counts so far.
    pub fn ln_e_one_sided(&self, rho: f64, k: f64, margin: f64) -> Result<f64, StatsError> {
        ln_e_one_sided(self.treated, self.control, rho, k, margin)
    }

    /// [`ln_e_two_sided`] of the counts so far.
    pub fn ln_e_two_sided(&self, rho: f64, k: f64, margin: f64) -> Result<f64, StatsError> {
        ln_e_two_sided(self.treated, self.control, rho, k, margin)
    }
}

/// ρ_m and 1 − ρ_m, each formed without cancellation.
#[derive(Debug, Clone, Copy)]
struct Split {
    rho_m: f64,
    one_minus: f64,
}

impl Split {
    fn new(rho: f64, margin: f64) -> Result<Self, StatsError> {
        check_open("rho", rho, 0.0, 1.0, "in (0, 1)")?;
        check_open("margin", margin, -1.0, f64::INFINITY, "finite and > -1")?;
        let treated = rho * (1.0 + margin);
        let denom = treated + (1.0 - rho);
        let split = Self {
            rho_m: treated / denom,
            one_minus: (1.0 - rho) / denom,
        };
        if split.rho_m > 0.0 && split.one_minus > 0.0 && split.rho_m < 1.0 {
            Ok(split)
        } else {
            Err(StatsError::InvalidParameter {
                name: "margin",
                expected: "small enough that rho_m stays inside (0, 1)",
                value: margin,
            })
        }
    }
}

/// The Beta(kρ_m, k(1−ρ_m)) prior.
#[derive(Debug, Clone, Copy)]
struct Prior {
    split: Split,
    a: f64,
    b: f64,
}

impl Prior {
    fn new(rho: f64, k: f64, margin: f64) -> Result<Self, StatsError> {
        let split = Split::new(rho, margin)?;
        check_open("k", k, 0.0, f64::INFINITY, "positive and finite")?;
        let (a, b) = (k * split.rho_m, k * split.one_minus);
        if a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite() {
            Ok(Self { split, a, b })
        } else {
            Err(StatsError::InvalidParameter {
                name: "k",
                expected: "large enough that both prior parameters are positive",
                value: k,
            })
        }
    }
}
