//! Browsers through a relay (`docs/delivery.md`, "Browsers and CORS" and "Relay"), with the
//! real binaries: the relay is given only a server key, learns the environment's client keys
//! and allowed origins from its upstream, and answers a client key exactly as `serve` does:
//! client-visible flags only, CORS for the environment's origins, no flag data, screened
//! events; a client key revoked upstream stops working on the relay within its refresh period.
//! Preflights are answered from the origin lists: the relay's, and `serve`'s once no
//! environment allows every origin.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::{SdkKeyKind, TestServer, eventually, wait_for};

use crate::relay::Relay;
use crate::{BIN, fresh_dir};

const APP: &str = "https://app.example";
const ELSEWHERE: &str = "https://elsewhere.example";
const PRODUCTION: &str = "/api/v1/projects/default/environments/production";

/// OFREP bulk evaluation at `base` with `key`, sent from `origin`.
async fn bulk(base: &str, key: &str, origin: &str) -> Response {
    reqwest::Client::new()
        .post(format!("{base}/ofrep/v1/evaluate/flags"))
        .header("origin", origin)
        .bearer_auth(key)
        .json(&json!({"context": {"targetingKey": "user-1", "country": "DE"}}))
        .send()
        .await
        .unwrap()
}

/// The flag keys of a bulk answer, sorted.
async fn flag_keys(response: Response) -> Vec<String> {
    let body: Value = response.json().await.unwrap();
    let mut keys: Vec<String> = body["flags"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

fn allow_origin(response: &Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn preflight(base: &str, origin: &str) -> Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, format!("{base}/ofrep/v1/evaluate/flags"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

async fn get(base: &str, path: &str, key: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_serves_client_keys_as_serve_does() {
    let dir = fresh_dir("relay-browsers");
    let mut upstream = TestServer::binary(BIN)
        .data_dir(dir.join("upstream"))
        .start()
        .await;
    upstream.seed_delivery_flags().await;
    let server_key = upstream.sdk_key(SdkKeyKind::Server).await;
    let client_key = upstream.sdk_key(SdkKeyKind::Client).await;
    let environment = upstream.admin_get(PRODUCTION).await;
    let narrowed = json!({
        "key": "production", "name": environment["name"], "critical": environment["critical"],
        "version": environment["version"], "allowed_origins": [APP],
    });
    upstream
        .admin(Method::PUT, PRODUCTION, Some(narrowed))
        .await;

    // The upstream lists the environment's client keys to a server key only, as hashes.
    let (status, listed) = get(&upstream.base, "/sdk/v1/environment", &server_key).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["allowed_origins"], json!([APP]));
    let client_id = client_key.split('_').nth(1).unwrap().to_owned();
    assert_eq!(listed["client_keys"][0]["id"], json!(client_id), "{listed}");
    assert_eq!(listed["client_keys"].as_array().unwrap().len(), 1);
    let secret = client_key.rsplit('_').next().unwrap();
    assert!(!listed.to_string().contains(secret), "no secret: {listed}");
    let (status, refused) = get(&upstream.base, "/sdk/v1/environment", &client_key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");

    let relay = Relay::start(&upstream.base, &server_key, &dir.join("relay"), 0).await;
    eventually("the relay serves the client key", 30, || async {
        bulk(&relay.base, &client_key, APP).await.status() == StatusCode::OK
    })
    .await;

    // OFREP bulk with the client key: only client-visible flags, as on serve, readable by the
    // allowed origin.
    let relayed = bulk(&relay.base, &client_key, APP).await;
    assert_eq!(relayed.status(), StatusCode::OK);
    assert_eq!(allow_origin(&relayed).as_deref(), Some(APP));
    let exposed = relayed.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(exposed.contains("X-Switchyard-Data-Age"), "{exposed}");
    let relayed_flags = flag_keys(relayed).await;
    assert_eq!(relayed_flags, ["checkout"]);
    let direct = bulk(&upstream.base, &client_key, APP).await;
    assert_eq!(flag_keys(direct).await, relayed_flags);
    // Another origin's page cannot read it, and its preflight is refused.
    let elsewhere = bulk(&relay.base, &client_key, ELSEWHERE).await;
    assert_eq!(elsewhere.status(), StatusCode::OK);
    assert_eq!(allow_origin(&elsewhere), None);
    let refused = preflight(&relay.base, ELSEWHERE).await;
    assert!(!refused.status().is_success(), "{}", refused.status());
    assert_eq!(allow_origin(&refused), None);
    let allowed = preflight(&relay.base, APP).await;
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(allow_origin(&allowed).as_deref(), Some(APP));

    // A server key evaluates everything but is never readable cross-origin.
    let server = bulk(&relay.base, &server_key, APP).await;
    assert_eq!(server.status(), StatusCode::OK);
    assert_eq!(allow_origin(&server), None);
    assert_eq!(flag_keys(server).await.len(), 4);

    // Flag data stays server-key only, on the relay as on serve.
    for path in ["/sdk/v1/snapshot", "/sdk/v1/stream", "/sdk/v1/environment"] {
        let (status, body) = get(&relay.base, path, &client_key).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(get(&upstream.base, path, &client_key).await.0, status);
    }
    // Relays chain: the relay lists what its upstream listed.
    let (status, chained) = get(&relay.base, "/sdk/v1/environment", &server_key).await;
    assert_eq!((status, &chained), (StatusCode::OK, &listed));

    // A client key's event batch is screened on the relay and forwarded upstream.
    // Seen now: the exposures listing covers recent days only.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let batch = json!({
        "format": 1, "sdk": "browser", "start_ms": now - 10, "end_ms": now, "summaries": [],
        "events": [
            {"type": "exposure", "at_ms": now, "contexts": [{"kind": "user", "key": "browser-1"}],
             "flag": "checkout", "version": 1, "variation": "on", "reason": "FALLTHROUGH"},
            {"type": "exposure", "at_ms": now, "contexts": [{"kind": "user", "key": "browser-1"}],
             "flag": "banner", "version": 1, "variation": "hello", "reason": "FALLTHROUGH"},
        ],
    });
    let posted = reqwest::Client::new()
        .post(format!("{}/events/v1/bulk", relay.base))
        .header("origin", APP)
        .bearer_auth(&client_key)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::ACCEPTED);
    assert_eq!(allow_origin(&posted).as_deref(), Some(APP));
    let answer: Value = posted.json().await.unwrap();
    assert_eq!(answer["dropped"]["not_client_visible"], 1, "{answer}");
    assert_eq!(answer["accepted"]["exposures"], 1, "{answer}");
    assert_eq!(answer["forwarded"], true, "{answer}");
    let exposures = |flag: &'static str| {
        let upstream = &upstream;
        async move {
            let path = format!("{PRODUCTION}/flags/{flag}/exposures");
            let listed = upstream.admin_get(&path).await;
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["key"] == "browser-1")
        }
    };
    eventually("the screened batch reaches the upstream", 60, || {
        exposures("checkout")
    })
    .await;
    assert!(!exposures("banner").await, "screened out on the relay");

    // Revoked upstream: the relay refuses the client key within its refresh period, and the
    // key's open OFREP change stream ends.
    let answer: Value = bulk(&relay.base, &client_key, APP)
        .await
        .json()
        .await
        .unwrap();
    let stream_url = answer["eventStreams"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(stream_url.starts_with(&relay.base), "{stream_url}");
    let mut stream = reqwest::get(&stream_url).await.unwrap().bytes_stream();
    assert!(stream.next().await.is_some(), "the stream opens");
    let path = format!("{PRODUCTION}/sdk-keys/{client_id}");
    upstream.admin(Method::DELETE, &path, None).await;
    let started = std::time::Instant::now();
    eventually("the relay refuses the revoked client key", 30, || async {
        bulk(&relay.base, &client_key, APP).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    println!(
        "a client key revoked upstream was refused by the relay after {} ms",
        started.elapsed().as_millis()
    );
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(_)) = stream.next().await {}
    });
    assert!(ended.await.is_ok(), "the revoked key's stream ends");
    let (status, listed) = get(&relay.base, "/sdk/v1/environment", &server_key).await;
    assert_eq!(
        (status, &listed["client_keys"]),
        (StatusCode::OK, &json!([]))
    );

    // `serve` answers preflights from all its environments' lists: staging lists none (any
    // origin) until it is narrowed too.
    let upstream_preflight = preflight(&upstream.base, ELSEWHERE).await;
    assert_eq!(upstream_preflight.status(), StatusCode::NO_CONTENT);
    let staging = "/api/v1/projects/default/environments/staging";
    let current = upstream.admin_get(staging).await;
    let narrowed = json!({
        "key": "staging", "name": current["name"], "critical": current["critical"],
        "version": current["version"], "allowed_origins": [APP],
    });
    upstream.admin(Method::PUT, staging, Some(narrowed)).await;
    eventually(
        "serve refuses a preflight no environment allows",
        30,
        || async { preflight(&upstream.base, ELSEWHERE).await.status() == StatusCode::FORBIDDEN },
    )
    .await;
    let allowed = preflight(&upstream.base, APP).await;
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(allow_origin(&allowed).as_deref(), Some(APP));

    // A client key created upstream is served within the refresh period; the list is saved
    // (hashes only, owner-only), so a relay restarted while its upstream is away still serves
    // it, and still refuses the revoked one.
    let kept = upstream.sdk_key(SdkKeyKind::Client).await;
    eventually("the relay serves a new client key", 30, || async {
        bulk(&relay.base, &kept, APP).await.status() == StatusCode::OK
    })
    .await;
    let server_id = server_key.split('_').nth(1).unwrap();
    let saved = dir
        .join("relay")
        .join(format!("{server_id}.environment.json"));
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(
        !text.contains(kept.rsplit('_').next().unwrap()),
        "no secret: {text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    relay.kill();
    upstream.kill();
    let relay = Relay::start(&upstream.base, &server_key, &dir.join("relay"), 0).await;
    // (The saved snapshot is published by a task the relay starts: 503 until it ran.)
    let from_disk = wait_for("the restarted relay serves from disk", 30, || async {
        let response = bulk(&relay.base, &kept, APP).await;
        (response.status() != StatusCode::SERVICE_UNAVAILABLE).then_some(response)
    })
    .await;
    assert_eq!(from_disk.status(), StatusCode::OK);
    assert_eq!(allow_origin(&from_disk).as_deref(), Some(APP));
    assert_eq!(flag_keys(from_disk).await, ["checkout"]);
    let revoked = bulk(&relay.base, &client_key, APP).await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);

    relay.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bound on a client key's revocation reaching a relay: a second, as the product promises.
#[test]
fn a_relay_rereads_client_keys_every_second_by_default() {
    let help = std::process::Command::new(BIN)
        .args(["relay", "--help"])
        .env_remove("SWITCHYARD_CLIENT_KEYS_REFRESH_MS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    let option = text
        .split("--client-keys-refresh-ms")
        .nth(1)
        .and_then(|rest| rest.split("--max-streams").next())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(option.contains("[default: 1000]"), "{option}");
}
