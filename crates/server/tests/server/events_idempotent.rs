//! Idempotent event batches (`docs/events.md`, "Batch ids"): a batch posted again with its id
//! is answered like the first time and counted once, by the server directly, through the Rust
//! SDK after a lost answer, and through a relay; a batch without an id counts every time it is
//! posted; an id is forgotten once the retention has passed.

use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::PROD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_server::delivery::{BATCH_ID_RETENTION_MS, DeliveryConfig, apply_event_retention};
use switchyard_server::relay::{Relay, RelayConfig};
use switchyard_testkit::server::{SdkKeyKind, TestServer, wait_for};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

switchyard_testkit::backend_tests! {
    sqlite: [
        a_batch_posted_again_with_its_id_counts_once,
        an_id_is_forgotten_after_the_retention,
        the_sdk_resends_a_batch_whose_answer_was_lost,
        a_relay_forwards_a_batch_with_its_id,
    ],
    postgres: [
        a_batch_posted_again_with_its_id_counts_once,
        the_sdk_resends_a_batch_whose_answer_was_lost,
    ],
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A batch of `count` evaluations of `checkout`, and (with `metric`) an exposure of user `u1`
/// to it followed by one metric event.
fn batch(batch_id: Option<&str>, count: u64, metric: bool) -> Value {
    let at = now_ms() - 60_000;
    let events = if metric {
        json!([
            {"type": "exposure", "at_ms": at - 10, "flag": "checkout", "version": 1,
             "variation": "on", "reason": "FALLTHROUGH", "contexts": [{"kind": "user", "key": "u1"}]},
            {"type": "metric", "at_ms": at, "name": "latency_ms", "value": 7.0,
             "contexts": [{"kind": "user", "key": "u1"}]}
        ])
    } else {
        json!([])
    };
    let mut batch = json!({"format": 1, "sdk": "test", "start_ms": at - 1000, "end_ms": at,
        "summaries": [{"flag": "checkout", "version": 1, "variation": "on",
                       "reason": "FALLTHROUGH", "count": count}],
        "events": events});
    if let Some(batch_id) = batch_id {
        batch["batch_id"] = json!(batch_id);
    }
    batch
}

/// `POST /events/v1/bulk` on `base` with `key`: the status and the answer.
async fn post(base: &str, key: &str, batch: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/events/v1/bulk"))
        .header("authorization", key)
        .json(batch)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// (evaluations, metric events) the server counted for `checkout`.
async fn counted(server: &TestServer) -> (i64, i64) {
    let wide = "?from=0&to=9999999999999";
    let total = |rows: Value| -> i64 {
        let rows = rows.as_array().unwrap().clone();
        rows.iter().map(|row| row["count"].as_i64().unwrap()).sum()
    };
    let path = |what: &str| format!("{PROD}/flags/checkout/{what}{wide}");
    (
        total(server.admin_get(&path("evaluations")).await),
        total(server.admin_get(&path("metrics")).await),
    )
}

async fn a_batch_posted_again_with_its_id_counts_once(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;

    let identified = batch(Some("5f0c3a1e9b7d4c2a8e6f1b3d5c7a9e0f"), 5, true);
    let (status, first) = post(&server.base, &key, &identified).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["duplicate"], false, "{first}");
    assert_eq!(first["attributed_metrics"], 1, "{first}");
    let (status, mut again) = post(&server.base, &key, &identified).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    again["duplicate"] = json!(false);
    assert_eq!(again, first, "answered like the first time");
    assert_eq!(counted(&server).await, (5, 1));

    // Through the public client key of the same environment: still the same batch.
    let (status, through_client) = post(&server.base, &client_key, &identified).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{through_client}");
    assert_eq!(through_client["duplicate"], true, "{through_client}");
    assert_eq!(counted(&server).await, (5, 1));

    // Without an id (older SDKs and relays), every post counts.
    let legacy = batch(None, 3, true);
    for _ in 0..2 {
        let (status, answer) = post(&server.base, &key, &legacy).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert!(answer.get("duplicate").is_none(), "{answer}");
    }
    assert_eq!(counted(&server).await, (5 + 2 * 3, 3));

    // An id that cannot be one is refused whole, naming the field.
    for bad in ["short", "has spaces in it, quite a few", &"x".repeat(65)] {
        let (status, answer) = post(&server.base, &key, &batch(Some(bad), 100, false)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {answer}");
        assert_eq!(answer["error"]["field"], "batch_id", "{answer}");
    }
    assert_eq!(
        counted(&server).await,
        (11, 3),
        "nothing of a refused batch"
    );
    server.stop().await;
}

/// The cleanup, run as of a chosen time: an id is kept for the whole retention and forgotten
/// after it (a batch posted again after that counts again).
async fn an_id_is_forgotten_after_the_retention(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let store = server.state().unwrap().store.clone();

    let posted_at = now_ms();
    let identified = batch(Some("0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"), 5, false);
    let (status, answer) = post(&server.base, &key, &identified).await;
    assert_eq!(
        (status, &answer["duplicate"]),
        (StatusCode::ACCEPTED, &json!(false))
    );
    let seen = |id: &'static str| store.event_batch_seen("default", "production", id);
    assert!(seen("0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0").await.unwrap());
    // An empty batch counts nothing however often it comes: its id is not kept.
    let mut empty = batch(Some("an-empty-batch-0123456789"), 0, false);
    empty["summaries"] = json!([]);
    let (status, answer) = post(&server.base, &key, &empty).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["duplicate"], false, "{answer}");
    assert!(!seen("an-empty-batch-0123456789").await.unwrap());

    // A minute short of the retention: remembered.
    apply_event_retention(&store, posted_at + BATCH_ID_RETENTION_MS - 60_000).await;
    let (_, answer) = post(&server.base, &key, &identified).await;
    assert_eq!(answer["duplicate"], true, "{answer}");
    assert_eq!(counted(&server).await, (5, 0));

    // A minute past it: forgotten.
    apply_event_retention(&store, posted_at + BATCH_ID_RETENTION_MS + 60_000).await;
    let (_, answer) = post(&server.base, &key, &identified).await;
    assert_eq!(answer["duplicate"], false, "{answer}");
    assert_eq!(counted(&server).await, (10, 0));
    server.stop().await;
}

/// What the scripted proxy saw of each event batch: its id and the server's answer.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A proxy in front of `upstream` that passes everything through, except that it drops the
/// connection instead of returning the server's answer to the first event batch (the server
/// has counted it; the SDK cannot know).
async fn lossy_proxy(upstream: std::net::SocketAddr) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((downstream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(proxy_connection(downstream, upstream, record.clone()));
        }
    });
    (base, seen)
}

