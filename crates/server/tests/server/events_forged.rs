//! Forged events through a public client key: a guarded release of a server-side flag runs on
//! a server SDK's evaluations; a flood through a client key (exposures and evaluation counts
//! of that flag and of a flag that does not exist, metric events from real and made-up
//! contexts) changes nothing the guard decides on, and the forged exposures are not recorded.
//! The same metric events through the server key do count, so the test sees attribution when
//! there is any.

use std::io::Write as _;
use std::time::Duration;

use crate::PROD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_server::delivery::CLIENT_EVENTS_PER_CONTEXT_PER_MINUTE;
use switchyard_store::events::FlagRange;
use switchyard_testkit::server::{GuardConfig, SdkKeyKind, TestServer, wait_for};

switchyard_testkit::backend_tests![forged_client_events_change_no_guardrail_decision];

fn user(i: u64) -> Context {
    Context::from_json(&json!({"key": format!("user-{i}")})).unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `POST /events/v1/bulk` with `key`: the status and the answer.
async fn post(
    server: &TestServer,
    key: &str,
    summaries: Vec<Value>,
    events: Vec<Value>,
) -> (StatusCode, Value) {
    let at = now_ms();
    let batch = json!({"format": 1, "sdk": "forger", "start_ms": at - 1000, "end_ms": at,
                       "summaries": summaries, "events": events});
    let response = reqwest::Client::new()
        .post(format!("{}/events/v1/bulk", server.base))
        .header("authorization", key)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(&batch))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn gzip(body: &Value) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body.to_string().as_bytes()).unwrap();
    encoder.finish().unwrap()
}

fn exposure(flag: &str, key: &str, release: Option<Value>) -> Value {
    let mut event = json!({"type": "exposure", "at_ms": now_ms() - 500, "flag": flag,
                           "version": 1, "variation": "on", "reason": "FALLTHROUGH",
                           "contexts": [{"kind": "user", "key": key}]});
    if let Some(release) = release {
        event["release"] = release;
    }
    event
}

fn error_event(key: &str) -> Value {
    json!({"type": "metric", "at_ms": now_ms(), "name": "error", "value": 1.0,
           "contexts": [{"kind": "user", "key": key}]})
}

/// What the guard decides on: the assessment without its timestamp and countdown.
async fn decision(server: &TestServer, id: &str) -> (Value, Value) {
    let status = server.admin_get(&format!("{PROD}/releases/{id}")).await;
    let mut assessment = status["assessment"].clone();
    assessment.as_object_mut().unwrap().remove("at_ms");
    // What it waits for names the bake time left, which only the clock changes.
    if let Some(verdict) = assessment["verdict"].as_object_mut() {
        verdict.remove("waiting_for");
    }
    (status["state"].clone(), assessment)
}

