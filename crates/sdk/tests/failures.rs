//! The SDK's failure paths against a scripted stream server: a tiny TCP responder hands each
//! request to the test, which plays the server's part byte by byte (headers, events, silence).
//! Nothing of our own server is involved, so every misbehaviour can be staged exactly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_sdk::{Client, Context, EventsConfig, Reason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long any one step may take before the test fails (a deadline, not a pause).
const DEADLINE: Duration = Duration::from_secs(10);

/// A server that accepts connections and hands each request (its head, lower-cased) and the
/// open socket to the test.
struct ScriptedServer {
    url: String,
    requests: mpsc::UnboundedReceiver<(String, TcpStream)>,
}

impl ScriptedServer {
    async fn start() -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (sender, requests) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match socket.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_lowercase();
                if sender.send((head, socket)).is_err() {
                    return;
                }
            }
        });
        ScriptedServer { url, requests }
    }

    /// The next request, which must come within the deadline.
    async fn next(&mut self) -> (String, TcpStream) {
        tokio::time::timeout(DEADLINE, self.requests.recv())
            .await
            .expect("the SDK made no request in time")
            .unwrap()
    }

    /// The next request, which must be a stream request; answers it with the stream's headers.
    async fn next_stream(&mut self) -> (String, TcpStream) {
        let (head, mut socket) = self.next().await;
        assert!(head.starts_with("get /sdk/v1/stream "), "{head}");
        socket
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                  cache-control: no-cache\r\nconnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        (head, socket)
    }
}

async fn send_event(socket: &mut TcpStream, name: &str, id: i64, data: &Value) {
    let event = format!("id: {id}\nevent: {name}\ndata: {data}\n\n");
    socket.write_all(event.as_bytes()).await.unwrap();
}

fn boolean_flag(key: &str, on: bool) -> Value {
    json!({"key": key, "kind": "boolean", "version": 1,
           "variations": [{"key": "on", "value": true}, {"key": "off", "value": false}],
           "on": on, "off_variation": 1, "fallthrough": {"variation": 0}})
}

