//! List and audit queries are strict (a misspelt parameter is refused, never ignored: an
//! ignored filter widens the answer silently), and an `actor` filter reads a bounded number of
//! rows per request: a page may be short, but paging goes on until every record was seen.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_store::AuditRecord;
use switchyard_testkit::server::TestServer;

use crate::PROD;

switchyard_testkit::backend_tests! {
    sqlite: [misspelt_query_parameters_are_refused, actor_filter_pages_past_a_common_name],
    postgres: [misspelt_query_parameters_are_refused],
}

const FLAGS: &str = "/api/v1/projects/default/flags";

async fn get(server: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    server.call(Some(token), Method::GET, path, None).await
}

async fn misspelt_query_parameters_are_refused(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server
        .admin_post(FLAGS, json!({"key": "checkout", "kind": "boolean"}))
        .await;
    let segments = format!("{PROD}/segments");
    for (path, field) in [
        (
            "/api/v1/audit?environment=production".to_owned(),
            "environment",
        ),
        ("/api/v1/audit?actor=admin&limt=10".to_owned(), "limt"),
        (format!("{FLAGS}?limt=10"), "limt"),
        (format!("{FLAGS}?archived=false&tags=x"), "tags"),
        (format!("{segments}?limt=10"), "limt"),
        (format!("{segments}?q=beta"), "q"),
    ] {
        let (status, body) = get(&server, &server.admin, &path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed", "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{path}: {body}");
    }
    // What the console and the client send is still taken.
    for path in [
        "/api/v1/audit?actor=admin&action=flag:*&project=default&env=production&flag=checkout\
         &from=0&to=9999999999999&resource=proj/&before=999999&limit=50"
            .to_owned(),
        format!("{FLAGS}?q=check&tag=x&kind=boolean&archived=false&limit=10"),
        format!("{FLAGS}?limit=1"),
        format!("{segments}?limit=10"),
    ] {
        let (status, body) = get(&server, &server.admin, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    server.stop().await;
}

/// Above the most rows one audit request reads for an `actor` filter (5,000).
const LOOKALIKES: i64 = 5_100;

/// What the admin writes when it creates a token for account `on`: a record that mentions
/// `"account":"on"` but was not made by `on`.
fn lookalike(i: i64) -> AuditRecord {
    AuditRecord {
        at_ms: 1_700_000_000_000 + i,
        actor: json!({"kind": "token", "id": "tok-admin", "account": "admin"}),
        action: "token:create".into(),
        resource: format!("account/on:token/t{i}"),
        outcome: "allowed".into(),
        before: None,
        after: Some(json!({"account": "on", "name": format!("laptop {i}")})),
        comment: None,
        request_id: None,
    }
}

/// A flag whose variation is called `on`: its record has the text `"on"` but no actor field
/// naming it.
fn variation_named_on(i: i64) -> AuditRecord {
    AuditRecord {
        at_ms: 1_700_000_100_000 + i,
        actor: json!({"kind": "token", "id": "tok-admin", "account": "admin"}),
        action: "flag:update".into(),
        resource: format!("proj/default:flag/f{i}"),
        outcome: "allowed".into(),
        before: None,
        after: Some(json!({"variations": [{"key": "on", "name": "on", "value": true}]})),
        comment: None,
        request_id: None,
    }
}

/// Every page of `query` from the newest: the pages' records and whether each had a
/// `next_before`.
async fn pages(server: &TestServer, query: &str) -> Vec<(Vec<Value>, bool)> {
    let mut pages = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut path = format!("/api/v1/audit?{query}");
        if let Some(before) = before {
            path.push_str(&format!("&before={before}"));
        }
        let page = server.admin_get(&path).await;
        let records = page["records"].as_array().unwrap().clone();
        let next = page["next_before"].as_i64();
        if let (Some(next), Some(last)) = (next, records.last()) {
            assert!(next <= last["seq"].as_i64().unwrap(), "{path}: {page}");
        }
        pages.push((records, next.is_some()));
        match next {
            Some(next) => before = Some(next),
            None => return pages,
        }
        assert!(pages.len() < 100, "{query}: paging does not end");
    }
}

async fn actor_filter_pages_past_a_common_name(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server
        .admin_post(FLAGS, json!({"key": "checkout", "kind": "boolean"}))
        .await;
    server
        .admin_post(
            "/api/v1/accounts",
            json!({"name": "on", "password": "correct horse battery staple",
                   "roles": ["writer"]}),
        )
        .await;
    let token = server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "on-laptop", "account": "on", "unscoped": true}),
        )
        .await;
    let on = token["token"].as_str().unwrap().to_owned();
    let toggle = |turn: bool| {
        let (server, on) = (&server, on.clone());
        async move {
            let (status, body) = server
                .call(
                    Some(&on),
                    Method::POST,
                    &format!("{PROD}/flags/checkout/toggle"),
                    Some(json!({"on": turn})),
                )
                .await;
            assert!(status.is_success(), "{body}");
        }
    };
    toggle(true).await;
    let store = server.state().unwrap().store.clone();
    for i in 0..LOOKALIKES {
        store.commit(&[], &lookalike(i)).await.unwrap();
    }
    toggle(false).await;
    for i in 0..1_000 {
        store.commit(&[], &variation_named_on(i)).await.unwrap();
    }
    toggle(true).await;

    let found = pages(&server, "actor=on&limit=50").await;
    let seen: Vec<Value> = found
        .iter()
        .flat_map(|(records, _)| records.iter().cloned())
        .collect();
    let toggles: Vec<&Value> = seen.iter().map(|r| &r["after"]["on"]).collect();
    assert_eq!(
        toggles,
        [&json!(true), &json!(false), &json!(true)],
        "{seen:#?}"
    );
    assert!(seen.iter().all(|r| r["actor_name"] == "on"), "{seen:#?}");
    assert!(
        seen.windows(2)
            .all(|w| w[0]["seq"].as_i64() > w[1]["seq"].as_i64()),
        "newest first"
    );
    // The records whose only `on` is a variation's are never read (the database skips them),
    // so the first page holds the two newest toggles; the lookalikes name `on` as an account
    // and are read, at most 5,000 a request, so the page after is short while paging goes on.
    assert_eq!(found[0].0.len(), 2, "{found:#?}");
    assert!(found[0].1, "a short page still has next_before");
    assert!(found.len() >= 2, "{found:#?}");
    server.stop().await;
}
