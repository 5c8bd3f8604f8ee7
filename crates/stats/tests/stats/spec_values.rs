//! Every value in `shared/guardrail-statistics.md`, as data. A value passes when the computed
//! number rounds to the printed one (half a unit in its last printed digit); values printed with
//! 6 decimals are therefore checked to 6 decimals, scientific ones to their printed mantissa.

use switchyard_stats::{
    Alternative, ArmMoments, DEFAULT_N_TUNE, Decision, chi_square_p_value, cs_half_width, cs_rho,
    decide, k_for, ln_e_one_sided, ln_e_two_sided, mean_difference_cs, rho_with_margin,
    rollback_threshold, srm_sequential_ln_e,
};

/// Asserts that `actual` rounds to `printed` (a decimal as printed in the document, ASCII minus,
/// optionally with an `e` exponent).
#[track_caller]
fn assert_rounds_to(actual: f64, printed: &str) {
    let expected: f64 = printed.parse().unwrap();
    let (mantissa, exponent) = match printed.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap()),
        None => (printed, 0),
    };
    let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    let half_ulp = 0.5 * 10f64.powi(exponent - decimals);
    // A hair of slack for the binary representation of the printed value itself.
    let tol = half_ulp * (1.0 + 1e-9);
    assert!(
        (actual - expected).abs() <= tol,
        "{actual:.12e} does not round to {printed} (|diff| = {:.3e}, allowed {half_ulp:.1e})",
        (actual - expected).abs()
    );
}

/// Relative agreement, for reference values computed independently at high precision.
#[track_caller]
fn assert_rel(actual: f64, expected: f64, rel: f64) {
    assert!(
        (actual - expected).abs() <= rel * expected.abs(),
        "{actual:.15e} vs {expected:.15e}"
    );
}

fn default_k() -> f64 {
    k_for(100.0, 0.0025).unwrap()
}

// ---- Tier 1 -------------------------------------------------------------------------------

/// (ρ, k, y_T, y_C, one-sided ln E, two-sided ln E) — the document's first table.
const LN_E_TABLE: &[(f64, f64, u64, u64, &str, &str)] = &[
    (0.5, 10.0, 10, 2, "1.807002", "1.153819"),
    (0.5, 10.0, 30, 10, "4.069156", "3.377912"),
    (0.5, 10.0, 60, 40, "1.288921", "0.623612"),
    (0.5, 10.0, 50, 50, "-1.221634", "-1.221634"),
    (0.05, 10.0, 12, 100, "2.116850", "1.019890"),
    (0.05, 10.0, 30, 300, "3.536196", "2.428594"),
    (0.5, 100.0, 30, 10, "1.922269", "1.274879"),
    (0.25, 20.0, 40, 60, "4.312060", "3.548597"),
];

#[test]
fn ln_e_table_one_and_two_sided() {
    for &(rho, k, yt, yc, one, two) in LN_E_TABLE {
        assert_rounds_to(ln_e_one_sided(yt, yc, rho, k, 0.0).unwrap(), one);
        assert_rounds_to(ln_e_two_sided(yt, yc, rho, k, 0.0).unwrap(), two);
    }
}

/// The same rows against mpmath at 40 digits (computed for this crate from the document's
/// formulas), to show the implementation is accurate well beyond the printed digits.
const LN_E_MPMATH: &[(f64, f64, u64, u64, f64, f64)] = &[
    (0.5, 10.0, 10, 2, 1.807001654, 1.153819482),
    (0.5, 10.0, 30, 10, 4.069156365, 3.37791182),
    (0.5, 10.0, 60, 40, 1.288921203, 0.6236123462),
    (0.5, 10.0, 50, 50, -1.221633759, -1.221633759),
    (0.05, 10.0, 12, 100, 2.116849757, 1.019890258),
    (0.05, 10.0, 30, 300, 3.536195533, 2.428594265),
    (0.5, 100.0, 30, 10, 1.922269434, 1.274879487),
    (0.25, 20.0, 40, 60, 4.312059693, 3.548596973),
];

#[test]
fn ln_e_table_matches_mpmath_to_nine_digits() {
    for &(rho, k, yt, yc, one, two) in LN_E_MPMATH {
        assert_rel(ln_e_one_sided(yt, yc, rho, k, 0.0).unwrap(), one, 1e-9);
        assert_rel(ln_e_two_sided(yt, yc, rho, k, 0.0).unwrap(), two, 1e-9);
    }
}

#[test]
fn k_tuning_values() {
    for (n_opt, printed) in [
        (100.0, "6.664392"),
        (300.0, "21.993175"),
        (1000.0, "75.643918"),
    ] {
        assert_rounds_to(k_for(n_opt, 0.0025).unwrap(), printed);
    }
}

/// (ρ, y_T, y_C, ln E, decision) at the defaults α_total = 0.01, M = 4, k for n_opt = 100.
const DEFAULTS_TABLE: &[(f64, u64, u64, &str, Decision)] = &[
    (0.5, 20, 5, "3.711039", Decision::Continue),
    (0.5, 30, 30, "-1.185072", Decision::Continue),
    (0.05, 10, 60, "3.377305", Decision::Continue),
    (0.05, 20, 100, "9.572424", Decision::RollBack),
    (0.01, 8, 100, "7.972407", Decision::RollBack),
    (0.25, 60, 90, "6.868941", Decision::RollBack),
];

