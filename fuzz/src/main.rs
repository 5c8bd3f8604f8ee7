//! Fuzz targets that build on the stable toolchain. Each target draws inputs from a seeded
//! generator (proptest strategies driven by a ChaCha stream: structured JSON of every dialect,
//! byte-level mutations of it, raw bytes) for a time budget, runs them under `catch_unwind`, and
//! checks the target's invariants; a panic or a broken invariant is a crash, printed with its
//! input. Built with debug assertions (the dev profile), so arithmetic overflow is a crash too.
//!
//! `switchyard-fuzz TARGET SECONDS [SEED]`; `tools/fuzz.sh` runs every target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../crates/engine/tests/shapes/mod.rs"]
mod shapes;
mod targets;

use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Crashes printed in full; the rest are counted.
const SHOWN_CRASHES: usize = 3;

struct Report {
    iterations: u64,
    crashes: u64,
}

/// Generates inputs from `strategy` and runs `check` on each until `budget` is spent.
fn run<T: Debug>(
    budget: Duration,
    seed: u64,
    strategy: BoxedStrategy<T>,
    check: impl Fn(&T),
) -> Report {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let started = Instant::now();
    let mut report = Report {
        iterations: 0,
        crashes: 0,
    };
    while started.elapsed() < budget {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let input = tree.current();
        report.iterations += 1;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| check(&input))) {
            report.crashes += 1;
            if report.crashes <= SHOWN_CRASHES as u64 {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                let mut shown = format!("{input:?}");
                shown.truncate(4000);
                println!(
                    "CRASH at iteration {}: {message}\n  input: {shown}",
                    report.iterations
                );
            }
        }
    }
    report
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || {
        eprintln!(
            "usage: switchyard-fuzz TARGET SECONDS [SEED]\ntargets: {}",
            targets::NAMES.join(" ")
        );
        std::process::exit(2)
    };
    let (Some(target), Some(seconds)) = (args.get(1), args.get(2)) else {
        usage()
    };
    let Ok(seconds) = seconds.parse::<f64>() else {
        usage()
    };
    let seed = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    // Crashes are reported with their input below; the default hook would print each one too.
    std::panic::set_hook(Box::new(|_| {}));
    let budget = Duration::from_secs_f64(seconds);
    let Some(report) = targets::run_target(target, budget, seed) else {
        usage()
    };
    println!(
        "{target}: {} iterations in {seconds} s, {} crashes (seed {seed})",
        report.iterations, report.crashes
    );
    if report.crashes > 0 {
        std::process::exit(1);
    }
}