async fn forged_client_events_change_no_guardrail_decision(url: String) {
    let guard = GuardConfig {
        interval: Duration::from_millis(200),
    };
    let server = TestServer::in_process(&url).guard(guard).start().await;
    server.seed_delivery_flags().await;
    let state = server.state().unwrap();
    // `payments`: server-side only, on, serving `off`; a guarded release to `on` at 50 %.
    server.boolean_flag_serving_off("payments").await;
    let started = server
        .admin_post(
            &format!("{PROD}/releases"),
            json!({"flag": "payments", "variation": "on",
                   "stages": [{"percent": 50, "min_bake_s": 3600}],
                   "guardrails": [{"metric": "error", "kind": "bad_events"}]}),
        )
        .await;
    let id = started["id"].as_str().unwrap().to_owned();

    // Real traffic through a server SDK: 200 users evaluate, a few report errors on both sides.
    let server_key = server.sdk_key(SdkKeyKind::Server).await;
    let client = Client::builder(&server.base, &server_key)
        .events(EventsConfig {
            flush_interval: Duration::from_millis(100),
            ..EventsConfig::default()
        })
        .build()
        .await;
    wait_for("the release layer to reach the SDK", 10, || async {
        (0..50)
            .any(|i| client.bool_value("payments", &user(i), false))
            .then_some(())
    })
    .await;
    let treated: Vec<u64> = (0..200)
        .filter(|i| client.bool_value("payments", &user(*i), false))
        .collect();
    let control: Vec<u64> = (0..200).filter(|i| !treated.contains(i)).collect();
    assert!(
        treated.len() > 50 && control.len() > 50,
        "{}",
        treated.len()
    );
    for i in treated.iter().chain(&control).step_by(10) {
        client.track("error", &user(*i), 1.0);
    }
    client.close().await;
    let (running, before) = wait_for("the traffic to reach the release", 20, || async {
        let (state, assessment) = decision(&server, &id).await;
        let seen = assessment["contexts"]["treated"].as_i64().unwrap_or(0) == treated.len() as i64
            && assessment["guardrails"][0]["treated"].as_i64().unwrap_or(0) > 0;
        seen.then_some((state, assessment))
    })
    .await;
    assert_eq!(running, "running", "{before}");
    let stage = before["stage"].as_str().unwrap().to_owned();
    let cohorts_before = state
        .store
        .stage_cohorts("default", "production", "payments", &stage)
        .await
        .unwrap();

    // The flood, through a client key.
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    let treated_tag = json!({"stage": stage, "cohort": "treated"});
    let control_tag = json!({"stage": stage, "cohort": "control"});
    // Forged evaluation counts and exposures of the release's flag and of a flag that does not
    // exist, metric events from the made-up contexts, and a real exposure of `checkout`.
    let mut events: Vec<Value> = Vec::new();
    for i in 0..200 {
        events.push(exposure(
            "payments",
            &format!("forged-{i}"),
            Some(treated_tag.clone()),
        ));
    }
    for i in 0..50 {
        events.push(exposure("ghost", &format!("forged-{i}"), None));
    }
    events.push(exposure("checkout", "visitor-1", None));
    for i in 0..200 {
        events.push(error_event(&format!("forged-{i}")));
    }
    let summaries = vec![
        json!({"flag": "payments", "version": 1, "variation": "off", "reason": "FALLTHROUGH",
               "release": control_tag, "count": 1_000_000}),
        json!({"flag": "ghost", "version": 1, "variation": "on", "reason": "FALLTHROUGH", "count": 5}),
    ];
    let (status, answer) = post(&server, &client_key, summaries, events).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["dropped"]["not_client_visible"], 252, "{answer}");
    assert_eq!(answer["accepted"]["exposures"], 1, "{answer}");
    assert_eq!(answer["accepted"]["metrics"], 200, "{answer}");
    // Errors "from" 60 real treated users, more than a context may send in a minute.
    let per_user = CLIENT_EVENTS_PER_CONTEXT_PER_MINUTE as usize + 5;
    let mut events = Vec::new();
    for i in treated.iter().take(60) {
        events.extend((0..per_user).map(|_| error_event(&format!("user-{i}"))));
    }
    let (status, answer) = post(&server, &client_key, vec![], events).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["dropped"]["context_rate"], 60 * 5, "{answer}");
    // More than the key may send: the excess is dropped, not queued.
    let mut key_rate_dropped = 0;
    for round in 0..3 {
        let events = (0..10_000)
            .map(|i| error_event(&format!("made-up-{round}-{i}")))
            .collect();
        let (status, answer) = post(&server, &client_key, vec![], events).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        key_rate_dropped += answer["dropped"]["key_rate"].as_i64().unwrap();
    }
    assert!(key_rate_dropped > 0);

    // Nothing the guard reads changed, and it still decides the same.
    let cohorts_after = state
        .store
        .stage_cohorts("default", "production", "payments", &stage)
        .await
        .unwrap();
    assert_eq!(cohorts_after, cohorts_before);
    let (running, after) = decision(&server, &id).await;
    assert_eq!((running.as_str(), &after), (Some("running"), &before));
    // Forged exposures were not recorded; the client-visible flag's was.
    let all_time = |flag| FlagRange {
        project: "default",
        env: "production",
        flag,
        from_ms: 0,
        to_ms: i64::MAX,
    };
    for flag in ["payments", "ghost"] {
        let exposed = state
            .store
            .exposed_contexts(all_time(flag), None, 10_000)
            .await
            .unwrap();
        assert!(
            exposed.iter().all(|e| !e.key.starts_with("forged-")),
            "{flag}: {exposed:?}"
        );
    }
    let checkout = state
        .store
        .exposed_contexts(all_time("checkout"), None, 10)
        .await
        .unwrap();
    assert_eq!(checkout.len(), 1);
    let (_, metrics) = server.call(None, Method::GET, "/metrics", None).await;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("switchyard_events_dropped_total{reason=\"not_client_visible\"} 252"),
        "{metrics}"
    );

    // The same errors through the server key do count toward the treated cohort.
    let events = treated
        .iter()
        .take(60)
        .map(|i| error_event(&format!("user-{i}")))
        .collect();
    let (status, answer) = post(&server, &server_key, vec![], events).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let (_, trusted) = decision(&server, &id).await;
    assert_eq!(
        trusted["guardrails"][0]["treated"].as_i64().unwrap(),
        before["guardrails"][0]["treated"].as_i64().unwrap() + 60,
        "{trusted}"
    );
    server.stop().await;
}
