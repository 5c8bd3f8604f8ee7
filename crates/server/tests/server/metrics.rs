//! `/metrics` of `serve` and `relay` after some traffic, read by the reference Prometheus
//! parsers (Python `prometheus_client`: its OpenMetrics parser, strict, and the classic text
//! parser, through `clients/metrics-check/parse.py`), and checked against what the traffic
//! was: events accepted and refused as sent, open streams per key as opened, the guard's
//! decisions about a release, store operations counted, process figures present
//! (`docs/operations.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::PROD;
use crate::relay_events::Running as RunningRelay;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_testkit::server::{GuardConfig, SdkKeyKind, TestServer, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    const SCENARIOS: &[(&str, switchyard_testkit::backends::Scenario)] =
        switchyard_testkit::cases![serve_metrics_parse_and_count, relay_metrics_parse_and_count];
    switchyard_testkit::backends::on_sqlite(module_path!(), SCENARIOS).await;
    dashboard_plots_only_metrics_served();
}

/// Every family a scrape of this test found (by the parsers' names: no `_total` or histogram
/// suffixes).
static SEEN: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());

/// `docs/grafana-dashboard.json` queries only metrics that `serve` or `relay` serve.
fn dashboard_plots_only_metrics_served() {
    let seen = SEEN.lock().unwrap().clone();
    if seen.is_empty() {
        return; // skipped: no parsers
    }
    let text = std::fs::read_to_string(repo_root().join("docs/grafana-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("switchyard_") || word.starts_with("process_") {
                    let family = ["_total", "_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|suffix| word.strip_suffix(suffix))
                        .unwrap_or(word);
                    queried.insert(family.to_owned());
                }
            }
        }
    }
    assert!(queried.len() >= 15, "{queried:?}");
    let unknown: Vec<&String> = queried.difference(&seen).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics nobody serves: {unknown:?}"
    );
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One scrape as the reference parsers read it.
struct Scrape {
    families: BTreeMap<String, Value>,
}

/// Whether the parsers can run; says so and skips when not (a failure under `CI=true`).
fn parsers_available() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output();
    if probe.is_ok_and(|out| out.status.success()) {
        return true;
    }
    switchyard_testkit::skip_or_fail(
        "python3 with prometheus_client is not installed \
         (pip install -r clients/metrics-check/requirements.txt)",
    );
    false
}

impl Scrape {
    /// Scrapes `base`'s `/metrics` and parses it (see [`parsers_available`]).
    async fn of(base: &str) -> Scrape {
        let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("application/openmetrics-text"));
        let text = response.text().await.unwrap();
        let mut parser = Command::new("python3")
            .arg(repo_root().join("clients/metrics-check/parse.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut parser.stdin.take().unwrap(), text.as_bytes()).unwrap();
        let out = parser.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "the Prometheus parsers refuse /metrics: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let families = parsed["families"].as_object().unwrap().clone();
        SEEN.lock().unwrap().extend(families.keys().cloned());
        Scrape {
            families: families.into_iter().collect(),
        }
    }

    fn family(&self, name: &str) -> &Value {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("no family {name} in {:?}", self.families.keys()))
    }

    fn has(&self, name: &str) -> bool {
        self.families.contains_key(name)
    }

    /// The value of `sample` of `family` whose labels include `labels`.
    fn value(&self, family: &str, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let samples = self.family(family)["samples"].as_array().unwrap();
        samples.iter().find_map(|s| {
            let matches = s[0] == sample && labels.iter().all(|(k, v)| s[1][*k] == *v);
            matches.then(|| s[2].as_f64().unwrap_or(f64::NAN))
        })
    }

    fn type_of(&self, family: &str) -> &str {
        self.family(family)["type"].as_str().unwrap()
    }

    /// The process's standard figures, as on every `serve` and `relay` (Linux).
    fn assert_process_figures(&self) {
        assert_eq!(self.type_of("process_cpu_seconds"), "counter");
        let rss = self.value(
            "process_resident_memory_bytes",
            "process_resident_memory_bytes",
            &[],
        );
        assert!(rss.unwrap() > 1_000_000.0, "{rss:?}");
        let fds = self
            .value("process_open_fds", "process_open_fds", &[])
            .unwrap();
        let max = self
            .value("process_max_fds", "process_max_fds", &[])
            .unwrap();
        assert!(fds >= 3.0 && fds < max, "{fds} of {max}");
        assert!(
            self.value(
                "process_start_time_seconds",
                "process_start_time_seconds",
                &[]
            )
            .unwrap()
                > 1.6e9
        );
    }
}

