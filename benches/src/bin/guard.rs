//! Guarded release benchmark.
//!
//! 1. **Decision procedure, simulated** (many seeded runs, in-process): the guard's own
//!    `releases::assess` is fed the cohort counts a 5 % stage would accumulate at 1,000
//!    evaluations/s with 0.5 % errors, one look per guard interval (serve's default, 1 s).
//!    - A/A (both cohorts 0.5 %) for up to 20,000 bad events: the false roll back rate, which
//!      product.md bounds at 1 % (`alpha` 0.01, one guardrail);
//!    - 5× (treated 2.5 %): bad events and seconds of traffic until the roll back, beside
//!      `guardrail-statistics.md`'s expectation (about 45 bad events, about 10 s, at α_j 0.0025;
//!      one guardrail here is α 0.01, a lower threshold).
//! 2. **End to end** (a release `switchyard serve`, the Rust SDK as the application): traffic at
//!    several rates through a 5 % stage with 0.5 % errors; after 10 s (`GUARD_BENCH_AA_SECONDS`;
//!    0 makes the treated variation bad from the stage's start) the treated error rate jumps 5×; the time from the onset until the SDK serves the old variation to every treated
//!    user, median of 3 runs per rate, beside the simulated decision time at that rate. Each
//!    run is split into stages, seen from outside every 100 ms: the first events flushed after
//!    the onset reach the server; the server's own assessment (the release status) would
//!    decide; the guard decides (the roll back's history entry); the API shows it rolled back;
//!    the SDK serves the old variation. `GUARD_BENCH_LOOK_MS` (serve's `--guard-interval-ms`),
//!    `GUARD_BENCH_FLUSH_MS` (the application SDK's events flush), `GUARD_BENCH_RATES`
//!    (default `1000,4000,16000`) and `GUARD_BENCH_RUNS` (3) change the setup;
//!    `GUARD_BENCH_SKIP_SIMULATION=1` leaves out part 1.
//!
//! Run with `bash benches/guard.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_bench::{Method, SdkKeyKind, TestServer, machine, serve, switchyard_binary};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_server::releases::{Freshness, Release, ReleaseInput, Verdict, assess};
use switchyard_store::events::{MetricMoments, StageCohorts};

const STAGE_PERCENT: f64 = 5.0;
const BASE_RATE: f64 = 0.005;
/// Seconds of equal error rates in the stage before the regression's onset, end to end, unless
/// `GUARD_BENCH_AA_SECONDS` says otherwise: a regression that starts mid-stage is diluted by the
/// stage's earlier counts; one shipped with the treated variation (0) is not.
fn a_a_seconds() -> f64 {
    std::env::var("GUARD_BENCH_AA_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s >= 0.0)
        .unwrap_or(10.0)
}
/// `serve`'s default `--guard-interval-ms`.
const DEFAULT_LOOK_MS: u64 = 1000;

fn main() {
    println!("# guarded release benchmark, {}", machine());
    // `GUARD_BENCH_SKIP_SIMULATION=1`: the end-to-end runs only (the table of the seeded
    // simulation does not change unless the guard's statistics do).
    if std::env::var_os("GUARD_BENCH_SKIP_SIMULATION").is_none() {
        simulate();
    }
    let binary = switchyard_binary();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(end_to_end(&binary));
}

/// A small, fast, seeded generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Poisson(mean) by inversion (means here are small, at most a few hundred).
    fn poisson(&mut self, mean: f64) -> i64 {
        if mean > 500.0 {
            // Normal approximation for the evaluation counts.
            let u1 = self.next_f64().max(1e-300);
            let u2 = self.next_f64();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            return (mean + z * mean.sqrt()).round().max(0.0) as i64;
        }
        let (mut k, mut p, mut sum) = (0i64, (-mean).exp(), (-mean).exp());
        let u = self.next_f64();
        while u > sum && k < 10_000 {
            k += 1;
            p *= mean / k as f64;
            sum += p;
        }
        k
    }
}

fn release() -> Release {
    let input: ReleaseInput = serde_json::from_value(json!({
        "flag": "f", "variation": "on",
        "stages": [{"percent": STAGE_PERCENT, "min_bake_s": 1_000_000_000}],
        "guardrails": [{"metric": "error"}],
    }))
    .unwrap();
    let targeting =
        serde_json::from_value(json!({"on": true, "fallthrough": {"variation": 1}})).unwrap();
    Release::new(
        "sim".into(),
        ("p", "e"),
        input,
        &["on".into(), "off".into()],
        &targeting,
        0,
    )
    .unwrap()
}

