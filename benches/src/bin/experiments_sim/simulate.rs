//! The experiments simulation's building blocks: a seeded generator, the simulated metrics,
//! the per-arm sums the store would keep, the calls into `switchyard_stats::experiments`, and the
//! rates with their Wilson intervals that the report prints.

use serde_json::{Value, json};
use switchyard_stats::DEFAULT_N_TUNE;
use switchyard_stats::experiments::{
    ArmAggregate, Lift, Method, MetricKind, PairedSums, Settings, compare,
};

pub(crate) const Z_95: f64 = 1.959_963_984_540_054;

// ---------------------------------------------------------------------------------------------
// Simulated units and their aggregates

/// SplitMix64 with a Box–Muller normal: small, fast and seeded.
pub(crate) struct Rng {
    state: u64,
    spare_normal: Option<f64>,
}

impl Rng {
    /// A generator for run `run` of scenario `scenario`, independent of the other runs.
    pub(crate) fn for_run(scenario: u64, run: u64) -> Self {
        let mut seeder = Rng {
            state: scenario.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ run,
            spare_normal: None,
        };
        Rng {
            state: seeder.next_u64(),
            spare_normal: None,
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    pub(crate) fn standard_normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let radius = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        let angle = 2.0 * std::f64::consts::PI * self.uniform();
        self.spare_normal = Some(radius * angle.sin());
        radius * angle.cos()
    }
}

/// The per-unit metric a scenario simulates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Metric {
    /// "Converted at least once" with this control rate.
    Proportion { rate: f64 },
    /// A real value, normal.
    Normal { mean: f64, std_dev: f64 },
    /// A skewed revenue-like value, exp(N(0, 1)): mean e^½ ≈ 1.65, skewness ≈ 6.2.
    LogNormal,
}

impl Metric {
    pub(crate) fn kind(self) -> MetricKind {
        match self {
            Metric::Proportion { .. } => MetricKind::Proportion,
            Metric::Normal { .. } | Metric::LogNormal => MetricKind::Mean,
        }
    }

    pub(crate) fn name(self) -> String {
        match self {
            Metric::Proportion { rate } => format!("proportion {:.0} %", rate * 100.0),
            Metric::Normal { mean, std_dev } => format!("mean (normal {mean}, sd {std_dev})"),
            Metric::LogNormal => "mean (lognormal, skewed)".into(),
        }
    }

    /// One unit's value, its expectation multiplied by `1 + lift`.
    pub(crate) fn draw(self, rng: &mut Rng, lift: f64) -> f64 {
        match self {
            Metric::Proportion { rate } => f64::from(u8::from(rng.uniform() < rate * (1.0 + lift))),
            Metric::Normal { mean, std_dev } => {
                mean * (1.0 + lift) + std_dev * rng.standard_normal()
            }
            Metric::LogNormal => rng.standard_normal().exp() * (1.0 + lift),
        }
    }
}

/// One arm's running sums, as the store keeps them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Arm {
    units: u64,
    sum: f64,
    sum_sq: f64,
    pre: PairedSums,
}

impl Arm {
    pub(crate) fn add(&mut self, value: f64) {
        self.units += 1;
        self.sum += value;
        self.sum_sq += value * value;
    }

    pub(crate) fn add_with_pre(&mut self, value: f64, pre: f64) {
        self.add(value);
        self.pre.sum += pre;
        self.pre.sum_sq += pre * pre;
        self.pre.cross += value * pre;
    }

    pub(crate) fn aggregate(&self) -> ArmAggregate {
        ArmAggregate {
            units: self.units,
            sum: self.sum,
            sum_sq: self.sum_sq,
            denominator: None,
            covariate: Some(self.pre),
        }
    }
}

pub(crate) fn settings(method: Method, cuped: bool) -> Settings {
    Settings {
        cuped,
        ..Settings::new(method)
    }
}

pub(crate) fn sequential() -> Method {
    Method::Sequential {
        tuning: DEFAULT_N_TUNE,
    }
}

/// The relative lift of `treatment` over `control`, or `None` where it is undefined on these
/// data (counted as "not significant").
pub(crate) fn relative_lift(
    kind: MetricKind,
    control: &Arm,
    treatment: &Arm,
    method: Method,
) -> Option<Lift> {
    let result = compare(
        kind,
        &control.aggregate(),
        &treatment.aggregate(),
        &settings(method, false),
    )
    .expect("valid settings and aggregates");
    result.relative.ok()
}

pub(crate) fn excludes_zero(lift: &Option<Lift>) -> bool {
    lift.is_some_and(|l| !l.interval.contains(0.0))
}

pub(crate) fn significantly_positive(lift: &Option<Lift>) -> bool {
    lift.is_some_and(|l| l.interval.lower > 0.0)
}

/// Runs `one(run)` for `runs` runs on every core, in run order.
pub(crate) fn parallel_runs<T: Send>(runs: u64, one: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut results: Vec<(u64, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let one = &one;
                scope.spawn(move || {
                    (thread..runs)
                        .step_by(threads as usize)
                        .map(|run| (run, one(run)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    results.sort_by_key(|(run, _)| *run);
    results.into_iter().map(|(_, r)| r).collect()
}

// ---------------------------------------------------------------------------------------------
// Reporting

/// A share of runs with its 95 % Wilson score interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rate {
    hits: u64,
    runs: u64,
}

impl Rate {
    pub(crate) fn of(flags: impl Iterator<Item = bool>) -> Self {
        let (mut hits, mut runs) = (0, 0);
        for flag in flags {
            runs += 1;
            hits += u64::from(flag);
        }
        Rate { hits, runs }
    }

    pub(crate) fn share(self) -> f64 {
        self.hits as f64 / self.runs as f64
    }

    pub(crate) fn wilson(self) -> (f64, f64) {
        let (n, p, z2) = (self.runs as f64, self.share(), Z_95 * Z_95);
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
        (centre - half, centre + half)
    }

    pub(crate) fn show(self) -> String {
        let (low, high) = self.wilson();
        format!(
            "{}/{} = {:.2} % [{:.2} %, {:.2} %]",
            self.hits,
            self.runs,
            100.0 * self.share(),
            100.0 * low,
            100.0 * high
        )
    }

    pub(crate) fn json(self) -> Value {
        let (low, high) = self.wilson();
        json!({"hits": self.hits, "runs": self.runs, "rate": self.share(), "low": low, "high": high})
    }
}

#[derive(Debug, Default)]
pub(crate) struct Checks {
    pub(crate) failed: Vec<String>,
}

impl Checks {
    pub(crate) fn expect(&mut self, ok: bool, what: String) {
        println!("  check {}: {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            self.failed.push(what);
        }
    }
}