fn key_id(key: &str) -> &str {
    key.split('_').nth(1).unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A batch of 3 summaries, 2 exposures and 4 metric events.
fn batch(batch_id: Option<&str>) -> Value {
    let at = now_ms();
    let summary = |flag: &str| json!({"flag": flag, "version": 1, "variation": "on", "reason": "FALLTHROUGH", "count": 5});
    let exposure = |user: &str| {
        json!({"type": "exposure", "at_ms": at, "flag": "checkout", "version": 1,
               "variation": "on", "reason": "FALLTHROUGH",
               "contexts": [{"kind": "user", "key": user}]})
    };
    let metric = |user: &str| {
        json!({"type": "metric", "at_ms": at, "name": "latency", "value": 12.5,
               "contexts": [{"kind": "user", "key": user}]})
    };
    let mut batch = json!({"format": 1, "sdk": "metrics-test", "start_ms": at - 1000,
        "end_ms": at, "dropped": 7,
        "summaries": [summary("checkout"), summary("banner"), summary("limit")],
        "events": [exposure("u1"), exposure("u2"),
                   metric("u1"), metric("u2"), metric("u3"), metric("u4")]});
    if let Some(id) = batch_id {
        batch["batch_id"] = json!(id);
    }
    batch
}

async fn post(base: &str, key: Option<&str>, body: &Value) -> StatusCode {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/events/v1/bulk"))
        .json(body);
    if let Some(key) = key {
        request = request.header("authorization", key);
    }
    request.send().await.unwrap().status()
}

/// An open SDK change stream (held until dropped).
async fn open_stream(base: &str, key: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(format!("{base}/sdk/v1/stream"))
        .header("authorization", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
}

async fn serve_metrics_parse_and_count(url: String) {
    if !parsers_available() {
        return;
    }
    let server = TestServer::in_process(&url)
        .guard(GuardConfig {
            interval: Duration::from_millis(50),
        })
        .start()
        .await;
    server.seed_delivery_flags().await;
    let first = server.sdk_key(SdkKeyKind::Server).await;
    let second = server.sdk_key(SdkKeyKind::Server).await;
    let _streams = [
        open_stream(&server.base, &first).await,
        open_stream(&server.base, &first).await,
        open_stream(&server.base, &second).await,
    ];

    // Two batches stored, one of them sent twice; one refused per reason.
    let base = server.base.as_str();
    assert_eq!(
        post(base, Some(&first), &batch(None)).await,
        StatusCode::ACCEPTED
    );
    let with_id = batch(Some("metrics-test-batch-0001"));
    assert_eq!(
        post(base, Some(&first), &with_id).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post(base, Some(&second), &with_id).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(post(base, None, &with_id).await, StatusCode::UNAUTHORIZED);
    let bad = json!({"format": 9, "start_ms": 0, "end_ms": 0});
    assert_eq!(
        post(base, Some(&first), &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // A release with no guardrails and no bake: the guard advances it at each look.
    server.boolean_flag_serving_off("metered").await;
    let release = server
        .admin_post(
            &format!("{PROD}/releases"),
            json!({"flag": "metered", "variation": "on",
                   "stages": [{"percent": 10}, {"percent": 50}]}),
        )
        .await;
    let release_id = release["id"].as_str().unwrap().to_owned();
    wait_for("the release to complete", 30, || async {
        let status = server
            .admin_get(&format!("{PROD}/releases/{release_id}"))
            .await;
        (status["state"] == "completed").then_some(())
    })
    .await;

    let scrape = Scrape::of(base).await;
    scrape.assert_process_figures();

    // Events: two batches' items accepted, the repeat not counted again.
    let accepted = |kind| {
        scrape.value(
            "switchyard_events_accepted",
            "switchyard_events_accepted_total",
            &[("kind", kind)],
        )
    };
    assert_eq!(accepted("summary"), Some(6.0));
    assert_eq!(accepted("exposure"), Some(4.0));
    assert_eq!(accepted("metric"), Some(8.0));
    let batches = |outcome| {
        scrape.value(
            "switchyard_event_batches",
            "switchyard_event_batches_total",
            &[("outcome", outcome)],
        )
    };
    assert_eq!(batches("accepted"), Some(2.0));
    assert_eq!(batches("duplicate"), Some(1.0));
    assert_eq!(batches("unauthorized"), Some(1.0));
    assert_eq!(batches("invalid"), Some(1.0));
    assert_eq!(batches("rate_limited"), Some(0.0));
    let dropped = |reason| {
        scrape.value(
            "switchyard_events_dropped",
            "switchyard_events_dropped_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(
        dropped("sender_queue_full"),
        Some(14.0),
        "7 reported by each stored batch"
    );
    assert_eq!(dropped("key_rate"), Some(0.0));

    // Streams: in all and per key, as opened.
    assert_eq!(
        scrape.value(
            "switchyard_sdk_streams_open",
            "switchyard_sdk_streams_open",
            &[]
        ),
        Some(3.0)
    );
    let by_key = |key| {
        scrape.value(
            "switchyard_sdk_streams_open_by_key",
            "switchyard_sdk_streams_open_by_key",
            &[("key", key)],
        )
    };
    assert_eq!(by_key(key_id(&first)), Some(2.0));
    assert_eq!(by_key(key_id(&second)), Some(1.0));
    assert_eq!(by_key("_other"), None);

    // Data age: the store's environments are current.
    let age = [("project", "default"), ("environment", "production")];
    assert_eq!(
        scrape.value(
            "switchyard_delivery_data_age_seconds",
            "switchyard_delivery_data_age_seconds",
            &age
        ),
        Some(0.0)
    );

    // The guard's decisions about the release: it advanced at least twice (two stages, then
    // completion), labelled with the release, its flag and environment.
    let decisions = [
        ("release", release_id.as_str()),
        ("flag", "metered"),
        ("environment", "default/production"),
        ("decision", "advance"),
    ];
    let advanced = scrape.value(
        "switchyard_release_guard_decisions",
        "switchyard_release_guard_decisions_total",
        &decisions,
    );
    assert!(advanced.is_some_and(|n| n >= 2.0), "{advanced:?}");
    assert_eq!(scrape.type_of("switchyard_release_guard_errors"), "counter");
    assert_eq!(scrape.type_of("switchyard_webhook_deliveries"), "counter");
    assert_eq!(
        scrape.type_of("switchyard_webhook_delivery_failures"),
        "counter"
    );

    // Store: every operation's latency histogram, commits and event writes among them.
    let store = "switchyard_store_operation_duration_seconds";
    assert_eq!(scrape.type_of(store), "histogram");
    let count = |op| {
        scrape
            .value(store, &format!("{store}_count"), &[("operation", op)])
            .unwrap()
    };
    assert!(count("commit") >= 10.0, "{}", count("commit"));
    assert_eq!(
        count("ingest_events"),
        3.0,
        "two batches at the intake, one duplicate among them"
    );
    assert!(count("stage_cohorts") >= 2.0);
    let inf = scrape.value(
        store,
        &format!("{store}_bucket"),
        &[("operation", "commit"), ("le", "+Inf")],
    );
    assert_eq!(inf, Some(count("commit")));
    let errors = |op, kind| {
        scrape.value(
            "switchyard_store_errors",
            "switchyard_store_errors_total",
            &[("operation", op), ("kind", kind)],
        )
    };
    assert_eq!(errors("get", "database"), Some(0.0));
    assert!(errors("commit", "conflict").is_some());

    // What was there before stays: requests by route.
    assert!(scrape.has("switchyard_http_requests"));
    server.stop().await;
}

async fn relay_metrics_parse_and_count(url: String) {
    if !parsers_available() {
        return;
    }
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let data_dir = std::env::temp_dir().join(format!(
        "switchyard-metrics-relay-{}-{}",
        std::process::id(),
        now_ms()
    ));
    let relay = RunningRelay::start(&server.base, &key, data_dir.clone()).await;
    assert!(relay.relay.wait_ready(Duration::from_secs(20)).await);
    let _streams = [
        open_stream(&relay.base, &key).await,
        open_stream(&relay.base, &key).await,
    ];
    assert_eq!(
        post(&relay.base, Some(&key), &batch(None)).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post(&relay.base, Some("sys_nobody_secret"), &batch(None)).await,
        StatusCode::UNAUTHORIZED
    );

    // The relay's stream from upstream is open once its data age reads 0.
    let id = key_id(&key).to_owned();
    let age = [("project", "upstream"), ("environment", id.as_str())];
    let scrape = wait_for("the relay to stream from its upstream", 20, || async {
        let scrape = Scrape::of(&relay.base).await;
        let current = scrape.value(
            "switchyard_delivery_data_age_seconds",
            "switchyard_delivery_data_age_seconds",
            &age,
        );
        (current == Some(0.0)).then_some(scrape)
    })
    .await;
    scrape.assert_process_figures();
    let batches = |outcome| {
        scrape.value(
            "switchyard_event_batches",
            "switchyard_event_batches_total",
            &[("outcome", outcome)],
        )
    };
    assert_eq!(batches("forwarded"), Some(1.0));
    assert_eq!(batches("unauthorized"), Some(1.0));
    assert_eq!(batches("accepted"), Some(0.0));
    let accepted = |kind| {
        scrape.value(
            "switchyard_events_accepted",
            "switchyard_events_accepted_total",
            &[("kind", kind)],
        )
    };
    assert_eq!(accepted("summary"), Some(3.0));
    assert_eq!(accepted("metric"), Some(4.0));
    let by_key = scrape.value(
        "switchyard_sdk_streams_open_by_key",
        "switchyard_sdk_streams_open_by_key",
        &[("key", id.as_str())],
    );
    assert_eq!(by_key, Some(2.0));
    assert_eq!(
        scrape.value(
            "switchyard_relay_upstream_connected",
            "switchyard_relay_upstream_connected",
            &[("key", id.as_str())]
        ),
        Some(1.0)
    );
    // A relay has no store and no guard.
    assert!(!scrape.has("switchyard_store_operation_duration_seconds"));
    assert!(!scrape.has("switchyard_release_guard_decisions"));

    relay.stop().await;
    // What the relay forwarded counts upstream as accepted, with the drops it reported.
    let upstream = Scrape::of(&server.base).await;
    let accepted = |kind| {
        upstream.value(
            "switchyard_events_accepted",
            "switchyard_events_accepted_total",
            &[("kind", kind)],
        )
    };
    assert_eq!(accepted("metric"), Some(4.0));
    server.stop().await;
    let _ = std::fs::remove_dir_all(data_dir);
}
