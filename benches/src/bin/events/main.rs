//! Events benchmark against a release `switchyard serve` (started here on a fresh database):
//!
//! 1. **Intake:** gzipped batches of 2,000 events (1,000 first exposures of new contexts and
//!    1,000 metric events from them) posted by 8 concurrent senders for 10 s, on SQLite and on
//!    PostgreSQL (a throwaway cluster, when the binaries are installed): events per second
//!    accepted and aggregated. Afterwards the per-cohort metric counts read back through the
//!    query API must equal the metric events accepted, so nothing is counted as stored that
//!    was not.
//! 2. **OTLP intake** (`POST /v1/traces`, protobuf, gzip), in the same run and alternating with
//!    the native intake, 3 rounds of 10 s each: requests of 512 spans (what OpenTelemetry's
//!    batch span processors send at most), each span with a `feature_flag.evaluation` event
//!    (flag key, variant, context id), 1 in 20 with status ERROR. Spans per second accepted and
//!    aggregated beside the native intake's events per second, and their ratio per round. Twice
//!    per store: with no release running (the spans' contexts were never exposed), then with a
//!    release on every flag and every span's context exposed in its release cohort beforehand
//!    (each metric event then looks its context's release exposure up, as guardrails need).
//!    Afterwards the `span.duration_ms` and `span.error` counts read back must equal the spans
//!    and error spans accepted.
//! 3. **With a running experiment** on `flag-0` (its fallthrough, `on` against `off`, a mean
//!    of `latency_ms`) between the two: each batch then also makes experiment units and adds
//!    their values (the experiment is stopped before the releases start).
//! 4. **SDK overhead:** nanoseconds per `bool_value` with events on versus off, for repeat
//!    contexts (exposures already remembered) and for a new context on every evaluation.
//!
//! Each intake row also gives the CPU time spent per 1,000 events (or spans) by the server, all
//! threads, and on PostgreSQL by its backends (every `postgres` process on the machine): on a
//! shared machine that moves less than the rates do.
//!
//! Run with `bash benches/events.sh`; `EVENTS_BENCH_SKIP_OTLP=1` leaves out the OTLP rounds and
//! `EVENTS_BENCH_SKIP_SDK=1` the SDK overhead, `EVENTS_BENCH_SKIP_POSTGRES=1` the PostgreSQL
//! run and `EVENTS_BENCH_SKIP_SQLITE=1` the SQLite run with the SDK overhead (for quicker intake
//! runs while tuning).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use switchyard_bench::{
    Method, SdkKeyKind, TestServer, cpu_time_ns, cpu_time_of_command_ns, machine, on_one_thread,
    serve, switchyard_binary,
};
use switchyard_client::TimeRange;
use switchyard_engine::Cohort;
use switchyard_engine::wire::ReleaseCohortRef;
use switchyard_sdk::events::{Batch, ContextRef, EVENTS_FORMAT, Event, Summary, encode};

mod otlp;
mod sdk_overhead;

use otlp::{ERRORS_PER_REQUEST, SPANS_PER_REQUEST, otlp_request};
use sdk_overhead::sdk_overhead;

const FLAGS: usize = 5;
const CONTEXTS_PER_BATCH: usize = 1_000;
/// As many as the server admits at once (`MAX_CONCURRENT_BATCHES`); `EVENTS_BENCH_SENDERS`
/// overrides it.
const SENDERS: usize = 8;
const SECONDS: u64 = 10;
/// Distinct native batches built per round (contexts `user-{n}-{i}` for the round's `n`).
const BATCHES_PER_ROUND: usize = 2_000;
/// Native and OTLP runs alternate this many times per store; the table gives medians.
const ROUNDS: usize = 3;
/// Context sets the OTLP requests of a run cycle through (each exposed once, with releases).
const OTLP_BODIES: usize = 50;
/// OTLP requests built per round: more than a round posts. Each is distinct (its span ids
/// are), since the intake counts an export posted again with the same bytes only once.
const OTLP_REQUESTS_PER_ROUND: usize = 4_000;

fn main() {
    on_one_thread(run(&switchyard_binary()));
}

