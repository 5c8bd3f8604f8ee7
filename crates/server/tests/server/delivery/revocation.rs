//! Revocation reaches open connections: deleting an SDK key ends its SDK and OFREP event
//! streams (also on another replica of the same PostgreSQL database), deleting an API token
//! or disabling its account ends its `/api/v1/changes` streams, and one key cannot open more
//! streams than the per-key limit.
//!
//! "Within a second" is checked with a deadline loop of a few seconds; the periodic resync is
//! turned off (an hour), so only the change announcement can end the streams in time.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_testkit::server::{DeliveryConfig, SdkKeyKind, TestServer, wait_for};

use super::{Stream, quick, sdk_get, toggle};
use crate::PROD;

/// Generous for "within a second"; the resync that would also end them is an hour away.
const REVOKED_WITHIN: Duration = Duration::from_secs(3);

fn no_resync() -> DeliveryConfig {
    DeliveryConfig {
        resync_every: Duration::from_secs(3600),
        ..quick()
    }
}

/// `sys_{id}_{secret}` → `id`.
fn key_id(key: &str) -> &str {
    key.split('_').nth(1).unwrap()
}

async fn delete_sdk_key(server: &TestServer, key: &str) {
    server
        .admin(
            Method::DELETE,
            &format!("{PROD}/sdk-keys/{}", key_id(key)),
            None,
        )
        .await;
}