/// One simulated stage: looks every guard interval at `rate` evaluations/s until a roll back
/// or `max_bad` bad events, the treated error rate `ratio` times the base after `onset_s`
/// seconds of equal rates. Returns (bad events, seconds since the onset) at the roll back, if
/// there was one after the onset.
fn run(
    rng: &mut Rng,
    release: &Release,
    rate: f64,
    ratio: f64,
    max_bad: i64,
    onset_s: f64,
) -> Option<(i64, f64)> {
    let rho = STAGE_PERCENT / 100.0;
    let mut cohorts = StageCohorts::default();
    let (mut treated, mut control, mut y_t, mut y_c) = (0i64, 0i64, 0i64, 0i64);
    let mut look = 0;
    while y_t + y_c < max_bad {
        look += 1;
        let n = rate * look_every_s();
        treated += rng.poisson(n * rho);
        control += rng.poisson(n * (1.0 - rho));
        let regressed = look as f64 * look_every_s() > onset_s;
        y_t += rng.poisson(n * rho * BASE_RATE * if regressed { ratio } else { 1.0 });
        y_c += rng.poisson(n * (1.0 - rho) * BASE_RATE);
        cohorts.evaluations =
            BTreeMap::from([("treated".into(), treated), ("control".into(), control)]);
        for (cohort, count) in [("treated", y_t), ("control", y_c)] {
            cohorts.metrics.insert(
                ("error".into(), cohort.into()),
                MetricMoments {
                    count,
                    sum: count as f64,
                    sum_of_squares: count as f64,
                },
            );
        }
        let now = (look as f64 * look_every_s() * 1000.0) as i64;
        let fresh = Freshness {
            evaluations: treated + control,
            changed_ms: now,
        };
        if let Verdict::Breach { .. } = assess(release, &cohorts, fresh, now).verdict {
            let since_onset = look as f64 * look_every_s() - onset_s;
            return (since_onset > 0.0).then_some((y_t + y_c, since_onset));
        }
    }
    None
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn simulate() {
    let release = release();
    let rate = 1000.0;
    println!(
        "\n## Decision procedure (simulated, {STAGE_PERCENT} % stage, {rate} evaluations/s, {} % errors, a look every {} s)\n",
        BASE_RATE * 100.0,
        look_every_s()
    );
    let runs = 2000;
    let mut rng = Rng(2026);
    let started = Instant::now();
    let false_alarms = (0..runs)
        .filter(|_| run(&mut rng, &release, rate, 1.0, 20_000, 0.0).is_some())
        .count();
    let p = false_alarms as f64 / runs as f64;
    let se = (p.max(1.0 / runs as f64) * (1.0 - p) / runs as f64).sqrt();
    println!("| scenario | runs | result | expectation |");
    println!("|---|---:|---|---|");
    println!(
        "| A/A, up to 20,000 bad events | {runs} | {false_alarms} rolled back: {:.2} % (± {:.2} % s.e.) | ≤ 1 % (product.md) |",
        p * 100.0,
        se * 100.0
    );
    for ratio in [5.0, 2.0] {
        let mut bad = Vec::new();
        let mut seconds = Vec::new();
        let runs = 500;
        for _ in 0..runs {
            if let Some((b, s)) = run(&mut rng, &release, rate, ratio, 200_000, 0.0) {
                bad.push(b as f64);
                seconds.push(s);
            }
        }
        let expected = if ratio == 5.0 {
            "about 45 bad events, about 10 s (α_j 0.0025)"
        } else {
            "about 370 bad events, about 75 s (α_j 0.0025)"
        };
        println!(
            "| {ratio}× regression | {runs} | detected in {} runs; median {:.0} bad events, {:.0} s of traffic | {expected} |",
            bad.len(),
            median(&mut bad),
            median(&mut seconds)
        );
    }
    println!(
        "\n(simulation took {:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

/// The simulated median decision time at `rate`, from the onset, with the end-to-end runs'
/// `a_a_seconds()` of equal rates in the stage before it (they dilute the stage's evidence).
fn simulated_seconds(rate: f64) -> f64 {
    let release = release();
    let mut rng = Rng(7);
    let mut seconds: Vec<f64> = (0..300)
        .filter_map(|_| run(&mut rng, &release, rate, 5.0, 200_000, a_a_seconds()).map(|(_, s)| s))
        .collect();
    median(&mut seconds)
}

async fn end_to_end(binary: &str) {
    println!(
        "\n## End to end: 5× error regression at a {STAGE_PERCENT} % stage, onset → the SDK serves the old variation\n"
    );
    println!(
        "guard look: {}; application SDK events flush: {}; equal rates before the onset: {} s; load average at the start: {}\n",
        look_ms().map_or("serve's default".into(), |ms| format!("{ms} ms")),
        flush_ms().map_or("the SDK's default".into(), |ms| format!("{ms} ms")),
        a_a_seconds(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "| evaluations/s | runs | onset → SDK serves old, median s (min–max) | simulated decision s | \
         events at server | evidence decides | guard decision | roll back committed | SDK serves | \
         after the evidence (look + commit + stream) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let rates: Vec<f64> = std::env::var("GUARD_BENCH_RATES")
        .unwrap_or("1000,4000,16000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let runs: usize = std::env::var("GUARD_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    for rate in rates {
        let mut all = Vec::new();
        for attempt in 0..runs {
            let dir = std::env::temp_dir().join(format!(
                "switchyard-bench-guard-{}-{rate}-{attempt}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let mut args = vec!["--data-dir".to_owned(), dir.to_str().unwrap().to_owned()];
            if let Some(look) = look_ms() {
                args.extend(["--guard-interval-ms".to_owned(), look.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let serve = serve(binary, &args).await;
            match scenario(&serve, rate).await {
                Some(stages) => {
                    eprintln!("{rate}/s run {attempt}: {stages:?}");
                    all.push(stages);
                }
                None => println!("<!-- {rate}/s run {attempt}: no roll back within 120 s -->"),
            }
            serve.stop().await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        let simulated = simulated_seconds(rate);
        if all.is_empty() {
            println!("| {rate} | {runs} | none rolled back | {simulated:.1} | | | | | | |");
            continue;
        }
        let stage = |pick: fn(&Stages) -> Option<f64>| -> String {
            let mut values: Vec<f64> = all.iter().filter_map(pick).collect();
            if values.is_empty() {
                return "–".into();
            }
            format!("{:.1}", median(&mut values))
        };
        let mut served: Vec<f64> = all.iter().filter_map(|s| s.served).collect();
        let (min, max) = (
            served.iter().copied().fold(f64::INFINITY, f64::min),
            served.iter().copied().fold(0.0, f64::max),
        );
        let m = median(&mut served);
        let mut after: Vec<f64> = all
            .iter()
            .filter_map(|s| Some(s.served? - s.evidence?))
            .collect();
        let after = if after.is_empty() {
            "–".into()
        } else {
            format!("{:.1}", median(&mut after))
        };
        println!(
            "| {rate} | {} | {m:.1} ({min:.1}–{max:.1}) | {simulated:.1} | {} | {} | {} | {} | {m:.1} | {after} |",
            all.len(),
            stage(|s| s.events),
            stage(|s| s.evidence),
            stage(|s| s.decision),
            stage(|s| s.committed),
        );
    }
    println!(
        "\n(stages in seconds from the onset, medians; each run's stages on stderr; load average at the end: {})",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

/// `GUARD_BENCH_LOOK_MS`: the guard's interval (`serve --guard-interval-ms`) instead of serve's
/// default.
fn look_ms() -> Option<u64> {
    std::env::var("GUARD_BENCH_LOOK_MS").ok()?.parse().ok()
}

/// Seconds between the guard's looks, in the simulation and the end-to-end runs.
fn look_every_s() -> f64 {
    static LOOK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *LOOK.get_or_init(|| look_ms().unwrap_or(DEFAULT_LOOK_MS) as f64 / 1000.0)
}

/// `GUARD_BENCH_FLUSH_MS`: the application SDK's events flush interval instead of its default.
fn flush_ms() -> Option<u64> {
    std::env::var("GUARD_BENCH_FLUSH_MS").ok()?.parse().ok()
}

/// Seconds from the onset of one run until each stage was seen.
#[derive(Debug, Default, Clone, Copy)]
struct Stages {
    /// The first events flushed after the onset are at the server (its evaluation counts moved).
    events: Option<f64>,
    /// The evidence at the server would decide: its assessment (the status endpoint's, polled
    /// every 100 ms) says breach. What a guard looking continuously would see.
    evidence: Option<f64>,
    /// The guard's decision: the roll back's history entry (server clock, same machine).
    decision: Option<f64>,
    /// The API shows the release rolled back (polled every 100 ms).
    committed: Option<f64>,
    /// The SDK serves every treated user the old variation.
    served: Option<f64>,
}

/// Seconds from the onset to the roll back's history entry in a release status.
fn decided_at(status: &Value, onset_ms: i64) -> Option<f64> {
    status["history"].as_array().and_then(|history| {
        history
            .iter()
            .rev()
            .find(|h| h["event"].as_str().is_some_and(|e| e.contains("roll")))
            .and_then(|h| h["at_ms"].as_i64())
            .map(|ms| (ms - onset_ms) as f64 / 1000.0)
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One run: when each stage was reached, from the onset until every treated user is served
/// `off` again.
async fn scenario(serve: &TestServer, rate: f64) -> Option<Stages> {
    let call = |method: Method, path: String, body: Value| async move {
        let path = format!("/api/v1/projects/default{path}");
        serve.admin(method, &path, Some(body)).await
    };
    call(
        Method::POST,
        "/flags".into(),
        json!({"key": "checkout-v2", "kind": "boolean"}),
    )
    .await;
    call(
        Method::PUT,
        "/environments/production/flags/checkout-v2".into(),
        json!({"version": 0, "on": true, "off_variation": 1, "fallthrough": {"variation": 1}}),
    )
    .await;
    let key = serve.sdk_key(SdkKeyKind::Server).await;
    let release = call(
        Method::POST,
        "/environments/production/releases".into(),
        json!({"flag": "checkout-v2", "variation": "on",
               "stages": [{"percent": STAGE_PERCENT, "min_bake_s": 3600}],
               "guardrails": [{"metric": "error"}]}),
    )
    .await;
    let release_id = release["id"].as_str().unwrap().to_owned();
    // The application: default SDK settings unless `GUARD_BENCH_FLUSH_MS` says otherwise.
    let mut events = EventsConfig::default();
    if let Some(flush) = flush_ms() {
        events.flush_interval = Duration::from_millis(flush);
    }
    let client = Arc::new(
        Client::builder(&serve.base, &key)
            .events(events)
            .build()
            .await,
    );
    // The stopwatch looks through its own SDK, which records nothing: its evaluations of
    // the treated users would otherwise skew the cohorts (the guard holds on that, rightly).
    let observer = Client::builder(&serve.base, &key)
        .events(EventsConfig {
            enabled: false,
            ..EventsConfig::default()
        })
        .build()
        .await;
    let users: Vec<Context> = (0..20_000)
        .map(|i| Context::from_json(&json!({"key": format!("user-{i}")})).unwrap())
        .collect();
    let treated: Vec<usize> = (0..users.len())
        .filter(|i| observer.bool_value("checkout-v2", &users[*i], false))
        .collect();
    let regressed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let users = Arc::new(users);
    let traffic = {
        let (client, users, regressed, stop) = (
            client.clone(),
            users.clone(),
            regressed.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut rng = Rng(rate as u64);
            let per_tick = (rate / 100.0) as usize;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                for _ in 0..per_tick {
                    let user = &users[i % users.len()];
                    i += 1;
                    let on = client.bool_value("checkout-v2", user, false);
                    let p = if on && regressed.load(Ordering::Relaxed) {
                        BASE_RATE * 5.0
                    } else {
                        BASE_RATE
                    };
                    if rng.next_f64() < p {
                        client.track("error", user, 1.0);
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs_f64(a_a_seconds())).await;
    let status_path = format!("/environments/production/releases/{release_id}");
    let evaluations_at = |status: &Value| -> i64 {
        status["assessment"]["evaluations"]
            .as_object()
            .map_or(0, |cohorts| {
                cohorts.values().filter_map(Value::as_i64).sum()
            })
    };
    let before = evaluations_at(&call(Method::GET, status_path.clone(), Value::Null).await);
    let onset = Instant::now();
    let onset_ms = now_ms();
    regressed.store(true, Ordering::Relaxed);
    let mut stages = Stages::default();
    let mut polls = 0u64;
    while onset.elapsed() < Duration::from_secs(120) {
        // The server's view every 100 ms: when the first batch flushed after the onset
        // arrived, when the evidence there would decide, when the roll back is committed.
        if polls.is_multiple_of(5) && stages.committed.is_none() {
            let status = call(Method::GET, status_path.clone(), Value::Null).await;
            let at = onset.elapsed().as_secs_f64();
            if stages.events.is_none() && evaluations_at(&status) > before {
                stages.events = Some(at);
            }
            if stages.evidence.is_none() && status["assessment"]["verdict"]["kind"] == "breach" {
                stages.evidence = Some(at);
            }
            if status["state"] == "rolled_back" {
                stages.committed = Some(at);
                stages.decision = decided_at(&status, onset_ms);
            }
        }
        polls += 1;
        if treated
            .iter()
            .all(|i| !observer.bool_value("checkout-v2", &users[*i], true))
        {
            stages.served = Some(onset.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if stages.served.is_some() && stages.committed.is_none() {
        // The SDK was faster than the 100 ms poll: the decision from the history; the commit
        // came before the stream's change, so no later than `served`.
        let status = call(Method::GET, status_path.clone(), Value::Null).await;
        stages.decision = decided_at(&status, onset_ms);
        stages.committed = stages.served;
    }
    let result = stages.served.map(|_| stages);
    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    client.close().await;
    observer.close().await;
    if result.is_none() {
        let releases = call(
            Method::GET,
            "/environments/production/releases".into(),
            Value::Null,
        )
        .await;
        let release = &releases[0];
        let status = call(
            Method::GET,
            format!(
                "/environments/production/releases/{}",
                release["id"].as_str().unwrap()
            ),
            Value::Null,
        )
        .await;
        println!(
            "<!-- not rolled back: state {}, hold {}, history {}, assessment {} -->",
            status["state"], status["hold"], status["history"], status["assessment"]
        );
    }
    result
}
