//! Events benchmark against a release `switchyard serve` (started here on a fresh database):
//!
//! 1. **Intake:** gzipped batches of 2,000 events (1,000 first exposures of new contexts and
//!    1,000 metric events from them) posted by 4 concurrent senders for 10 s, on SQLite and on
//!    PostgreSQL (a throwaway cluster, when the binaries are installed): events per second
//!    accepted and aggregated. Afterwards the per-cohort metric counts read back through the
//!    query API must equal the metric events accepted, so nothing is counted as stored that
//!    was not.
//! 2. **SDK overhead:** nanoseconds per `bool_value` with events on versus off, for repeat
//!    contexts (exposures already remembered) and for a new context on every evaluation.
//!
//! Run with `bash benches/events.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use switchyard_bench::{Method, SdkKeyKind, TestServer, machine, serve};
use switchyard_client::TimeRange;
use switchyard_sdk::events::{Batch, ContextRef, EVENTS_FORMAT, Event, Summary, encode};
use switchyard_sdk::{Client, Context, EventsConfig};

const FLAGS: usize = 5;
const CONTEXTS_PER_BATCH: usize = 1_000;
const SENDERS: usize = 4;
const SECONDS: u64 = 10;

fn main() {
    let binary = std::env::var("SWITCHYARD_BIN").unwrap_or("target/release/switchyard".into());
    // One thread for the load generator, so the server keeps the rest of the machine.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&binary));
}

async fn run(binary: &str) {
    println!("# events benchmark, {}", machine());
    let dir = std::env::temp_dir().join(format!("switchyard-bench-events-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\n| store | batches accepted | events/s accepted and aggregated | p50 ms per batch | p99 ms | refused (429/503) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let serve = serve(binary, &["--data-dir", dir.to_str().unwrap()]).await;
    let key = seed(&serve).await;
    intake("SQLite", &serve, &key).await;
    let overhead = sdk_overhead(&serve, &key).await;
    serve.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    match switchyard_testkit::postgres::TempCluster::start() {
        Some(cluster) => {
            let url = cluster.create_database();
            let serve = switchyard_bench::serve(binary, &["--database-url", &url]).await;
            let key = seed(&serve).await;
            intake("PostgreSQL", &serve, &key).await;
            serve.stop().await;
        }
        None => println!("\nPostgreSQL binaries not found: the PostgreSQL intake run is skipped."),
    }
    println!("{overhead}");
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

/// Batch `n`: contexts `user-{n}-{i}`, each exposed to one flag and then reporting one metric.
fn batch(n: usize) -> Vec<u8> {
    let at_ms = now_ms();
    let mut events = Vec::with_capacity(2 * CONTEXTS_PER_BATCH);
    let contexts = |i: usize| {
        vec![ContextRef {
            kind: "user".into(),
            key: format!("user-{n}-{i}"),
        }]
    };
    for i in 0..CONTEXTS_PER_BATCH {
        events.push(Event::Exposure {
            at_ms,
            contexts: contexts(i),
            flag: format!("flag-{}", i % FLAGS),
            version: 1,
            variation: if i % 2 == 0 { "on" } else { "off" }.into(),
            reason: "FALLTHROUGH".into(),
            release: None,
        });
    }
    for i in 0..CONTEXTS_PER_BATCH {
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
    })
    .unwrap()
}

async fn intake(store: &str, serve: &TestServer, key: &str) {
    // Enough distinct batches that every exposure is a new context during the run.
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..400).map(batch).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/events/v1/bulk", serve.base);
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (bodies, next, url, key) = (bodies.clone(), next.clone(), url.clone(), key.to_owned());
        let started_at = started;
        senders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut accepted, mut refused, mut latencies) = (0_usize, 0_usize, Vec::new());
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(n) else {
                    break;
                };
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .header("authorization", &key)
                    .header("content-encoding", "gzip")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    202 => {
                        accepted += 1;
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                        if std::env::var_os("EVENTS_BENCH_TRACE").is_some() {
                            eprintln!(
                                "batch {n}: {:?} at {:?}",
                                sent.elapsed(),
                                started_at.elapsed()
                            );
                        }
                    }
                    // Overload (429) and an unavailable store (503) are what an SDK retries.
                    429 | 503 => refused += 1,
                    other => panic!("intake answered {other}"),
                }
            }
            (accepted, refused, latencies)
        }));
    }
    let (mut accepted, mut refused, mut latencies) = (0, 0, Vec::new());
    for sender in senders {
        let (a, r, l) = sender.await.unwrap();
        accepted += a;
        refused += r;
        latencies.extend(l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];

    // Every accepted metric event is in exactly one cohort (its context saw one flag).
    let mut counted = 0;
    for f in 0..FLAGS {
        let flag = format!("flag-{f}");
        let all_time = TimeRange::default();
        let cohorts = serve
            .client()
            .metrics("default", "production", &flag, &all_time);
        counted += cohorts
            .await
            .unwrap()
            .iter()
            .map(|c| c.count as usize)
            .sum::<usize>();
    }
    assert_eq!(
        counted,
        accepted * CONTEXTS_PER_BATCH,
        "metric events aggregated = metric events accepted"
    );
    println!(
        "| {store} | {accepted} | {:.0} | {:.1} | {:.1} | {refused} |",
        (accepted * 2 * CONTEXTS_PER_BATCH) as f64 / elapsed,
        at(0.5),
        at(0.99)
    );
}

