//! Properties over seeded random inputs (hand-rolled loops; no proptest dependency).

use crate::SplitMix64;
use switchyard_stats::{
    Alternative, ArmMoments, CountEvidence, StatsError, chi_square_p_value, cs_half_width, cs_rho,
    k_for, ln_e_one_sided, ln_e_two_sided, mean_difference_cs, rho_with_margin, rollback_threshold,
    srm_check, srm_sequential_ln_e,
};

/// Random prior settings covering stages from 0.1 % to 99.9 %, weak to strong priors and margins.
fn random_params(rng: &mut SplitMix64) -> (f64, f64, f64) {
    let rho = 10f64.powf(rng.range(-3.0, 0.0)).min(0.999);
    let k = 10f64.powf(rng.range(-1.0, 3.0));
    let margin = if rng.uniform() < 0.5 {
        0.0
    } else {
        rng.range(-0.5, 2.0)
    };
    (rho, k, margin)
}

#[test]
fn e_is_one_at_zero_counts() {
    let mut rng = SplitMix64::new(1);
    for _ in 0..500 {
        let (rho, k, margin) = random_params(&mut rng);
        assert_eq!(ln_e_one_sided(0, 0, rho, k, margin).unwrap(), 0.0);
        assert_eq!(ln_e_two_sided(0, 0, rho, k, margin).unwrap(), 0.0);
        assert_eq!(
            CountEvidence::new().ln_e_one_sided(rho, k, margin).unwrap(),
            0.0
        );
    }
    let weights = [1.0, 2.0, 3.0];
    assert_eq!(
        srm_sequential_ln_e(&[0, 0, 0], &weights, 100.0).unwrap(),
        0.0
    );
}

/// More treated bad events is never less evidence of harm; more control ones never more. The
/// second half is what lets a monitor skip checks after control events (see `simulation`).
#[test]
fn one_sided_is_monotone() {
    let mut rng = SplitMix64::new(2);
    for _ in 0..60 {
        let (rho, k, margin) = random_params(&mut rng);
        let y_c = rng.below(5_000);
        let mut prev = ln_e_one_sided(0, y_c, rho, k, margin).unwrap();
        for y_t in 1..=300 {
            let v = ln_e_one_sided(y_t, y_c, rho, k, margin).unwrap();
            assert!(
                v >= prev - 1e-9 * prev.abs().max(1.0),
                "not monotone in y_T: ρ={rho} k={k} m={margin} y_C={y_c} y_T={y_t}: {prev} → {v}"
            );
            prev = v;
        }
        let y_t = rng.below(300);
        let mut prev = ln_e_one_sided(y_t, 0, rho, k, margin).unwrap();
        for y_c in 1..=300 {
            let v = ln_e_one_sided(y_t, y_c, rho, k, margin).unwrap();
            assert!(
                v <= prev + 1e-9 * prev.abs().max(1.0),
                "not monotone in y_C: ρ={rho} k={k} m={margin} y_T={y_t} y_C={y_c}: {prev} → {v}"
            );
            prev = v;
        }
    }
}

