//! Exactness against GrowthBook's statistics engine: generated experiments (proportion, count,
//! mean and ratio metrics; with and without CUPED; 2–3 arms; 20 to 2 million units per arm) go
//! through `switchyard_stats::experiments` and through `gbstats` 0.8.0's own entry point
//! (`clients/gbstats-check/compare.py`), and every number — estimate, standard error, interval
//! bounds, p-value, chance to win, both risks, SRM p-value, Benjamini–Hochberg adjustments —
//! must agree to 1e-6 (relative above 1 in magnitude). Lifts `gbstats` refuses must be errors
//! here too. Skips loudly without Python's gbstats, and fails instead under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use switchyard_stats::experiments::{
    ArmAggregate, Evidence, Lift, Method, MetricKind, PairedSums, Prior, Settings, analyze_metric,
    benjamini_hochberg, sample_ratio_mismatch,
};

/// Agreement required: absolute below 1, relative above.
const TOLERANCE: f64 = 1e-6;

/// splitmix64, so every run sees the same experiments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -self.uniform().ln() * mean
    }

    fn pick<T: Copy>(&mut self, options: &[T]) -> T {
        options[(self.next() % options.len() as u64) as usize]
    }
}

#[derive(Debug, Clone)]
struct Case {
    id: String,
    kind: MetricKind,
    cuped: bool,
    weights: Vec<f64>,
    alpha: f64,
    tuning: f64,
    lower_is_better: bool,
    prior: Prior,
    arms: Vec<ArmAggregate>,
}

/// Per-unit accumulation of one arm.
#[derive(Default)]
struct Sums {
    units: u64,
    y: [f64; 2],
    other: [f64; 3],
}

impl Sums {
    /// Adds a unit with metric value `y` and paired value `x` (covariate or denominator).
    fn add(&mut self, y: f64, x: f64) {
        self.units += 1;
        self.y[0] += y;
        self.y[1] += y * y;
        self.other[0] += x;
        self.other[1] += x * x;
        self.other[2] += x * y;
    }

    fn aggregate(&self, kind: MetricKind, cuped: bool) -> ArmAggregate {
        let paired = PairedSums {
            sum: self.other[0],
            sum_sq: self.other[1],
            cross: self.other[2],
        };
        ArmAggregate {
            units: self.units,
            sum: self.y[0],
            sum_sq: self.y[1],
            denominator: (kind == MetricKind::Ratio).then_some(paired),
            covariate: cuped.then_some(paired),
        }
    }
}

/// One arm simulated unit by unit; `lift` scales the post-exposure value. The pre-exposure value
/// (or a ratio's denominator) is correlated with the metric, as real pre-period data are.
fn simulate(
    kind: MetricKind,
    cuped: bool,
    units: u64,
    base: f64,
    lift: f64,
    rng: &mut Rng,
) -> ArmAggregate {
    let mut sums = Sums::default();
    for _ in 0..units {
        let (y, x) = match kind {
            MetricKind::Proportion => {
                let pre = rng.uniform() < 0.3;
                let p = (base * (1.0 + lift) * if pre { 2.0 } else { 0.6 }).min(0.99);
                (
                    f64::from(u8::from(rng.uniform() < p)),
                    f64::from(u8::from(pre)),
                )
            }
            MetricKind::Mean => {
                let x = (base + 4.0 * rng.normal()).max(0.0);
                let y = ((3.0 + 0.7 * x) * (1.0 + lift) + 3.0 * rng.normal()).max(0.0);
                (y, x)
            }
            MetricKind::Count => {
                let x = rng.exponential(base).floor();
                (rng.exponential((1.0 + 0.5 * x) * (1.0 + lift)).floor(), x)
            }
            MetricKind::Ratio => {
                let orders = rng.exponential(base).floor();
                let revenue = (orders * (30.0 + 5.0 * rng.normal()) * (1.0 + lift)).max(0.0);
                (revenue, orders)
            }
        };
        sums.add(y, x);
    }
    sums.aggregate(kind, cuped)
}

