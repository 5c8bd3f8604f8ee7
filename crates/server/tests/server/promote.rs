//! Environments side by side (issue 22, item 4): two environments' targeting compared in words,
//! and a flag's targeting (or chosen parts) promoted from one to the other through the targeting
//! `PUT`'s own path: validated (a segment the rules test must exist in the target), authorized
//! (update in the target), audited as promoted, and held for approval where the target requires
//! it (the change request's apply replays the `PUT`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::PROD;
use crate::change_requests::support::{approver, audited, held, person, set_required_approvals};

switchyard_testkit::backend_tests![compare_and_promote_between_environments];

const FLAGS: &str = "/api/v1/projects/default/flags";
const STAGING: &str = "/api/v1/projects/default/environments/staging";
const PROMOTE: &str = "/api/v1/projects/default/flags/checkout/promote";
const COMPARE: &str = "/api/v1/projects/default/environments/staging/compare/production";

async fn targeting(server: &switchyard_testkit::server::TestServer, env: &str) -> Value {
    server.admin_get(&format!("{env}/flags/checkout")).await
}

/// The parts of a targeting a promotion copies, without versions and views.
fn parts(view: &Value) -> Value {
    json!({
        "on": view["on"], "off_variation": view["off_variation"],
        "prerequisites": view.get("prerequisites").cloned().unwrap_or(json!([])),
        "targets": view.get("targets").cloned().unwrap_or(json!([])),
        "rules": view.get("rules").cloned().unwrap_or(json!([])),
        "fallthrough": view["fallthrough"],
    })
}

fn change(field: &str, before: Option<&str>, after: Option<&str>) -> Value {
    let mut change = json!({"field": field});
    if let Some(before) = before {
        change["before"] = json!(before);
    }
    if let Some(after) = after {
        change["after"] = json!(after);
    }
    change
}