/// Feeding events one by one, in any order, in batches or through shards gives the same
/// evidence as feeding the totals at once.
#[test]
fn evidence_is_independent_of_event_order() {
    let mut rng = SplitMix64::new(3);
    for _ in 0..100 {
        let (rho, k, margin) = random_params(&mut rng);
        let events: Vec<bool> = (0..rng.below(2_000)).map(|_| rng.uniform() < 0.3).collect();

        let mut one_by_one = CountEvidence::new();
        let mut shards = [CountEvidence::new(), CountEvidence::new()];
        for &treated in &events {
            let shard = &mut shards[rng.below(2) as usize];
            if treated {
                one_by_one.record_treated(1);
                shard.record_treated(1);
            } else {
                one_by_one.record_control(1);
                shard.record_control(1);
            }
        }
        let mut reversed = CountEvidence::new();
        for &treated in events.iter().rev() {
            if treated {
                reversed.record_treated(1);
            } else {
                reversed.record_control(1);
            }
        }
        let mut merged = shards[0];
        merged.merge(&shards[1]);

        let y_t = events.iter().filter(|&&t| t).count() as u64;
        let y_c = events.len() as u64 - y_t;
        let mut at_once = CountEvidence::new();
        at_once.record_control(y_c);
        at_once.record_treated(y_t);

        let expected = ln_e_one_sided(y_t, y_c, rho, k, margin).unwrap();
        for ev in [one_by_one, reversed, merged, at_once] {
            assert_eq!((ev.treated(), ev.control()), (y_t, y_c));
            assert_eq!(ev.ln_e_one_sided(rho, k, margin).unwrap(), expected);
            assert_eq!(
                ev.ln_e_two_sided(rho, k, margin).unwrap(),
                ln_e_two_sided(y_t, y_c, rho, k, margin).unwrap()
            );
        }
    }
}

/// Extreme but legal inputs give finite answers: overwhelming evidence either way, tiny and huge
/// stages, weak and strong priors, counts far beyond a real stage.
#[test]
fn extreme_counts_stay_finite() {
    let counts = [0, 1, 10, 1_000, 100_000, 10_000_000, 1_000_000_000];
    for &rho in &[0.001, 0.01, 0.05, 0.5, 0.99, 0.999] {
        for &k in &[0.1, 6.66, 1000.0] {
            for &y_t in &counts {
                for &y_c in &counts {
                    for margin in [0.0, 0.5] {
                        let one = ln_e_one_sided(y_t, y_c, rho, k, margin);
                        let two = ln_e_two_sided(y_t, y_c, rho, k, margin);
                        assert!(
                            one.is_ok_and(f64::is_finite) && two.is_ok_and(f64::is_finite),
                            "ρ={rho} k={k} y_T={y_t} y_C={y_c} m={margin}: {one:?} {two:?}"
                        );
                    }
                }
            }
        }
    }
    // The saturated accumulator still answers: overwhelming evidence, y_T · ln(1/ρ) with ρ = ½.
    let mut ev = CountEvidence::new();
    ev.record_treated(u64::MAX);
    ev.record_treated(u64::MAX);
    assert_eq!(ev.treated(), u64::MAX);
    let answer = ev.ln_e_one_sided(0.5, 6.66, 0.0).unwrap();
    let expected = u64::MAX as f64 * 2f64.ln();
    assert!(
        ((answer - expected) / expected).abs() < 1e-9,
        "{answer} vs {expected}"
    );
}

/// Random legal inputs over wide ranges (stages 0.01 %–99.99 %, k from 0.1 to 10^4, margins up
/// to 100×, counts up to 10^10) always give a finite answer.
#[test]
fn random_inputs_give_finite_answers() {
    let mut rng = SplitMix64::new(6);
    for _ in 0..3_000 {
        let tail = 10f64.powf(rng.range(-4.0, 0.0));
        let rho = if rng.uniform() < 0.5 {
            tail
        } else {
            1.0 - 0.999 * tail
        };
        let k = 10f64.powf(rng.range(-1.0, 4.0));
        let margin = if rng.uniform() < 0.5 {
            0.0
        } else {
            rng.range(-0.99, 100.0)
        };
        let count = |rng: &mut SplitMix64| {
            if rng.uniform() < 0.2 {
                0
            } else {
                10f64.powf(rng.range(0.0, 10.0)) as u64
            }
        };
        let (y_t, y_c) = (count(&mut rng), count(&mut rng));
        for v in [
            ln_e_one_sided(y_t, y_c, rho, k, margin),
            ln_e_two_sided(y_t, y_c, rho, k, margin),
        ] {
            assert!(
                v.is_ok_and(f64::is_finite),
                "ρ={rho} k={k} m={margin} y_T={y_t} y_C={y_c}: {v:?}"
            );
        }
    }
}

