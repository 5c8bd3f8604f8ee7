//! Scheduled changes (`docs/governance.md`): a change request with a time, applied by the
//! runner `serve` owns — once, even with two replicas; at start when its time was missed
//! (audited as late); in a protected environment only if approved before its time; never over
//! a base that moved on. The servers run on a [`Clock`] the test moves, so nothing waits hours.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_engine::time::format_rfc3339_ms;
use switchyard_server::access::SdkKeyKind;
use switchyard_testkit::server::{Clock, TestServer, wait_for};

use crate::change_requests::support::{
    approver, audited, held, person, served, set_required_approvals, until_served,
};

const CHECKOUT: &str = "/api/v1/projects/default/environments/production/flags/checkout";
const REQUESTS: &str = "/api/v1/projects/default/change-requests";
const SCHEDULE: &str = "/api/v1/projects/default/scheduled-changes";
const FLAG_RESOURCE: &str = "proj/default:env/production:flag/checkout";
const HOUR: Duration = Duration::from_secs(3600);
/// A moment past a time: well inside what counts as on time.
const JUST: Duration = Duration::from_secs(2);

switchyard_testkit::backend_tests![
    scheduled_changes_run_once_on_two_replicas,
    missed_schedules_run_late_at_start,
    protected_schedules_wait_for_approval_and_never_overwrite,
];

/// `hours` from the clock's now, as `at` takes it.
fn in_hours(clock: &Clock, hours: f64) -> String {
    format_rfc3339_ms(clock.now_ms() + (hours * 3_600_000.0) as i64)
}

/// A schedule of `operation` on `checkout` in production: `who`'s answer.
fn schedule(operation: &str, request: Value, at: &str) -> Value {
    json!({"environment": "production", "operation": operation, "target": "checkout",
           "request": request, "at": at})
}

/// Starts a server on `clock` with a boolean `checkout` flag turned on in production.
async fn checkout_on(url: &str, clock: &Clock) -> (TestServer, String) {
    let server = TestServer::in_process(url).clock(clock).start().await;
    server
        .admin_post(
            "/api/v1/projects/default/flags",
            json!({"key": "checkout", "kind": "boolean"}),
        )
        .await;
    server
        .admin_post(&format!("{CHECKOUT}/toggle"), json!({"on": true}))
        .await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    until_served(&server, &key, json!(true)).await;
    (server, key)
}

async fn until_state(server: &TestServer, path: &str, state: &str) -> Value {
    wait_for(&format!("{path} to be {state}"), 20, || async {
        let request = server.admin_get(path).await;
        (request["state"] == state).then_some(request)
    })
    .await
}

/// The audit records of `checkout` in production that name change request `id`.
async fn applications(server: &TestServer, id: &str) -> Vec<(String, String)> {
    let steps = audited(server, FLAG_RESOURCE).await;
    steps.into_iter().filter(|(_, c)| c.contains(id)).collect()
}

