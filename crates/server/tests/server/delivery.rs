//! Delivery end to end: the snapshot and stream endpoints, the Rust SDK (and its OpenFeature
//! provider) against a real server, OFREP, and two replicas on one PostgreSQL database.

mod cors;
mod ofrep;
mod revocation;
mod sdk;

use std::io::Read;
use std::time::{Duration, Instant};

use crate::PROD;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_engine::wire::{FlagData, Patch};
use switchyard_sdk::sse::{Event, EventParser};
use switchyard_sdk::{Client, Context};
use switchyard_testkit::postgres::TempCluster;
use switchyard_testkit::server::{DeliveryConfig, SdkKeyKind, TestServer, eventually};

use ofrep::ofrep;
use sdk::sdk_client;

const FLAGS: &str = "/api/v1/projects/default/flags";
const WAIT: Duration = Duration::from_secs(10);

fn quick() -> DeliveryConfig {
    DeliveryConfig {
        heartbeat: Duration::from_millis(200),
        ..DeliveryConfig::default()
    }
}

async fn toggle(server: &TestServer, flag: &str, on: bool) -> Value {
    server
        .admin_post(&format!("{PROD}/flags/{flag}/toggle"), json!({"on": on}))
        .await
}

/// An open SSE response read event by event.
struct Stream {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    parser: EventParser,
    pending: std::collections::VecDeque<Event>,
    /// Raw bytes seen, to spot heartbeats (comments are not events).
    raw: Vec<u8>,
}

impl Stream {
    async fn open(base: &str, key: &str, last_event_id: Option<i64>) -> Stream {
        let mut request = reqwest::Client::new()
            .get(format!("{base}/sdk/v1/stream"))
            .header("authorization", key);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        Stream::of(request.send().await.unwrap())
    }

    /// Reads an event-stream response (checked to be one).
    fn of(response: reqwest::Response) -> Stream {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Stream {
            body: Box::pin(response.bytes_stream()),
            parser: EventParser::default(),
            pending: Default::default(),
            raw: Vec::new(),
        }
    }

    /// The next event, or `None` when the stream ends; panics after [`WAIT`].
    async fn next(&mut self) -> Option<Event> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline.into(), self.body.next())
                .await
                .expect("no event within the deadline")?;
            let chunk = chunk.ok()?;
            self.raw.extend_from_slice(&chunk);
            self.pending.extend(self.parser.feed(&chunk));
        }
    }

    /// Reads until a heartbeat comment arrives; panics after [`WAIT`]. Events read on the way
    /// are kept for [`Stream::next`].
    async fn heartbeat(&mut self) {
        let deadline = Instant::now() + WAIT;
        let from = self.raw.len();
        while !self.raw[from..].windows(3).any(|w| w == b":\n\n") {
            let chunk = tokio::time::timeout_at(deadline.into(), self.body.next())
                .await
                .expect("no heartbeat within the deadline")
                .expect("stream ended")
                .unwrap();
            self.raw.extend_from_slice(&chunk);
            self.pending.extend(self.parser.feed(&chunk));
        }
    }

    async fn patch(&mut self) -> Patch {
        let event = self.next().await.expect("stream ended");
        assert_eq!(event.name, "patch", "{}", event.data);
        let patch: Patch = serde_json::from_str(&event.data).unwrap();
        assert_eq!(event.id, Some(patch.revision.to_string()));
        patch
    }
}

/// `GET /sdk/v1/{endpoint}` with an SDK key.
async fn sdk_get(server: &TestServer, key: &str, endpoint: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/sdk/v1/{endpoint}", server.base))
        .header("authorization", key)
        .send()
        .await
        .unwrap()
}