/// The one-sided test never reports harm when the treated share is at or below ρ_m.
#[test]
fn one_sided_is_negative_without_harm() {
    let mut rng = SplitMix64::new(4);
    for _ in 0..300 {
        let (rho, k, margin) = random_params(&mut rng);
        let rho_m = rho_with_margin(rho, margin).unwrap();
        let n = 1 + rng.below(100_000);
        let y_t = ((n as f64) * rho_m * rng.uniform()).floor() as u64;
        let v = ln_e_one_sided(y_t, n - y_t, rho, k, margin).unwrap();
        assert!(v <= 1e-9, "ρ={rho} k={k} m={margin} y_T={y_t} n={n}: {v}");
    }
}

#[test]
fn invalid_inputs_are_errors_not_panics_or_nan() {
    let bad = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        0.0,
        1.0,
        2.0,
    ];
    for &x in &bad {
        assert!(ln_e_one_sided(1, 1, x, 6.66, 0.0).is_err(), "rho {x}");
        assert!(ln_e_two_sided(1, 1, x, 6.66, 0.0).is_err(), "rho {x}");
        assert!(rho_with_margin(x, 0.0).is_err(), "rho {x}");
    }
    for &x in &[f64::NAN, f64::INFINITY, -1.0, 0.0] {
        assert!(ln_e_one_sided(1, 1, 0.5, x, 0.0).is_err(), "k {x}");
        assert!(ln_e_two_sided(1, 1, 0.5, x, 0.0).is_err(), "k {x}");
        assert!(k_for(x, 0.0025).is_err(), "n_opt {x}");
    }
    for &x in &[f64::NAN, f64::INFINITY, -1.0, -2.0] {
        assert!(ln_e_one_sided(1, 1, 0.5, 6.66, x).is_err(), "margin {x}");
    }
    for &x in &[f64::NAN, 0.0, 0.5, 1.0, -0.1] {
        assert!(k_for(100.0, x).is_err(), "alpha_j {x}");
    }
    assert!(k_for(5.0, 0.0025).is_err(), "k would be negative");
    assert!(matches!(
        rollback_threshold(0, 0.01),
        Err(StatsError::InvalidParameter { .. })
    ));
    assert!(rollback_threshold(4, f64::NAN).is_err());
    assert!(rollback_threshold(4, 1.0).is_err());

    // Tier 2.
    assert!(ArmMoments::from_sums(10, f64::NAN, 1.0).is_err());
    assert!(ArmMoments::from_sums(10, 1.0, -1.0).is_err());
    assert!(ArmMoments::proportion(10, 11).is_err());
    let arm = ArmMoments::from_sums(10, 5.0, 10.0).unwrap();
    let one = ArmMoments::from_sums(1, 5.0, 25.0).unwrap();
    assert!(matches!(
        mean_difference_cs(&arm, &one, 0.05, 5000.0, Alternative::TwoSided),
        Err(StatsError::InsufficientData(_))
    ));
    for &x in &[f64::NAN, 0.0, 1.0, -0.5] {
        assert!(
            cs_rho(x, 5000.0, Alternative::TwoSided).is_err(),
            "alpha {x}"
        );
        assert!(mean_difference_cs(&arm, &arm, x, 5000.0, Alternative::TwoSided).is_err());
    }
    assert!(cs_rho(0.5, 5000.0, Alternative::Greater).is_err());
    assert!(cs_rho(0.05, 0.0, Alternative::TwoSided).is_err());
    assert!(cs_half_width(f64::NAN, 100.0, 0.05, 5000.0, Alternative::TwoSided).is_err());
    assert!(cs_half_width(-1.0, 100.0, 0.05, 5000.0, Alternative::TwoSided).is_err());
    assert!(cs_half_width(1.0, 0.0, 0.05, 5000.0, Alternative::TwoSided).is_err());

    // SRM.
    assert!(chi_square_p_value(&[1, 2], &[1.0]).is_err());
    assert!(chi_square_p_value(&[1], &[1.0]).is_err());
    assert!(chi_square_p_value(&[1, 2], &[1.0, 0.0]).is_err());
    assert!(chi_square_p_value(&[1, 2], &[1.0, f64::NAN]).is_err());
    assert!(srm_sequential_ln_e(&[1, 2], &[1.0, 1.0], f64::NAN).is_err());
    assert!(srm_check(&[], &[]).is_err());
}

