//! The SDK's cost of recording events, per evaluation (section 4 of the events benchmark).

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_bench::TestServer;
use switchyard_sdk::{Client, Context, EventsConfig};

/// Median ns per evaluation over interleaved samples: events off, on with repeat contexts,
/// on with a new context every time (a Markdown table).
pub(crate) async fn sdk_overhead(serve: &TestServer, key: &str) -> String {
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
