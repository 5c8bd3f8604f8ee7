//! Single sign-on and the accounts it signs in: roles that follow the provider's groups, and
//! machine tokens minted from a session (the fake provider is in `mod.rs`).

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{KEY, handed_over, header, private, sign, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_tokens_from_a_session_stay_within_the_person_and_the_policy() {
    let harness = start(true, false).await;
    let started = harness.begin().await;
    let good = sign(&header(), &harness.claims(&started.nonce), &private(KEY));
    let (status, location, body) = harness.callback(&started, &started.state, good).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (session, _) = handed_over(&location);
    let post = reqwest::Method::POST;

    // Local passwords are off: the password route refuses everyone, the admin included.
    let (status, body) = harness
        .call(
            "",
            post.clone(),
            "/auth/token",
            Some(json!({"account": "admin", "password": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The session lives an hour (the configured session), not the sign-in default of days.
    let (_, tokens) = harness
        .call(&session, reqwest::Method::GET, "/tokens", None)
        .await;
    let session_record = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "sso")
        .unwrap()
        .clone();
    let lives = session_record["expires_at_ms"].as_i64().unwrap()
        - session_record["created_at_ms"].as_i64().unwrap();
    assert_eq!(lives, 3_600_000, "{session_record}");

    // A machine token: at most the policy's 7 days, the default being that maximum.
    let (status, body) = harness
        .call(
            &session,
            post.clone(),
            "/tokens",
            Some(json!({"name": "ci", "unscoped": true, "expires_in_days": 8})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "expires_in_days");
    let (status, machine) = harness
        .call(
            &session,
            post.clone(),
            "/tokens",
            Some(json!({"name": "ci", "unscoped": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{machine}");
    let days = (machine["expires_at_ms"].as_i64().unwrap()
        - machine["created_at_ms"].as_i64().unwrap())
        / 86_400_000;
    assert_eq!(days, 7);
    let machine_token = machine["token"].as_str().unwrap().to_owned();
    // ... which cannot mint a longer-lived one itself.
    let (status, _) = harness
        .call(
            &machine_token,
            post.clone(),
            "/tokens",
            Some(json!({"name": "ci2", "unscoped": true, "expires_in_days": 30})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // With the person's rights (writer: flags yes, creating accounts no) or narrower.
    let flags = "/projects/default/environments/production";
    assert_eq!(
        harness
            .call(&machine_token, reqwest::Method::GET, flags, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        harness
            .call(
                &machine_token,
                post.clone(),
                "/accounts",
                Some(json!({"name": "eve"}))
            )
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let narrow = json!({"name": "reader", "statements": [{"effect": "allow", "actions": ["project:read"], "resources": ["proj/default"]}]});
    let (status, narrow) = harness
        .call(&session, post.clone(), "/tokens", Some(narrow))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{narrow}");
    let narrow = narrow["token"].as_str().unwrap();
    assert_eq!(
        harness
            .call(narrow, reqwest::Method::GET, flags, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Sign-out revokes the session token; the machine token lives on until its expiry.
    let (status, _) = harness
        .call(
            &session,
            reqwest::Method::DELETE,
            &format!("/tokens/{}", session_record["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        harness
            .call(&session, reqwest::Method::GET, "/me", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        harness
            .call(&machine_token, reqwest::Method::GET, "/me", None)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_follow_the_providers_groups() {
    let harness = start(false, true).await;
    let sign_in = |groups: Value| {
        let harness = &harness;
        async move {
            let started = harness.begin().await;
            let mut claims = harness.claims(&started.nonce);
            claims["groups"] = groups;
            let token = sign(&header(), &claims, &private(KEY));
            harness.callback(&started, &started.state, token).await
        }
    };
    let get = reqwest::Method::GET;

    // Without just-in-time accounts, a person without an account is refused, and the record
    // names who the provider said it was.
    let (status, _, _) = sign_in(json!(["engineering"])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let denial = harness.newest_audit().await;
    assert_eq!(denial["after"]["reason"], "no_account", "{denial}");
    assert_eq!(denial["resource"], "account/dana", "{denial}");
    assert_eq!(denial["actor"]["subject"], "person-1", "{denial}");

    // An existing account's roles follow the groups at each sign-in.
    let (status, body) = harness
        .call(
            &harness.admin,
            reqwest::Method::POST,
            "/accounts",
            Some(json!({"name": "dana", "roles": ["reader"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, _) = sign_in(json!(["engineering", "platform"])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, dana) = harness
        .call(&harness.admin, get.clone(), "/accounts/dana", None)
        .await;
    assert_eq!(dana["roles"], json!(["writer", "admin"]), "{dana}");

    // Groups that map to no role: refused, the account's roles left as they were.
    let (status, _, _) = sign_in(json!(["cafeteria"])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(harness.newest_audit().await["after"]["reason"], "no_role");
    let (_, dana) = harness
        .call(&harness.admin, get.clone(), "/accounts/dana", None)
        .await;
    assert_eq!(dana["roles"], json!(["writer", "admin"]), "{dana}");

    // A disabled account stays out whatever the provider says.
    let (status, body) = harness
        .call(
            &harness.admin,
            reqwest::Method::PUT,
            "/accounts/dana",
            Some(json!({"disabled": true, "version": dana["version"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = sign_in(json!(["engineering"])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        harness.newest_audit().await["after"]["reason"],
        "account_disabled"
    );

    // Password sign-in still works here (local passwords are on by default).
    let (status, _) = harness
        .call(
            "",
            reqwest::Method::POST,
            "/auth/token",
            Some(json!({"account": "admin", "password": "wrong"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