#[test]
fn confidence_sequence_shapes() {
    let mut rng = SplitMix64::new(5);
    for _ in 0..200 {
        let n_t = 2 + rng.below(100_000);
        let n_c = 2 + rng.below(100_000);
        let arm = |rng: &mut SplitMix64, n: u64| {
            let mean = rng.range(-5.0, 5.0);
            let var = rng.range(0.0, 10.0);
            let n_f = n as f64;
            let sum = mean * n_f;
            ArmMoments::from_sums(n, sum, var * (n_f - 1.0) + sum * sum / n_f).unwrap()
        };
        let t = arm(&mut rng, n_t);
        let c = arm(&mut rng, n_c);
        let two = mean_difference_cs(&t, &c, 0.05, 5000.0, Alternative::TwoSided).unwrap();
        let greater = mean_difference_cs(&t, &c, 0.05, 5000.0, Alternative::Greater).unwrap();
        let less = mean_difference_cs(&t, &c, 0.05, 5000.0, Alternative::Less).unwrap();
        assert!(two.lower <= two.estimate && two.estimate <= two.upper);
        assert!((two.upper - two.estimate - two.half_width).abs() <= 1e-9 * two.half_width);
        // A one-sided bound spends all of α on one side, so it is tighter.
        assert!(greater.half_width < two.half_width);
        assert_eq!(greater.upper, f64::INFINITY);
        assert_eq!(less.lower, f64::NEG_INFINITY);
        assert_eq!(greater.half_width, less.half_width);
        assert!(greater.lower > two.lower && less.upper < two.upper);
    }
    // The half-width shrinks as data accumulate.
    let mut prev = f64::INFINITY;
    for n in [100.0, 1_000.0, 10_000.0, 100_000.0, 1e6] {
        let h = cs_half_width(1.0, n, 0.05, 5000.0, Alternative::TwoSided).unwrap();
        assert!(h < prev);
        prev = h;
    }
    // Zero variance gives a zero-width interval, not NaN.
    let constant = ArmMoments::from_sums(100, 300.0, 900.0).unwrap();
    let ci = mean_difference_cs(&constant, &constant, 0.05, 5000.0, Alternative::TwoSided).unwrap();
    assert_eq!((ci.lower, ci.upper), (0.0, 0.0));
}

#[test]
fn srm_sanity() {
    // A perfect split is no evidence at all in either view.
    let report = srm_check(&[500, 500], &[1.0, 1.0]).unwrap();
    assert_eq!(report.chi_square_p, 1.0);
    assert!(report.ln_e < 0.0 && !report.alert && !report.mismatch);
    assert_eq!(chi_square_p_value(&[0, 0], &[1.0, 1.0]).unwrap(), 1.0);
    // Weights are a ratio: their scale does not matter.
    let a = srm_check(&[850, 150], &[90.0, 10.0]).unwrap();
    let b = srm_check(&[850, 150], &[0.9, 0.1]).unwrap();
    assert!((a.chi_square_p - b.chi_square_p).abs() <= 1e-12 * a.chi_square_p);
    assert!((a.ln_e - b.ln_e).abs() <= 1e-12);
    assert!(a.alert);
    // A gross mismatch gates; extreme counts stay finite.
    let gross = srm_check(&[6000, 4000], &[1.0, 1.0]).unwrap();
    assert!(gross.alert && gross.mismatch);
    let extreme = srm_check(&[1_000_000_000, 1], &[1.0, 1.0]).unwrap();
    assert_eq!(extreme.chi_square_p, 0.0);
    assert!(extreme.ln_e.is_finite() && extreme.mismatch);
}
