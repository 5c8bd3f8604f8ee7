//! Exactness against GrowthBook's statistics engine: generated experiments (proportion, count,
//! mean and ratio metrics; with and without CUPED; 2–3 arms; 20 to 2 million units per arm) go
//! through `switchyard_stats::experiments` and through `gbstats` 0.8.0's own entry point
//! (`clients/gbstats-check/compare.py`), and every number — estimate, standard error, interval
//! bounds, p-value, chance to win, both risks, SRM p-value, Benjamini–Hochberg adjustments —
//! must agree to 1e-6 (relative above 1 in magnitude). Lifts `gbstats` refuses must be errors
//! here too. Skips loudly without Python's gbstats, and fails instead under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// In tests/gbstats/: as tests/cases.rs Cargo would build it as a test of its own.
#[path = "gbstats/cases.rs"]
mod cases;

use cases::{Case, case_json, cases};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use switchyard_stats::experiments::{
    Evidence, Lift, Method, Settings, analyze_metric, benjamini_hochberg, sample_ratio_mismatch,
};

/// Agreement required: 1e-6 relative (the bound), plus 1e-9 absolute so that tiny
/// p-values and risks are still checked (a bound of 1e-6 absolute would pass any two numbers
/// below it).
const TOLERANCE: f64 = 1e-6;
const ABSOLUTE_FLOOR: f64 = 1e-9;

