//! Sample-ratio mismatch (SRM): do the cohorts receive traffic in the configured split? A
//! mismatch means assignment or event delivery is broken, so every other statistic is suspect; it
//! holds a release for a human and never rolls back by itself.
//!
//! Two views of the same counts: Pearson's chi-square p-value for people (a fixed-sample number,
//! reported), and the sequential multinomial test of Lindon & Malek (a Dirichlet-multinomial
//! mixture e-value, valid under continuous monitoring) for gating.

use crate::{StatsError, check_open, finite};
use statrs::function::gamma::{checked_gamma_ur, ln_gamma};

/// Prior concentration of the sequential SRM test.
pub const SRM_K: f64 = 100.0;

/// Level of the sequential SRM test: gate when ln E ≥ ln(1/α).
pub const SRM_ALPHA: f64 = 0.001;

/// Chi-square p-values below this are reported as an SRM alert.
pub const SRM_CHI_SQUARE_ALERT_P: f64 = 0.001;

/// Pearson's chi-square test of `counts` against the split `weights` (any positive scale, e.g.
/// `[95.0, 5.0]` or `[0.95, 0.05]`), with `len − 1` degrees of freedom. No observations give p = 1.
pub fn chi_square_p_value(counts: &[u64], weights: &[f64]) -> Result<f64, StatsError> {
    let probs = normalized(counts, weights)?;
    let n: f64 = counts.iter().map(|&c| c as f64).sum();
    if n == 0.0 {
        return Ok(1.0);
    }
    let stat: f64 = counts
        .iter()
        .zip(&probs)
        .map(|(&o, &p)| {
            let e = n * p;
            let d = o as f64 - e;
            d * d / e
        })
        .sum();
    if stat.is_nan() {
        return Err(StatsError::NoConvergence);
    }
    if stat <= 0.0 {
        return Ok(1.0);
    }
    if stat.is_infinite() {
        return Ok(0.0);
    }
    let df = (counts.len() - 1) as f64;
    match checked_gamma_ur(df / 2.0, stat / 2.0) {
        Ok(p) if p.is_finite() => Ok(p.clamp(0.0, 1.0)),
        _ => Err(StatsError::NoConvergence),
    }
}

/// ln E of the sequential multinomial test (Dirichlet(kθ) mixture over the cell probabilities
/// against the configured split θ): ln Γ(k) − ln Γ(k+n) + Σ [ln Γ(kθ_i+y_i) − ln Γ(kθ_i) − y_i ln θ_i].
/// 0 with no observations; reject the configured split once it reaches ln(1/α).
pub fn srm_sequential_ln_e(counts: &[u64], weights: &[f64], k: f64) -> Result<f64, StatsError> {
    let probs = normalized(counts, weights)?;
    check_open("k", k, 0.0, f64::INFINITY, "positive and finite")?;
    let mut n = 0.0;
    let mut v = 0.0;
    for (&c, &p) in counts.iter().zip(&probs) {
        let a = k * p;
        if a <= 0.0 || !a.is_finite() {
            return Err(StatsError::InvalidParameter {
                name: "k",
                expected: "large enough that every prior parameter is positive",
                value: k,
            });
        }
        let y = c as f64;
        n += y;
        v += ln_gamma(a + y) - ln_gamma(a) - y * p.ln();
    }
    v += ln_gamma(k) - ln_gamma(k + n);
    finite(v)
}

/// Both SRM views of one set of counts, with the default thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SrmReport {
    /// Pearson chi-square p-value (for display; not valid under repeated looks).
    pub chi_square_p: f64,
    /// ln E of the sequential test with k = [`SRM_K`].
    pub ln_e: f64,
    /// `chi_square_p` < [`SRM_CHI_SQUARE_ALERT_P`]: worth showing a person.
    pub alert: bool,
    /// `ln_e` ≥ ln(1/[`SRM_ALPHA`]): hold the release.
    pub mismatch: bool,
}

/// Runs both SRM views with the defaults.
pub fn srm_check(counts: &[u64], weights: &[f64]) -> Result<SrmReport, StatsError> {
    let chi_square_p = chi_square_p_value(counts, weights)?;
    let ln_e = srm_sequential_ln_e(counts, weights, SRM_K)?;
    Ok(SrmReport {
        chi_square_p,
        ln_e,
        alert: chi_square_p < SRM_CHI_SQUARE_ALERT_P,
        mismatch: ln_e >= (1.0 / SRM_ALPHA).ln(),
    })
}

/// Validates the shapes and returns the weights scaled to sum to 1.
fn normalized(counts: &[u64], weights: &[f64]) -> Result<Vec<f64>, StatsError> {
    if counts.len() != weights.len() {
        return Err(StatsError::InvalidParameter {
            name: "weights",
            expected: "one weight per count",
            value: weights.len() as f64,
        });
    }
    if counts.len() < 2 {
        return Err(StatsError::InsufficientData(
            "SRM needs at least two cohorts",
        ));
    }
    for &w in weights {
        check_open("weights", w, 0.0, f64::INFINITY, "positive and finite")?;
    }
    let total: f64 = weights.iter().sum();
    if !total.is_finite() {
        return Err(StatsError::InvalidParameter {
            name: "weights",
            expected: "a finite total",
            value: total,
        });
    }
    Ok(weights.iter().map(|w| w / total).collect())
}
