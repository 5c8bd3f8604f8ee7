//! Webhooks on every change (`docs/webhooks.md`): a receiver that is down while changes are
//! made and the server restarts (or one of two replicas stops) gets every matching change once
//! when it is back, in order, signed, each with its delivery id (also after a replica died
//! holding a delivery's lease); the delivery log shows the failed and the good attempts, and a
//! redelivery sends one again with its id.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{Value, json};
use switchyard_server::releases::webhooks::{OutboxConfig, signature};
use switchyard_store::Store;
use switchyard_testkit::server::{TestServer, wait_for};

use crate::PROD;

switchyard_testkit::backend_tests![
    a_receiver_down_across_a_restart_gets_every_change_once,
    two_replicas_deliver_each_change_once,
];

const HOOKS: &str = "/api/v1/projects/default/webhooks";
const SECRET: &str = "s3cret";

/// One request the receiver answered 200.
#[derive(Debug, Clone)]
struct Accepted {
    delivery: String,
    event: String,
    signature: String,
    body: String,
}

/// A webhook receiver on loopback that answers 500 while down and keeps what it accepts.
#[derive(Clone, Default)]
struct Receiver {
    up: Arc<AtomicBool>,
    refused: Arc<Mutex<u64>>,
    accepted: Arc<Mutex<Vec<Accepted>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn accepted_of(&self, webhook: &str) -> Vec<Accepted> {
        let prefix = format!("{webhook}-");
        let accepted = self.accepted.lock().unwrap();
        let of = accepted.iter().filter(|a| a.delivery.starts_with(&prefix));
        of.cloned().collect()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    if !receiver.up.load(Ordering::SeqCst) {
        *receiver.refused.lock().unwrap() += 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let header = |name: &str| {
        let value = headers.get(name).and_then(|v| v.to_str().ok());
        value.unwrap_or_default().to_owned()
    };
    receiver.accepted.lock().unwrap().push(Accepted {
        delivery: header("x-switchyard-delivery"),
        event: header("x-switchyard-event"),
        signature: header("x-switchyard-signature"),
        body,
    });
    StatusCode::OK
}

/// Short waits, so retries and the poll take milliseconds.
fn fast() -> OutboxConfig {
    OutboxConfig {
        poll: Duration::from_millis(50),
        first_retry: Duration::from_millis(20),
        max_retry: Duration::from_millis(200),
        lease: Duration::from_secs(10),
        log_size: 50,
    }
}

async fn start(url: &str, admin: Option<&str>) -> TestServer {
    let server = match admin {
        None => TestServer::in_process(url).start().await,
        Some(token) => TestServer::in_process(url).admin(token).start().await,
    };
    let state = server.state().unwrap();
    state.webhooks.configure_outbox(fast());
    server
}

async fn toggle(server: &TestServer, env: &str, flag: &str, on: bool) {
    let path = format!("/api/v1/projects/default/environments/{env}/flags/{flag}/toggle");
    server.admin_post(&path, json!({"on": on})).await;
}

/// The audit records after `after` whose resource starts with `prefix` and that `keep` keeps, by
/// sequence number (read from the store, not through the outbox).
async fn audited(
    url: &str,
    after: i64,
    prefix: &str,
    keep: impl Fn(&Value) -> bool,
) -> BTreeMap<i64, Value> {
    let store = Store::open(url).await.unwrap();
    let rows = store.audit_page(None, Some(prefix), 1000).await.unwrap();
    store.close().await;
    rows.into_iter()
        .filter(|row| row.seq > after)
        .map(|row| (row.seq, serde_json::from_str::<Value>(&row.record).unwrap()))
        .filter(|(_, record)| record["outcome"] == "allowed" && keep(record))
        .collect()
}

/// The sequence number of the audit record of the webhook's creation.
async fn created_seq(url: &str, webhook: &str) -> i64 {
    let resource = format!("proj/default:webhook/{webhook}");
    let created = audited(url, 0, &resource, |r| r["action"] == "webhook:create").await;
    *created.keys().next().unwrap()
}

async fn subscribe(server: &TestServer, body: Value) -> String {
    let created = server.admin_post(HOOKS, body).await;
    created["id"].as_str().unwrap().to_owned()
}

async fn deliveries(server: &TestServer, webhook: &str) -> Vec<Value> {
    let log = server
        .admin_get(&format!("{HOOKS}/{webhook}/deliveries"))
        .await;
    log.as_array().unwrap().clone()
}

/// Waits until the subscription's outbox has a failed attempt on record (the receiver is down).
async fn wait_for_a_failure(server: &TestServer, webhook: &str) {
    wait_for("a failed delivery attempt", 20, || async {
        let log = deliveries(server, webhook).await;
        log.iter()
            .any(|attempt| attempt["ok"] == false && attempt["status"] == 500)
            .then_some(())
    })
    .await;
}

/// Waits until the subscription's outbox has recorded every delivery up to `seq` as done:
/// every send it made by then has been answered and is in the receiver's hands.
async fn wait_until_settled(server: &TestServer, webhook: &str, seq: i64) {
    wait_for("the outbox to settle", 20, || async {
        let hooks = server.admin_get(HOOKS).await;
        let hook = hooks
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == webhook);
        let outbox = &hook.unwrap()["outbox"];
        (outbox["delivered_seq"].as_i64() >= Some(seq) && outbox["failed_attempts"] == 0)
            .then_some(())
    })
    .await;
}

/// Each expected change arrived exactly once, in order, correctly signed, as a JSON change.
fn assert_each_once(accepted: &[Accepted], webhook: &str, expected: &BTreeMap<i64, Value>) {
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for a in accepted {
        *times.entry(a.delivery.clone()).or_default() += 1;
    }
    let repeated: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "delivered more than once: {repeated:?}"
    );
    let got: BTreeSet<String> = times.into_keys().collect();
    let want: BTreeSet<String> = expected.keys().map(|s| format!("{webhook}-{s}")).collect();
    assert_eq!(got, want, "the deliveries are the matching changes");
    let mut last = 0;
    for a in accepted {
        let t: i64 = a.signature["t=".len()..]
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(a.signature, signature(SECRET, t, a.body.as_bytes()));
        let message: Value = serde_json::from_str(&a.body).unwrap();
        let seq = message["seq"].as_i64().unwrap();
        assert!(seq > last, "in log order");
        last = seq;
        assert_eq!(message["id"], a.delivery.as_str());
        assert_eq!(message["type"], "change");
        assert_eq!(message["action"], expected[&seq]["action"]);
        assert_eq!(message["resource"], expected[&seq]["resource"]);
        assert_eq!(message["after"], expected[&seq]["after"]);
        assert_eq!(a.event, expected[&seq]["action"].as_str().unwrap());
    }
}

