//! How long reading an experiment's totals takes over a million units.

use switchyard_store::Store;
use switchyard_store::events::{EventBatch, Exposure, MetricEvent};

use super::{HOUR, START, part, tags};

/// A benchmark, not a test (nothing is asserted about time): writes a million units through the
/// intake path, then times `experiment_totals` and `experiment_daily`. Run with
/// `cargo test -p switchyard-store --test contract -- --ignored --nocapture million`
/// (`SWITCHYARD_BENCH_UNITS`, `SWITCHYARD_BENCH_BACKENDS=sqlite,postgres` to change them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: writing a million units takes minutes"]
async fn experiment_totals_on_a_million_units() {
    let units: u64 = std::env::var("SWITCHYARD_BENCH_UNITS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("switchyard-exp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite://{}/bench.db", dir.display());
    let backends = std::env::var("SWITCHYARD_BENCH_BACKENDS").unwrap_or("sqlite,postgres".into());
    let cluster = backends
        .contains("postgres")
        .then(switchyard_testkit::postgres::TempCluster::start)
        .flatten();
    let mut urls = Vec::new();
    if backends.contains("sqlite") {
        urls.push(("sqlite", sqlite));
    }
    if let Some(cluster) = &cluster {
        urls.push(("postgres", cluster.create_database()));
    }
    for (backend, url) in urls {
        let store = Store::open(&url).await.unwrap();
        let tag = tags()[0].clone();
        let per_batch = 5_000;
        let written = std::time::Instant::now();
        for first in (0..units).step_by(per_batch) {
            let users = first..(first + per_batch as u64).min(units);
            let contexts = |u: u64| vec![part("user", format!("user-{u}"))];
            let at = |u: u64| START + (u as i64 % (7 * 24)) * HOUR;
            let batch = EventBatch {
                project: "web".into(),
                env: "prod".into(),
                counted_at_ms: START,
                counts: Vec::new(),
                exposures: users
                    .clone()
                    .map(|u| Exposure {
                        at_ms: at(u),
                        contexts: contexts(u),
                        flag: "checkout".into(),
                        version: 1,
                        variation: if u % 2 == 0 { "control" } else { "treatment" }.into(),
                        reason: "FALLTHROUGH".into(),
                        release: None,
                    })
                    .collect(),
                metrics: users
                    .filter(|u| u % 3 == 0)
                    .map(|u| MetricEvent {
                        at_ms: at(u) + 1,
                        contexts: contexts(u),
                        name: ["purchase", "revenue", "orders"][(u % 9 / 3) as usize].into(),
                        value: (u % 7) as f64,
                        about: None,
                    })
                    .collect(),
                metric_flags: None,
                experiments: vec![tag.clone()],
            };
            store.ingest_events(&batch).await.unwrap();
        }
        let written = written.elapsed();
        let rounds = 20;
        let read = std::time::Instant::now();
        let mut totals = None;
        for _ in 0..rounds {
            totals = Some(
                store
                    .experiment_totals("web", "prod", &tag.id, tag.phase)
                    .await
                    .unwrap(),
            );
        }
        let per_read = read.elapsed() / rounds;
        let read = std::time::Instant::now();
        for _ in 0..rounds {
            store
                .experiment_daily("web", "prod", &tag.id, tag.phase)
                .await
                .unwrap();
        }
        let per_daily = read.elapsed() / rounds;
        let in_arms: i64 = totals.map_or(0, |t| t.arms.iter().map(|a| a.units).sum());
        eprintln!(
            "{backend}: {in_arms} units written in {written:.1?} ({:.0} units/s); \
             experiment_totals {per_read:.2?}, experiment_daily {per_daily:.2?} (mean of {rounds})",
            in_arms as f64 / written.as_secs_f64()
        );
        store.close().await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