#[test]
fn defaults_table_values_and_decisions() {
    let threshold = rollback_threshold(4, 0.01).unwrap();
    assert_rounds_to(threshold, "5.991465");
    let k = default_k();
    for &(rho, yt, yc, printed, decision) in DEFAULTS_TABLE {
        let ln_e = ln_e_one_sided(yt, yc, rho, k, 0.0).unwrap();
        assert_rounds_to(ln_e, printed);
        assert_eq!(
            decide(ln_e, threshold),
            decision,
            "ρ={rho} y_T={yt} y_C={yc}"
        );
    }
}

#[test]
fn margin_values() {
    assert_rounds_to(rho_with_margin(0.5, 0.1).unwrap(), "0.523810");
    // Printed with 6 decimals, i.e. 5 significant digits (0.0547263682...).
    assert_rounds_to(rho_with_margin(0.05, 0.1).unwrap(), "0.054726");
    let ln_e = ln_e_one_sided(20, 100, 0.05, default_k(), 0.1).unwrap();
    assert_rounds_to(ln_e, "8.331751");
}

#[test]
fn savvi_cross_checks() {
    // The two-sided count e-value and the sequential multinomial test are the same statistic
    // for two cells: both must give savvi's value.
    let cases = [
        // savvi `Multinomial(0.05, [0.2, 0.8], k=77.75351)` on (135, 490).
        ((135, 490), 0.2, 77.75351, "-0.6941012"),
        // `Multinomial(0.05, [0.5, 0.5], k=100)` on (30, 10).
        ((30, 10), 0.5, 100.0, "1.2748795"),
    ];
    for ((treated, control), rho, k, expected) in cases {
        assert_rounds_to(
            ln_e_two_sided(treated, control, rho, k, 0.0).unwrap(),
            expected,
        );
        assert_rounds_to(
            srm_sequential_ln_e(&[treated, control], &[rho, 1.0 - rho], k).unwrap(),
            expected,
        );
    }
}

/// Regression test for the underflow trap: ρ = 0.5, k = 6.66, y_T = 0, y_C = 100000. A linear
/// incomplete beta returns 0 here and the log would be −∞; the true value is about −10.8.
#[test]
fn underflow_case_stays_finite() {
    let ln_e = ln_e_one_sided(0, 100_000, 0.5, 6.66, 0.0).unwrap();
    assert!((ln_e - -10.8).abs() < 0.05, "{ln_e}");
    // mpmath at 40 digits: −10.82806714835979...
    assert_rel(ln_e, -10.828_067_148_359_79, 1e-9);
    // With the exact default k (6.664392...): −10.82771307178798...
    let ln_e = ln_e_one_sided(0, 100_000, 0.5, default_k(), 0.0).unwrap();
    assert_rel(ln_e, -10.827_713_071_787_98, 1e-9);
}

// ---- Tier 2 -------------------------------------------------------------------------------

#[test]
fn tier2_rho_values() {
    assert_rounds_to(
        cs_rho(0.05, DEFAULT_N_TUNE, Alternative::TwoSided).unwrap(),
        "0.0398400668",
    );
    assert_rounds_to(
        cs_rho(0.05, DEFAULT_N_TUNE, Alternative::Greater).unwrap(),
        "0.0355776885",
    );
    assert_eq!(
        cs_rho(0.05, DEFAULT_N_TUNE, Alternative::Less).unwrap(),
        cs_rho(0.05, DEFAULT_N_TUNE, Alternative::Greater).unwrap()
    );
}

/// (s², N, two-sided half-width, one-sided half-width) at α = 0.05, N_tune = 5000.
const HALF_WIDTHS: &[(f64, f64, &str, &str)] = &[
    (1.0, 1000.0, "0.10637547", "0.09968835"),
    (1.0, 10000.0, "0.03061477", "0.02801331"),
    (4.0, 5000.0, "0.08584867", "0.07860466"),
];

#[test]
fn tier2_half_widths() {
    for &(s2, n, two, one) in HALF_WIDTHS {
        let h2 = cs_half_width(s2, n, 0.05, DEFAULT_N_TUNE, Alternative::TwoSided).unwrap();
        let h1 = cs_half_width(s2, n, 0.05, DEFAULT_N_TUNE, Alternative::Greater).unwrap();
        assert_rounds_to(h2, two);
        assert_rounds_to(h1, one);
    }
}

/// gbstats 0.8.0 `SequentialTwoSidedTTest` (absolute, α = 0.05, tuning 5000) on proportions
/// 100/10000 (control) vs 150/10000 (treatment).
#[test]
fn tier2_gbstats_end_to_end() {
    let control = ArmMoments::proportion(10_000, 100).unwrap();
    let treated = ArmMoments::proportion(10_000, 150).unwrap();
    let ci = mean_difference_cs(
        &treated,
        &control,
        0.05,
        DEFAULT_N_TUNE,
        Alternative::TwoSided,
    )
    .unwrap();
    assert_rounds_to(ci.lower, "8.7842147e-05");
    assert_rounds_to(ci.upper, "0.0099121579");
    assert_rounds_to(ci.estimate, "0.005");
    assert!(!ci.contains(0.0));
}

// ---- SRM ----------------------------------------------------------------------------------

/// (counts, weights, Pearson p-value).
const CHI_SQUARE: &[(&[u64], &[f64], &str)] = &[
    (&[1000, 950, 1050, 1000], &[1.0, 1.0, 1.0, 1.0], "0.171797"),
    (&[600, 400], &[1.0, 1.0], "2.53963e-10"),
    (&[5000, 5200], &[1.0, 1.0], "0.0476704"),
    (&[850, 150], &[90.0, 10.0], "1.3608e-07"),
];

#[test]
fn chi_square_p_values() {
    for &(counts, weights, printed) in CHI_SQUARE {
        assert_rounds_to(chi_square_p_value(counts, weights).unwrap(), printed);
    }
}
