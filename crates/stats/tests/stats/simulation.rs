//! Seeded Monte Carlo checks of what Tier 1 promises: under continuous monitoring the false-alarm
//! rate stays below α (Ville's inequality), and real regressions are caught quickly.
//!
//! Each bad event of a stage lands in the treated cohort with probability θ; θ = ρ under A/A and
//! θ = rρ / (rρ + 1 − ρ) when the treatment multiplies the bad-event rate by r.

use crate::SplitMix64;
use switchyard_stats::{k_for, ln_e_one_sided, rollback_threshold};

fn treated_share(rho: f64, ratio: f64) -> f64 {
    ratio * rho / (ratio * rho + 1.0 - rho)
}

/// A monitored stage: `rho` is the treated share of evaluations, `theta` the treated share of bad
/// events, `k` the prior concentration; monitoring stops when ln E reaches `threshold` or after
/// `max_events` bad events.
struct Monitor {
    rho: f64,
    theta: f64,
    k: f64,
    threshold: f64,
    max_events: u64,
}

impl Monitor {
    fn new(rho: f64, theta: f64, k: f64, threshold: f64, max_events: u64) -> Monitor {
        Monitor {
            rho,
            theta,
            k,
            threshold,
            max_events,
        }
    }

    fn crossed(&self, y_t: u64, y_c: u64) -> bool {
        ln_e_one_sided(y_t, y_c, self.rho, self.k, 0.0).unwrap() >= self.threshold
    }

    /// Feeds up to `max_events` bad events one at a time and evaluates ln E after *every* event.
    /// Returns the number of events seen when ln E first reached `threshold`, if it did.
    fn every_event(&self, rng: &mut SplitMix64) -> Option<u64> {
        let (mut y_t, mut y_c) = (0, 0);
        for n in 1..=self.max_events {
            if rng.uniform() < self.theta {
                y_t += 1;
            } else {
                y_c += 1;
            }
            if self.crossed(y_t, y_c) {
                return Some(n);
            }
        }
        None
    }

    /// Same process, but draws the run of control events before each treated one at once
    /// (geometric) and evaluates only after treated events. That is exact, not an approximation:
    /// the one-sided ln E never increases with a control event
    /// (`properties::one_sided_is_monotone`), so it can only first cross the threshold right
    /// after a treated one.
    fn treated_events(&self, rng: &mut SplitMix64) -> Option<u64> {
        let ln_miss = (1.0 - self.theta).ln();
        let (mut y_t, mut y_c) = (0u64, 0u64);
        loop {
            let u = 1.0 - rng.uniform(); // (0, 1]
            let gap = (u.ln() / ln_miss).floor() as u64;
            y_c += gap;
            y_t += 1;
            if y_t + y_c > self.max_events {
                return None;
            }
            if self.crossed(y_t, y_c) {
                return Some(y_t + y_c);
            }
        }
    }
}

fn median(mut xs: Vec<u64>) -> u64 {
    xs.sort_unstable();
    xs[xs.len() / 2]
}

/// CI-sized A/A check: α = 0.05, 2,000 seeded runs across stage sizes, continuous monitoring
/// (a check after every bad event) over up to 1,000 bad events per run. The false-alarm rate must
/// stay below α plus three Monte Carlo standard errors.
#[test]
fn aa_false_alarms_stay_below_alpha() {
    const RUNS: u64 = 2_000;
    const ALPHA: f64 = 0.05;
    let k = k_for(100.0, 0.0025).unwrap();
    let threshold = (1.0 / ALPHA).ln();
    let stages = [0.01, 0.05, 0.25, 0.5];
    let mut rng = SplitMix64::new(0x5EED_AA01);
    let mut alarms = 0u64;
    for run in 0..RUNS {
        let rho = stages[(run % stages.len() as u64) as usize];
        let monitor = Monitor::new(rho, rho, k, threshold, 1_000);
        if monitor.every_event(&mut rng).is_some() {
            alarms += 1;
        }
    }
    let rate = alarms as f64 / RUNS as f64;
    let bound = ALPHA + 3.0 * (ALPHA * (1.0 - ALPHA) / RUNS as f64).sqrt();
    eprintln!("A/A false alarms at α = {ALPHA}: {alarms}/{RUNS} = {rate:.4} (bound {bound:.4})");
    assert!(rate <= bound, "false-alarm rate {rate} > {bound}");
}

