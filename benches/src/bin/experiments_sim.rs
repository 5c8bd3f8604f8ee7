//! Experiments on simulated data (issue 23): does the statistics crate keep its promises?
//!
//! Every number comes from `switchyard_stats::experiments::compare` fed the `ArmAggregate`s that
//! seeded simulated units add up to, as the store would hold them.
//!
//! 1. **A/A under continuous peeking.** Both arms draw from one distribution; each unit is
//!    assigned by a fair coin, and the experiment is looked at every 200 units (about 100 per
//!    arm) up to 20,000 units (about 10,000 per arm), 100 looks. A run is a false positive when
//!    the relative lift's interval excludes 0 at any look. The sequential method's always-valid
//!    interval must keep this at or below α; the fixed-horizon interval, peeked at the same way,
//!    does not (that is the point), and looked at once, at the end, it is about α.
//! 2. **Power at the MDE.** A true relative lift equal to the MDE, at the per-arm sample size
//!    `proportion_sample_size`/`mean_sample_size` plan for 80 % power: the share of runs where
//!    the fixed-horizon interval excludes 0 on the right side (about 0.80), and the sequential
//!    method's at that n and at 2× n, looked at once and looked at every 1 % of the way.
//! 3. **CUPED.** A pre-period value correlated with the metric (ρ = 0.3, 0.5, 0.7): the CUPED
//!    standard error over the unadjusted one (theory √(1 − ρ²)), the same ratio of the estimates'
//!    spread across runs, their bias and their intervals' coverage.
//!
//! Each run has its own seed (scenario, run), so the results do not depend on the thread count.
//! Counts, not timings. Run with `bash benches/experiments.sh` (`--quick` for a smoke run,
//! `--aa-runs N` for more A/A runs); the process exits 1 when a check fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use serde_json::{Value, json};
use switchyard_bench::machine;
use switchyard_stats::DEFAULT_N_TUNE;
use switchyard_stats::experiments::{
    Method, MetricKind, compare, mean_sample_size, proportion_sample_size,
};

#[path = "experiments_sim/simulate.rs"]
mod simulate;

use simulate::{
    Arm, Checks, Metric, Rate, Rng, excludes_zero, parallel_runs, relative_lift, sequential,
    settings, significantly_positive,
};

const ALPHA: f64 = 0.05;