async fn scheduled_changes_run_once_on_two_replicas(url: String) {
    let clock = Clock::default();
    let (first, key) = checkout_on(&url, &clock).await;
    let second = TestServer::in_process(&url)
        .clock(&clock)
        .admin(&first.admin)
        .start()
        .await;

    // Bad input names the field, and schedules nothing.
    let admin = Some(first.admin.as_str());
    let bad = [
        (schedule("toggle", json!({"on": false}), "tomorrow"), "at"),
        (
            schedule("toggle", json!({"on": false}), &in_hours(&clock, -1.0)),
            "at",
        ),
        (
            schedule(
                "toggle",
                json!({"on": false, "bogus": 1}),
                &in_hours(&clock, 1.0),
            ),
            "request.bogus",
        ),
        (
            json!({"environment": "production", "operation": "toggle",
                   "request": {"on": false}, "at": in_hours(&clock, 1.0)}),
            "target",
        ),
    ];
    for (body, field) in bad {
        let (status, answer) = first.call(admin, Method::POST, SCHEDULE, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (status, answer) = first
        .call(
            admin,
            Method::POST,
            SCHEDULE,
            Some(json!({"environment": "production", "operation": "toggle",
                        "target": "checkout", "request": {"on": false},
                        "at": in_hours(&clock, 1.0), "when": "later"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("when")
    );
    assert!(
        first
            .admin_get(REQUESTS)
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );

    // "Turn off in an hour", even where no approval is needed, is a change request with a time.
    let version = first.admin_get(CHECKOUT).await["version"].clone();
    let comment = json!({"on": false, "comment": "end of the promotion"});
    let (off, request) = held(
        &first,
        admin,
        Method::POST,
        SCHEDULE,
        Some(schedule("toggle", comment, &in_hours(&clock, 1.0))),
    )
    .await;
    assert_eq!(
        (&request["state"], &request["required_approvals"]),
        (&json!("pending"), &json!(0))
    );
    assert!(request["run_at_ms"].as_i64().unwrap() > clock.now_ms());
    // A later one, to show a pass applies only what is due.
    let (later, _) = held(
        &first,
        admin,
        Method::POST,
        SCHEDULE,
        Some(schedule(
            "toggle",
            json!({"on": true}),
            &in_hours(&clock, 3.0),
        )),
    )
    .await;
    let listed = first.admin_get(&format!("{REQUESTS}?scheduled=true")).await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(served(&first, &key).await, json!(true));

    // Both replicas' runners see it due at once; it applies once, and reaches SDKs.
    clock.advance(HOUR + JUST);
    let applied = until_state(&second, &off, "applied").await;
    until_served(&first, &key, json!(false)).await;
    let history: Vec<&str> = applied["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["step"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["created", "applied"], "{applied}");
    let id = applied["id"].as_str().unwrap();
    let records = applications(&first, id).await;
    assert_eq!(records.len(), 1, "applied exactly once: {records:?}");
    assert_eq!(records[0].0, "flag:toggle");
    assert!(records[0].1.contains("scheduled for"), "{records:?}");
    assert!(!records[0].1.contains("late"), "{records:?}");
    let now = first.admin_get(CHECKOUT).await;
    assert_eq!(now["version"], version.as_i64().unwrap() + 1, "{now}");
    assert_eq!(first.admin_get(&later).await["state"], "pending");

    // A body that forgets `at` takes no time away (which could apply it).
    let (status, answer) = first
        .call(
            admin,
            Method::POST,
            &format!("{later}/schedule"),
            Some(json!({"comment": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "at", "{answer}");
    // A turn-on made before the flag was turned off never undoes that (as it would a kill):
    // taking its time away applies it now, and it finds its base moved.
    let (status, answer) = first
        .call(
            admin,
            Method::POST,
            &format!("{later}/schedule"),
            Some(json!({"at": null})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(first.admin_get(&later).await["state"], "conflict");
    // A turn-off applies to the targeting as it is then; taking its time away applies it.
    let off_again = schedule("toggle", json!({"on": false}), &in_hours(&clock, 3.0));
    let (again, _) = held(&first, admin, Method::POST, SCHEDULE, Some(off_again)).await;
    let kill = json!({"comment": "pager"});
    first.admin_post(&format!("{CHECKOUT}/kill"), kill).await;
    let answer = first
        .admin_post(&format!("{again}/schedule"), json!({"at": null}))
        .await;
    assert_eq!(answer["state"], "applied", "{answer}");
    until_served(&second, &key, json!(false)).await;
    let verified = first.admin_get("/api/v1/audit/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    second.stop().await;
    first.stop().await;
}

async fn missed_schedules_run_late_at_start(url: String) {
    let clock = Clock::default();
    let (server, key) = checkout_on(&url, &clock).await;
    let admin = server.admin.clone();
    let (off, _) = held(
        &server,
        Some(&admin),
        Method::POST,
        SCHEDULE,
        Some(schedule(
            "toggle",
            json!({"on": false}),
            &in_hours(&clock, 1.0),
        )),
    )
    .await;
    server.stop().await;

    // No replica runs when it is due; the first to start applies it, and says it is late.
    clock.advance(2 * HOUR);
    let server = TestServer::in_process(&url)
        .clock(&clock)
        .admin(&admin)
        .start()
        .await;
    let applied = until_state(&server, &off, "applied").await;
    until_served(&server, &key, json!(false)).await;
    let records = applications(&server, applied["id"].as_str().unwrap()).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0].1.contains("ran late by"), "{records:?}");
    server.stop().await;
}

async fn protected_schedules_wait_for_approval_and_never_overwrite(url: String) {
    let clock = Clock::default();
    let (server, key) = checkout_on(&url, &clock).await;
    let walt = person(&server, "walt", "writer").await;
    let walt = Some(walt.as_str());
    let ada = approver(&server, "ada").await;
    let ada = Some(ada.as_str());
    assert_eq!(
        set_required_approvals(&server, json!(1)).await.0,
        StatusCode::OK
    );

    // Approved before its time: the approval does not apply it; its time does.
    let off = schedule("toggle", json!({"on": false}), &in_hours(&clock, 1.0));
    let (approved, _) = held(&server, walt, Method::POST, SCHEDULE, Some(off)).await;
    let (status, answer) = server
        .call(ada, Method::POST, &format!("{approved}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (&answer["state"], &answer["approved"]),
        (&json!("pending"), &json!(1))
    );
    // A held targeting sent with If-Match alone applies too: the request keeps the version it
    // was based on, since applying replays no headers.
    let version = server.admin_get(CHECKOUT).await["version"]
        .as_i64()
        .unwrap();
    let body = json!({"on": true, "fallthrough": {"variation": 0}, "comment": "if-match"});
    let (status, answer) = server
        .call_with(
            walt,
            Method::PUT,
            CHECKOUT,
            Some(body),
            &[("if-match", format!("\"{version}\""))],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["change_request"]["request"]["version"], version);
    let id = answer["change_request"]["id"].as_str().unwrap().to_owned();
    let (status, answer) = server
        .call(ada, Method::POST, &format!("{REQUESTS}/{id}/approve"), None)
        .await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("applied")),
        "{answer}"
    );
    // Not approved by its time: it expires, changing nothing.
    let on = schedule("toggle", json!({"on": true}), &in_hours(&clock, 2.0));
    let (unapproved, _) = held(&server, walt, Method::POST, SCHEDULE, Some(on)).await;
    assert_eq!(served(&server, &key).await, json!(true));
    clock.advance(HOUR + HOUR / 2);
    until_state(&server, &approved, "applied").await;
    until_served(&server, &key, json!(false)).await;
    clock.advance(HOUR);
    let expired = until_state(&server, &unapproved, "expired").await;
    let why = expired["history"].as_array().unwrap().last().unwrap()["comment"].clone();
    assert!(why.as_str().unwrap().contains("0 of the 1"), "{expired}");
    let request_resource = format!(
        "proj/default:env/production:change-request/{}",
        expired["id"].as_str().unwrap()
    );
    let steps = audited(&server, &request_resource).await;
    assert_eq!(
        steps.last().unwrap().0,
        "change-request:expire",
        "{steps:?}"
    );
    assert_eq!(served(&server, &key).await, json!(false));

    // A whole new targeting, scheduled, finds its base moved on: it fails visibly and the live
    // targeting stays. Taking keys out of the targets applies to the targeting as it is then.
    assert_eq!(
        set_required_approvals(&server, json!(0)).await.0,
        StatusCode::OK
    );
    let current = server.admin_get(CHECKOUT).await;
    let targeted = json!({"version": current["version"], "on": true,
        "targets": [{"variation": 1, "values": ["u-1", "u-2"]}],
        "fallthrough": {"variation": 0}});
    server.admin(Method::PUT, CHECKOUT, Some(targeted)).await;
    until_served(&server, &key, json!(false)).await;
    let remove = |values: Value| json!({"values": values, "comment": "trial ends"});
    let (status, answer) = server
        .call(
            Some(&server.admin),
            Method::POST,
            &format!("{CHECKOUT}/remove-targets"),
            Some(remove(json!(["u-9"]))),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "values");
    let current = server.admin_get(CHECKOUT).await;
    let everyone_false = json!({"version": current["version"], "on": true,
        "targets": current["targets"], "fallthrough": {"variation": 1}});
    let admin = server.admin.clone();
    let (pinned, _) = held(
        &server,
        Some(&admin),
        Method::POST,
        SCHEDULE,
        Some(schedule(
            "update_targeting",
            everyone_false.clone(),
            &in_hours(&clock, 1.0),
        )),
    )
    .await;
    let (end_date, _) = held(
        &server,
        Some(&admin),
        Method::POST,
        SCHEDULE,
        Some(schedule(
            "remove_targets",
            remove(json!(["u-1"])),
            &in_hours(&clock, 1.0),
        )),
    )
    .await;
    // Meanwhile someone adds a rule.
    let current = server.admin_get(CHECKOUT).await;
    let with_rule = json!({"version": current["version"], "on": true,
        "targets": current["targets"], "fallthrough": {"variation": 0},
        "rules": [{"id": "staff", "condition": {"attribute": "email", "op": "ends_with",
                   "values": ["@example.com"]}, "serve": {"variation": 1}}]});
    let (status, answer) = server
        .call(Some(&admin), Method::PUT, CHECKOUT, Some(with_rule))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    clock.advance(HOUR + HOUR / 2);
    let conflict = until_state(&server, &pinned, "conflict").await;
    let why = conflict["history"].as_array().unwrap().last().unwrap()["comment"].clone();
    let moved = format!("not {}", everyone_false["version"]);
    assert!(why.as_str().unwrap().contains(&moved), "{conflict}");
    until_state(&server, &end_date, "applied").await;
    let now = server.admin_get(CHECKOUT).await;
    assert_eq!(
        now["targets"],
        json!([{"kind": "user", "variation": 1, "values": ["u-2"]}])
    );
    assert_eq!(
        now["rules"].as_array().unwrap().len(),
        1,
        "the rule stays: {now}"
    );
    assert_eq!(
        now["fallthrough"],
        json!({"variation": 0}),
        "not overwritten: {now}"
    );
    until_served(&server, &key, json!(true)).await;

    // A schedule does not outlive its author's rights: rita's role is taken away, and walt is
    // disabled, before their times.
    let rita = person(&server, "rita", "writer").await;
    let off = schedule("toggle", json!({"on": false}), &in_hours(&clock, 1.0));
    let (demoted, _) = held(&server, Some(&rita), Method::POST, SCHEDULE, Some(off)).await;
    let account = server.admin_get("/api/v1/accounts/rita").await;
    let reader = json!({"name": "rita", "roles": ["reader"], "version": account["version"]});
    server
        .admin(Method::PUT, "/api/v1/accounts/rita", Some(reader))
        .await;
    let off = schedule("toggle", json!({"on": false}), &in_hours(&clock, 1.0));
    let (orphan, _) = held(&server, walt, Method::POST, SCHEDULE, Some(off)).await;
    let account = server.admin_get("/api/v1/accounts/walt").await;
    let disable = json!({"name": "walt", "disabled": true, "version": account["version"]});
    server
        .admin(Method::PUT, "/api/v1/accounts/walt", Some(disable))
        .await;
    clock.advance(HOUR + JUST);
    let failed = until_state(&server, &orphan, "failed").await;
    let why = failed["history"].as_array().unwrap().last().unwrap()["comment"].clone();
    assert!(why.as_str().unwrap().contains("disabled"), "{failed}");
    let failed = until_state(&server, &demoted, "failed").await;
    let why = failed["history"].as_array().unwrap().last().unwrap()["comment"].clone();
    assert!(why.as_str().unwrap().contains("may no longer"), "{failed}");
    assert_eq!(served(&server, &key).await, json!(true));
    server.stop().await;
}