fn data(revision: i64, flags: &[Value]) -> Value {
    let flags: serde_json::Map<String, Value> = flags
        .iter()
        .map(|f| (f["key"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    json!({"format": switchyard_engine::wire::FORMAT, "revision": revision, "flags": flags})
}

fn user() -> Context {
    Context::from_json(&json!({"key": "user-1"})).unwrap()
}

/// A client of the scripted server: short timeouts and backoff, no events (nothing to post them
/// to), no waiting at build.
async fn client(server: &ScriptedServer, read_timeout: Duration) -> Client {
    Client::builder(&server.url, "sdk_test")
        .stream_read_timeout(read_timeout)
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .events(EventsConfig {
            enabled: false,
            ..EventsConfig::default()
        })
        .init_timeout(Duration::ZERO)
        .build()
        .await
}

async fn wait_for_revision(client: &Client, revision: i64) {
    let mut revisions = client.watch_revision();
    tokio::time::timeout(DEADLINE, revisions.wait_for(|r| *r == Some(revision)))
        .await
        .unwrap_or_else(|_| panic!("revision {revision} never arrived"))
        .unwrap();
}

fn last_event_id(head: &str) -> Option<&str> {
    head.lines()
        .find_map(|line| line.strip_prefix("last-event-id:"))
        .map(str::trim)
}

#[tokio::test]
async fn a_silent_stream_is_dropped_after_the_read_timeout_and_resumed() {
    let mut server = ScriptedServer::start().await;
    let client = client(&server, Duration::from_millis(300)).await;
    let (head, mut silent) = server.next_stream().await;
    assert_eq!(last_event_id(&head), None, "{head}");
    send_event(&mut silent, "put", 1, &data(1, &[boolean_flag("a", true)])).await;
    wait_for_revision(&client, 1).await;
    // Then nothing, not even a heartbeat, on a connection that stays open: the SDK must give
    // up on it and reconnect, resuming from what it has.
    let (head, mut second) = server.next_stream().await;
    assert_eq!(last_event_id(&head), Some("1"), "{head}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(DEADLINE, silent.read_to_end(&mut rest)).await;
    // End of file or a reset: either way the SDK let go; only the deadline means it did not.
    assert!(closed.is_ok(), "the SDK kept the silent connection");
    send_event(&mut second, "put", 2, &data(2, &[boolean_flag("a", false)])).await;
    wait_for_revision(&client, 2).await;
    assert!(!client.bool_value("a", &user(), true));
    client.close().await;
}

#[tokio::test]
async fn a_patch_past_a_gap_is_not_applied_and_the_sdk_fetches_everything_again() {
    let mut server = ScriptedServer::start().await;
    let client = client(&server, Duration::from_secs(30)).await;
    let (_, mut first) = server.next_stream().await;
    send_event(&mut first, "put", 1, &data(1, &[boolean_flag("a", true)])).await;
    wait_for_revision(&client, 1).await;
    // Revisions 2 to 5 never arrive: a patch from base 5 cannot apply to revision 1.
    let gap = json!({"base": 5, "revision": 6, "flags": {"a": boolean_flag("a", false)}});
    send_event(&mut first, "patch", 6, &gap).await;
    let (head, mut second) = server.next_stream().await;
    assert_eq!(
        last_event_id(&head),
        None,
        "after a gap the SDK must not resume from its own revision: {head}"
    );
    assert_eq!(client.revision(), Some(1));
    assert!(
        client.bool_value("a", &user(), false),
        "the gapped patch was applied"
    );
    send_event(&mut second, "put", 6, &data(6, &[boolean_flag("a", false)])).await;
    wait_for_revision(&client, 6).await;
    assert!(!client.bool_value("a", &user(), true));
    client.close().await;
}

fn scratch_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-sdk-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("flags.json")
}

#[tokio::test]
async fn a_corrupt_cache_file_is_ignored_then_replaced_by_fresh_data() {
    let path = scratch_file("corrupt-cache");
    std::fs::write(
        &path,
        b"{\"format\": 1, \"revision\": 7, \"flags\": {\"a\": tru",
    )
    .unwrap();
    let mut server = ScriptedServer::start().await;
    let client = Client::builder(&server.url, "sdk_test")
        .cache_file(&path)
        .events(EventsConfig {
            enabled: false,
            ..EventsConfig::default()
        })
        .init_timeout(Duration::from_millis(100))
        .build()
        .await;
    // Nothing usable yet: not ready, defaults with the not-ready reason, no panic.
    assert!(!client.is_initialized());
    assert_eq!(client.revision(), None);
    assert_eq!(client.data_source(), None);
    let detail = client.bool_detail("a", &user(), false);
    assert!(!detail.value);
    assert!(
        matches!(
            detail.reason,
            Reason::Error {
                error_kind: switchyard_sdk::ErrorKind::ClientNotReady
            }
        ),
        "{detail:?}"
    );
    let (_, mut stream) = server.next_stream().await;
    send_event(&mut stream, "put", 3, &data(3, &[boolean_flag("a", true)])).await;
    wait_for_revision(&client, 3).await;
    assert!(client.is_initialized());
    assert_eq!(
        client.data_source(),
        Some(switchyard_sdk::DataSource::Server)
    );
    assert!(client.bool_value("a", &user(), false));
    // The file now holds the fresh data, whole.
    let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved["revision"], 3);
    client.close().await;
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[cfg(feature = "openfeature")]
mod openfeature {
    use super::*;
    use switchyard_sdk::openfeature::SwitchyardProvider;
    use switchyard_sdk::openfeature::open_feature::provider::FeatureProvider;
    use switchyard_sdk::openfeature::open_feature::{
        EvaluationContext, EvaluationErrorCode, Value as OfValue,
    };

    fn typed_flags() -> [Value; 2] {
        [
            json!({"key": "limit", "kind": "number", "version": 3,
                   "variations": [{"key": "small", "value": 10}, {"key": "large", "value": 42}],
                   "on": true, "off_variation": 0, "fallthrough": {"variation": 1}}),
            json!({"key": "model", "kind": "json", "version": 1,
                   "variations": [{"key": "small", "value": {"name": "s", "tokens": 512, "tags": ["a"]}}],
                   "on": true, "off_variation": 0, "fallthrough": {"variation": 0}}),
        ]
    }

    #[tokio::test]
    async fn the_provider_resolves_ints_and_structs_and_refuses_the_wrong_type() {
        let mut server = ScriptedServer::start().await;
        let client = client(&server, Duration::from_secs(30)).await;
        let (_, mut stream) = server.next_stream().await;
        send_event(&mut stream, "put", 1, &data(1, &typed_flags())).await;
        wait_for_revision(&client, 1).await;
        let provider = SwitchyardProvider::new(client.clone());
        let context = EvaluationContext::default().with_targeting_key("user-1");

        let limit = provider.resolve_int_value("limit", &context).await.unwrap();
        assert_eq!(limit.value, 42);
        assert_eq!(limit.variant.as_deref(), Some("large"));

        let model = provider
            .resolve_struct_value("model", &context)
            .await
            .unwrap();
        assert_eq!(model.variant.as_deref(), Some("small"));
        assert_eq!(
            model.value.fields.get("name"),
            Some(&OfValue::String("s".into()))
        );
        assert_eq!(model.value.fields.get("tokens"), Some(&OfValue::Int(512)));
        assert_eq!(
            model.value.fields.get("tags"),
            Some(&OfValue::Array(vec![OfValue::String("a".into())]))
        );

        let wrong = provider.resolve_int_value("model", &context).await;
        assert_eq!(wrong.unwrap_err().code, EvaluationErrorCode::TypeMismatch);
        let wrong = provider.resolve_struct_value("limit", &context).await;
        assert_eq!(wrong.unwrap_err().code, EvaluationErrorCode::TypeMismatch);
        let missing = provider.resolve_int_value("nope", &context).await;
        assert_eq!(missing.unwrap_err().code, EvaluationErrorCode::FlagNotFound);
        client.close().await;
    }
}
