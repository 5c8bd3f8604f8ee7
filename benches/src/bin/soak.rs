//! Soak benchmark: a release `switchyard serve` on SQLite under mixed load for `SOAK_MINUTES`
//! (default 30), all at once:
//!
//! - **API writes:** a flag toggled or its rollout changed every 250 ms (admin API);
//! - **SDK streams reconnecting:** 50 raw `GET /sdk/v1/stream` connections, each held 5–30 s
//!   (it must see the first event), then dropped and opened again;
//! - **OFREP:** two loops of bulk (`/ofrep/v1/evaluate/flags`) and single-flag evaluations,
//!   about 50 requests/s each;
//! - **events:** a gzipped batch of 200 events (exposures and metric events of new contexts)
//!   posted to `/events/v1/bulk` every 100 ms (2,000 events/s).
//!
//! The server's memory is sampled every 10 s from `/proc/PID/status`: the RSS, and its two parts,
//! `RssAnon` (the heap: what the server allocates) and `RssFile` (file-backed pages, nearly all
//! the 40 MB binary's code, faulted in as code paths run for the first time and never freed).
//! Flatness is judged on the heap: a leak can only show there, while `RssFile` climbs by
//! megabytes whenever a rarely taken path (a periodic task, an error branch) first runs and says
//! nothing about what the server keeps. The run fails (exit 1) when any request failed (a
//! transport error, or any status but the expected one, 429/503 included) or when, after the
//! warm-up (`SOAK_WARMUP_MINUTES`, default 5), the heap grows by more than
//! `SOAK_RSS_TOLERANCE_PCT` (default 20) % of the heap at the end of the warm-up (plus 8 MiB for
//! allocator slack). It prints a table of RSS and heap per minute and an ASCII plot of each.
//!
//! `SOAK_WRITE_INTERVAL_MS` (default 250) and `SOAK_EVENTS_INTERVAL_MS` (default 100) make a
//! shorter, harsher run: more flag revisions and event batches a minute.
//!
//! Run with `bash benches/soak.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use switchyard_bench::{SdkKeyKind, TestServer, machine, on_one_thread, serve, switchyard_binary};
use switchyard_sdk::events::{Batch, ContextRef, EVENTS_FORMAT, Event, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FLAGS: usize = 20;
const STREAMS: usize = 50;
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// One sample of the server's memory, in KiB.
#[derive(Clone, Copy, Default)]
struct Memory {
    rss: i64,
    anon: i64,
    file: i64,
}
/// Allocator slack allowed on top of the percentage.
const RSS_SLACK_KIB: i64 = 8 * 1024;

/// Counters the load loops share.
#[derive(Default)]
struct Counts {
    ok: [AtomicU64; 4],
    failed: [AtomicU64; 4],
}

const KINDS: [&str; 4] = [
    "API writes",
    "stream connections",
    "OFREP requests",
    "event posts",
];
const API: usize = 0;
const STREAM: usize = 1;
const OFREP: usize = 2;
const EVENTS: usize = 3;

impl Counts {
    fn record(&self, kind: usize, ok: bool, what: &str) {
        if ok {
            self.ok[kind].fetch_add(1, Ordering::Relaxed);
        } else {
            // The first few failures of each kind are shown; all are counted.
            if self.failed[kind].fetch_add(1, Ordering::Relaxed) < 5 {
                eprintln!("FAILED {}: {what}", KINDS[kind]);
            }
        }
    }

    fn failed(&self) -> u64 {
        self.failed.iter().map(|f| f.load(Ordering::Relaxed)).sum()
    }
}

fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let passed = on_one_thread(run(&switchyard_binary()));
    std::process::exit(if passed { 0 } else { 1 });
}