/// gbstats' numbers for `input`, or `None` after skipping when Python has no gbstats.
fn run_gbstats(input: &Value) -> Option<Value> {
    let probe = Command::new("python3")
        .args(["-c", "import gbstats"])
        .output();
    if !probe.is_ok_and(|out| out.status.success()) {
        switchyard_testkit::skip(
            "python3 cannot import gbstats; the experiment statistics are NOT checked against \
             GrowthBook (pip install -r clients/gbstats-check/requirements.txt)",
        );
        return None;
    }
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/gbstats-check/compare.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "compare.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// Largest differences seen, for the report printed at the end.
#[derive(Default)]
struct Tally {
    compared: usize,
    max_abs: f64,
    max_rel: f64,
    worst: String,
}

impl Tally {
    fn check(&mut self, what: &str, ours: f64, reference: &Value) {
        let theirs = reference
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: gbstats gave {reference}"));
        let diff = (ours - theirs).abs();
        assert!(
            diff <= TOLERANCE * theirs.abs() + ABSOLUTE_FLOOR,
            "{what}: ours {ours:e}, gbstats {theirs:e} (difference {diff:e})"
        );
        self.compared += 1;
        let rel = diff / theirs.abs().max(f64::MIN_POSITIVE);
        if diff > self.max_abs {
            self.max_abs = diff;
            self.worst = what.to_string();
        }
        if theirs.abs() >= 1e-3 {
            self.max_rel = self.max_rel.max(rel);
        }
    }
}

fn check_lift(
    tally: &mut Tally,
    what: &str,
    ours: &Result<Lift, impl std::fmt::Debug>,
    theirs: &Value,
) {
    let refused = !theirs["error"].is_null();
    let lift = match ours {
        Ok(lift) => {
            assert!(
                !refused,
                "{what}: gbstats refuses ({}), we computed {lift:?}",
                theirs["error"]
            );
            lift
        }
        Err(error) => {
            assert!(
                refused,
                "{what}: we refuse ({error:?}), gbstats computed {theirs}"
            );
            return;
        }
    };
    tally.check(
        &format!("{what} estimate"),
        lift.interval.estimate,
        &theirs["mean"],
    );
    tally.check(
        &format!("{what} std error"),
        lift.std_error,
        &theirs["stddev"],
    );
    tally.check(
        &format!("{what} lower"),
        lift.interval.lower,
        &theirs["ci"][0],
    );
    tally.check(
        &format!("{what} upper"),
        lift.interval.upper,
        &theirs["ci"][1],
    );
    match lift.evidence {
        Evidence::PValue(p) => tally.check(&format!("{what} p-value"), p, &theirs["p_value"]),
        Evidence::Bayesian {
            chance_to_win,
            risk,
        } => {
            tally.check(
                &format!("{what} chance to win"),
                chance_to_win,
                &theirs["chance_to_win"],
            );
            tally.check(
                &format!("{what} risk of control"),
                risk.control,
                &theirs["risk"][0],
            );
            tally.check(
                &format!("{what} risk of treatment"),
                risk.treatment,
                &theirs["risk"][1],
            );
        }
    }
}

#[test]
fn experiment_statistics_equal_gbstats_0_8_0() {
    let cases = cases();
    let methods = |case: &Case| {
        [
            ("bayesian", Method::Bayesian { prior: case.prior }),
            ("frequentist", Method::FixedHorizon),
            (
                "sequential",
                Method::Sequential {
                    tuning: case.tuning,
                },
            ),
        ]
    };
    // Ours first; the fixed-horizon relative p-values also feed the BH cross-check.
    let mut p_values = Vec::new();
    let mut ours = Vec::new();
    for case in &cases {
        let mut per_method = Vec::new();
        for (name, method) in methods(case) {
            let settings = Settings {
                method,
                // gbstats' engine always gives Bayesian results 95 % credible intervals.
                alpha: if name == "bayesian" { 0.05 } else { case.alpha },
                cuped: case.cuped,
                lower_is_better: case.lower_is_better,
            };
            let analysis = analyze_metric(case.kind, &case.arms, 0, &settings).unwrap();
            if name == "frequentist" {
                p_values.extend(
                    analysis
                        .variations
                        .iter()
                        .filter_map(|v| v.lift.relative.ok().and_then(|l| l.evidence.p_value())),
                );
            }
            per_method.push((name, analysis));
        }
        ours.push(per_method);
    }
    let input =
        json!({"cases": cases.iter().map(case_json).collect::<Vec<_>>(), "p_values": p_values});
    let Some(reference) = run_gbstats(&input) else {
        return;
    };

    let mut tally = Tally::default();
    for ((case, per_method), theirs) in cases
        .iter()
        .zip(&ours)
        .zip(reference["cases"].as_array().unwrap())
    {
        assert_eq!(theirs["id"], case.id.as_str());
        let units: Vec<u64> = case.arms.iter().map(|a| a.units).collect();
        let srm = sample_ratio_mismatch(&units, &case.weights).unwrap();
        tally.check(&format!("{} srm", case.id), srm.p_value, &theirs["srm"]);
        for (name, analysis) in per_method {
            for (difference, pick) in [("relative", true), ("absolute", false)] {
                let reference = theirs["analyses"][format!("{name}/{difference}")]
                    .as_array()
                    .unwrap();
                assert_eq!(reference.len(), analysis.variations.len(), "{}", case.id);
                for (v, r) in analysis.variations.iter().zip(reference) {
                    let what = format!("{} {name}/{difference} variation {}", case.id, v.variation);
                    let lift = if pick {
                        &v.lift.relative
                    } else {
                        &v.lift.absolute
                    };
                    check_lift(&mut tally, &what, lift, r);
                }
            }
        }
    }
    let bh = benjamini_hochberg(&p_values).unwrap();
    let scipy_bh = reference["bh"].as_array().unwrap();
    assert_eq!(bh.len(), scipy_bh.len());
    for (i, (ours, theirs)) in bh.iter().zip(scipy_bh).enumerate() {
        tally.check(&format!("BH-adjusted p-value {i}"), *ours, theirs);
    }
    let edge = cases
        .iter()
        .find(|c| c.id == "edge-sample-ratio-mismatch")
        .unwrap();
    let units: Vec<u64> = edge.arms.iter().map(|a| a.units).collect();
    assert!(
        sample_ratio_mismatch(&units, &edge.weights)
            .unwrap()
            .mismatch
    );
    assert!(
        tally.compared > 2000,
        "only {} numbers compared",
        tally.compared
    );
    eprintln!(
        "gbstats 0.8.0: {} cases, {} numbers equal; largest absolute difference {:e} ({}), \
         largest relative difference {:e} (values ≥ 1e-3)",
        cases.len(),
        tally.compared,
        tally.max_abs,
        tally.worst,
        tally.max_rel
    );
}