async fn proxy_connection(mut downstream: TcpStream, upstream: std::net::SocketAddr, seen: Seen) {
    // The request head, then (for an event batch) its body.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if downstream.read_exact(&mut byte).await.is_err() {
            return;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut upstream_conn = TcpStream::connect(upstream).await.unwrap();
    if !text.starts_with("POST /events/v1/bulk ") {
        upstream_conn.write_all(&head).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream_conn).await;
        return;
    }
    let length: usize = text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("the SDK sends a Content-Length");
    let mut body = vec![0u8; length];
    downstream.read_exact(&mut body).await.unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut json)
        .unwrap();
    let batch_id = serde_json::from_str::<Value>(&json).unwrap()["batch_id"]
        .as_str()
        .map(str::to_owned);
    // Forwarded as sent, on a connection of its own that closes after the answer.
    let head = text.replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n");
    upstream_conn.write_all(head.as_bytes()).await.unwrap();
    upstream_conn.write_all(&body).await.unwrap();
    let mut response = Vec::new();
    upstream_conn.read_to_end(&mut response).await.unwrap();
    let answer_at = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let answer = serde_json::from_slice(&response[answer_at + 4..]).unwrap_or(Value::Null);
    let first = {
        let mut seen = seen.lock().unwrap();
        seen.push((batch_id, answer));
        seen.len() == 1
    };
    if !first {
        let _ = downstream.write_all(&response).await;
    }
    // The first answer is never sent: the connection just ends.
}

async fn the_sdk_resends_a_batch_whose_answer_was_lost(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let upstream = server.base.trim_start_matches("http://").parse().unwrap();
    let (proxy, seen) = lossy_proxy(upstream).await;
    let client = Client::builder(&proxy, &key)
        .events(EventsConfig {
            flush_interval: Duration::from_millis(100),
            ..EventsConfig::default()
        })
        .build()
        .await;
    assert!(client.is_initialized());
    let user = Context::from_json(&json!({"key": "u1"})).unwrap();
    for _ in 0..7 {
        client.bool_value("checkout", &user, false);
    }
    client.track("latency_ms", &user, 7.0);
    wait_for("the lost batch sent again", 30, || {
        let sent = seen.lock().unwrap().len();
        std::future::ready((sent >= 2).then_some(()))
    })
    .await;
    client.close().await;

    let seen = seen.lock().unwrap().clone();
    let (first_id, first_answer) = &seen[0];
    let (again_id, again_answer) = &seen[1];
    assert!(first_id.is_some(), "the SDK names its batches");
    assert_eq!(again_id, first_id, "the same batch, sent again with its id");
    assert_eq!(first_answer["duplicate"], false, "{first_answer}");
    assert_eq!(again_answer["duplicate"], true, "{again_answer}");
    let ids: std::collections::BTreeSet<_> = seen.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        ids.len(),
        seen.len() - 1,
        "only the lost one went twice: {seen:?}"
    );
    assert_eq!(counted(&server).await, (7, 1), "counted once: {seen:?}");
    server.stop().await;
}

async fn a_relay_forwards_a_batch_with_its_id(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let data_dir = std::env::temp_dir().join(format!(
        "switchyard-relay-batch-ids-{}-{}",
        std::process::id(),
        now_ms()
    ));
    let relay = Relay::start(RelayConfig {
        upstream: server.base.clone(),
        sdk_keys: vec![key.clone()],
        data_dir: data_dir.clone(),
        delivery: DeliveryConfig::default(),
        reconnect_max: Duration::from_secs(1),
        client_keys_refresh: Duration::from_secs(1),
    })
    .await
    .unwrap();
    assert!(relay.wait_ready(Duration::from_secs(20)).await);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(switchyard_server::relay::serve(
        listener,
        relay.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    // A downstream SDK's batch and its retry, and an older SDK's batch posted twice.
    let identified = batch(Some("relayed-batch-0123456789abcdef"), 5, true);
    let legacy = batch(None, 3, false);
    for batch in [&identified, &identified, &legacy, &legacy] {
        let (status, answer) = post(&relay_base, &key, batch).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer["forwarded"], true, "{answer}");
    }
    // Stopping the relay sends what it holds upstream.
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    assert_eq!(counted(&server).await, (5 + 2 * 3, 1));
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