async fn run(binary: &str) -> bool {
    let minutes = env_number("SOAK_MINUTES", 30.0);
    let warmup_minutes = env_number("SOAK_WARMUP_MINUTES", 5.0).min(minutes / 2.0);
    let tolerance = env_number("SOAK_RSS_TOLERANCE_PCT", 20.0);
    let write_every =
        Duration::from_millis(env_number("SOAK_WRITE_INTERVAL_MS", 250.0).max(1.0) as u64);
    let events_every =
        Duration::from_millis(env_number("SOAK_EVENTS_INTERVAL_MS", 100.0).max(1.0) as u64);
    println!("# soak benchmark, {}", machine());
    println!(
        "{minutes} minutes, warm-up {warmup_minutes} minutes, heap tolerance {tolerance} % + {} MiB, a flag write every {write_every:?}, an event batch every {events_every:?}; load average at start: {}",
        RSS_SLACK_KIB / 1024,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let dir = std::env::temp_dir().join(format!("switchyard-bench-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let serve = serve(binary, &["--data-dir", dir.to_str().unwrap()]).await;
    let pid = serve.pid().expect("a server process");
    let key = seed(&serve).await;
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let addr = serve.base.trim_start_matches("http://").to_owned();

    let mut loops = Vec::new();
    loops.push(tokio::spawn(api_writes(
        serve.base.clone(),
        serve.admin.clone(),
        write_every,
        counts.clone(),
        stop.clone(),
    )));
    for i in 0..STREAMS {
        loops.push(tokio::spawn(stream_loop(
            addr.clone(),
            key.clone(),
            i as u64,
            counts.clone(),
            stop.clone(),
        )));
    }
    for bulk in [true, false] {
        loops.push(tokio::spawn(ofrep_loop(
            serve.base.clone(),
            key.clone(),
            bulk,
            counts.clone(),
            stop.clone(),
        )));
    }
    loops.push(tokio::spawn(events_loop(
        serve.base.clone(),
        key.clone(),
        events_every,
        counts.clone(),
        stop.clone(),
    )));

    let started = Instant::now();
    let total = Duration::from_secs_f64(minutes * 60.0);
    let mut samples: Vec<(f64, Memory)> = Vec::new();
    let mut sampler = tokio::time::interval(SAMPLE_EVERY);
    loop {
        sampler.tick().await;
        let at = started.elapsed();
        let memory = memory(pid);
        samples.push((at.as_secs_f64(), memory));
        eprintln!(
            "{:>6.0} s  RSS {:>7.1} MiB  heap {:>7.1} MiB  file {:>7.1} MiB  failed so far {}  load {}",
            at.as_secs_f64(),
            memory.rss as f64 / 1024.0,
            memory.anon as f64 / 1024.0,
            memory.file as f64 / 1024.0,
            counts.failed(),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split(' ')
                .next()
                .unwrap_or("")
        );
        if at >= total {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        let _ = tokio::time::timeout(Duration::from_secs(40), l).await;
    }
    serve.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    report(&samples, &counts, warmup_minutes, tolerance)
}

/// Prints the counts, RSS per minute and a plot; true when the run passed.
fn report(samples: &[(f64, Memory)], counts: &Counts, warmup_minutes: f64, tolerance: f64) -> bool {
    println!("\n| load | succeeded | failed |\n|---|---:|---:|");
    for (i, kind) in KINDS.iter().enumerate() {
        println!(
            "| {kind} | {} | {} |",
            counts.ok[i].load(Ordering::Relaxed),
            counts.failed[i].load(Ordering::Relaxed)
        );
    }
    let minutes = samples.last().map_or(0.0, |s| s.0 / 60.0).ceil() as usize;
    println!(
        "\n| minute | RSS min MiB | RSS max MiB | heap (RssAnon) max MiB | file (RssFile) max MiB |\n|---:|---:|---:|---:|---:|"
    );
    let mut per_minute = Vec::new();
    for m in 0..minutes.max(1) {
        let in_minute: Vec<Memory> = samples
            .iter()
            .filter(|s| s.0 >= m as f64 * 60.0 && s.0 < (m + 1) as f64 * 60.0)
            .map(|s| s.1)
            .collect();
        let peak = |part: fn(&Memory) -> i64| in_minute.iter().map(part).max();
        if let (Some(lo), Some(hi), Some(anon), Some(file)) = (
            in_minute.iter().map(|s| s.rss).min(),
            peak(|s| s.rss),
            peak(|s| s.anon),
            peak(|s| s.file),
        ) {
            println!(
                "| {m} | {:.1} | {:.1} | {:.1} | {:.1} |",
                lo as f64 / 1024.0,
                hi as f64 / 1024.0,
                anon as f64 / 1024.0,
                file as f64 / 1024.0
            );
            per_minute.push((m, hi, anon));
        }
    }
    let rss: Vec<(usize, i64)> = per_minute.iter().map(|p| (p.0, p.1)).collect();
    let heap: Vec<(usize, i64)> = per_minute.iter().map(|p| (p.0, p.2)).collect();
    plot("Peak RSS", &rss);
    plot("Peak heap (RssAnon)", &heap);
    let warm = samples
        .iter()
        .rfind(|s| s.0 <= warmup_minutes * 60.0)
        .map_or(0, |s| s.1.anon);
    let peak_after = samples
        .iter()
        .filter(|s| s.0 > warmup_minutes * 60.0)
        .map(|s| s.1.anon)
        .max()
        .unwrap_or(warm);
    let allowed = warm + (warm as f64 * tolerance / 100.0) as i64 + RSS_SLACK_KIB;
    let failed = counts.failed();
    let rss_range = |after: bool| {
        samples
            .iter()
            .filter(|s| (s.0 > warmup_minutes * 60.0) == after)
            .map(|s| s.1.rss)
            .max()
            .unwrap_or(0) as f64
            / 1024.0
    };
    println!(
        "\nRSS: peak {:.1} MiB in the warm-up, {:.1} MiB after it (not judged: file-backed code pages)",
        rss_range(false),
        rss_range(true)
    );
    println!(
        "Heap (RssAnon) at the end of the warm-up {:.1} MiB, peak after it {:.1} MiB (allowed {:.1} MiB: {}); failed requests: {failed}",
        warm as f64 / 1024.0,
        peak_after as f64 / 1024.0,
        allowed as f64 / 1024.0,
        if peak_after <= allowed {
            "flat"
        } else {
            "GREW"
        }
    );
    let passed = failed == 0 && peak_after <= allowed;
    println!("{}", if passed { "SOAK PASSED" } else { "SOAK FAILED" });
    passed
}

/// An ASCII plot of a peak per minute (rows: MiB, columns: minutes).
fn plot(title: &str, per_minute: &[(usize, i64)]) {
    let (Some(lo), Some(hi)) = (
        per_minute.iter().map(|p| p.1).min(),
        per_minute.iter().map(|p| p.1).max(),
    ) else {
        return;
    };
    let (lo, hi) = (lo as f64 / 1024.0, hi as f64 / 1024.0);
    let (lo, hi) = ((lo - 1.0).floor(), (hi + 1.0).ceil());
    let rows = 10;
    println!("\n{title} per minute (MiB):\n```");
    for r in (0..=rows).rev() {
        let level = lo + (hi - lo) * r as f64 / rows as f64;
        let line: String = per_minute
            .iter()
            .map(|p| {
                let mib = p.1 as f64 / 1024.0;
                let row = ((mib - lo) / (hi - lo) * rows as f64).round() as i64;
                if row == r { '*' } else { ' ' }
            })
            .collect();
        println!("{level:>7.1} |{line}");
    }
    println!("        +{}", "-".repeat(per_minute.len()));
    println!("         minutes 0–{}", per_minute.len().saturating_sub(1));
    println!("```");
}

/// Flags `flag-0` … `flag-19`, on, in `default`/`production`; a server SDK key.
async fn seed(serve: &TestServer) -> String {
    for f in 0..FLAGS {
        serve
            .admin_post(
                "/api/v1/projects/default/flags",
                json!({"key": format!("flag-{f}"), "kind": "boolean"}),
            )
            .await;
        serve
            .admin(
                switchyard_bench::Method::PUT,
                &format!("/api/v1/projects/default/environments/production/flags/flag-{f}"),
                Some(json!({"version": 0, "on": true, "off_variation": 1, "fallthrough": {"variation": 0}})),
            )
            .await;
    }
    serve.sdk_key(SdkKeyKind::Server).await
}

/// Every `every` (250 ms): a toggle, or (every third write) a new 50/50-ish rollout on the flag.
async fn api_writes(
    base: String,
    admin: String,
    every: Duration,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    let mut tick = tokio::time::interval(every);
    let mut versions = [1i64; FLAGS];
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        let f = n % FLAGS;
        let path = format!("{base}/api/v1/projects/default/environments/production/flags/flag-{f}");
        let request = if n.is_multiple_of(3) {
            let weight = (n * 37 % 100_000) as i64;
            http.put(&path).json(&json!({
                "version": versions[f], "on": true, "off_variation": 1,
                "fallthrough": {"rollout": {"variations": [
                    {"variation": 0, "weight": weight},
                    {"variation": 1, "weight": 100_000 - weight}]}}
            }))
        } else {
            http.post(format!("{path}/toggle"))
                .json(&json!({"on": n.is_multiple_of(2)}))
        };
        match request.bearer_auth(&admin).send().await {
            Ok(response) if response.status().is_success() => {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if let Some(v) = body["version"].as_i64() {
                    versions[f] = v;
                }
                counts.record(API, true, "");
            }
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                counts.record(API, false, &format!("{path}: {status} {body}"));
                // Reread the version so one conflict does not become many.
                if let Ok(r) = http.get(&path).bearer_auth(&admin).send().await
                    && let Ok(body) = r.json::<Value>().await
                    && let Some(v) = body["version"].as_i64()
                {
                    versions[f] = v;
                }
            }
            Err(e) => counts.record(API, false, &format!("{path}: {e}")),
        }
    }
}

/// One SDK stream slot: connect, expect `200` and the first event, hold 5–30 s, drop, again.
async fn stream_loop(
    addr: String,
    key: String,
    seed: u64,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let hold = Duration::from_millis(5_000 + rng % 25_000);
        let outcome = async {
            let mut stream = TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
            let request = format!(
                "GET /sdk/v1/stream HTTP/1.1\r\nHost: soak\r\nAuthorization: {key}\r\n\r\n"
            );
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut seen = Vec::new();
            // The status line and the first event within 10 s.
            let first = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err("closed before the first event".to_owned());
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen);
                    if !text.starts_with("HTTP/1.1 200") && seen.len() >= 12 {
                        return Err(text.lines().next().unwrap_or("").to_owned());
                    }
                    if text.contains("\n\n") && text.contains("data:") {
                        return Ok(());
                    }
                }
            })
            .await;
            match first {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err("no first event within 10 s".to_owned()),
            }
            // Hold the stream, reading the changes; it must not close under us.
            let deadline = tokio::time::Instant::now() + hold;
            loop {
                match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                    Err(_) => return Ok(()),
                    Ok(Ok(0)) => return Err("the server closed the stream".to_owned()),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.to_string()),
                }
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
        }
        .await;
        match outcome {
            Ok(()) => counts.record(STREAM, true, ""),
            Err(e) => counts.record(STREAM, false, &e),
        }
    }
}