/// A 5× regression in a 5 % stage is caught at the production threshold (α_total = 0.01, M = 4)
/// in (nearly) every run, and quickly.
#[test]
fn five_fold_regression_is_detected() {
    const RUNS: u64 = 500;
    let rho = 0.05;
    let k = k_for(100.0, 0.0025).unwrap();
    let threshold = rollback_threshold(4, 0.01).unwrap();
    let theta = treated_share(rho, 5.0);
    let monitor = Monitor::new(rho, theta, k, threshold, 1_000);
    let mut rng = SplitMix64::new(0x5EED_0005);
    let detected: Vec<u64> = (0..RUNS)
        .filter_map(|_| monitor.every_event(&mut rng))
        .collect();
    let power = detected.len() as f64 / RUNS as f64;
    let med = median(detected);
    eprintln!("5× at ρ = 0.05: detected {power:.3} of runs, median {med} bad events");
    assert!(power >= 0.99, "power {power}");
    // The document's simulation reports a median of about 45 bad events.
    assert!((30..=70).contains(&med), "median {med}");
}

/// The full check from the document (run with
/// `cargo test --release -p switchyard-stats -- --ignored --nocapture`): α_j = 0.0025, k = 6.66,
/// continuous monitoring over up to 20,000 bad events. 100,000 A/A runs at ρ = 0.05 must stay at
/// or below α_j plus three standard errors; median bad events to roll back at ρ = 0.05 should be
/// about 1,300 (1.5×), 370 (2×) and 45 (5×), which runs of a few thousand reproduce to about ±10 %.
#[test]
#[ignore = "about 10^5 runs of up to 20,000 events: minutes in a release build"]
fn full_alpha_j_check() {
    const ALPHA_J: f64 = 0.0025;
    const MAX_EVENTS: u64 = 20_000;
    let k = k_for(100.0, ALPHA_J).unwrap();
    let threshold = (1.0 / ALPHA_J).ln();
    let rho = 0.05;

    let mut rng = SplitMix64::new(0x5EED_F011);
    const AA_RUNS: u64 = 100_000;
    let aa = Monitor::new(rho, rho, k, threshold, MAX_EVENTS);
    let alarms = (0..AA_RUNS)
        .filter(|_| aa.treated_events(&mut rng).is_some())
        .count();
    let rate = alarms as f64 / AA_RUNS as f64;
    let bound = ALPHA_J + 3.0 * (ALPHA_J * (1.0 - ALPHA_J) / AA_RUNS as f64).sqrt();
    eprintln!("A/A at α_j = {ALPHA_J}: {alarms}/{AA_RUNS} = {rate:.5} (bound {bound:.5})");
    assert!(rate <= bound, "false-alarm rate {rate} > {bound}");

    for (ratio, expected_median) in [(1.5, 1_300.0), (2.0, 370.0), (5.0, 45.0)] {
        const RUNS: u64 = 4_000;
        let theta = treated_share(rho, ratio);
        let regression = Monitor::new(rho, theta, k, threshold, MAX_EVENTS);
        let detected: Vec<u64> = (0..RUNS)
            .filter_map(|_| regression.treated_events(&mut rng))
            .collect();
        let power = detected.len() as f64 / RUNS as f64;
        let med = median(detected) as f64;
        eprintln!("{ratio}× at ρ = {rho}: detected {power:.4}, median {med} bad events");
        assert!(power > 0.5, "{ratio}×: power {power}");
        assert!(
            (med / expected_median - 1.0).abs() <= 0.2,
            "{ratio}×: median {med}, document says about {expected_median}"
        );
    }
}
