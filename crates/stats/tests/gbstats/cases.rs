//! Generated experiments for the gbstats equality test: simulated unit by unit (20 to 10,000
//! units per arm) or synthesized from population moments (two million), and their JSON for
//! `compare.py`.

use serde_json::{Value, json};
use switchyard_stats::experiments::{ArmAggregate, MetricKind, PairedSums, Prior};

/// splitmix64, so every run sees the same experiments.
pub(crate) struct Rng(u64);

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
pub(crate) struct Case {
    pub(crate) id: String,
    pub(crate) kind: MetricKind,
    pub(crate) cuped: bool,
    pub(crate) weights: Vec<f64>,
    pub(crate) alpha: f64,
    pub(crate) tuning: f64,
    pub(crate) lower_is_better: bool,
    pub(crate) prior: Prior,
    pub(crate) arms: Vec<ArmAggregate>,
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
pub(crate) fn cases() -> Vec<Case> {
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

pub(crate) fn case_json(case: &Case) -> Value {
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