/// Sizes of one invocation (`--quick` shrinks the run counts, not the designs).
struct Sizes {
    aa_runs: u64,
    power_runs: u64,
    cuped_runs: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--aa-runs N`: more A/A runs, to narrow the false-positive rate's interval.
    let aa_runs = args
        .iter()
        .position(|a| a == "--aa-runs")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse::<u64>().expect("--aa-runs takes a number"));
    let mut sizes = if quick {
        Sizes {
            aa_runs: 200,
            power_runs: 200,
            cuped_runs: 200,
        }
    } else {
        Sizes {
            aa_runs: 2000,
            power_runs: 2000,
            cuped_runs: 2000,
        }
    };
    if let Some(runs) = aa_runs {
        sizes.aa_runs = runs;
    }
    let started = Instant::now();
    println!(
        "# experiments on simulated data{}, {}",
        if quick { " (quick)" } else { "" },
        machine()
    );
    let mut checks = Checks::default();
    let aa = [
        aa_peeking(
            Metric::Proportion { rate: 0.10 },
            sizes.aa_runs,
            &mut checks,
        ),
        aa_peeking(Metric::LogNormal, sizes.aa_runs, &mut checks),
    ];
    let power = [
        power_at_mde(
            Metric::Proportion { rate: 0.10 },
            sizes.power_runs,
            &mut checks,
        ),
        power_at_mde(
            Metric::Normal {
                mean: 10.0,
                std_dev: 20.0,
            },
            sizes.power_runs,
            &mut checks,
        ),
    ];
    let cuped: Vec<Value> = [0.3, 0.5, 0.7]
        .iter()
        .map(|&rho| cuped_reduction(rho, sizes.cuped_runs, &mut checks))
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    println!("\n{:.1} s", seconds);
    let record = json!({
        "benchmark": "experiments_sim",
        "quick": quick,
        "alpha": ALPHA,
        "machine": machine(),
        "aa_peeking": aa,
        "power_at_mde": power,
        "cuped": cuped,
        "checks_failed": checks.failed,
        "seconds": seconds,
    });
    println!("{record}");
    if !checks.failed.is_empty() {
        eprintln!("checks failed: {:?}", checks.failed);
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. A/A under continuous peeking

const AA_LOOK_EVERY: u64 = 200;
const AA_UNITS: u64 = 20_000;

/// What one A/A run saw.
#[derive(Debug, Clone, Copy)]
struct AaRun {
    sequential_ever: bool,
    /// Units (both arms) at the sequential method's first false positive.
    sequential_first_units: Option<u64>,
    fixed_ever: bool,
    fixed_at_end: bool,
    /// Looks where a lift was undefined (an arm without variance).
    undefined_looks: u64,
}

fn aa_peeking(metric: Metric, runs: u64, checks: &mut Checks) -> Value {
    let kind = metric.kind();
    let scenario = 1_000 + matches!(metric, Metric::LogNormal) as u64;
    let outcomes = parallel_runs(runs, |run| {
        let mut rng = Rng::for_run(scenario, run);
        let mut arms = [Arm::default(); 2];
        let mut outcome = AaRun {
            sequential_ever: false,
            sequential_first_units: None,
            fixed_ever: false,
            fixed_at_end: false,
            undefined_looks: 0,
        };
        for unit in 1..=AA_UNITS {
            let arm = usize::from(rng.coin());
            arms[arm].add(metric.draw(&mut rng, 0.0));
            if unit % AA_LOOK_EVERY != 0 {
                continue;
            }
            let last = unit == AA_UNITS;
            if !outcome.sequential_ever {
                let lift = relative_lift(kind, &arms[0], &arms[1], sequential());
                outcome.undefined_looks += u64::from(lift.is_none());
                outcome.sequential_ever = excludes_zero(&lift);
                if outcome.sequential_ever {
                    outcome.sequential_first_units = Some(unit);
                }
            }
            if !outcome.fixed_ever || last {
                let lift = relative_lift(kind, &arms[0], &arms[1], Method::FixedHorizon);
                outcome.fixed_ever |= excludes_zero(&lift);
                outcome.fixed_at_end = last && excludes_zero(&lift);
            }
        }
        outcome
    });
    let sequential = Rate::of(outcomes.iter().map(|o| o.sequential_ever));
    let fixed_peeking = Rate::of(outcomes.iter().map(|o| o.fixed_ever));
    let fixed_once = Rate::of(outcomes.iter().map(|o| o.fixed_at_end));
    let undefined: u64 = outcomes.iter().map(|o| o.undefined_looks).sum();
    println!(
        "\n## A/A under continuous peeking: {} — {runs} runs, a look every {AA_LOOK_EVERY} units \
         (≈ {} per arm) up to {AA_UNITS} (≈ {} per arm), {} looks; false positive = the relative \
         lift's {:.0} % interval excludes 0",
        metric.name(),
        AA_LOOK_EVERY / 2,
        AA_UNITS / 2,
        AA_UNITS / AA_LOOK_EVERY,
        100.0 * (1.0 - ALPHA)
    );
    println!("| method | looked at | false positives |");
    println!("|---|---|---|");
    println!(
        "| sequential (tuning {DEFAULT_N_TUNE}) | every look | {} |",
        sequential.show()
    );
    println!("| fixed horizon | every look | {} |", fixed_peeking.show());
    println!(
        "| fixed horizon | once, at the end | {} |",
        fixed_once.show()
    );
    if undefined > 0 {
        println!("({undefined} looks had an undefined lift and counted as not significant)");
    }
    // When the sequential method's false positives happen: its interval is asymptotic, so the
    // early looks, with few units, are where it can be too narrow.
    let first: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| o.sequential_first_units)
        .collect();
    let bands = [1_000, 2_000, 5_000, AA_UNITS];
    let mut lower = 0;
    let by_units: Vec<Value> = bands
        .iter()
        .map(|&upper| {
            let count = first.iter().filter(|&&u| u > lower && u <= upper).count();
            let band =
                json!({"units_from": lower + 1, "units_to": upper, "false_positives": count});
            lower = upper;
            band
        })
        .collect();
    println!(
        "sequential false positives by the units (both arms) at the first: {}",
        by_units
            .iter()
            .map(|b| format!(
                "{}–{}: {}",
                b["units_from"], b["units_to"], b["false_positives"]
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    checks.expect(
        sequential.share() <= ALPHA,
        format!(
            "{}: sequential false positives under peeking {:.2} % ≤ α",
            metric.name(),
            100.0 * sequential.share()
        ),
    );
    checks.expect(
        fixed_peeking.wilson().0 > ALPHA,
        format!(
            "{}: fixed horizon under peeking exceeds α ({:.2} %)",
            metric.name(),
            100.0 * fixed_peeking.share()
        ),
    );
    let (low, high) = fixed_once.wilson();
    checks.expect(
        low - 0.01 <= ALPHA && ALPHA <= high + 0.01,
        format!(
            "{}: fixed horizon looked at once ≈ α ({:.2} %)",
            metric.name(),
            100.0 * fixed_once.share()
        ),
    );
    json!({
        "metric": metric.name(),
        "runs": runs,
        "look_every_units": AA_LOOK_EVERY,
        "units": AA_UNITS,
        "sequential_every_look": sequential.json(),
        "sequential_first_false_positive_by_units": by_units,
        "fixed_every_look": fixed_peeking.json(),
        "fixed_once": fixed_once.json(),
        "undefined_looks": undefined,
    })
}

// ---------------------------------------------------------------------------------------------
// 2. Power at the MDE

const MDE: f64 = 0.05;
const POWER: f64 = 0.8;
/// Looks for "looked at all along": one every 1 % of the planned n.
const POWER_LOOKS_PER_N: u64 = 100;

#[derive(Debug, Clone, Copy)]
struct PowerRun {
    fixed_at_n: bool,
    sequential_at_n: bool,
    sequential_by_n: bool,
    sequential_at_2n: bool,
    sequential_by_2n: bool,
}

fn power_at_mde(metric: Metric, runs: u64, checks: &mut Checks) -> Value {
    let kind = metric.kind();
    let plan = match metric {
        Metric::Proportion { rate } => proportion_sample_size(rate, MDE, ALPHA, POWER, 2),
        Metric::Normal { mean, std_dev } => mean_sample_size(mean, std_dev, MDE, ALPHA, POWER, 2),
        Metric::LogNormal => unreachable!("power is simulated for proportion and normal metrics"),
    }
    .expect("a valid plan");
    let n = plan.units_per_arm;
    let step = n.div_ceil(POWER_LOOKS_PER_N);
    let scenario = 2_000 + u64::from(matches!(metric, Metric::Normal { .. }));
    let outcomes = parallel_runs(runs, |run| {
        let mut rng = Rng::for_run(scenario, run);
        let (mut control, mut treatment) = (Arm::default(), Arm::default());
        let mut outcome = PowerRun {
            fixed_at_n: false,
            sequential_at_n: false,
            sequential_by_n: false,
            sequential_at_2n: false,
            sequential_by_2n: false,
        };
        // The planned design: exactly n units per arm, then (for the sequential method) as many
        // again.
        for units in 1..=2 * n {
            control.add(metric.draw(&mut rng, 0.0));
            treatment.add(metric.draw(&mut rng, MDE));
            let at_n = units == n;
            let at_2n = units == 2 * n;
            // A look every 1 % of n, until the sequential method has detected the lift; the
            // looks at n and 2n are always made.
            let scheduled = units % step == 0 && !outcome.sequential_by_2n;
            if scheduled || at_n || at_2n {
                let lift = relative_lift(kind, &control, &treatment, sequential());
                let significant = significantly_positive(&lift);
                outcome.sequential_by_2n |= significant;
                if units <= n {
                    outcome.sequential_by_n |= significant;
                }
                outcome.sequential_at_n |= at_n && significant;
                outcome.sequential_at_2n |= at_2n && significant;
            }
            if at_n {
                let lift = relative_lift(kind, &control, &treatment, Method::FixedHorizon);
                outcome.fixed_at_n = significantly_positive(&lift);
            }
        }
        outcome
    });
    let rate = |f: fn(&PowerRun) -> bool| Rate::of(outcomes.iter().map(f));
    let fixed = rate(|o| o.fixed_at_n);
    let rows = [
        ("fixed horizon", "once, at n", fixed),
        ("sequential", "once, at n", rate(|o| o.sequential_at_n)),
        (
            "sequential",
            "every 1 % of n, up to n",
            rate(|o| o.sequential_by_n),
        ),
        ("sequential", "once, at 2n", rate(|o| o.sequential_at_2n)),
        (
            "sequential",
            "every 1 % of n, up to 2n",
            rate(|o| o.sequential_by_2n),
        ),
    ];
    println!(
        "\n## Power at the MDE: {} — true relative lift {:.0} % = the MDE, n = {n} units per arm \
         (the plan for {:.0} % power at α {ALPHA}), {runs} runs; detected = the relative lift's \
         interval lies above 0",
        metric.name(),
        100.0 * MDE,
        100.0 * POWER
    );
    println!("| method | looked at | detected |");
    println!("|---|---|---|");
    for (method, looked, rate) in rows {
        println!("| {method} | {looked} | {} |", rate.show());
    }
    // Three standard errors of the planned power at these runs, plus the normal approximation's
    // own error (a point or so).
    let tolerance = 3.0 * (POWER * (1.0 - POWER) / runs as f64).sqrt() + 0.015;
    checks.expect(
        (fixed.share() - POWER).abs() <= tolerance,
        format!(
            "{}: fixed-horizon power at the planned n {:.1} % ≈ {:.0} % (± {:.1} %)",
            metric.name(),
            100.0 * fixed.share(),
            100.0 * POWER,
            100.0 * tolerance
        ),
    );
    json!({
        "metric": metric.name(),
        "mde": MDE,
        "units_per_arm": n,
        "runs": runs,
        "rows": rows.iter().map(|(method, looked, rate)| json!({
            "method": method, "looked_at": looked, "detected": rate.json()
        })).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------------------------
// 3. CUPED's variance reduction

const CUPED_UNITS_PER_ARM: u64 = 2_000;
const CUPED_MEAN: f64 = 10.0;
const CUPED_STD_DEV: f64 = 5.0;
const CUPED_LIFT: f64 = 0.05;

#[derive(Debug, Clone, Copy)]
struct CupedRun {
    /// (estimate, standard error, covers the true lift) unadjusted, then with CUPED.
    plain: (f64, f64, bool),
    cuped: (f64, f64, bool),
}

fn cuped_reduction(rho: f64, runs: u64, checks: &mut Checks) -> Value {
    let true_lift = CUPED_MEAN * CUPED_LIFT;
    let scenario = 3_000 + (rho * 10.0).round() as u64;
    let outcomes = parallel_runs(runs, |run| {
        let mut rng = Rng::for_run(scenario, run);
        let mut arms = [Arm::default(); 2];
        for arm in [0, 1] {
            let lift = if arm == 1 { true_lift } else { 0.0 };
            for _ in 0..CUPED_UNITS_PER_ARM {
                let pre = rng.standard_normal();
                let noise = rng.standard_normal();
                let z = rho * pre + (1.0 - rho * rho).sqrt() * noise;
                arms[arm].add_with_pre(CUPED_MEAN + lift + CUPED_STD_DEV * z, pre);
            }
        }
        let absolute = |cuped: bool| {
            let lift = compare(
                MetricKind::Mean,
                &arms[0].aggregate(),
                &arms[1].aggregate(),
                &settings(Method::FixedHorizon, cuped),
            )
            .expect("valid aggregates")
            .absolute
            .expect("a defined lift");
            (
                lift.interval.estimate,
                lift.std_error,
                lift.interval.contains(true_lift),
            )
        };
        CupedRun {
            plain: absolute(false),
            cuped: absolute(true),
        }
    });
    let n = outcomes.len() as f64;
    let mean = |f: &dyn Fn(&CupedRun) -> f64| outcomes.iter().map(f).sum::<f64>() / n;
    let spread = |f: &dyn Fn(&CupedRun) -> f64| {
        let m = mean(f);
        (outcomes.iter().map(|o| (f(o) - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    let theory = (1.0 - rho * rho).sqrt();
    let se_ratio = mean(&|o| o.cuped.1 / o.plain.1);
    let (sd_plain, sd_cuped) = (spread(&|o| o.plain.0), spread(&|o| o.cuped.0));
    let sd_ratio = sd_cuped / sd_plain;
    let bias_plain = mean(&|o| o.plain.0) - true_lift;
    let bias_cuped = mean(&|o| o.cuped.0) - true_lift;
    let coverage_plain = Rate::of(outcomes.iter().map(|o| o.plain.2));
    let coverage_cuped = Rate::of(outcomes.iter().map(|o| o.cuped.2));
    if rho == 0.3 {
        println!(
            "\n## CUPED: mean metric (normal {CUPED_MEAN}, sd {CUPED_STD_DEV}), pre-period value \
             correlated ρ, {CUPED_UNITS_PER_ARM} units per arm, true absolute lift {true_lift}, \
             {runs} runs, fixed horizon"
        );
        println!(
            "| ρ | √(1−ρ²) | mean SE ratio (CUPED / plain) | spread ratio of estimates | \
             variance ratio | mean bias plain / CUPED | 95 % coverage plain | 95 % coverage CUPED |"
        );
        println!("|---:|---:|---:|---:|---:|---|---|---|");
    }
    println!(
        "| {rho} | {theory:.4} | {se_ratio:.4} | {sd_ratio:.4} | {:.4} (theory {:.4}) | {bias_plain:+.4} / {bias_cuped:+.4} | {} | {} |",
        sd_ratio * sd_ratio,
        1.0 - rho * rho,
        coverage_plain.show(),
        coverage_cuped.show()
    );
    checks.expect(
        (se_ratio - theory).abs() <= 0.01,
        format!("CUPED ρ {rho}: SE ratio {se_ratio:.4} ≈ √(1−ρ²) {theory:.4} (± 0.01)"),
    );
    // The spread of 2,000 estimates is itself known to about 1.6 %; allow for it in quick runs.
    let spread_tolerance = 0.02 + 2.0 / (2.0 * n).sqrt();
    checks.expect(
        (sd_ratio - theory).abs() <= spread_tolerance,
        format!(
            "CUPED ρ {rho}: spread ratio {sd_ratio:.4} ≈ √(1−ρ²) {theory:.4} (± {spread_tolerance:.3})"
        ),
    );
    let (low, high) = coverage_cuped.wilson();
    checks.expect(
        low - 0.01 <= 1.0 - ALPHA && 1.0 - ALPHA <= high + 0.01,
        format!(
            "CUPED ρ {rho}: coverage {:.2} % ≈ 95 %",
            100.0 * coverage_cuped.share()
        ),
    );
    json!({
        "rho": rho,
        "theory_ratio": theory,
        "mean_se_ratio": se_ratio,
        "estimate_sd_plain": sd_plain,
        "estimate_sd_cuped": sd_cuped,
        "estimate_sd_ratio": sd_ratio,
        "variance_ratio": sd_ratio * sd_ratio,
        "bias_plain": bias_plain,
        "bias_cuped": bias_cuped,
        "coverage_plain": coverage_plain.json(),
        "coverage_cuped": coverage_cuped.json(),
        "units_per_arm": CUPED_UNITS_PER_ARM,
        "runs": runs,
    })
}