async fn a_receiver_down_across_a_restart_gets_every_change_once(url: String) {
    let first = start(&url, None).await;
    first.seed_delivery_flags().await;
    let (receiver, hook_url) = Receiver::start().await;

    // Bad filters name the field.
    let admin = Some(first.admin.as_str());
    for (body, field) in [
        (
            json!({"url": hook_url, "actions": ["flag:toggel"]}),
            "actions[0]",
        ),
        (json!({"url": hook_url, "resources": [""]}), "resources[0]"),
        (
            json!({"url": hook_url, "actions": ["flag toggle*"]}),
            "actions[0]",
        ),
    ] {
        let (code, answer) = first.call(admin, Method::POST, HOOKS, Some(body)).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }

    // A toggle the subscriptions below never get: it was made before them.
    toggle(&first, "production", "checkout", true).await;
    let newest = first.admin_get("/api/v1/audit?limit=1").await;
    let before_subscribing = newest["records"][0]["seq"].as_i64().unwrap();

    // Toggles of production's flags, as JSON; every toggle, as Slack text.
    let toggles = subscribe(
        &first,
        json!({"url": hook_url, "secret": SECRET, "actions": ["flag:toggle"],
               "resources": ["proj/default:env/production:flag/*"]}),
    )
    .await;
    let slack = subscribe(
        &first,
        json!({"url": hook_url, "secret": SECRET, "actions": ["flag:toggle"],
               "resources": ["*"], "format": "slack"}),
    )
    .await;

    for on in [false, true, false] {
        toggle(&first, "production", "checkout", on).await;
    }
    toggle(&first, "staging", "checkout", false).await;
    first
        .admin_post(
            &format!("{PROD}/segments"),
            json!({"key": "staff", "included": [{"kind": "user", "values": ["ada"]}]}),
        )
        .await;
    toggle(&first, "production", "banner", false).await;
    wait_for_a_failure(&first, &toggles).await;
    let token = first.admin.clone();
    let before_restart = first.state().unwrap();
    first.stop().await;

    // The server restarts while the receiver is still down, and more changes come.
    let server = start(&url, Some(&token)).await;
    toggle(&server, "production", "checkout", true).await;
    toggle(&server, "production", "limit", false).await;
    wait_for_a_failure(&server, &slack).await;
    assert!(receiver.accepted.lock().unwrap().is_empty());
    assert!(*receiver.refused.lock().unwrap() > 0);

    // Back up: every production toggle once, and every toggle as text.
    receiver.up.store(true, Ordering::SeqCst);
    let after = created_seq(&url, &toggles).await;
    let expected = audited(&url, after, "proj/default:env/production:flag/", |r| {
        r["action"] == "flag:toggle"
    })
    .await;
    assert_eq!(expected.len(), 6, "{expected:?}");
    let last = *expected.keys().last().unwrap();
    wait_until_settled(&server, &toggles, last).await;
    assert_each_once(&receiver.accepted_of(&toggles), &toggles, &expected);

    let after = created_seq(&url, &slack).await;
    let every_toggle = audited(&url, after, "proj/default:", |r| {
        r["action"] == "flag:toggle"
    })
    .await;
    assert_eq!(every_toggle.len(), 7, "the staging toggle too");
    wait_until_settled(&server, &slack, *every_toggle.keys().last().unwrap()).await;
    let texts = receiver.accepted_of(&slack);
    let ids: BTreeSet<String> = texts.iter().map(|a| a.delivery.clone()).collect();
    assert_eq!(ids.len(), texts.len(), "each once");
    let want: BTreeSet<String> = every_toggle
        .keys()
        .map(|s| format!("{slack}-{s}"))
        .collect();
    assert_eq!(ids, want);
    for a in &texts {
        let message: Value = serde_json::from_str(&a.body).unwrap();
        let text = message["text"].as_str().unwrap();
        assert!(
            text.contains("flag:toggle on `proj/default:env/"),
            "{message}"
        );
        assert_eq!(message.as_object().unwrap().len(), 1, "{message}");
    }

    // The delivery log: the failures while down, then each delivery's success.
    let log = deliveries(&server, &toggles).await;
    let delivered: BTreeSet<&str> = log
        .iter()
        .filter(|a| a["ok"] == true && a["status"] == 200)
        .map(|a| a["delivery"].as_str().unwrap())
        .collect();
    assert_eq!(delivered.len(), expected.len(), "{log:?}");
    assert!(
        log.iter()
            .any(|a| a["ok"] == false && a["error"] == "status 500 Internal Server Error")
    );

    // Counted for /metrics: the attempts of the server before and after the restart, some of
    // them failed.
    let after_restart = server.state().unwrap();
    let counters = [&before_restart.webhooks, &after_restart.webhooks];
    let attempts: u64 = counters.iter().map(|c| c.attempts.get()).sum();
    let failures: u64 = counters.iter().map(|c| c.failures.get()).sum();
    assert!(
        attempts > failures && failures > 0,
        "{attempts} attempts, {failures} failed"
    );

    // A redelivery sends one again now, with its id.
    let again = format!("{toggles}-{}", expected.keys().next().unwrap());
    let path = format!("{HOOKS}/{toggles}/deliveries/{again}/redeliver");
    let attempt = server.admin_post(&path, json!({})).await;
    assert_eq!(attempt["ok"], true, "{attempt}");
    assert_eq!(attempt["redelivery"], true, "{attempt}");
    let copies = receiver.accepted_of(&toggles);
    assert_eq!(copies.iter().filter(|a| a.delivery == again).count(), 2);
    let admin = Some(server.admin.as_str());
    for unknown in [
        format!("{toggles}-1"),
        format!("{toggles}-x"),
        // A change it matches but was made before it: no history through redelivery.
        format!("{toggles}-{before_subscribing}"),
        format!("{slack}-{last}"),
    ] {
        let path = format!("{HOOKS}/{toggles}/deliveries/{unknown}/redeliver");
        let (code, _) = server.call(admin, Method::POST, &path, None).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{unknown}");
    }

    // The console has a page for them.
    let http = reqwest::Client::new();
    let index = http.get(format!("{}/", server.base)).send().await.unwrap();
    let index = index.text().await.unwrap();
    assert!(index.contains(r#"src="/console/webhooks.js""#), "{index}");
    assert!(index.contains(r##"href="#/webhooks""##), "{index}");
    let script = http
        .get(format!("{}/console/webhooks.js", server.base))
        .send()
        .await
        .unwrap();
    assert!(script.status().is_success());
    assert!(
        script
            .text()
            .await
            .unwrap()
            .contains("async function webhooksView")
    );

    // Deleting a subscription ends its deliveries and its log.
    server
        .admin(Method::DELETE, &format!("{HOOKS}/{slack}"), None)
        .await;
    let (code, _) = server
        .call(
            admin,
            Method::GET,
            &format!("{HOOKS}/{slack}/deliveries"),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    server.stop().await;
}

async fn two_replicas_deliver_each_change_once(url: String) {
    let first = start(&url, None).await;
    first.seed_delivery_flags().await;
    let second = start(&url, Some(&first.admin)).await;
    let (receiver, hook_url) = Receiver::start().await;
    let everything = subscribe(
        &first,
        json!({"url": hook_url, "secret": SECRET, "resources": ["*"]}),
    )
    .await;

    // Changes through both replicas while the receiver is down.
    for (i, on) in [false, true, false, true].into_iter().enumerate() {
        let replica = if i % 2 == 0 { &first } else { &second };
        toggle(replica, "production", "checkout", on).await;
    }
    second
        .admin_post(
            &format!("{PROD}/segments"),
            json!({"key": "staff", "included": [{"kind": "user", "values": ["ada"]}]}),
        )
        .await;
    wait_for_a_failure(&first, &everything).await;

    // One replica stops (fails over to the other), more changes; then it comes back.
    let token = first.admin.clone();
    first.stop().await;
    toggle(&second, "production", "banner", false).await;
    toggle(&second, "staging", "banner", false).await;
    let back = start(&url, Some(&token)).await;
    toggle(&back, "production", "limit", false).await;

    // A replica that died holding the subscription's lease (a kill, not a stop, gives nothing
    // back): the others wait for the lease to run out, then take the delivery over. The lease
    // is taken between two attempts (as a replica would), not from a live one mid-send.
    let store = Store::open(&url).await.unwrap();
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 1500;
    wait_for("the lease to be free", 20, || async {
        let taken = sqlx::query(
            "UPDATE webhook_outbox SET lease_owner = 'crashed', lease_until = $1, \
             version = version + 1 WHERE webhook = $2 AND lease_owner = ''",
        )
        .bind(until)
        .bind(&everything)
        .execute(store.pool())
        .await
        .unwrap();
        (taken.rows_affected() == 1).then_some(())
    })
    .await;
    store.close().await;

    receiver.up.store(true, Ordering::SeqCst);
    let after = created_seq(&url, &everything).await;
    let expected = audited(&url, after, "proj/default", |_| true).await;
    assert_eq!(expected.len(), 8, "{expected:?}");
    wait_until_settled(&second, &everything, *expected.keys().last().unwrap()).await;
    assert_each_once(&receiver.accepted_of(&everything), &everything, &expected);
    back.stop().await;
    second.stop().await;
}