/// One arm of `units` units from its population moments, as a store would hold two million
/// units' sums: (mean, variance) of the metric and of the paired value, and their covariance.
fn synthesize(kind: MetricKind, cuped: bool, units: u64, base: f64, lift: f64) -> ArmAggregate {
    let n = units as f64;
    let l = 1.0 + lift;
    if kind == MetricKind::Proportion {
        let pre = (0.3 * n).round();
        let both = (pre * (base * l * 2.0).min(0.99)).round();
        let only_post = ((n - pre) * base * l * 0.6).round();
        let paired = PairedSums {
            sum: pre,
            sum_sq: pre,
            cross: both,
        };
        return ArmAggregate {
            units,
            sum: both + only_post,
            sum_sq: both + only_post,
            denominator: None,
            covariate: cuped.then_some(paired),
        };
    }
    let ((my, vy), (mx, vx), cov) = match kind {
        MetricKind::Mean => (
            (10.0 * l, 16.0 * (0.7 * l).powi(2) + 9.0),
            (base, 16.0),
            11.2 * l,
        ),
        MetricKind::Count => ((2.0 * l, 6.0 * l * l), (base, base * base), 2.0 * l),
        _ => ((45.0 * l, 2500.0 * l * l), (base, base * base), 60.0 * l),
    };
    let paired = PairedSums {
        sum: n * mx,
        sum_sq: n * (vx + mx * mx),
        cross: n * (cov + mx * my),
    };
    ArmAggregate {
        units,
        sum: n * my,
        sum_sq: n * (vy + my * my),
        denominator: (kind == MetricKind::Ratio).then_some(paired),
        covariate: cuped.then_some(paired),
    }
}

fn base_for(kind: MetricKind, rng: &mut Rng) -> f64 {
    match kind {
        MetricKind::Proportion => rng.pick(&[0.03, 0.1, 0.25]),
        MetricKind::Mean => rng.pick(&[8.0, 10.0, 12.0]),
        MetricKind::Count => rng.pick(&[1.0, 2.0, 3.0]),
        MetricKind::Ratio => rng.pick(&[1.2, 1.5, 2.0]),
    }
}

