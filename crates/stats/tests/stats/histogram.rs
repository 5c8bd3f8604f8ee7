//! The histogram's promises over seeded random samples: every quantile within the relative
//! bound of the exact sample quantile, and merging equal to counting the samples together.

use crate::SplitMix64;
use switchyard_stats::{Histogram, RELATIVE_ACCURACY};

/// Rounding in `ln` at a bucket's edge may add a few ulps to α.
const BOUND: f64 = RELATIVE_ACCURACY * (1.0 + 1e-9);

/// A sample of one of several shapes: latencies (log-uniform over 1 µs…10⁴ s), whole
/// milliseconds with many ties, a heavy Pareto tail, and mixed signs with zeros and values
/// from 10⁻³⁰⁰ to 10³⁰⁰.
fn sample(rng: &mut SplitMix64, shape: u64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| match shape {
            0 => 10f64.powf(rng.range(-3.0, 7.0)),
            1 => (1 + rng.below(500)) as f64,
            2 => 1.0 / (1.0 - rng.uniform()).powi(2),
            _ => {
                if rng.below(10) == 0 {
                    0.0
                } else {
                    let magnitude = 10f64.powf(rng.range(-300.0, 300.0));
                    if rng.below(2) == 0 {
                        magnitude
                    } else {
                        -magnitude
                    }
                }
            }
        })
        .collect()
}

fn histogram_of(values: &[f64]) -> Histogram {
    let mut histogram = Histogram::new();
    for &v in values {
        histogram.add(v).unwrap();
    }
    histogram
}

#[test]
fn quantiles_are_within_the_relative_bound_of_the_exact_sample_quantile() {
    let mut rng = SplitMix64::new(19);
    let mut worst: f64 = 0.0;
    let mut total_error = 0.0;
    let mut checked = 0;
    for run in 0..200 {
        let n = 1 + rng.below(3_000) as usize;
        let mut values = sample(&mut rng, run % 4, n);
        let histogram = histogram_of(&values);
        assert_eq!(histogram.count(), n as u64);
        values.sort_by(f64::total_cmp);
        let mut qs = vec![0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0];
        qs.extend((0..8).map(|_| rng.uniform()));
        for q in qs {
            let exact = values[(q * (n - 1) as f64).floor() as usize];
            let got = histogram.quantile(q).unwrap();
            if exact == 0.0 {
                assert_eq!(got, 0.0, "run {run}, q {q}");
                continue;
            }
            let error = (got - exact).abs() / exact.abs();
            assert!(
                error <= BOUND,
                "run {run}, n {n}, q {q}: {got} for {exact} ({error})"
            );
            worst = worst.max(error);
            total_error += error;
            checked += 1;
        }
    }
    eprintln!(
        "histogram: worst relative error {worst:.9}, mean {:.6}, over {checked} quantiles",
        total_error / f64::from(checked)
    );
    // The bound is tight: some quantile comes close to it.
    assert!(worst > RELATIVE_ACCURACY / 2.0, "{worst}");
}

#[test]
fn merging_equals_counting_the_samples_together() {
    let mut rng = SplitMix64::new(7);
    for run in 0..100 {
        let n = rng.below(2_000) as usize;
        let values = sample(&mut rng, run % 4, n);
        let whole = histogram_of(&values);
        // Split into up to five parts at random points, merged in reverse order.
        let mut cuts: Vec<usize> = (0..rng.below(5))
            .map(|_| rng.below(n as u64 + 1) as usize)
            .collect();
        cuts.push(0);
        cuts.push(n);
        cuts.sort_unstable();
        let parts: Vec<Histogram> = cuts
            .windows(2)
            .map(|w| histogram_of(&values[w[0]..w[1]]))
            .collect();
        let mut merged = Histogram::new();
        for part in parts.iter().rev() {
            merged.merge(part);
        }
        assert_eq!(merged, whole, "run {run}");
        assert_eq!(merged.count(), n as u64);
        // Commutative, and the same through stored (key, count) pairs.
        if let [a, b, ..] = parts.as_slice() {
            let (mut ab, mut ba) = (a.clone(), b.clone());
            ab.merge(b);
            ba.merge(a);
            assert_eq!(ab, ba, "run {run}");
        }
        assert_eq!(Histogram::from_buckets(whole.buckets()), whole);
    }
}

#[test]
fn quantiles_are_monotone_in_q() {
    let mut rng = SplitMix64::new(3);
    for run in 0..50 {
        let n = 1 + rng.below(500) as usize;
        let values = sample(&mut rng, run % 4, n);
        let histogram = histogram_of(&values);
        let mut previous = f64::NEG_INFINITY;
        for step in 0..=100 {
            let q = f64::from(step) / 100.0;
            let v = histogram.quantile(q).unwrap();
            assert!(v >= previous, "run {run}, q {q}");
            previous = v;
        }
    }
}