/// Reads `body` (heartbeats and all) until it ends; fails if it is still open after
/// [`REVOKED_WITHIN`].
async fn ends_soon<S>(what: &str, body: &mut S)
where
    S: futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
{
    let deadline = Instant::now() + REVOKED_WITHIN;
    loop {
        match tokio::time::timeout_at(deadline.into(), body.next()).await {
            Err(_) => panic!("{what}: still open {REVOKED_WITHIN:?} after the revocation"),
            Ok(None | Some(Err(_))) => return,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// The OFREP change-notification stream of `key`, at the URL a bulk evaluation advertises.
async fn ofrep_events(base: &str, key: &str) -> reqwest::Response {
    let http = reqwest::Client::new();
    let bulk: Value = http
        .post(format!("{base}/ofrep/v1/evaluate/flags"))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(r#"{"context": {"targetingKey": "u-1"}}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = bulk["eventStreams"][0]["url"].as_str().unwrap().to_owned();
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
}

/// Deleting an SDK key ends its open SDK stream and OFREP event stream; its reconnects are
/// refused; another key's stream goes on.
async fn sdk_key_deletion_ends_its_streams(url: String) {
    let server = TestServer::in_process(&url)
        .delivery(no_resync())
        .start()
        .await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let other = server.sdk_key(SdkKeyKind::Server).await;
    let mut stream = Stream::open(&server.base, &key, None).await;
    assert_eq!(stream.next().await.unwrap().name, "put");
    let mut events = ofrep_events(&server.base, &key).await.bytes_stream();
    let mut kept = Stream::open(&server.base, &other, None).await;
    assert_eq!(kept.next().await.unwrap().name, "put");

    delete_sdk_key(&server, &key).await;
    ends_soon("the deleted key's SDK stream", &mut stream.body).await;
    ends_soon("the deleted key's OFREP event stream", &mut events).await;
    assert_eq!(
        sdk_get(&server, &key, "stream").await.status(),
        StatusCode::UNAUTHORIZED
    );
    toggle(&server, "checkout", false).await;
    assert_eq!(kept.patch().await.flags.len(), 1, "another key streams on");
    server.stop().await;
}

/// The same on a second replica: the deletion is committed through one server and ends the
/// streams opened on the other, told only by the store's change announcement.
async fn sdk_key_deletion_ends_streams_on_every_replica(url: String) {
    let writer = TestServer::in_process(&url)
        .delivery(no_resync())
        .start()
        .await;
    let reader = TestServer::in_process(&url).delivery(no_resync());
    let reader = reader.admin(&writer.admin).start().await;
    writer.seed_delivery_flags().await;
    let key = writer.sdk_key(SdkKeyKind::Server).await;
    let mut stream = Stream::open(&reader.base, &key, None).await;
    assert_eq!(stream.next().await.unwrap().name, "put");
    let mut events = ofrep_events(&reader.base, &key).await.bytes_stream();

    delete_sdk_key(&writer, &key).await;
    ends_soon("the SDK stream on the other replica", &mut stream.body).await;
    ends_soon("the OFREP event stream on the other replica", &mut events).await;
    assert_eq!(
        sdk_get(&reader, &key, "snapshot").await.status(),
        StatusCode::UNAUTHORIZED
    );
    reader.stop().await;
    writer.stop().await;
}

/// `GET /api/v1/changes` as `token`.
async fn open_changes(server: &TestServer, token: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/changes", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
}

/// A new token of `account` with all of its owner's rights (made by the admin).
async fn token_of(server: &TestServer, account: &str) -> (String, String) {
    let created = server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "watcher", "account": account,
                "statements": [{"effect": "allow", "actions": ["*"], "resources": ["**"]}]}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    (id, created["token"].as_str().unwrap().to_owned())
}

/// Deleting a token ends its change streams (on `deleting`'s replica or another); disabling
/// an account ends its tokens' streams; other tokens' streams go on.
async fn token_revocation_ends_change_streams(deleting: &TestServer, watched: &TestServer) {
    let (token_id, token) = token_of(deleting, "admin").await;
    let mut changes = open_changes(watched, &token).await.bytes_stream();
    let mut admins = open_changes(watched, &deleting.admin).await.bytes_stream();
    deleting
        .admin(Method::DELETE, &format!("/api/v1/tokens/{token_id}"), None)
        .await;
    ends_soon("the deleted token's change stream", &mut changes).await;
    let (status, _) = watched
        .call(Some(&token), Method::GET, "/api/v1/changes", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let account = deleting
        .admin_post(
            "/api/v1/accounts",
            json!({"name": "watcher", "password": "correct horse battery", "roles": ["reader"]}),
        )
        .await;
    let (_, watcher) = token_of(deleting, "watcher").await;
    let mut disabled = open_changes(watched, &watcher).await.bytes_stream();
    deleting
        .admin(
            Method::PUT,
            "/api/v1/accounts/watcher",
            Some(
                json!({"name": "watcher", "roles": ["reader"], "disabled": true,
                "version": account["version"]}),
            ),
        )
        .await;
    ends_soon("a disabled account's change stream", &mut disabled).await;

    // The admin's own stream is still open: it reports the next change.
    toggle(deleting, "checkout", true).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("event: change") {
        let chunk = tokio::time::timeout_at(deadline.into(), admins.next())
            .await
            .expect("the admin's stream reports changes")
            .expect("the admin's stream is open")
            .unwrap();
        seen.extend_from_slice(&chunk);
    }
}

async fn change_streams(url: String) {
    let server = TestServer::in_process(&url)
        .delivery(no_resync())
        .start()
        .await;
    server.seed_delivery_flags().await;
    token_revocation_ends_change_streams(&server, &server).await;
    server.stop().await;
}

async fn change_streams_on_every_replica(url: String) {
    let writer = TestServer::in_process(&url)
        .delivery(no_resync())
        .start()
        .await;
    let reader = TestServer::in_process(&url).delivery(no_resync());
    let reader = reader.admin(&writer.admin).start().await;
    writer.seed_delivery_flags().await;
    token_revocation_ends_change_streams(&writer, &reader).await;
    reader.stop().await;
    writer.stop().await;
}

/// One key opens at most `max_streams_per_key` streams, SDK and OFREP event streams together
/// (429 `rate_limited` with `Retry-After` beyond); another key is not held back by it, and a
/// closed stream gives its place back.
async fn per_key_stream_limit(url: String) {
    let server = TestServer::in_process(&url)
        .delivery(DeliveryConfig {
            max_streams_per_key: 2,
            ..quick()
        })
        .start()
        .await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let other = server.sdk_key(SdkKeyKind::Server).await;
    let mut first = Stream::open(&server.base, &key, None).await;
    assert_eq!(first.next().await.unwrap().name, "put");
    let events = ofrep_events(&server.base, &key).await;
    let refused = sdk_get(&server, &key, "stream").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let mut others = Stream::open(&server.base, &other, None).await;
    assert_eq!(others.next().await.unwrap().name, "put");
    drop(first);
    let mut again = wait_for("a closed stream to give its place back", 10, || {
        let request = reqwest::Client::new()
            .get(format!("{}/sdk/v1/stream", server.base))
            .header("authorization", &key);
        async move {
            let response = request.send().await.unwrap();
            (response.status() == StatusCode::OK).then(|| Stream::of(response))
        }
    })
    .await;
    assert_eq!(again.next().await.unwrap().name, "put");
    drop((events, others, again));
    server.stop().await;
}

// Replicas learn of each other's commits through PostgreSQL's announcements, so the
// every-replica scenarios run there.
switchyard_testkit::backend_tests! {
    sqlite: [sdk_key_deletion_ends_its_streams, change_streams, per_key_stream_limit],
    postgres: [
        sdk_key_deletion_ends_its_streams,
        sdk_key_deletion_ends_streams_on_every_replica,
        change_streams_on_every_replica,
    ],
}