/// Median ns per evaluation over interleaved samples: events off, on with repeat contexts,
/// on with a new context every time (a Markdown table).
async fn sdk_overhead(serve: &TestServer, key: &str) -> String {
    let client = |enabled: bool| {
        Client::builder(&serve.base, key)
            .events(EventsConfig {
                enabled,
                ..EventsConfig::default()
            })
            .build()
    };
    let (off, on) = (client(false).await, client(true).await);
    assert!(off.is_initialized() && on.is_initialized());
    let user = |key: String| Context::from_json(&json!({"key": key})).unwrap();
    let repeat: Vec<Context> = (0..1_000).map(|i| user(format!("r-{i}"))).collect();
    const SAMPLES: usize = 31;
    const PER_SAMPLE: usize = 20_000;
    let fresh: Vec<Context> = (0..SAMPLES * PER_SAMPLE)
        .map(|i| user(format!("f-{i}")))
        .collect();
    let time = |client: &Client, contexts: &[Context]| {
        let started = Instant::now();
        for context in contexts {
            std::hint::black_box(client.bool_value("flag-0", context, false));
        }
        started.elapsed().as_nanos() as f64 / contexts.len() as f64
    };
    let mut results: [Vec<f64>; 3] = Default::default();
    for sample in 0..SAMPLES {
        let repeated: Vec<Context> = repeat.iter().cycle().take(PER_SAMPLE).cloned().collect();
        results[0].push(time(&off, &repeated));
        results[1].push(time(&on, &repeated));
        results[2].push(time(&on, &fresh[sample * PER_SAMPLE..][..PER_SAMPLE]));
        // Let the sender run between samples, as it would between bursts of requests.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [off_ns, repeat_ns, fresh_ns] = results.map(median);
    let mut table = format!(
        "\nSDK `bool_value`, median of {SAMPLES} interleaved samples of {PER_SAMPLE} evaluations:\n\n\
         | events | ns per evaluation | overhead | ratio |\n|---|---:|---:|---:|\n\
         | off | {off_ns:.0} | | |\n"
    );
    for (what, ns) in [
        ("on, repeat contexts (1,000 users)", repeat_ns),
        ("on, a new context every evaluation", fresh_ns),
    ] {
        table += &format!(
            "| {what} | {ns:.0} | +{:.0} ns | {:.2}× |\n",
            ns - off_ns,
            ns / off_ns
        );
    }
    on.close().await;
    off.close().await;
    table
}