/// About 50 OFREP requests/s: the bulk evaluation, or one flag.
async fn ofrep_loop(
    base: String,
    key: String,
    bulk: bool,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        let url = if bulk {
            format!("{base}/ofrep/v1/evaluate/flags")
        } else {
            format!("{base}/ofrep/v1/evaluate/flags/flag-{}", n as usize % FLAGS)
        };
        let body = json!({"context": {"targetingKey": format!("user-{}", n % 10_000)}});
        let sent = http
            .post(&url)
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().as_u16() == 200 => {
                let _ = r.bytes().await;
                counts.record(OFREP, true, "");
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                counts.record(OFREP, false, &format!("{url}: {status} {text}"));
            }
            Err(e) => counts.record(OFREP, false, &format!("{url}: {e}")),
        }
    }
}

/// A gzipped batch of 100 exposures and 100 metric events of new contexts every `every`
/// (100 ms).
async fn events_loop(
    base: String,
    key: String,
    every: Duration,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    let url = format!("{base}/events/v1/bulk");
    let mut tick = tokio::time::interval(every);
    let mut batch = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        batch += 1;
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut events = Vec::new();
        for i in 0..100 {
            let contexts = vec![ContextRef {
                kind: "user".into(),
                key: format!("soak-{batch}-{i}"),
            }];
            events.push(Event::Exposure {
                at_ms,
                contexts: contexts.clone(),
                flag: format!("flag-{}", i % FLAGS),
                version: 1,
                variation: "on".into(),
                reason: "FALLTHROUGH".into(),
                release: None,
            });
            events.push(Event::Metric {
                at_ms,
                contexts,
                name: "latency_ms".into(),
                value: (i % 50) as f64,
            });
        }
        let body = encode(&Batch {
            format: EVENTS_FORMAT,
            batch_id: None,
            sdk: "soak".into(),
            start_ms: at_ms - 100,
            end_ms: at_ms,
            summaries: Vec::new(),
            events,
            dropped: 0,
            client_visible_only: false,
        })
        .unwrap();
        let sent = http
            .post(&url)
            .header("authorization", &key)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if matches!(r.status().as_u16(), 200 | 202) => {
                let _ = r.bytes().await;
                counts.record(EVENTS, true, "");
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                counts.record(EVENTS, false, &format!("{url}: {status} {text}"));
            }
            Err(e) => counts.record(EVENTS, false, &format!("{url}: {e}")),
        }
    }
}

/// The resident memory of `pid` and its anonymous and file-backed parts, in KiB.
fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
    }
}