async fn compare_and_promote_between_environments(url: String) {
    let server = switchyard_testkit::server::TestServer::in_process(&url)
        .start()
        .await;
    let admin = Some(server.admin.clone());
    let admin = admin.as_deref();
    server
        .admin_post(
            FLAGS,
            json!({"key": "checkout", "kind": "string", "off_variation": "old",
               "variations": [{"key": "old", "value": "a"},
                              {"key": "new", "value": "b", "name": "New checkout"}]}),
        )
        .await;
    server
        .admin_post(&format!("{STAGING}/segments"), json!({"key": "beta"}))
        .await;
    let staging = json!({
        "version": 0, "on": true,
        "targets": [{"kind": "user", "variation": 1, "values": ["alice"]}],
        "rules": [
            {"id": "r1", "condition": {"op": "segment_match", "values": ["beta"]},
             "serve": {"variation": 1}},
            {"id": "r2", "condition": {"kind": "user", "attribute": "country", "op": "in", "values": ["de"]},
             "serve": {"rollout": {"variations": [{"variation": 1, "weight": 10000},
                                                  {"variation": 0, "weight": 90000}]}}}
        ],
        "fallthrough": {"variation": 0}
    });
    server
        .admin(
            Method::PUT,
            &format!("{STAGING}/flags/checkout"),
            Some(staging),
        )
        .await;
    let production = json!({
        "version": 0, "on": false,
        "targets": [{"kind": "user", "variation": 0, "values": ["bob"]}],
        "fallthrough": {"variation": 1}
    });
    server
        .admin(
            Method::PUT,
            &format!("{PROD}/flags/checkout"),
            Some(production),
        )
        .await;

    // The comparison says every difference in words: keys and names, percentages, rules by id.
    let compared = server.admin_get(&format!("{COMPARE}?flag=checkout")).await;
    assert_eq!(
        (&compared["from"], &compared["to"]),
        (&json!("staging"), &json!("production"))
    );
    let flags = compared["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "{compared}");
    let checkout = &flags[0];
    assert_eq!(checkout["same"], false);
    assert_eq!(
        checkout["parts"],
        json!(["on", "targets", "rules", "fallthrough"])
    );
    assert_eq!(
        checkout["differences"],
        json!([
            change("on", Some("on"), Some("off")),
            change(
                "targets[kind=user]",
                Some(r#""new" (New checkout): alice"#),
                Some(r#""old": bob"#)
            ),
            change(
                "rules[id=r1]",
                Some(r#"if in segment "beta" serve variation "new" (New checkout)"#),
                None
            ),
            change(
                "rules[id=r2]",
                Some(
                    r#"if user.country in "de" serve 10% "new" (New checkout) / 90% "old" by user key"#
                ),
                None
            ),
            change(
                "fallthrough",
                Some(r#"variation "old""#),
                Some(r#"variation "new" (New checkout)"#)
            ),
        ]),
        "{compared}"
    );
    // Every flag: the same answer for this one.
    let all = server.admin_get(COMPARE).await;
    let listed = all["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flag"] == "checkout")
        .unwrap();
    assert_eq!(listed, checkout);
    assert_eq!(all["omitted"], 0);

    // Rules testing a segment production does not have are refused, naming it; nothing changes.
    let before = targeting(&server, PROD).await;
    let (status, answer) = server
        .call(
            admin,
            Method::POST,
            PROMOTE,
            Some(json!({"from": "staging", "to": "production", "parts": ["rules"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "rules[id=r1].condition");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("segment \"beta\" does not exist in production")
            && message.contains("create it in production first"),
        "{message}"
    );
    assert_eq!(targeting(&server, PROD).await, before);
    // Strict input: an unknown part is named.
    let (status, answer) = server
        .call(
            admin,
            Method::POST,
            PROMOTE,
            Some(json!({"from": "staging", "to": "production", "parts": ["colours"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");

    // Only the rules: production keeps its own targets and fallthrough.
    server
        .admin_post(&format!("{PROD}/segments"), json!({"key": "beta"}))
        .await;
    let (status, answer) = server
        .call(
            admin,
            Method::POST,
            PROMOTE,
            Some(
                json!({"from": "staging", "to": "production", "parts": ["rules"],
                        "comment": "beta is ready"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let promoted = targeting(&server, PROD).await;
    let source = targeting(&server, STAGING).await;
    assert_eq!(promoted["rules"], source["rules"]);
    assert_eq!(promoted["targets"], before["targets"]);
    assert_eq!(
        (&promoted["fallthrough"], &promoted["on"]),
        (&json!({"variation": 1}), &json!(false))
    );
    assert_eq!(promoted["version"], before["version"].as_i64().unwrap() + 1);
    let trail = audited(&server, "proj/default:env/production:flag/checkout").await;
    assert_eq!(
        trail.last().unwrap(),
        &(
            "flag:update".to_owned(),
            "promoted from staging: rules (beta is ready)".to_owned()
        )
    );
    let compared = server.admin_get(&format!("{COMPARE}?flag=checkout")).await;
    assert_eq!(
        compared["flags"][0]["parts"],
        json!(["on", "targets", "fallthrough"])
    );

    // A writer's token scoped to staging may do anything there but not update production: the
    // promotion is refused (audited as the update it would have been) and nothing changes.
    // Reading both environments is enough to compare.
    person(&server, "walt", "writer").await;
    let scoped = json!({"name": "staging only", "account": "walt", "statements": [
        {"effect": "allow", "actions": ["*"], "resources": ["proj/default:env/staging:**"]}]});
    let scoped = server.admin_post("/api/v1/tokens", scoped).await;
    let scoped = scoped["token"].as_str().unwrap();
    let (status, answer) = server
        .call(
            Some(scoped),
            Method::POST,
            PROMOTE,
            Some(json!({"from": "staging", "to": "production"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"]["code"], "forbidden");
    assert_eq!(targeting(&server, PROD).await, promoted);
    let newest = server.admin_get("/api/v1/audit?limit=1").await;
    let denied = &newest["records"][0];
    assert_eq!(
        (&denied["outcome"], &denied["action"], &denied["resource"]),
        (
            &json!("denied"),
            &json!("flag:update"),
            &json!("proj/default:env/production:flag/checkout")
        )
    );
    // It cannot compare either: it may not read production.
    let (status, _) = server
        .call(
            Some(scoped),
            Method::GET,
            &format!("{COMPARE}?flag=checkout"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let reader = person(&server, "rita", "reader").await;
    let (status, answer) = server
        .call(
            Some(&reader),
            Method::POST,
            PROMOTE,
            Some(json!({"from": "staging", "to": "production"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, _) = server.call(Some(&reader), Method::GET, COMPARE, None).await;
    assert_eq!(status, StatusCode::OK);
    // A version that moved on is a conflict, as for the PUT.
    let (status, answer) = server
        .call(
            admin,
            Method::POST,
            PROMOTE,
            Some(json!({"from": "staging", "to": "production", "version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");

    // Everything: the two environments then serve the same.
    let (status, answer) = server
        .call(
            admin,
            Method::POST,
            PROMOTE,
            Some(json!({"from": "staging", "to": "production",
                        "version": promoted["version"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        parts(&targeting(&server, PROD).await),
        parts(&targeting(&server, STAGING).await)
    );
    let compared = server.admin_get(&format!("{COMPARE}?flag=checkout")).await;
    assert_eq!(compared["flags"][0]["same"], true, "{compared}");
    assert_eq!(compared["flags"][0]["differences"], json!([]));
    let trail = audited(&server, "proj/default:env/production:flag/checkout").await;
    assert_eq!(
        trail.last().unwrap().1,
        "promoted from staging: on, off_variation, prerequisites, targets, rules, fallthrough"
    );

    // Into an environment that requires an approval: 202 with an update_targeting change
    // request; another person's approval applies it (replaying the PUT).
    let ada = approver(&server, "ada").await;
    let (status, answer) = set_required_approvals(&server, json!(1)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    server
        .admin_post(
            &format!("{STAGING}/flags/checkout/toggle"),
            json!({"on": false}),
        )
        .await;
    let before = targeting(&server, PROD).await;
    let (path, request) = held(
        &server,
        admin,
        Method::POST,
        PROMOTE,
        Some(json!({"from": "staging", "to": "production", "parts": ["on"]})),
    )
    .await;
    assert_eq!(request["operation"], "update_targeting");
    assert_eq!(request["environment"], "production");
    assert_eq!(
        (&request["before"]["on"], &request["after"]["on"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(targeting(&server, PROD).await, before);
    let (status, answer) = server
        .call(
            Some(&ada),
            Method::POST,
            &format!("{path}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["state"], "applied", "{answer}");
    let applied = targeting(&server, PROD).await;
    assert_eq!(applied["on"], false);
    assert_eq!(applied["rules"], before["rules"]);
    let trail = audited(&server, "proj/default:env/production:flag/checkout").await;
    // Applied as the PUT it replays, audited with the promotion's words after the approval's.
    let (action, comment) = trail.last().unwrap();
    assert_eq!(action, "flag:update");
    assert!(
        comment.ends_with("approved by ada: promoted from staging: on"),
        "{trail:?}"
    );
    server.stop().await;
}
