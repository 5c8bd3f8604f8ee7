//! Shutdown owns the background work: when `serve` returns, no task it started is still
//! running, every evaluation it answered is in the store, and a webhook receiver that never
//! answers delays the stop by the drain deadline only.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_store::Store;
use switchyard_store::events::FlagRange;
use switchyard_testkit::server::{DeliveryConfig, GuardConfig, SdkKeyKind, TestServer, wait_for};
use tokio::net::TcpListener;

use crate::PROD;

/// OFREP answers recorded between flushes.
const EVALUATIONS: i64 = 25;

switchyard_testkit::backend_tests![shutdown_stops_every_task_and_loses_no_recorded_evaluation];

async fn shutdown_stops_every_task_and_loses_no_recorded_evaluation(url: String) {
    let server = TestServer::in_process(&url)
        // Nothing is flushed on a timer during the test: only the shutdown writes.
        .delivery(DeliveryConfig {
            events_flush: Duration::from_secs(3600),
            ..DeliveryConfig::default()
        })
        .guard(GuardConfig {
            interval: Duration::from_millis(50),
        })
        .start()
        .await;
    let state = server.state().expect("an in-process server");
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;

    // A webhook receiver that accepts and never answers: its delivery stays in flight.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", silent.local_addr().unwrap());
    server
        .admin(
            Method::POST,
            "/api/v1/projects/default/webhooks",
            Some(json!({"url": hook_url})),
        )
        .await;

    let http = reqwest::Client::new();
    let evaluate = format!("{}/ofrep/v1/evaluate/flags/limit", server.base);
    for i in 0..EVALUATIONS {
        let context = json!({"context": {"targetingKey": format!("user-{i}")}});
        let request = http.post(&evaluate).bearer_auth(&key).json(&context);
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(answer["variant"].is_string(), "{answer}");
    }
    server
        .admin(Method::POST, &format!("{PROD}/flags/theme/kill"), None)
        .await;
    let silent = &silent;
    let (_held, _) = wait_for("the webhook delivery to connect", 20, move || async move {
        tokio::time::timeout(Duration::from_millis(100), silent.accept())
            .await
            .ok()
            .and_then(Result::ok)
    })
    .await;
    assert!(state.running_tasks() > 0, "the server runs background work");

    tokio::time::timeout(Duration::from_secs(60), server.stop())
        .await
        .expect("shutdown waits for the webhook drain deadline, not for the receiver");
    assert_eq!(state.running_tasks(), 0, "a task outlived the shutdown");

    let store = Store::open(&url).await.unwrap();
    let range = FlagRange {
        project: "default",
        env: "production",
        flag: "limit",
        from_ms: 0,
        to_ms: i64::MAX,
    };
    let written: i64 = store
        .evaluation_series(range)
        .await
        .unwrap()
        .iter()
        .map(|bucket| bucket.count)
        .sum();
    assert_eq!(written, EVALUATIONS, "evaluations recorded before the stop");
}
