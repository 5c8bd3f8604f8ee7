//! The Rust SDK's own cost, side by side with the engine in one run: `Client::bool_value` with
//! events off and on (the same context evaluated again and again, as a request loop does) against
//! the engine's evaluation of the same flag from the same data. Prints medians of interleaved
//! samples and the differences: the SDK's overhead over the engine, and the events' overhead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: fail loudly

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_engine::{self as sy, wire};
use switchyard_sdk::{Client, EventsConfig, SyncMode};

#[path = "../../crates/engine/tests/workload/mod.rs"]
mod workload;

fn flag_data() -> wire::FlagData {
    let bool_flag = |key: &str| {
        json!({"key": key, "kind": "boolean", "salt": "s", "on": true,
               "variations": [{"key": "off", "value": false}, {"key": "on", "value": true}],
               "fallthrough": {"variation": 1}})
    };
    let mut rules_flag = bool_flag("rules");
    rules_flag["rules"] = json!(workload::rules());
    rules_flag["fallthrough"] = workload::fifty_fifty();
    serde_json::from_value(json!({
        "format": wire::FORMAT, "revision": 1,
        "flags": {"plain": bool_flag("plain"), "rules": rules_flag},
        "segments": {"beta": {"key": "beta", "rules": workload::beta_rules()}}
    }))
    .unwrap()
}

/// Median nanoseconds per call of each subject, samples interleaved so that noise on a shared
/// machine hits them alike (as in `engines.rs`).
fn measure(subjects: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    const SAMPLES: usize = 31;
    let per_sample: Vec<u64> = subjects
        .iter_mut()
        .map(|run| {
            let mut n = 1u64;
            loop {
                let start = Instant::now();
                (0..n).for_each(|_| run());
                if start.elapsed().as_millis() >= 10 {
                    return n;
                }
                n *= 2;
            }
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(SAMPLES); subjects.len()];
    for _ in 0..SAMPLES {
        for (i, run) in subjects.iter_mut().enumerate() {
            let start = Instant::now();
            (0..per_sample[i]).for_each(|_| run());
            samples[i].push(start.elapsed().as_nanos() as f64 / per_sample[i] as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[SAMPLES / 2]
        })
        .collect()
}

/// A client serving `data` from its last-known-good file. With events on it must have an
/// upstream (offline clients record nothing): a closed local port, polled once an hour, with
/// batches cut once an hour, so nothing is sent during the measurement.
async fn client(cache: &std::path::Path, events: bool) -> Client {
    let client = Client::builder("http://127.0.0.1:9", "sys_bench_key")
        .sync(if events {
            SyncMode::Polling(Duration::from_secs(3600))
        } else {
            SyncMode::Offline
        })
        .cache_file(cache)
        .backoff(Duration::from_secs(3600), Duration::from_secs(3600))
        .events(EventsConfig {
            enabled: events,
            flush_interval: Duration::from_secs(3600),
            ..EventsConfig::default()
        })
        .init_timeout(Duration::ZERO)
        .build()
        .await;
    assert!(client.is_initialized(), "the client did not load its file");
    client
}

fn main() {
    let data = flag_data();
    let directory =
        std::env::temp_dir().join(format!("switchyard-sdk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let cache = directory.join("flags.json");
    std::fs::write(&cache, serde_json::to_vec(&data).unwrap()).unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (quiet, recording) =
        runtime.block_on(async { (client(&cache, false).await, client(&cache, true).await) });
    let snapshot = sy::Snapshot::compile(&data.dataset());
    assert!(snapshot.problems().is_empty(), "{:?}", snapshot.problems());
    let context = sy::Context::from_json(&json!({"key": "user-abc", "country": "US",
        "appVersion": "2.0.0", "age": 30, "email": "a@corp.example"}))
    .unwrap();
    let env = sy::Env::default();

    if let Ok(profile) = std::env::var("SDK_PROFILE") {
        // `SDK_PROFILE=off:plain:100000` (or `engine:…`, `on:…`): one subject only, for
        // `valgrind --tool=callgrind`; two counts give the instructions per evaluation.
        let mut parts = profile.split(':');
        let (subject, key, count) = (
            parts.next().unwrap(),
            parts.next().expect("SDK_PROFILE=subject:flag:count"),
            parts.next().unwrap().parse::<u64>().unwrap(),
        );
        for _ in 0..count {
            match subject {
                "engine" => {
                    black_box(snapshot.evaluate(black_box(key), &context, &env));
                }
                "off" => {
                    black_box(quiet.bool_value(black_box(key), &context, false));
                }
                _ => {
                    black_box(recording.bool_value(black_box(key), &context, false));
                }
            }
        }
        return;
    }
    println!(
        "Rust SDK bool_value against the engine, median ns per evaluation of 31 interleaved samples"
    );
    println!(
        "{}, {} CPUs",
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<10} {:>8} {:>12} {:>11} {:>16} {:>14}",
        "flag", "engine", "sdk events off", "sdk events on", "sdk off - engine", "events on - off"
    );
    for key in ["plain", "rules"] {
        let engine_says = snapshot.evaluate(key, &context, &env).variation_index;
        let sdk_says = quiet.bool_detail(key, &context, false).variation_index;
        assert_eq!(engine_says, sdk_says, "{key}: engine and SDK disagree");
        assert_eq!(
            recording.bool_detail(key, &context, false).variation_index,
            sdk_says
        );
        let results = measure(&mut [
            &mut || {
                black_box(snapshot.evaluate(black_box(key), &context, &env));
            },
            &mut || {
                black_box(quiet.bool_value(black_box(key), &context, false));
            },
            &mut || {
                black_box(recording.bool_value(black_box(key), &context, false));
            },
        ]);
        let (engine, off, on) = (results[0], results[1], results[2]);
        println!(
            "{key:<10} {engine:>8.1} {off:>12.1} {on:>11.1} {:>16.1} {:>14.1}",
            off - engine,
            on - off
        );
    }
    runtime.block_on(async {
        quiet.close().await;
        recording.close().await;
    });
    std::fs::remove_dir_all(&directory).ok();
}
