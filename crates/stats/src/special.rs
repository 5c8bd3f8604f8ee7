//! Special functions kept in log space. `statrs` supplies ln Γ and the regularized incomplete
//! gamma; the incomplete beta is ours because `statrs::function::beta::beta_reg` works in linear
//! space and underflows to 0 exactly where a guardrail most needs it (overwhelming evidence that
//! the treatment is *not* worse, which must stay a finite, very negative log).

use crate::{StatsError, finite};
use statrs::function::gamma::ln_gamma;

/// ln B(a, b) for a, b > 0.
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(1 − e^l) for l < 0, accurate at both ends (Mächler 2012). Returns −∞ for l ≥ 0.
fn ln_1m_exp(l: f64) -> f64 {
    if l >= 0.0 {
        f64::NEG_INFINITY
    } else if l > -std::f64::consts::LN_2 {
        (-l.exp_m1()).ln()
    } else {
        (-l.exp()).ln_1p()
    }
}

/// ln of the *unregularized* lower incomplete beta function
/// B_x(p, q) = ∫₀ˣ t^(p−1) (1−t)^(q−1) dt, for p, q > 0 and 0 < x < 1.
///
/// `y` must be 1 − x, passed separately so that callers with x close to 1 (a 1 % stage has
/// x = 0.99) lose no digits forming it.
///
/// Where the continued fraction converges quickly (x below roughly the mean of Beta(p, q)) the
/// value is x^p y^q / p · CF, all in logs. Otherwise it is B(p, q) − B_y(q, p), i.e.
/// ln B(p, q) + ln(1 − I_y(q, p)); there I_y(q, p) is at most moderate, so the subtraction is
/// accurate and nothing underflows.
pub(crate) fn ln_inc_beta(p: f64, q: f64, x: f64, y: f64) -> Result<f64, StatsError> {
    if x < (p + 1.0) / (p + q + 2.0) {
        let cf = beta_cf(p, q, x)?;
        Ok(p * x.ln() + q * y.ln() - p.ln() + cf.ln())
    } else {
        let ln_b = ln_beta(p, q);
        let cf = beta_cf(q, p, y)?;
        let ln_i_other = q * y.ln() + p * x.ln() - q.ln() + cf.ln() - ln_b;
        if ln_i_other > -0.1 {
            // Only with a degenerate Beta (a parameter far below 1) is the complement nearly 1,
            // and then 1 − I loses its digits; the direct fraction still converges there.
            if let Ok(cf) = beta_cf(p, q, x) {
                return Ok(p * x.ln() + q * y.ln() - p.ln() + cf.ln());
            }
        }
        let v = ln_b + ln_1m_exp(ln_i_other);
        finite(v)
    }
}

/// ln I_x(p, q), the regularized incomplete beta, in logs.
#[cfg(test)]
pub(crate) fn ln_beta_reg(p: f64, q: f64, x: f64, y: f64) -> Result<f64, StatsError> {
    Ok(ln_inc_beta(p, q, x, y)? - ln_beta(p, q))
}

/// Continued fraction for the incomplete beta (modified Lentz; Numerical Recipes §6.4).
/// Returns a positive finite value or an error, never NaN.
pub(crate) fn beta_cf(a: f64, b: f64, x: f64) -> Result<f64, StatsError> {
    const EPS: f64 = 4.0 * f64::EPSILON;
    const TINY: f64 = 1e-300;
    // The number of terms needed grows like the square root of the larger parameter.
    let max_iter = (500.0 + 30.0 * a.max(b).sqrt()).min(5.0e6) as u64;

    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    // Lentz's guard: a denominator too close to zero is replaced by a tiny one.
    let nonzero = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / nonzero(1.0 - qab * x / qap);
    let mut h = d;
    // One step with the next coefficient `aa`: updates C and D, returns the factor C·D.
    let mut step = |aa: f64| {
        d = 1.0 / nonzero(1.0 + aa * d);
        c = nonzero(1.0 + aa / c);
        d * c
    };
    for m in 1..=max_iter {
        let m = m as f64;
        let m2 = 2.0 * m;
        // Even step.
        h *= step(m * (b - m) * x / ((qam + m2) * (a + m2)));
        // Odd step.
        let del = step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)));
        h *= del;
        if (del - 1.0).abs() < EPS {
            return if h.is_finite() && h > 0.0 {
                Ok(h)
            } else {
                Err(StatsError::NoConvergence)
            };
        }
    }
    Err(StatsError::NoConvergence)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Relative agreement, with a floor of 1e-15 absolute: ln I is only ever added to other logs,
    /// so its absolute error is what matters.
    fn close(actual: f64, expected: f64, rel: f64) {
        assert!(
            (actual - expected).abs() <= rel * expected.abs() + 1e-15,
            "{actual} vs {expected}"
        );
    }

    #[test]
    fn ln_beta_reg_matches_reference_values() {
        // (p, q, x, ln I_x(p, q)) from mpmath at 40 digits.
        let cases = [
            (2.0, 3.0, 0.4, -0.644_738_041_352_257_7),
            (0.5, 0.5, 0.5, -std::f64::consts::LN_2),
            (10.0, 10.0, 0.3, -3.4248747856512063),
            (100003.33, 3.33, 0.5, -69292.8343147978),
            (0.333, 6.331, 0.95, -6.387_017_730_406_795e-10),
        ];
        for (p, q, x, expected) in cases {
            let got = ln_beta_reg(p, q, x, 1.0 - x).unwrap();
            close(got, expected, 1e-11);
        }
    }

    /// Above the switch point with a degenerate Beta (one parameter far below 1) the complement
    /// 1 − I_y(q, p) is nearly 0 and loses its digits; the direct fraction must take over.
    #[test]
    fn ln_inc_beta_with_a_tiny_parameter() {
        // (p, q, y = 1 − x, ln B_x(p, q)) from mpmath at 40 digits.
        let cases = [
            (6.65, 0.00666, 0.001, 1.478_347_920_187_734),
            (6.6, 0.0666, 0.01, 0.608_802_079_118_183_1),
            (10.0, 1e-4, 1e-3, 1.407_530_696_745_605),
            (1000.0, 1e-7, 1e-4, 0.600_664_365_832_131_7),
            (1e5, 1e-9, 1e-6, 0.600_444_003_541_589_3),
            (5.0, 1e-6, 0.3, -2.469_650_919_645_108),
        ];
        // 1e-10: near x = 1 the value moves by ~y^(q−1) per unit of x, so rounding x = 1 − y
        // alone accounts for ~1e-11.
        for (p, q, y, expected) in cases {
            close(ln_inc_beta(p, q, 1.0 - y, y).unwrap(), expected, 1e-10);
        }
    }

    #[test]
    fn symmetry_holds_in_logs() {
        for &(p, q, x) in &[(3.0, 7.0, 0.2), (50.0, 5.0, 0.95), (0.1, 0.2, 0.6)] {
            let lower = ln_beta_reg(p, q, x, 1.0 - x).unwrap().exp();
            let upper = ln_beta_reg(q, p, 1.0 - x, x).unwrap().exp();
            close(lower + upper, 1.0, 1e-13);
        }
    }

    #[test]
    fn ln_1m_exp_is_accurate_at_both_ends() {
        close(ln_1m_exp(-1e-20), (1e-20_f64).ln(), 1e-12);
        close(ln_1m_exp(-50.0), -(-50.0_f64).exp(), 1e-12);
        assert_eq!(ln_1m_exp(0.0), f64::NEG_INFINITY);
    }
}
