//! `switchyard relay` under faults, with the real binaries: an upstream `serve`, a relay that
//! reaches it through a TCP proxy the test controls (so the upstream can be "away" while it is
//! being changed), a second relay following the first, an SDK client on the second and a raw
//! stream on the first.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchyard_client::types::TargetingInput;
use switchyard_sdk::sse::EventParser;
use switchyard_sdk::{Client, Context};
use switchyard_testkit::server::{SdkKeyKind, TestServer, eventually, spawn_listening, wait_for};

use crate::{BIN, fresh_dir};

pub(crate) use crate::relay_process::Relay;

fn data_age(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get("x-switchyard-data-age")
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

/// Forwards connections to whichever port it currently points at (none: refuse).
struct Proxy {
    url: String,
    target: Arc<Mutex<Option<u16>>>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let target = Arc::new(Mutex::new(Some(target)));
        let shared = target.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let port = *shared.lock().unwrap();
                tokio::spawn(async move {
                    let Some(port) = port else { return };
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { url, target }
    }

    fn point_to(&self, port: u16) {
        *self.target.lock().unwrap() = Some(port);
    }
}

async fn set_flag_on(upstream: &TestServer, flag: &str, on: bool) {
    let api = upstream.client();
    let current = api.targeting("default", "production", flag).await.unwrap();
    let mut targeting = current.targeting.targeting;
    targeting.on = on;
    let input = TargetingInput {
        targeting,
        version: Some(current.targeting.version),
        comment: None,
    };
    let updated = api.update_targeting("default", "production", flag, &input);
    updated.await.unwrap();
}

/// OFREP bulk evaluation through `base`: flag key → value, and the data-age header.
async fn ofrep_values(base: &str, key: &str) -> (Value, Option<u64>) {
    let response = reqwest::Client::new()
        .post(format!("{base}/ofrep/v1/evaluate/flags"))
        .bearer_auth(key)
        .json(&json!({"context": {"targetingKey": "user-1", "country": "DE"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let age = data_age(response.headers());
    let body: Value = response.json().await.unwrap();
    let values = body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["key"].as_str().unwrap().to_owned(), f["value"].clone()))
        .collect::<serde_json::Map<_, _>>();
    (Value::Object(values), age)
}

/// The SDK event stream of the server at `base`, opened with `key`.
async fn open_stream(
    base: &str,
    key: &str,
) -> impl futures_util::Stream<Item = reqwest::Result<impl AsRef<[u8]>>> + Unpin {
    reqwest::Client::new()
        .get(format!("{base}/sdk/v1/stream"))
        .header("Authorization", key)
        .send()
        .await
        .unwrap()
        .bytes_stream()
}

/// One OFREP evaluation of `flag` for `user` through `base`: the variant served.
async fn ofrep_variant(base: &str, key: &str, flag: &str, user: &str) -> String {
    let response: Value = reqwest::Client::new()
        .post(format!("{base}/ofrep/v1/evaluate/flags/{flag}"))
        .bearer_auth(key)
        .json(&json!({"context": {"targetingKey": user}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["variant"].as_str().unwrap().to_owned()
}

/// A production-environment API read on the control plane (`path` under the environment).
async fn upstream_get(upstream: &TestServer, path: &str) -> Value {
    let path = format!("/api/v1/projects/default/environments/production/{path}");
    upstream.admin_get(&path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_keeps_serving_while_its_upstream_is_away() {
    let dir = fresh_dir("relay");
    let upstream_dir = dir.join("upstream");
    let relay_dir = dir.join("relay");
    let edge_dir = dir.join("edge");

    let upstream_serve = TestServer::binary(BIN).data_dir(&upstream_dir);
    let mut upstream = upstream_serve.clone().start().await;
    upstream.seed_delivery_flags().await;
    let key = upstream.sdk_key(SdkKeyKind::Server).await;
    let proxy = Proxy::start(upstream.port()).await;
    let mut relay = Relay::start(&proxy.url, &key, &relay_dir, 0).await;
    eventually("the relay has upstream data", 30, || async {
        relay.readiness().await.0 == 200
    })
    .await;
    let (code, ready) = relay.readiness().await;
    assert_eq!(code, 200);
    assert_eq!(ready["keys"][0]["data"], "upstream", "{ready}");
    assert_eq!(ready["keys"][0]["upstream"], "streaming", "{ready}");

    // A relay can follow a relay; an application's SDK follows the second one.
    let edge = Relay::start(&relay.base, &key, &edge_dir, 0).await;
    let sdk = Client::builder(&edge.base, &key)
        .backoff(Duration::from_millis(50), Duration::from_millis(300))
        .init_timeout(Duration::from_secs(30))
        .build()
        .await;
    assert!(sdk.is_initialized());
    let user = Context::from_json(&json!({"key": "user-1", "country": "DE"})).unwrap();
    assert!(sdk.bool_value("checkout", &user, false));
    assert_eq!(sdk.string_value("banner", &user, "x"), "hallo");

    // The relay answers exactly what the control plane answers.
    let (direct, _) = ofrep_values(&upstream.base, &key).await;
    let (relayed, age) = ofrep_values(&relay.base, &key).await;
    assert_eq!(direct, relayed);
    assert_eq!(age, Some(0), "current data says so");
    let (direct_snapshot, _) = snapshot_at(&upstream.base, &key).await;
    assert_eq!(relay.snapshot(&key).await.0, direct_snapshot);

    // A change travels control plane → relay → relay → SDK.
    set_flag_on(&upstream, "checkout", false).await;
    eventually("the SDK behind two relays sees the change", 30, || async {
        !sdk.bool_value("checkout", &user, true)
    })
    .await;

    // 1. The upstream dies: the relay keeps answering from memory and says the data ages.
    let (before, _) = relay.snapshot(&key).await;
    upstream.kill();
    eventually("the relay notices its upstream is gone", 30, || async {
        relay.readiness().await.1["keys"][0]["upstream"] != "streaming"
    })
    .await;
    let (code, ready) = relay.readiness().await;
    assert_eq!(code, 200, "still ready: it has data ({ready})");
    assert_eq!(ready["keys"][0]["data"], "upstream");
    let (during, age) = relay.snapshot(&key).await;
    assert_eq!(during, before);
    assert!(age.is_some(), "the data age is stated");
    let (relayed, age) = ofrep_values(&relay.base, &key).await;
    assert_eq!(relayed["checkout"], json!(false));
    assert!(age.is_some());
    let metrics = reqwest::get(format!("{}/metrics", relay.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let connected: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("switchyard_relay_upstream_connected{key="))
        .collect();
    assert!(
        connected.len() == 1 && connected[0].ends_with("} 0"),
        "the one key's upstream is disconnected: {metrics}"
    );
    assert!(
        metrics.contains("switchyard_relay_data_age_seconds"),
        "{metrics}"
    );
    // A relay screens client-key batches too, and says what it dropped.
    assert!(
        metrics.contains("# TYPE switchyard_events_dropped counter"),
        "{metrics}"
    );

    // 2. The relay restarts while the upstream is still down: it serves from disk.
    let relay_port = relay.port;
    relay.kill();
    relay = Relay::start(&proxy.url, &key, &relay_dir, relay_port).await;
    let (code, ready) = relay.readiness().await;
    assert_eq!(code, 200, "ready from disk: {ready}");
    assert_eq!(ready["keys"][0]["data"], "disk", "{ready}");
    let (from_disk, age) = relay.snapshot(&key).await;
    assert_eq!(from_disk, before);
    assert!(age.is_some());
    // The edge relay and its SDK came through the restart with the same data.
    assert!(!sdk.bool_value("checkout", &user, true));

    // Events made while the upstream is away wait on the relay: an OFREP evaluation it
    // answers, and an evaluation and a metric event from the SDK behind both relays.
    let relayed_variant = ofrep_variant(&relay.base, &key, "limit", "relayed-user").await;
    let sdk_user = Context::from_json(&json!({"key": "sdk-user"})).unwrap();
    let sdk_variant = sdk
        .number_detail("limit", &sdk_user, -1.0)
        .variation
        .unwrap();
    sdk.track("latency_ms", &sdk_user, 42.0);

    // 3. The upstream comes back (on another address) and is changed while the relay still
    //    cannot reach it; then the way opens and everyone downstream receives those changes.
    let admin = upstream.admin.clone();
    upstream = upstream_serve.admin(&admin).start().await;
    set_flag_on(&upstream, "checkout", true).await;
    set_flag_on(&upstream, "banner", false).await;
    let mut stream = open_stream(&relay.base, &key).await;
    let mut parser = EventParser::default();
    let mut events = Vec::new();
    while events.is_empty() {
        let chunk = stream.next().await.unwrap().unwrap();
        events.extend(parser.feed(chunk.as_ref()));
    }
    assert_eq!(events[0].name, "put", "a new stream opens with the data");
    proxy.point_to(upstream.port());
    let opened = Instant::now();
    let patch = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let chunk = stream.next().await.unwrap().unwrap();
            if let Some(event) = parser
                .feed(chunk.as_ref())
                .into_iter()
                .find(|e| e.name == "patch")
            {
                return event;
            }
        }
    })
    .await
    .expect("the relay pushes what it missed");
    println!(
        "missed changes reached the relay's stream {} ms after the upstream became reachable",
        opened.elapsed().as_millis()
    );
    let patch: Value = serde_json::from_str(&patch.data).unwrap();
    assert!(patch["flags"]["checkout"].is_object(), "{patch}");
    assert!(patch["flags"]["banner"].is_object(), "{patch}");
    eventually(
        "the SDK behind two relays sees the missed changes",
        30,
        || async {
            sdk.bool_value("checkout", &user, false)
                && sdk.string_value("banner", &user, "x") == "hello"
        },
    )
    .await;
    // ...and reach the control plane once it is back.
    let expected = json!({"relayed-user": relayed_variant, "sdk-user": sdk_variant});
    eventually(
        "events held by the relays reach the upstream",
        60,
        || async {
            let exposed = upstream_get(&upstream, "flags/limit/exposures").await;
            let exposed: serde_json::Map<String, Value> = exposed
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["key"].as_str().unwrap().to_owned(),
                        e["variation"].clone(),
                    )
                })
                .collect();
            expected
                .as_object()
                .unwrap()
                .iter()
                .all(|(user, variant)| exposed.get(user) == Some(variant))
        },
    )
    .await;
    eventually("the metric event reaches the upstream", 30, || async {
        let cohorts = upstream_get(&upstream, "flags/limit/metrics").await;
        let cohorts = cohorts.as_array().unwrap();
        cohorts.len() == 1
            && cohorts[0]["metric"] == "latency_ms"
            && cohorts[0]["variation"] == json!(sdk_variant)
            && cohorts[0]["count"] == 1
            && cohorts[0]["sum"] == 42.0
    })
    .await;
    let (code, ready) = relay.readiness().await;
    assert_eq!((code, &ready["keys"][0]["data"]), (200, &json!("upstream")));
    let (after, age) = relay.snapshot(&key).await;
    assert_eq!(after, snapshot_at(&upstream.base, &key).await.0);
    assert_eq!(age, Some(0));

    // Keys the relay was not given are refused.
    let refused = reqwest::Client::new()
        .get(format!("{}/sdk/v1/snapshot", relay.base))
        .header("Authorization", format!("{key}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // SIGTERM with a stream open: the relay ends its streams and exits cleanly.
    sdk.close().await;
    edge.kill();
    let mut open = open_stream(&relay.base, &key).await;
    assert!(open.next().await.is_some());
    let terminated = Command::new("kill")
        .args(["-TERM", &relay.child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let exit = wait_for("the relay to stop on SIGTERM", 30, || {
        std::future::ready(relay.child.try_wait().unwrap())
    })
    .await;
    assert!(exit.success(), "{exit}");
    while let Some(chunk) = open.next().await {
        if chunk.is_err() {
            break;
        }
    }
    upstream.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A key the upstream refuses (deleted there: 401) is no longer relayed: the relay's open
/// stream ends, it answers 401, stops being ready and deletes the saved snapshot; a relay
/// restarted with that key and an old saved snapshot stops serving it once the upstream refuses.
/// (An unreachable upstream still means serving from disk: see the test above.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_stops_serving_a_revoked_key() {
    let dir = fresh_dir("relay-revoked");
    let relay_dir = dir.join("relay");
    let upstream = TestServer::binary(BIN)
        .data_dir(dir.join("upstream"))
        .start()
        .await;
    upstream.seed_delivery_flags().await;
    let key = upstream.sdk_key(SdkKeyKind::Server).await;
    let key_id = key.split('_').nth(1).unwrap().to_owned();
    let saved = relay_dir.join(format!("{key_id}.json"));
    let relay = Relay::start(&upstream.base, &key, &relay_dir, 0).await;
    eventually("the relay has upstream data", 30, || async {
        relay.readiness().await.0 == 200
    })
    .await;
    assert!(saved.exists(), "the relay saves what it serves");
    let old_snapshot = std::fs::read(&saved).unwrap();
    let mut stream = open_stream(&relay.base, &key).await;
    assert!(stream.next().await.is_some());

    upstream
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/projects/default/environments/production/sdk-keys/{key_id}"),
            None,
        )
        .await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the relay ends the revoked key's stream");
    drop(stream);
    let (code, ready) = relay.readiness().await;
    assert_eq!(code, 503, "{ready}");
    assert_eq!(ready["ready"], false, "{ready}");
    assert_eq!(ready["keys"][0]["data"], "none", "{ready}");
    assert_eq!(ready["keys"][0]["upstream"], "refused", "{ready}");
    assert_refused(&relay.base, &key).await;
    assert!(!saved.exists(), "the revoked key's snapshot is deleted");

    // A restart with the old snapshot back on disk: served at most until the upstream refuses.
    let port = relay.port;
    relay.kill();
    std::fs::write(&saved, &old_snapshot).unwrap();
    let relay = Relay::start(&upstream.base, &key, &relay_dir, port).await;
    eventually("the restarted relay hears the refusal", 30, || async {
        relay.readiness().await.1["keys"][0]["upstream"] == "refused"
    })
    .await;
    assert_eq!(relay.readiness().await.0, 503);
    assert_refused(&relay.base, &key).await;
    assert!(!saved.exists(), "the old snapshot is deleted again");
    relay.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--max-streams` and `--max-streams-per-key` reach `serve` and `relay`: over the key's
/// limit a stream is refused with 429 `rate_limited`, over the total with 503 `unavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_limits_are_configurable() {
    let dir = fresh_dir("stream-limits");
    let serve = TestServer::binary(BIN)
        .data_dir(dir.join("upstream"))
        .args(["--max-streams", "2", "--max-streams-per-key", "1"]);
    let upstream = serve.start().await;
    upstream.seed_delivery_flags().await;
    let key = upstream.sdk_key(SdkKeyKind::Server).await;
    let other = upstream.sdk_key(SdkKeyKind::Server).await;
    let third = upstream.sdk_key(SdkKeyKind::Server).await;
    let mut first = open_stream(&upstream.base, &key).await;
    assert!(first.next().await.is_some());
    assert_stream_refused(&upstream.base, &key, 429, "rate_limited").await;
    let mut second = open_stream(&upstream.base, &other).await;
    assert!(second.next().await.is_some());
    assert_stream_refused(&upstream.base, &third, 503, "unavailable").await;
    drop((first, second));

    let started = spawn_listening(
        Command::new(BIN)
            .args(["relay", "--upstream", &upstream.base, "--sdk-key", &key])
            .args(["--max-streams-per-key", "1", "--log", "warn"])
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.join("relay")),
    );
    let relay = Relay {
        child: started.child,
        base: format!("http://{}", started.address),
        port: started.address.port(),
    };
    eventually("the relay has data", 30, || async {
        reqwest::get(format!("{}/readyz", relay.base))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let mut relayed = open_stream(&relay.base, &key).await;
    assert!(relayed.next().await.is_some());
    assert_stream_refused(&relay.base, &key, 429, "rate_limited").await;
    drop(relayed);
    relay.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stream request of `key` at `base` is refused with `status`, `code` and `Retry-After`.
async fn assert_stream_refused(base: &str, key: &str, status: u16, code: &str) {
    let response = reqwest::Client::new()
        .get(format!("{base}/sdk/v1/stream"))
        .header("Authorization", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
}

/// Every delivery endpoint of `base` answers `key` with 401 in the API's error shape.
async fn assert_refused(base: &str, key: &str) {
    let http = reqwest::Client::new();
    for path in ["/sdk/v1/snapshot", "/sdk/v1/stream"] {
        let response = http
            .get(format!("{base}{path}"))
            .header("Authorization", key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{path}: {body}");
    }
    let ofrep = http
        .post(format!("{base}/ofrep/v1/evaluate/flags"))
        .bearer_auth(key)
        .json(&json!({"context": {"targetingKey": "user-1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ofrep.status(), 401);
}

pub(crate) async fn snapshot_at(base: &str, key: &str) -> (Value, Option<u64>) {
    let response = reqwest::Client::new()
        .get(format!("{base}/sdk/v1/snapshot"))
        .header("Authorization", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let age = data_age(response.headers());
    (response.json().await.unwrap(), age)
}

#[test]
fn relay_refuses_keys_it_cannot_follow() {
    let output = Command::new(BIN)
        .args([
            "relay",
            "--upstream",
            "http://127.0.0.1:9",
            "--sdk-key",
            "syc_abc_def",
        ])
        .args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(fresh_dir("relay-bad"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server SDK keys"), "{stderr}");
}