/// Forty-two generated experiments and four edge cases.
fn cases() -> Vec<Case> {
    let mut rng = Rng(0x5EED_0023);
    let mut out = Vec::new();
    let combos = [
        (MetricKind::Proportion, false),
        (MetricKind::Proportion, true),
        (MetricKind::Count, false),
        (MetricKind::Count, true),
        (MetricKind::Mean, false),
        (MetricKind::Mean, true),
        (MetricKind::Ratio, false),
    ];
    for (kind, cuped) in combos {
        for (size, arms) in [
            (200_u64, 2_usize),
            (5_000, 3),
            (2_000_000, 2),
            (2_000_000, 3),
        ] {
            for replicate in 0..if size == 2_000_000 { 1 } else { 2 } {
                let base = base_for(kind, &mut rng);
                let weights: Vec<f64> = if rng.uniform() < 0.3 {
                    (0..arms)
                        .map(|i| if i == 0 { 0.4 } else { 0.6 / (arms - 1) as f64 })
                        .collect()
                } else {
                    vec![1.0 / arms as f64; arms]
                };
                let aggregates = (0..arms)
                    .map(|i| {
                        let lift = if i == 0 {
                            0.0
                        } else {
                            rng.pick(&[0.0, -0.02, 0.02, 0.05, 0.1])
                        };
                        let planned = (weights[i] * (size * arms as u64) as f64) as u64;
                        let units = planned + rng.next() % (planned / 50 + 1);
                        if size == 2_000_000 {
                            synthesize(kind, cuped, units, base, lift)
                        } else {
                            simulate(kind, cuped, units, base, lift, &mut rng)
                        }
                    })
                    .collect();
                let n = out.len();
                out.push(Case {
                    id: format!("{kind:?}-cuped={cuped}-n={size}-arms={arms}-{replicate}"),
                    kind,
                    cuped,
                    weights,
                    alpha: rng.pick(&[0.05, 0.1]),
                    tuning: rng.pick(&[5000.0, 20_000.0]),
                    lower_is_better: n % 3 == 2,
                    prior: match n % 3 {
                        0 => Prior::Uninformative,
                        1 => Prior::Normal {
                            mean: 0.0,
                            std_dev: 0.3,
                        },
                        _ => Prior::Normal {
                            mean: 0.02,
                            std_dev: 0.1,
                        },
                    },
                    arms: aggregates,
                });
            }
        }
    }
    let edge = |id: &str, kind, cuped, arms: Vec<ArmAggregate>| Case {
        id: id.to_string(),
        kind,
        cuped,
        weights: vec![1.0; arms.len()],
        alpha: 0.05,
        tuning: 5000.0,
        lower_is_better: false,
        prior: Prior::Uninformative,
        arms,
    };
    // No conversions in the control: every lift undefined in both.
    let zero = ArmAggregate {
        units: 50,
        ..ArmAggregate::default()
    };
    let some = ArmAggregate {
        units: 50,
        sum: 4.0,
        sum_sq: 4.0,
        ..ArmAggregate::default()
    };
    out.push(edge(
        "edge-control-without-conversions",
        MetricKind::Proportion,
        false,
        vec![zero, some],
    ));
    // Twenty units per arm: Welch's degrees of freedom far from normal.
    let tiny: Vec<ArmAggregate> = [0.0, 0.3]
        .iter()
        .map(|&lift| simulate(MetricKind::Mean, false, 20, 10.0, lift, &mut rng))
        .collect();
    out.push(edge("edge-twenty-units", MetricKind::Mean, false, tiny));
    // CUPED with a constant pre-period: θ = 0, so both fall back to the unadjusted test.
    let flat: Vec<ArmAggregate> = [0.0, 0.05]
        .iter()
        .map(|&lift| {
            let mut arm = simulate(MetricKind::Mean, false, 300, 10.0, lift, &mut rng);
            arm.covariate = Some(PairedSums {
                sum: 300.0,
                sum_sq: 300.0,
                cross: arm.sum,
            });
            arm
        })
        .collect();
    out.push(edge(
        "edge-cuped-constant-pre-period",
        MetricKind::Mean,
        true,
        flat,
    ));
    // A broken split: SRM p far below 0.001.
    let skewed: Vec<ArmAggregate> = [1000, 1200, 1000]
        .iter()
        .map(|&units| simulate(MetricKind::Proportion, false, units, 0.1, 0.0, &mut rng))
        .collect();
    out.push(edge(
        "edge-sample-ratio-mismatch",
        MetricKind::Proportion,
        false,
        skewed,
    ));
    out
}

fn case_json(case: &Case) -> Value {
    let (proper, mean, stddev) = match case.prior {
        Prior::Uninformative => (false, 0.0, 0.1),
        Prior::Normal { mean, std_dev } => (true, mean, std_dev),
    };
    let arms: Vec<Value> = case
        .arms
        .iter()
        .map(|a| {
            let d = a.denominator.unwrap_or_default();
            let c = a.covariate.unwrap_or_default();
            json!({"units": a.units, "sum": a.sum, "sum_sq": a.sum_sq,
                   "den_sum": d.sum, "den_sum_sq": d.sum_sq, "den_cross": d.cross,
                   "cov_sum": c.sum, "cov_sum_sq": c.sum_sq, "cov_cross": c.cross})
        })
        .collect();
    let kind = match case.kind {
        MetricKind::Proportion => "proportion",
        MetricKind::Count => "count",
        MetricKind::Mean => "mean",
        MetricKind::Ratio => "ratio",
    };
    json!({"id": case.id, "kind": kind, "cuped": case.cuped, "weights": case.weights,
           "alpha": case.alpha, "tuning": case.tuning, "inverse": case.lower_is_better,
           "prior": {"proper": proper, "mean": mean, "stddev": stddev}, "arms": arms})
}

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
            diff <= TOLERANCE * theirs.abs().max(1.0),
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
