//! A quick, seeded smoke of what `benches/src/bin/experiments_sim.rs` measures at full size (the
//! numbers are in BENCHMARKS.md): simulated units, added up into `ArmAggregate`s, through
//! `compare`. The bounds are loose so the seeded runs pass with room, yet a sequential method
//! that lost its peeking safety (it would behave like the fixed horizon, about 25 % here) or a
//! CUPED that stopped reducing variance fails them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use switchyard_stats::DEFAULT_N_TUNE;
use switchyard_stats::experiments::{
    ArmAggregate, Method, MetricKind, PairedSums, Settings, compare,
};

/// SplitMix64 with a Box–Muller normal.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let radius = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        radius * (2.0 * std::f64::consts::PI * self.uniform()).cos()
    }
}

#[derive(Clone, Copy, Default)]
struct Arm {
    units: u64,
    sum: f64,
    sum_sq: f64,
    pre: PairedSums,
}

impl Arm {
    fn add(&mut self, value: f64, pre: f64) {
        self.units += 1;
        self.sum += value;
        self.sum_sq += value * value;
        self.pre.sum += pre;
        self.pre.sum_sq += pre * pre;
        self.pre.cross += value * pre;
    }

    fn aggregate(&self) -> ArmAggregate {
        ArmAggregate {
            units: self.units,
            sum: self.sum,
            sum_sq: self.sum_sq,
            denominator: None,
            covariate: Some(self.pre),
        }
    }
}

fn relative_excludes_zero(control: &Arm, treatment: &Arm, method: Method) -> bool {
    let settings = Settings::new(method);
    let lift = compare(
        MetricKind::Proportion,
        &control.aggregate(),
        &treatment.aggregate(),
        &settings,
    )
    .unwrap()
    .relative;
    lift.is_ok_and(|l| !l.interval.contains(0.0))
}

/// 300 A/A experiments on a 10 % conversion, looked at 20 times (every 200 units up to 4,000):
/// the sequential method stays near α, the peeked-at fixed horizon does not.
#[test]
fn aa_peeking_the_sequential_interval_keeps_its_level_and_the_fixed_horizon_does_not() {
    let (runs, look_every, units) = (300u64, 200u64, 4_000u64);
    let (mut sequential_hits, mut fixed_hits) = (0u64, 0u64);
    for run in 0..runs {
        let mut rng = Rng(0xA11A_0000 + run);
        let mut arms = [Arm::default(); 2];
        let (mut sequential, mut fixed) = (false, false);
        for unit in 1..=units {
            let arm = usize::from(rng.uniform() < 0.5);
            arms[arm].add(f64::from(u8::from(rng.uniform() < 0.1)), 0.0);
            if unit % look_every == 0 {
                let tuning = DEFAULT_N_TUNE;
                sequential |=
                    relative_excludes_zero(&arms[0], &arms[1], Method::Sequential { tuning });
                fixed |= relative_excludes_zero(&arms[0], &arms[1], Method::FixedHorizon);
            }
        }
        sequential_hits += u64::from(sequential);
        fixed_hits += u64::from(fixed);
    }
    let (sequential_rate, fixed_rate) = (
        sequential_hits as f64 / runs as f64,
        fixed_hits as f64 / runs as f64,
    );
    // α = 0.05 plus three standard errors of 300 runs (± 1.3 % each).
    assert!(
        sequential_rate <= 0.09,
        "sequential A/A false positives under peeking: {sequential_rate}"
    );
    assert!(
        fixed_rate >= 0.12,
        "fixed horizon peeked at 20 times should exceed α: {fixed_rate}"
    );
}

/// A mean metric with a pre-period value correlated 0.7: CUPED's standard error is √(1 − 0.49)
/// ≈ 0.714 of the unadjusted one, and its estimate stays near the true lift.
#[test]
fn cuped_shrinks_the_standard_error_by_the_square_root_of_one_minus_rho_squared() {
    let (rho, per_arm, lift) = (0.7, 20_000, 0.5);
    let mut rng = Rng(0xC0FE);
    let mut arms = [Arm::default(); 2];
    for (arm, shift) in arms.iter_mut().zip([0.0, lift]) {
        for _ in 0..per_arm {
            let pre = rng.normal();
            let z = rho * pre + (1.0_f64 - rho * rho).sqrt() * rng.normal();
            arm.add(10.0 + shift + 5.0 * z, pre);
        }
    }
    let absolute = |cuped: bool| {
        let settings = Settings {
            cuped,
            ..Settings::new(Method::FixedHorizon)
        };
        compare(
            MetricKind::Mean,
            &arms[0].aggregate(),
            &arms[1].aggregate(),
            &settings,
        )
        .unwrap()
        .absolute
        .unwrap()
    };
    let (plain, adjusted) = (absolute(false), absolute(true));
    let ratio = adjusted.std_error / plain.std_error;
    assert!((ratio - 0.7141).abs() < 0.02, "SE ratio {ratio}");
    // Four CUPED standard errors (≈ 0.036 each).
    assert!(
        (adjusted.interval.estimate - lift).abs() < 4.0 * adjusted.std_error,
        "CUPED estimate {} for a true lift of {lift}",
        adjusted.interval.estimate
    );
}
