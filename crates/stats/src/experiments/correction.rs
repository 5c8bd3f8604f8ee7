//! Multiple-comparison corrections of p-values across variations and metrics. `gbstats` 0.8.0
//! has none (GrowthBook applies them in its application layer); these are the textbook
//! adjusted p-values, equal to R's `p.adjust(p, "holm")` and `p.adjust(p, "BH")` (and to
//! `scipy.stats.false_discovery_control(p, method="bh")`, which the `gbstats` test checks).
//! An adjusted p-value is compared with α as it is.

use crate::StatsError;

/// Which family-wise guarantee to adjust for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Correction {
    /// Family-wise error rate ≤ α (Holm 1979; uniformly more powerful than Bonferroni).
    HolmBonferroni,
    /// False discovery rate ≤ α (Benjamini & Hochberg 1995).
    BenjaminiHochberg,
}

/// Adjusts `p_values` (in the caller's order) by `correction`.
pub fn adjust(p_values: &[f64], correction: Correction) -> Result<Vec<f64>, StatsError> {
    match correction {
        Correction::HolmBonferroni => holm_bonferroni(p_values),
        Correction::BenjaminiHochberg => benjamini_hochberg(p_values),
    }
}

/// Holm's step-down adjustment: with p₍₁₎ ≤ … ≤ p₍ₘ₎, the i-th smallest becomes
/// max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎). Returned in the input order.
pub fn holm_bonferroni(p_values: &[f64]) -> Result<Vec<f64>, StatsError> {
    let order = ascending(p_values)?;
    let m = p_values.len() as f64;
    let mut adjusted = vec![0.0; p_values.len()];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank as f64) * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    Ok(adjusted)
}

/// Benjamini–Hochberg's step-up adjustment: the i-th smallest becomes
/// min over j ≥ i of min(1, m·p₍ⱼ₎/j). Returned in the input order.
pub fn benjamini_hochberg(p_values: &[f64]) -> Result<Vec<f64>, StatsError> {
    let order = ascending(p_values)?;
    let m = p_values.len() as f64;
    let mut adjusted = vec![0.0; p_values.len()];
    let mut running = 1.0_f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min((m * p_values[i] / (rank as f64 + 1.0)).min(1.0));
        adjusted[i] = running;
    }
    Ok(adjusted)
}

/// Indices of `p_values` from smallest to largest (ties in input order), after checking each
/// lies in [0, 1].
fn ascending(p_values: &[f64]) -> Result<Vec<usize>, StatsError> {
    for &p in p_values {
        if !(0.0..=1.0).contains(&p) {
            return Err(StatsError::InvalidParameter {
                name: "p_values",
                expected: "probabilities in [0, 1]",
                value: p,
            });
        }
    }
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    Ok(order)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn close(actual: &[f64], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() < 1e-15, "{actual:?} vs {expected:?}");
        }
    }

    /// By hand, as R defines p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.5), "holm") and "BH".
    #[test]
    fn matches_r_p_adjust() {
        let p = [0.01, 0.04, 0.03, 0.005, 0.5];
        close(
            &holm_bonferroni(&p).unwrap(),
            &[0.04, 0.09, 0.09, 0.025, 0.5],
        );
        close(
            &benjamini_hochberg(&p).unwrap(),
            &[0.025, 0.05, 0.05, 0.025, 0.5],
        );
    }

    #[test]
    fn adjusted_values_stay_probabilities_and_keep_order() {
        let p = [0.9, 0.8, 0.7];
        assert_eq!(holm_bonferroni(&p).unwrap(), vec![1.0, 1.0, 1.0]);
        assert_eq!(benjamini_hochberg(&p).unwrap(), vec![0.9, 0.9, 0.9]);
        assert!(holm_bonferroni(&[]).unwrap().is_empty());
        assert_eq!(
            adjust(&[0.2], Correction::BenjaminiHochberg).unwrap(),
            vec![0.2]
        );
    }

    #[test]
    fn invalid_p_values_are_rejected() {
        assert!(holm_bonferroni(&[0.1, f64::NAN]).is_err());
        assert!(benjamini_hochberg(&[1.5]).is_err());
    }
}