async fn run(binary: &str) {
    println!("# events benchmark, {}", machine());
    let dir = std::env::temp_dir().join(format!("switchyard-bench-events-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut table = format!(
        "\n| store | intake | requests accepted | per second accepted and aggregated (median of {ROUNDS}) | \
         p50 ms per request | p99 ms | refused (429/503) | server CPU ms per 1,000 | PostgreSQL CPU ms per 1,000 |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    let mut ratios =
        String::from("\nOTLP spans/s ÷ native events/s, per round (native first in each round):\n");
    let mut overhead = String::new();
    if std::env::var_os("EVENTS_BENCH_SKIP_SQLITE").is_none() {
        let serve = serve(binary, &["--data-dir", dir.to_str().unwrap()]).await;
        let key = seed(&serve).await;
        let mut expected = Expected::default();
        let (rows, ratio) = phases("SQLite", &serve, &key, &mut expected).await;
        table += &rows;
        ratios += &ratio;
        if std::env::var_os("EVENTS_BENCH_SKIP_SDK").is_none() {
            overhead = sdk_overhead(&serve, &key).await;
        }
        serve.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    let cluster = match std::env::var_os("EVENTS_BENCH_SKIP_POSTGRES") {
        Some(_) => None,
        None => switchyard_testkit::postgres::TempCluster::start(),
    };
    match cluster {
        Some(cluster) => {
            let url = cluster.create_database();
            let serve = switchyard_bench::serve(binary, &["--database-url", &url]).await;
            let key = seed(&serve).await;
            let mut expected = Expected::default();
            let (rows, ratio) = phases("PostgreSQL", &serve, &key, &mut expected).await;
            table += &rows;
            ratios += &ratio;
            serve.stop().await;
        }
        None => println!(
            "\nPostgreSQL intake run skipped (EVENTS_BENCH_SKIP_POSTGRES, or no binaries found)."
        ),
    }
    println!("{table}{ratios}{overhead}");
}

/// The intake phases on one store: no release, a running experiment, a release on every flag.
async fn phases(
    store: &str,
    serve: &TestServer,
    key: &str,
    expected: &mut Expected,
) -> (String, String) {
    // Each phase's rows also go to stderr as they come, so a run that dies keeps them.
    let (mut table, mut ratios) = intakes(store, serve, key, Phase::Plain, expected).await;
    eprint!("{table}");
    let experiment = start_experiment(serve).await;
    let (rows, ratio) = intakes(store, serve, key, Phase::Experiment, expected).await;
    eprint!("{rows}");
    (table, ratios) = (table + &rows, ratios + &ratio);
    stop_experiment(serve, &experiment).await;
    let stages = start_releases(serve).await;
    let (rows, ratio) = intakes(store, serve, key, Phase::Releases(&stages), expected).await;
    eprint!("{rows}");
    (table + &rows, ratios + &ratio)
}

/// What else runs in the environment during an intake phase.
#[derive(Clone, Copy)]
enum Phase<'s> {
    Plain,
    Experiment,
    /// A release on every flag: its stage keys.
    Releases(&'s [String]),
}

const EXPERIMENTS: &str = "/api/v1/projects/default/environments/production/experiments";

/// Starts an experiment on `flag-0`'s fallthrough comparing `on` with `off` by the mean of
/// `latency_ms`, on all its traffic; returns its id.
async fn start_experiment(serve: &TestServer) -> String {
    let metric = json!({"key": "latency", "name": "latency", "event": "latency_ms",
                        "kind": "mean", "direction": "decrease_is_good", "mde": 0.05});
    serve
        .admin(
            Method::POST,
            "/api/v1/projects/default/metrics",
            Some(metric),
        )
        .await;
    // An experiment needs its flag on, its fallthrough serving one variation.
    let on = json!({"version": 0, "on": true, "fallthrough": {"variation": 1}});
    let flag = "/api/v1/projects/default/environments/production/flags/flag-0";
    serve.admin(Method::PUT, flag, Some(on)).await;
    let plan = json!({"flag": "flag-0", "name": "bench", "variations": ["off", "on"],
                      "control": "off", "traffic_percent": 100, "primary_metric": "latency"});
    let created = serve.admin(Method::POST, EXPERIMENTS, Some(plan)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("{EXPERIMENTS}/{id}/start");
    let started = serve.admin(Method::POST, &path, Some(json!({}))).await;
    assert_eq!(started["state"], "running", "{started}");
    id
}

async fn stop_experiment(serve: &TestServer, id: &str) {
    let path = format!("{EXPERIMENTS}/{id}/stop");
    let stopped = serve.admin(Method::POST, &path, Some(json!({}))).await;
    assert_eq!(stopped["state"], "stopped", "{stopped}");
}

/// Creates the flags and a server SDK key; returns the key.
async fn seed(serve: &TestServer) -> String {
    for i in 0..FLAGS {
        let flag = json!({"key": format!("flag-{i}"), "kind": "boolean"});
        let path = "/api/v1/projects/default/flags";
        serve.admin(Method::POST, path, Some(flag)).await;
    }
    serve.sdk_key(SdkKeyKind::Server).await
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Batch `n`: contexts `user-{n}-{i}`, each exposed to one flag (`on` for even `i`) and then
/// reporting one metric, unless only `exposures` are wanted. With release `stages` (one per
/// flag), each exposure is in that flag's release stage, `on` treated and `off` control.
fn batch(n: usize, stages: &[String], exposures_only: bool) -> Vec<u8> {
    let at_ms = now_ms();
    let mut events = Vec::with_capacity(2 * CONTEXTS_PER_BATCH);
    let contexts = |i: usize| {
        vec![ContextRef {
            kind: "user".into(),
            key: format!("user-{n}-{i}"),
        }]
    };
    for i in 0..CONTEXTS_PER_BATCH {
        let on = i % 2 == 0;
        events.push(Event::Exposure {
            at_ms,
            contexts: contexts(i),
            flag: format!("flag-{}", i % FLAGS),
            version: 1,
            variation: if on { "on" } else { "off" }.into(),
            reason: "FALLTHROUGH".into(),
            release: stages.get(i % FLAGS).map(|stage| ReleaseCohortRef {
                stage: stage.clone(),
                cohort: if on { Cohort::Treated } else { Cohort::Control },
            }),
        });
    }
    for i in (0..CONTEXTS_PER_BATCH).filter(|_| !exposures_only) {
        events.push(Event::Metric {
            at_ms: at_ms + 1,
            contexts: contexts(i),
            name: "latency_ms".into(),
            value: (i % 100) as f64,
        });
    }
    let summaries = (0..FLAGS)
        .map(|f| Summary {
            flag: format!("flag-{f}"),
            version: 1,
            variation: Some("on".into()),
            reason: "FALLTHROUGH".into(),
            release: None,
            count: 100,
        })
        .collect();
    encode(&Batch {
        format: EVENTS_FORMAT,
        // No id: the run posts these bodies again, and each post is meant to count.
        batch_id: None,
        sdk: "bench".into(),
        start_ms: at_ms - 1_000,
        end_ms: at_ms,
        summaries,
        events,
        dropped: 0,
        client_visible_only: false,
    })
    .unwrap()
}

/// What one timed run of posting bodies gave.
#[derive(Default)]
struct Posted {
    accepted: usize,
    refused: usize,
    latencies: Vec<f64>,
    seconds: f64,
    /// CPU time the server and PostgreSQL's backends spent meanwhile (summed by `add`).
    server_cpu_ns: u64,
    database_cpu_ns: u64,
}

impl Posted {
    fn add(&mut self, other: Posted) {
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.latencies.extend(other.latencies);
        self.server_cpu_ns += other.server_cpu_ns;
        self.database_cpu_ns += other.database_cpu_ns;
    }
}

/// Posts gzipped `body` (of `content_type`) to `url` with SDK key `key`.
async fn post_gzipped(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    content_type: &str,
    body: &[u8],
) -> reqwest::Response {
    http.post(url)
        .header("authorization", key)
        .header("content-type", content_type)
        .header("content-encoding", "gzip")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// `SENDERS` concurrent senders post `bodies` (gzipped, of `content_type`) to `url` for
/// `SECONDS`, each body once in turn, until the time or the bodies run out.
async fn post_all(url: &str, key: &str, bodies: Vec<Vec<u8>>, content_type: &str) -> Posted {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let mut senders = Vec::new();
    let senders_n = std::env::var("EVENTS_BENCH_SENDERS").map_or(SENDERS, |n| n.parse().unwrap());
    for _ in 0..senders_n {
        let (bodies, next) = (bodies.clone(), next.clone());
        let (url, key, content_type) = (url.to_owned(), key.to_owned(), content_type.to_owned());
        senders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut posted = Posted::default();
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(n) else {
                    break;
                };
                let sent = Instant::now();
                let response = post_gzipped(&http, &url, &key, &content_type, body).await;
                match response.status().as_u16() {
                    200 | 202 => {
                        posted.accepted += 1;
                        posted.latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                        if std::env::var_os("EVENTS_BENCH_TRACE").is_some() {
                            eprintln!("{url} {n}: {:?} at {:?}", sent.elapsed(), started.elapsed());
                        }
                    }
                    // Overload (429) and an unavailable store (503) are what an SDK retries.
                    429 | 503 => posted.refused += 1,
                    other => panic!(
                        "{url} answered {other}: {}",
                        response.text().await.unwrap_or_default()
                    ),
                }
            }
            posted
        }));
    }
    let mut all = Posted::default();
    for sender in senders {
        all.add(sender.await.unwrap());
    }
    all.seconds = started.elapsed().as_secs_f64();
    all
}

/// `posting`, with the CPU time the server (all threads) and PostgreSQL's backends spent
/// meanwhile.
async fn measured(serve: &TestServer, posting: impl Future<Output = Posted>) -> Posted {
    let cpu = || {
        let server = serve.pid().map_or(0, cpu_time_ns);
        (server, cpu_time_of_command_ns("postgres"))
    };
    let before = cpu();
    let mut posted = posting.await;
    let after = cpu();
    posted.server_cpu_ns = after.0.saturating_sub(before.0);
    posted.database_cpu_ns = after.1.saturating_sub(before.1);
    posted
}

/// Metric events the server must have aggregated by now, by name.
#[derive(Default)]
struct Expected {
    latency: usize,
    durations: usize,
    errors: usize,
}

/// The native intake and the OTLP intake, alternating for `ROUNDS`: the table's rows for
/// `store` and the per-round ratios. Without release `stages`, the spans' contexts were never
/// exposed; with them (a release on every flag), each span's context has a release exposure,
/// which the store looks up per metric event. Checks that what was accepted was aggregated.
async fn intakes(
    store: &str,
    serve: &TestServer,
    key: &str,
    phase: Phase<'_>,
    expected: &mut Expected,
) -> (String, String) {
    let (stages, round_base): (&[String], usize) = match phase {
        Phase::Plain => (&[], 0),
        Phase::Experiment => (&[], 2 * ROUNDS),
        Phase::Releases(stages) => (stages, ROUNDS),
    };
    let phase = match phase {
        Phase::Plain => "no release",
        Phase::Experiment => "an experiment running",
        Phase::Releases(_) => "a release on every flag",
    };
    let otlp_on = std::env::var_os("EVENTS_BENCH_SKIP_OTLP").is_none();
    // With releases: contexts `user-{n}-{i}` exposed in their release cohort before the spans.
    const EXPOSED: usize = 900_000;
    if !stages.is_empty() {
        let url = format!("{}/events/v1/bulk", serve.base);
        // One at a time, each until it is accepted: on a busy machine a batch may be refused.
        let http = reqwest::Client::new();
        for n in 0..OTLP_BODIES {
            let body = batch(EXPOSED + n, stages, true);
            for attempt in 0.. {
                let response = post_gzipped(&http, &url, key, "application/json", &body).await;
                match response.status().as_u16() {
                    202 => break,
                    429 | 503 if attempt < 100 => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    other => panic!("priming batch answered {other}"),
                }
            }
        }
    }
    let (mut native, mut otlp) = (Vec::new(), Vec::new());
    let (mut native_all, mut otlp_all) = (Posted::default(), Posted::default());
    let mut ratios = format!("- {store}, {phase}:");
    for round in 0..ROUNDS {
        // Enough distinct batches that every exposure is a new context during the run: at
        // 400,000 events/s a round posts 2,000 in its 10 s (it ends early if they run out).
        let first = (round_base + round) * BATCHES_PER_ROUND;
        let bodies = (0..BATCHES_PER_ROUND)
            .map(|n| batch(first + n, stages, false))
            .collect();
        let url = format!("{}/events/v1/bulk", serve.base);
        let posted = measured(serve, post_all(&url, key, bodies, "application/json")).await;
        let events_per_s = (posted.accepted * 2 * CONTEXTS_PER_BATCH) as f64 / posted.seconds;
        native_all.add(posted);
        native.push(events_per_s);
        if !otlp_on {
            continue;
        }

        let bodies = (0..OTLP_REQUESTS_PER_ROUND)
            .map(|n| match stages.is_empty() {
                true => otlp_request(&format!("otlp-{}", first + n % OTLP_BODIES)),
                false => otlp_request(&format!("user-{}", EXPOSED + n % OTLP_BODIES)),
            })
            .collect();
        let url = format!("{}/v1/traces", serve.base);
        let posted = measured(serve, post_all(&url, key, bodies, "application/x-protobuf")).await;
        let spans_per_s = (posted.accepted * SPANS_PER_REQUEST) as f64 / posted.seconds;
        otlp_all.add(posted);
        otlp.push(spans_per_s);
        ratios += &format!(" {:.2}", spans_per_s / events_per_s);
    }

    // Every accepted metric event is in exactly one variation cohort (its context saw one
    // flag; a span names its flag and variant).
    expected.latency += native_all.accepted * CONTEXTS_PER_BATCH;
    expected.durations += otlp_all.accepted * SPANS_PER_REQUEST;
    expected.errors += otlp_all.accepted * ERRORS_PER_REQUEST;
    let counted = metric_counts(serve).await;
    assert_eq!(
        counted("latency_ms"),
        expected.latency,
        "metric events aggregated = accepted"
    );
    assert_eq!(
        counted("span.duration_ms"),
        expected.durations,
        "span durations = spans accepted"
    );
    assert_eq!(
        counted("span.error"),
        expected.errors,
        "span errors = error spans accepted"
    );

    let row = |what: &str,
               unit: &str,
               per_request: usize,
               mut posted: Posted,
               mut rates: Vec<f64>| {
        posted.latencies.sort_by(f64::total_cmp);
        let at = |q: f64| posted.latencies[((posted.latencies.len() - 1) as f64 * q) as usize];
        let per_thousand = |ns: u64| ns as f64 / 1e6 / (posted.accepted * per_request) as f64 * 1e3;
        let database = match store {
            "PostgreSQL" => format!("{:.2}", per_thousand(posted.database_cpu_ns)),
            _ => "–".to_owned(),
        };
        format!(
            "| {store} | {what}, {phase} | {} | {:.0} {unit}/s | {:.1} | {:.1} | {} | {:.2} | {database} |\n",
            posted.accepted,
            median(&mut rates),
            at(0.5),
            at(0.99),
            posted.refused,
            per_thousand(posted.server_cpu_ns),
        )
    };
    let mut ratio: Vec<f64> = native.iter().zip(&otlp).map(|(n, o)| o / n).collect();
    let mut rows = row(
        "native, 2,000 events a batch",
        "events",
        2 * CONTEXTS_PER_BATCH,
        native_all,
        native,
    );
    if !otlp_on {
        return (rows, String::new());
    }
    ratios += &format!(" (median {:.2})\n", median(&mut ratio));
    rows += &row(
        &format!("OTLP, {SPANS_PER_REQUEST} spans a request"),
        "spans",
        SPANS_PER_REQUEST,
        otlp_all,
        otlp,
    );
    (rows, ratios)
}

/// Starts a release of `on` at 50 % on every flag, watching `span.error` with a margin an
/// A/A run never breaches; returns each flag's stage key.
async fn start_releases(serve: &TestServer) -> Vec<String> {
    let mut stages = Vec::new();
    for f in 0..FLAGS {
        let release = serve
            .admin(
                Method::POST,
                "/api/v1/projects/default/environments/production/releases",
                Some(json!({"flag": format!("flag-{f}"), "variation": "on",
                            "stages": [{"percent": 50, "min_bake_s": 86_400}],
                            "guardrails": [{"metric": "span.error", "margin": 9.0}]})),
            )
            .await;
        stages.push(format!("{}.0", release["id"].as_str().unwrap()));
    }
    stages
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Metric events counted per name over every flag's cohorts (all time).
async fn metric_counts(serve: &TestServer) -> impl Fn(&str) -> usize + use<> {
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for f in 0..FLAGS {
        let flag = format!("flag-{f}");
        let all_time = TimeRange::default();
        let cohorts = serve
            .client()
            .metrics("default", "production", &flag, &all_time);
        for cohort in cohorts.await.unwrap() {
            *counts.entry(cohort.metric.clone()).or_default() += cohort.count as usize;
        }
    }
    move |name: &str| counts.get(name).copied().unwrap_or(0)
}
