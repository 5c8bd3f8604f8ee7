//! Events through a relay (`docs/events.md`, "Relays"): what a public client key posts to a
//! relay counts upstream exactly as if it had posted it there (its metric events only toward
//! client-visible flags), and the relay forwards everything in the order it arrived, so a
//! metric tracked after an OFREP evaluation the relay answered finds that evaluation's exposure.
//! A relay that has not yet learned its environments' client keys asks client keys to retry.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::PROD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_server::delivery::DeliveryConfig;
use switchyard_server::relay::{Relay, RelayConfig};
use switchyard_testkit::server::{SdkKeyKind, TestServer, eventually, wait_for};
use tokio::net::TcpListener;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A fresh SQLite database for one test.
fn sqlite_url(name: &str) -> (String, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-relay-events-{name}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    (format!("sqlite://{}/server.db", dir.display()), dir)
}

/// A relay serving over HTTP in this process (the metrics test runs one too).
pub(crate) struct Running {
    pub(crate) relay: Arc<Relay>,
    pub(crate) base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub(crate) async fn start(upstream: &str, key: &str, data_dir: PathBuf) -> Running {
        let relay = Relay::start(RelayConfig {
            upstream: upstream.to_owned(),
            sdk_keys: vec![key.to_owned()],
            data_dir,
            delivery: DeliveryConfig::default(),
            reconnect_max: Duration::from_millis(200),
            client_keys_refresh: Duration::from_millis(200),
        })
        .await
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(switchyard_server::relay::serve(
            listener,
            relay.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Running {
            relay,
            base,
            stop,
            serving,
        }
    }

    /// Stops the relay: what it holds is sent upstream first.
    pub(crate) async fn stop(self) {
        self.stop.send(()).unwrap();
        self.serving.await.unwrap().unwrap();
    }
}

/// `POST /events/v1/bulk` on `base` with `key`: the status, its `Retry-After` and the answer.
async fn post(base: &str, key: &str, batch: &Value) -> (StatusCode, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/events/v1/bulk"))
        .header("authorization", key)
        .json(batch)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

fn batch(events: Value) -> Value {
    let at = now_ms();
    json!({"format": 1, "sdk": "test", "start_ms": at - 1000, "end_ms": at, "summaries": [],
           "events": events})
}

fn exposure(flag: &str, variation: &str, user: &str, at_ms: i64) -> Value {
    json!({"type": "exposure", "at_ms": at_ms, "flag": flag, "version": 1,
           "variation": variation, "reason": "FALLTHROUGH",
           "contexts": [{"kind": "user", "key": user}]})
}

fn metric(user: &str, at_ms: i64) -> Value {
    json!({"type": "metric", "at_ms": at_ms, "name": "error", "value": 1.0,
           "contexts": [{"kind": "user", "key": user}]})
}

/// The `error` metric events `flag`'s variation cohorts counted upstream, per variation.
async fn counted(server: &TestServer, flag: &str) -> Vec<(String, i64)> {
    let path = format!("{PROD}/flags/{flag}/metrics?from=0&to=9999999999999");
    let rows = server.admin_get(&path).await;
    let mut counted: Vec<(String, i64)> = rows
        .as_array()
        .unwrap_or_else(|| panic!("{rows}"))
        .iter()
        .filter(|row| row["metric"] == "error")
        .map(|row| {
            let variation = row["variation"].as_str().unwrap().to_owned();
            (variation, row["count"].as_i64().unwrap())
        })
        .collect();
    counted.sort();
    counted
}

/// `checkout` is client-visible, `banner` is not: a context a server key exposed to both, then
/// reporting an error through a client key posted to the relay, counts toward `checkout` only,
/// exactly as when the client key posts to `serve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_key_through_a_relay_counts_toward_client_visible_flags_only() {
    let (url, dir) = sqlite_url("client-visible");
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let server_key = server.sdk_key(SdkKeyKind::Server).await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    let relay = Running::start(&server.base, &server_key, dir.join("relay")).await;
    assert!(relay.relay.wait_ready(Duration::from_secs(20)).await);

    let at = now_ms() - 5_000;
    let exposed = batch(json!([
        exposure("checkout", "on", "u1", at),
        exposure("banner", "plain", "u1", at),
    ]));
    let (status, _, answer) = post(&server.base, &server_key, &exposed).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    eventually("the relay learns the client key", 30, || async {
        post(&relay.base, &client_key, &batch(json!([]))).await.0 == StatusCode::ACCEPTED
    })
    .await;
    let reported = batch(json!([metric("u1", at + 1_000)]));
    let (status, _, answer) = post(&relay.base, &client_key, &reported).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["forwarded"], true, "{answer}");
    relay.stop().await;

    assert_eq!(counted(&server, "checkout").await, [("on".to_owned(), 1)]);
    assert_eq!(
        counted(&server, "banner").await,
        [],
        "a client key's metric reached a server-side flag through the relay"
    );
    // The same event through the server key counts toward both.
    let (status, _, answer) = post(&server.base, &server_key, &reported).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(counted(&server, "banner").await, [("plain".to_owned(), 1)]);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// An OFREP evaluation answered by the relay, then an (identified) metric batch for the same
/// context posted to the relay: upstream, the metric counts toward the evaluated variation,
/// because the relay sends the exposure its answer recorded first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_through_a_relay_follows_the_exposure_of_its_ofrep_answer() {
    let (url, dir) = sqlite_url("order");
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let server_key = server.sdk_key(SdkKeyKind::Server).await;
    let relay = Running::start(&server.base, &server_key, dir.join("relay")).await;
    assert!(relay.relay.wait_ready(Duration::from_secs(20)).await);

    // Ready means the relay's client has data; its feed may publish it a moment later (503
    // with Retry-After until then, which is what an OFREP client retries).
    let evaluated: Value = wait_for("the relay to answer OFREP", 20, || async {
        let answer = reqwest::Client::new()
            .post(format!("{}/ofrep/v1/evaluate/flags/checkout", relay.base))
            .bearer_auth(&server_key)
            .json(&json!({"context": {"targetingKey": "u2"}}))
            .send()
            .await
            .unwrap();
        match answer.status() {
            StatusCode::OK => Some(answer.json().await.unwrap()),
            StatusCode::SERVICE_UNAVAILABLE => None,
            other => panic!("OFREP through the relay answered {other}"),
        }
    })
    .await;
    assert_eq!(evaluated["variant"], "on", "{evaluated}");

    let mut reported = batch(json!([metric("u2", now_ms() + 1)]));
    reported["batch_id"] = json!("relayed-order-0123456789abcdef");
    let (status, _, answer) = post(&relay.base, &server_key, &reported).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    relay.stop().await;

    assert_eq!(
        counted(&server, "checkout").await,
        [("on".to_owned(), 1)],
        "the metric reached the upstream before the exposure the relay recorded"
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET /sdk/v1/environment` as a relay reads it every second: an `ETag`, and an empty `304`
/// while nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_listing_answers_304_while_unchanged() {
    assert!(
        switchyard_server::relay::DEFAULT_CLIENT_KEYS_REFRESH <= Duration::from_secs(1),
        "revocation must reach a relay within a second"
    );
    let (url, dir) = sqlite_url("etag");
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let server_key = server.sdk_key(SdkKeyKind::Server).await;
    let read = |etag: Option<String>| {
        let mut request = reqwest::Client::new()
            .get(format!("{}/sdk/v1/environment", server.base))
            .bearer_auth(&server_key);
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        async move {
            let response = request.send().await.unwrap();
            let etag = response
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_owned());
            (response.status(), etag, response.bytes().await.unwrap())
        }
    };
    let (status, etag, body) = read(None).await;
    assert_eq!(status, StatusCode::OK);
    let etag = etag.expect("an ETag");
    let listed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listed["client_keys"], json!([]), "{listed}");
    let (status, again, body) = read(Some(etag.clone())).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.as_deref(), Some(etag.as_str()));
    assert!(body.is_empty());
    // A new client key changes the answer.
    server.sdk_key(SdkKeyKind::Client).await;
    let (status, changed, _) = read(Some(etag.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(changed, Some(etag));
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client key on the (server-key only) environment listing is refused naming the header
/// that carried it, as the other server-only routes do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_key_on_the_environment_listing_is_refused_naming_its_header() {
    let (url, dir) = sqlite_url("listing-field");
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    for header in ["Authorization", "X-API-Key"] {
        let response = reqwest::Client::new()
            .get(format!("{}/sdk/v1/environment", server.base))
            .header(header, &client_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], header, "{body}");
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Until a relay has learned its environments' client keys (its upstream unreachable, nothing
/// saved), a client key is asked to retry (`503` with `Retry-After`), since SDKs and the
/// tracking packages take a `401` as final; once the list is known an unknown key is `401`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_asks_client_keys_to_retry_until_it_knows_them() {
    let (url, dir) = sqlite_url("not-yet");
    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let waiting = Running::start(&unreachable, "sys_relayed_secret", dir.join("waiting")).await;
    let unknown_client = "syc_someone_secret";
    let evaluate = |base: String, key: &'static str| async move {
        let response = reqwest::Client::new()
            .post(format!("{base}/ofrep/v1/evaluate/flags"))
            .bearer_auth(key)
            .json(&json!({"context": {"targetingKey": "u1"}}))
            .send()
            .await
            .unwrap();
        let retry_after = response.headers().get("retry-after").cloned();
        (response.status(), retry_after)
    };
    let (status, retry_after) = evaluate(waiting.base.clone(), unknown_client).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after.is_some());
    let (status, retry_after, answer) =
        post(&waiting.base, unknown_client, &batch(json!([]))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(retry_after.is_some(), "{answer}");
    // A server key it was not given is unknown at once.
    let (status, _) = evaluate(waiting.base.clone(), "sys_other_secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    waiting.stop().await;

    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let server_key = server.sdk_key(SdkKeyKind::Server).await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    let relay = Running::start(&server.base, &server_key, dir.join("relay")).await;
    eventually("the relay learns the client key", 30, || async {
        post(&relay.base, &client_key, &batch(json!([]))).await.0 == StatusCode::ACCEPTED
    })
    .await;
    let (status, _) = evaluate(relay.base.clone(), unknown_client).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    relay.stop().await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
