//! Guardrails fed by OpenTelemetry alone, end to end: a Python application with no Switchyard
//! package (`clients/openfeature-python-e2e`, installed by `.ci/run`) evaluates a flag through the
//! official OpenFeature SDK and OFREP provider, and the official `TracingHook` puts a
//! `feature_flag.evaluation` event on each request's span; the OpenTelemetry SDK exports the spans
//! over OTLP/HTTP (protobuf, gzip) to the real `switchyard serve`. The treated users' error rate
//! is 5× the control's, so the guard, watching `span.error`, must roll the release back by itself,
//! after which the application gets the previous variation again.
//!
//! The Python hook sets `feature_flag.context.id` (the targeting key), so spans are attributed by
//! the context's release exposure (the intake writes what OFREP recorded first, so the exposure
//! of the evaluation inside the span is there). The variant would name the same cohort here
//! (`on` is served to treated users only), so this test does not tell the two paths apart.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use serde_json::{Value, json};
use switchyard_testkit::server::{Method, SdkKeyKind, TestServer, wait_for};

use crate::{BIN, fresh_dir};

const FLAG: &str = "checkout-v2";

/// Whether `python3` can import the application's pinned packages.
fn python_client_installed() -> bool {
    let imports = "import openfeature.contrib.provider.ofrep, \
                   openfeature.contrib.hook.opentelemetry, \
                   opentelemetry.exporter.otlp.proto.http.trace_exporter";
    Command::new("python3")
        .args(["-c", imports])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_otlp_spans_roll_a_guarded_release_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let app_dir = root.join("clients/openfeature-python-e2e");
    if !python_client_installed() {
        switchyard_testkit::skip(
            "the Python OpenTelemetry client is not installed \
             (python3 -m pip install -r clients/openfeature-python-e2e/requirements.txt)",
        );
        return;
    }
    let dir = fresh_dir("otlp-python");
    let server = TestServer::binary(BIN)
        .data_dir(&dir)
        .args(["--guard-interval-ms", "200"])
        .start()
        .await;
    let api = |path: &str| format!("/api/v1/projects/default{path}");
    server
        .admin_post(&api("/flags"), json!({"key": FLAG, "kind": "boolean"}))
        .await;
    // On, serving `off` (false) to everyone: the variation the release puts back.
    let targeting =
        json!({"version": 0, "on": true, "off_variation": 1, "fallthrough": {"variation": 1}});
    let flag_path = api(&format!("/environments/production/flags/{FLAG}"));
    server.admin(Method::PUT, &flag_path, Some(targeting)).await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    // One stage at 50 % that would bake for an hour: only a breach ends it within the test.
    let release = server
        .admin_post(
            &api("/environments/production/releases"),
            json!({"flag": FLAG, "variation": "on",
                   "stages": [{"percent": 50, "min_bake_s": 3600}],
                   "guardrails": [{"metric": "span.error", "kind": "bad_events"}]}),
        )
        .await;
    let started = Instant::now();
    assert_eq!(release["state"], "running", "{release}");
    let id = release["id"].as_str().unwrap().to_owned();
    let release_path = api(&format!("/environments/production/releases/{id}"));

    let mut app = Command::new("python3")
        .arg(app_dir.join("app.py"))
        .args(["--flag", FLAG, "--users", "1000"])
        .env("SWITCHYARD_URL", &server.base)
        .env("SWITCHYARD_SDK_KEY", &key)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    // Its stdout lines as they come; `exited` once the stream ends (the app is gone).
    let (lines_tx, lines) = mpsc::channel::<String>();
    let exited = Arc::new(AtomicBool::new(false));
    let stdout = app.stdout.take().unwrap();
    let ended = exited.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
        ended.store(true, Ordering::SeqCst);
    });
    let mut stderr = app.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    // The guard sees the treated cohort's errors in `span.error` and rolls back by itself.
    let rolled_back = wait_for("the guard to roll the release back", 50, || {
        let (server, path, exited) = (&server, &release_path, &exited);
        async move {
            let status = server.admin_get(path).await;
            assert!(
                !exited.load(Ordering::SeqCst) || status["state"] == "rolled_back",
                "the Python app ended early; release: {status}"
            );
            (status["state"] == "rolled_back").then_some(status)
        }
    })
    .await;
    let seen = started.elapsed();
    let history = rolled_back["history"].as_array().unwrap();
    let at = |event: &str| {
        history
            .iter()
            .find(|h| h["event"] == event)
            .unwrap_or_else(|| panic!("no {event} in {history:?}"))
    };
    let breach = at("release:roll_back");
    assert_eq!(breach["actor"], format!("release:{id}"), "{breach}");
    let decided_ms =
        breach["at_ms"].as_i64().unwrap() - release["stage_started_ms"].as_i64().unwrap();
    println!(
        "Python OTLP guarded release: rolled back {:.2} s after the release started \
         (seen by the test after {:.2} s): {}",
        decided_ms as f64 / 1000.0,
        seen.as_secs_f64(),
        breach["detail"]
    );
    let metrics = server
        .admin_get(&api(&format!(
            "/environments/production/flags/{FLAG}/metrics"
        )))
        .await;
    println!("per-variation metrics from the spans: {metrics}");
    let count = |metric: &str, variation: &str| {
        metrics
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["metric"] == metric && c["variation"] == variation)
            .map(|c| c["count"].as_u64().unwrap())
            .sum::<u64>()
    };
    // (Control errors may still be 0 at a fast breach: 2 % of a few hundred spans.)
    assert!(
        count("span.duration_ms", "on") > 0
            && count("span.duration_ms", "off") > 0
            && count("span.error", "on") > 0,
        "span.duration_ms for both variations and span.error for the new one: {metrics}"
    );
    // Every span named its release cohort (context id, or else an unambiguous variant).
    let (_, exposition) = server.call(None, Method::GET, "/metrics", None).await;
    let exposition = exposition.as_str().unwrap_or_default();
    let spans = |outcome: &str| {
        let prefix = format!("switchyard_otlp_spans_total{{outcome=\"{outcome}\"}} ");
        exposition
            .lines()
            .find_map(|line| line.strip_prefix(&prefix)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(
        spans("attributed") > 0.0 && spans("unattributed") == 0.0,
        "spans attributed to the release's cohorts:\n{exposition}"
    );

    // The application now gets the previous variation: its last pass finds no user served `on`.
    drop(app.stdin.take());
    let final_line = wait_for("the app's final report", 60, || {
        let found = lines
            .try_iter()
            .inspect(|line| println!("app: {line}"))
            .find_map(|line| {
                serde_json::from_str::<Value>(&line)
                    .ok()?
                    .get("final")
                    .cloned()
            });
        async move { found }
    })
    .await;
    let status = app.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "the app failed: {status}\n{stderr}");
    let got = |field: &str| final_line[field].as_u64().unwrap();
    assert_eq!(
        got("eval_errors"),
        0,
        "every OFREP evaluation answered: {final_line}"
    );
    assert!(got("users_served_new") > 0, "{final_line}");
    assert_eq!(
        got("still_served_new"),
        0,
        "after the roll back the app gets the previous variation: {final_line}"
    );
    assert!(
        !stderr.contains("Failed to export"),
        "every span batch was accepted:\n{stderr}"
    );
    let targeting = server.admin_get(&flag_path).await;
    assert_eq!(
        targeting["fallthrough"],
        json!({"variation": 1}),
        "the layer is gone"
    );

    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