fn user(key: &str, country: &str) -> Context {
    Context::from_json(&json!({"key": key, "country": country})).unwrap()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    eventually(what, WAIT.as_secs(), || std::future::ready(done())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = std::env::temp_dir().join(format!("switchyard-delivery-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = |name: &str| format!("sqlite://{}/{name}.db", dir.display());
    eprintln!("snapshot and stream");
    snapshot_and_stream(url("stream")).await;
    eprintln!("sdk");
    sdk_client(url("sdk"), &dir).await;
    eprintln!("ofrep");
    ofrep(url("ofrep")).await;
    eprintln!("stream limit");
    stream_limit(url("limit")).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// CORS for browsers (its own test: it needs nothing from the others' servers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_and_cors() {
    let dir = std::env::temp_dir().join(format!("switchyard-cors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    cors::cors(format!("sqlite://{}/cors.db", dir.display())).await;
    cors::narrowed(format!("sqlite://{}/narrowed.db", dir.display())).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(cluster) = TempCluster::start() else {
        return;
    };
    eprintln!("postgres: snapshot and stream");
    snapshot_and_stream(cluster.create_database()).await;
    eprintln!("postgres: ofrep");
    ofrep(cluster.create_database()).await;
    eprintln!("postgres: replicas");
    replicas_propagate_and_catch_up(&cluster).await;
}

/// Open streams are counted and bounded; a stream that ends gives its place back.
async fn stream_limit(url: String) {
    let server = TestServer::in_process(&url)
        .delivery(DeliveryConfig {
            max_streams: 2,
            ..quick()
        })
        .start()
        .await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let open_streams = || async {
        let metrics = reqwest::get(format!("{}/metrics", server.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("switchyard_sdk_streams_open "))
            .map(|v| v.trim().parse::<i64>().unwrap())
    };
    let mut first = Stream::open(&server.base, &key, None).await;
    assert_eq!(first.next().await.unwrap().name, "put");
    let mut second = Stream::open(&server.base, &key, None).await;
    assert_eq!(second.next().await.unwrap().name, "put");
    assert_eq!(open_streams().await, Some(2));
    let refused = sdk_get(&server, &key, "stream").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    // The snapshot is still served over the limit.
    let snapshot = sdk_get(&server, &key, "snapshot").await;
    assert_eq!(snapshot.status(), StatusCode::OK);
    assert_eq!(snapshot.headers()["x-switchyard-data-age"], "0");
    drop(first);
    eventually(
        "a closed stream gives its place back",
        WAIT.as_secs(),
        || async { open_streams().await == Some(1) },
    )
    .await;
    let mut third = Stream::open(&server.base, &key, None).await;
    assert_eq!(third.next().await.unwrap().name, "put");
    drop((second, third));
    server.stop().await;
}

async fn snapshot_and_stream(url: String) {
    let server = TestServer::in_process(&url).delivery(quick()).start().await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    let http = reqwest::Client::new();
    let snapshot = format!("{}/sdk/v1/snapshot", server.base);

    // Authentication: none, wrong, client key.
    let status = |r: reqwest::Response| r.status();
    assert_eq!(status(http.get(&snapshot).send().await.unwrap()), 401);
    let wrong = format!("{}x", &key[..key.len() - 1]);
    assert_eq!(
        status(
            http.get(&snapshot)
                .header("authorization", wrong)
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            http.get(&snapshot)
                .bearer_auth(&client_key)
                .send()
                .await
                .unwrap()
        ),
        403
    );

    // Full snapshot, ETag/304, gzip with the same content.
    let response = http.get(&snapshot).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let data: FlagData = response.json().await.unwrap();
    assert_eq!(data.format, 1);
    assert_eq!(
        data.flags.keys().collect::<Vec<_>>(),
        ["banner", "checkout", "limit", "theme"]
    );
    assert!(data.flags["checkout"].targeting.on);
    let unchanged = http
        .get(&snapshot)
        .bearer_auth(&key)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    let gzipped = http
        .get(&snapshot)
        .bearer_auth(&key)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&gzipped.bytes().await.unwrap()[..])
        .read_to_end(&mut text)
        .unwrap();
    assert_eq!(serde_json::from_slice::<FlagData>(&text).unwrap(), data);

    // A stream opens with the data, then sends one patch per change, and heartbeats.
    let mut stream = Stream::open(&server.base, &key, None).await;
    let put = stream.next().await.unwrap();
    assert_eq!(put.name, "put");
    assert_eq!(serde_json::from_str::<FlagData>(&put.data).unwrap(), data);
    toggle(&server, "checkout", false).await;
    let patch = stream.patch().await;
    assert_eq!(patch.base, data.revision);
    assert_eq!(patch.flags.keys().collect::<Vec<_>>(), ["checkout"]);
    assert!(!patch.flags["checkout"].as_ref().unwrap().targeting.on);
    let after_toggle = patch.revision;
    // A change to staging is not production's business: the next production change comes next.
    server
        .admin_post(
            "/api/v1/projects/default/environments/staging/flags/checkout/toggle",
            json!({"on": true}),
        )
        .await;
    server
        .admin(Method::DELETE, &format!("{FLAGS}/theme"), None)
        .await;
    let patch = stream.patch().await;
    assert_eq!(
        patch.flags.get("theme"),
        Some(&None),
        "a deletion is a null"
    );
    assert_eq!(patch.flags.len(), 1);
    stream.heartbeat().await;
    assert!(
        stream.pending.is_empty(),
        "nothing but heartbeats while idle"
    );
    drop(stream);

    // Resuming: only what was missed, merged into one patch; from too far back, everything.
    toggle(&server, "checkout", true).await;
    toggle(&server, "banner", false).await;
    let mut resumed = Stream::open(&server.base, &key, Some(after_toggle)).await;
    // The missed changes arrive as patches (the last toggle may still be on its way when
    // the stream opens, then it follows as its own patch).
    let mut patch = resumed.patch().await;
    assert!(patch.base <= after_toggle);
    while patch.flags.len() < 3 {
        let next = resumed.patch().await;
        patch = patch.then(&next);
    }
    assert_eq!(
        patch.flags.keys().collect::<Vec<_>>(),
        ["banner", "checkout", "theme"]
    );
    let mut current = data.clone();
    current.apply(patch.clone());
    let fresh: FlagData = http
        .get(&snapshot)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current, fresh, "base + resumed patch = current snapshot");
    let mut from_scratch = Stream::open(&server.base, &key, Some(-5)).await;
    assert_eq!(from_scratch.next().await.unwrap().name, "put");
    let mut up_to_date = Stream::open(&server.base, &key, Some(fresh.revision)).await;
    toggle(&server, "checkout", false).await;
    assert_eq!(up_to_date.patch().await.base, fresh.revision);

    // Shutdown ends open streams, so the server stops promptly.
    let stopped = tokio::time::timeout(WAIT, server.stop()).await;
    assert!(stopped.is_ok(), "server shut down with streams open");
    // What was sent before shutdown is still readable; then the stream ends (a hang panics).
    while resumed.next().await.is_some() {}
}

async fn replicas_propagate_and_catch_up(cluster: &TempCluster) {
    let url = cluster.create_database();
    // No periodic resync: catching up must come from the listener's own recovery.
    let config = DeliveryConfig {
        resync_every: Duration::from_secs(3600),
        ..quick()
    };
    let writer = TestServer::in_process(&url).delivery(config.clone());
    let writer = writer.start().await;
    let reader = TestServer::in_process(&url).delivery(config);
    let reader = reader.admin(&writer.admin).start().await;
    writer.seed_delivery_flags().await;
    let key = writer.sdk_key(SdkKeyKind::Server).await;
    let client = Client::builder(&reader.base, &key).build().await;
    let us = user("u-2", "US");
    assert!(client.bool_value("checkout", &us, false));

    let mut stream = Stream::open(&reader.base, &key, None).await;
    assert_eq!(stream.next().await.unwrap().name, "put");
    toggle(&writer, "checkout", false).await;
    assert_eq!(
        stream.patch().await.flags.keys().collect::<Vec<_>>(),
        ["checkout"]
    );
    wait_until("the SDK on the other replica to see the toggle", || {
        !client.bool_value("checkout", &us, true)
    })
    .await;

    // Cut every replica's listening connection, change things meanwhile: the reader catches up.
    let terminated = terminate_listeners(&url).await;
    assert!(terminated >= 2, "both replicas listen ({terminated})");
    toggle(&writer, "checkout", true).await;
    toggle(&writer, "banner", false).await;
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        seen.extend(stream.patch().await.flags.into_keys());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["banner", "checkout"]);
    wait_until("the SDK to catch up", || {
        client.bool_value("checkout", &us, false)
    })
    .await;
    client.close().await;
    reader.stop().await;
    writer.stop().await;
}

async fn terminate_listeners(url: &str) -> i64 {
    use sqlx::Row;
    let store = switchyard_store::Store::open(url).await.unwrap();
    let row = sqlx::query(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1) AS t",
    )
    .bind(switchyard_store::changes::LISTENER_APPLICATION_NAME)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let count: i64 = row.try_get(0).unwrap();
    store.close().await;
    count
}
