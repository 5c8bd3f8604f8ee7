//! Sign-in throttling and token lifetimes: an account locks after five failures (and stays
//! locked for the right password), the lockout is audited once, an unknown account answers
//! like a wrong password, failures do not grow the audit log one record each, and no token
//! outlives the server's maximum lifetime.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_server::AppState;
use switchyard_testkit::server::{TestServer, wait_for};

const SIGN_IN: &str = "/api/v1/auth/token";
const PASSWORD: &str = "a long enough password";
const DAY_MS: i64 = 86_400_000;

/// `POST /api/v1/auth/token`: the status, the `Retry-After` header and the body.
async fn sign_in(server: &TestServer, body: Value) -> (StatusCode, Option<u64>, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{SIGN_IN}", server.base))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

async fn attempt(server: &TestServer, account: &str, password: &str) -> (StatusCode, Value) {
    let (status, _, body) =
        sign_in(server, json!({"account": account, "password": password})).await;
    (status, body)
}

/// The sign-in and lockout audit records of accounts named `{name}…`, oldest first, once no audit write is in flight.
async fn audit_of(server: &TestServer, state: &Arc<AppState>, name: &str) -> Vec<Value> {
    wait_for("sign-in audit writes to finish", 10, || async {
        (state.sign_in.pending_audits() == 0).then_some(())
    })
    .await;
    let page = server
        .admin_get(&format!("/api/v1/audit?resource=account/{name}&limit=1000"))
        .await;
    let mut records = page["records"].as_array().unwrap().clone();
    records.retain(|r| {
        let resource = r["resource"].as_str().unwrap_or_default();
        resource.starts_with(&format!("account/{name}"))
            && (r["action"] == "account:sign-in" || r["action"] == "account:lockout")
    });
    records.reverse();
    records
}

/// `(action, outcome)` of each record, sorted (audit writes of refusals may land in any order).
fn actions(records: &[Value]) -> Vec<(String, String)> {
    let mut actions: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    actions.sort();
    actions
}

pub(super) async fn sign_in_throttling_and_token_lifetimes(url: String) {
    let server = TestServer::in_process(&url).start().await;
    let state = server.state().unwrap();
    for (name, role) in [("carol", "reader"), ("walt", "writer")] {
        let body = json!({"name": name, "roles": [role], "password": PASSWORD});
        server.admin_post("/api/v1/accounts", body).await;
    }

    // The right password works, and the token lives 7 days unless asked otherwise.
    let (status, body) = attempt(&server, "carol", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let lifetime =
        body["expires_at_ms"].as_i64().unwrap() - body["created_at_ms"].as_i64().unwrap();
    assert_eq!(lifetime, 7 * DAY_MS);

    // Five wrong passwords: each a 401, and the fifth locks the account.
    for _ in 0..5 {
        let (status, body) = attempt(&server, "carol", "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // Locked: even the right password is refused, with when to retry.
    let (status, retry_after, body) =
        sign_in(&server, json!({"account": "carol", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let retry_after = retry_after.expect("a Retry-After header");
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    for _ in 0..10 {
        let (status, _) = attempt(&server, "carol", "another guess").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }

    // Audited: the sign-in, the window's first failure and the lockout, once each; the
    // other failures and the refusals are only counted.
    let records = audit_of(&server, &state, "carol").await;
    assert_eq!(
        actions(&records),
        [
            ("account:lockout".to_owned(), "denied".to_owned()),
            ("account:sign-in".to_owned(), "allowed".to_owned()),
            ("account:sign-in".to_owned(), "denied".to_owned()),
        ],
        "{records:#?}"
    );
    let lockout = records
        .iter()
        .find(|r| r["action"] == "account:lockout")
        .unwrap();
    assert_eq!(lockout["after"]["locked_for_seconds"], 60);
    assert_eq!(lockout["after"]["failures"], 5);
    assert_eq!(state.sign_in.failures.get(), 5);
    assert_eq!(state.sign_in.lockouts.get(), 1);
    assert!(state.sign_in.refused.get() >= 11);

    // An unknown account answers exactly like a wrong password, and locks alike.
    let (wrong_status, wrong) = attempt(&server, "walt", "wrong password").await;
    let (unknown_status, unknown) = attempt(&server, "nobody", "wrong password").await;
    assert_eq!(
        (
            wrong_status,
            &wrong["error"]["code"],
            &wrong["error"]["message"]
        ),
        (
            unknown_status,
            &unknown["error"]["code"],
            &unknown["error"]["message"]
        ),
    );
    for _ in 0..4 {
        attempt(&server, "nobody", "wrong password").await;
    }
    let (status, _) = attempt(&server, "nobody", "wrong password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Made-up names do not grow the audit log by a record per failure.
    let before = audit_of(&server, &state, "").await.len();
    // (Few enough that, with the failures above, this address stays under its 20 a minute.)
    for i in 0..3 {
        for _ in 0..2 {
            attempt(&server, &format!("guess-{i}"), "wrong password").await;
        }
    }
    let after = audit_of(&server, &state, "").await.len();
    assert!(
        after - before <= 3,
        "6 failures wrote {} records",
        after - before
    );
    assert!(
        state.sign_in.unaudited.get() >= 11,
        "{}",
        state.sign_in.unaudited.get()
    );

    // A successful sign-in forgets earlier failures.
    let (status, _) = attempt(&server, "walt", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);

    // Token lifetimes: at most the server's maximum (90 days); absent means the maximum.
    let server = &server;
    let refused = |days: Value| async move {
        let body = json!({"name": "t", "unscoped": true, "expires_in_days": days});
        server
            .call(
                Some(&server.admin),
                Method::POST,
                "/api/v1/tokens",
                Some(body),
            )
            .await
    };
    for days in [json!(91), json!(0), json!(100_000)] {
        let (status, body) = refused(days.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{days}: {body}");
        assert_eq!(body["error"]["field"], "expires_in_days", "{body}");
    }
    let (status, body) = refused(json!(90)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "no expiry asked", "unscoped": true}),
        )
        .await;
    let lifetime =
        token["expires_at_ms"].as_i64().unwrap() - token["created_at_ms"].as_i64().unwrap();
    assert_eq!(lifetime, 90 * DAY_MS, "{token}");
    let (status, _, body) = sign_in(
        server,
        json!({"account": "walt", "password": PASSWORD, "expires_in_days": 365}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "expires_in_days");

    // A writer editing a built-in role is told it may not (403), not what is wrong (422).
    let (_, _, walt) = sign_in(server, json!({"account": "walt", "password": PASSWORD})).await;
    let walt = walt["token"].as_str().unwrap();
    let edit = json!({"statements": [{"effect": "allow", "actions": ["*"], "resources": ["**"]}]});
    for (method, path, body) in [
        (Method::PUT, "/api/v1/roles/reader", Some(edit.clone())),
        (Method::DELETE, "/api/v1/roles/admin", None),
        (
            Method::POST,
            "/api/v1/roles",
            Some(json!({"name": "admin", "statements": []})),
        ),
    ] {
        let (status, body) = server.call(Some(walt), method.clone(), path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
    }
    // The admin is still told why.
    let (status, body) = server
        .call(
            Some(&server.admin),
            Method::PUT,
            "/api/v1/roles/reader",
            Some(edit),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // This address has failed 17 times this minute: three more, and it is refused whatever
    // the account, the right password included (the server sees the peer's address).
    for i in 0..3 {
        let (status, _) = attempt(server, &format!("spray-{i}"), "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after, body) =
        sign_in(server, json!({"account": "walt", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!((1..=60).contains(&retry_after.unwrap()));
}

/// Thirty wrong passwords sent at once get no more tries than five sent in a row: the attempts
/// in flight count against the account's limit.
pub(super) async fn parallel_guesses_get_no_more_tries(url: String) {
    let server = TestServer::in_process(&url).start().await;
    let body = json!({"name": "dana", "roles": ["reader"], "password": PASSWORD});
    server.admin_post("/api/v1/accounts", body).await;
    let guesses = (0..30).map(|i| {
        let server = &server;
        async move { attempt(server, "dana", &format!("guess {i}")).await.0 }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 30, "{statuses:?}");
    assert!(checked <= 5, "{checked} passwords checked");
    // However many got through at once, the account is locked now.
    let (status, _) = attempt(&server, "dana", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;
}
