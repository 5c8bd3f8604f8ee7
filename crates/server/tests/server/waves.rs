//! Release plans (waves) end to end (`docs/releases.md`, "Waves"): three environments with SDK
//! traffic and a regression only in the second, which rolls back by itself while the first
//! keeps the new variation and the third never starts; a kill in an earlier wave's environment
//! aborting the plan; pause and resume; `roll_back_earlier`; a plan touching a protected
//! environment as one change request; the input refused field by field.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_server::access::SdkKeyKind;
use switchyard_server::api::types::SdkKeyInput;
use switchyard_testkit::server::{GuardConfig, TestServer, eventually, wait_for};

use crate::change_requests::support::{approver, person};

mod controls;

switchyard_testkit::backend_tests! {
    sqlite: [
        a_regression_in_the_second_wave_stops_the_plan,
        a_protected_environment_makes_the_plan_one_change_request,
        a_policy_on_one_wave_holds_the_plan,
    ],
    postgres: [],
}

pub(crate) const PROJECT: &str = "/api/v1/projects/default";
pub(crate) const PLANS: &str = "/api/v1/projects/default/release-plans";

pub(crate) async fn start(url: &str) -> TestServer {
    let guard = GuardConfig {
        interval: Duration::from_millis(100),
    };
    TestServer::in_process(url).guard(guard).start().await
}

/// Environments `one`, `two`, `three`.
pub(crate) async fn environments(server: &TestServer) {
    for key in ["one", "two", "three"] {
        server
            .admin_post(
                &format!("{PROJECT}/environments"),
                json!({"key": key, "name": key}),
            )
            .await;
    }
}

/// From now on a change in `env` needs one approval.
async fn protect(server: &TestServer, env: &str) {
    let path = format!("{PROJECT}/environments/{env}");
    let version = server.admin_get(&path).await["version"].clone();
    let body = json!({"key": env, "name": env, "required_approvals": 1, "version": version});
    server.admin(Method::PUT, &path, Some(body)).await;
}

/// A boolean flag that is on and serves `off` in every environment.
pub(crate) async fn boolean_flag(server: &TestServer, key: &str) {
    server
        .admin_post(
            &format!("{PROJECT}/flags"),
            json!({"key": key, "kind": "boolean"}),
        )
        .await;
    for env in ["one", "two", "three"] {
        server
            .admin(
                Method::PUT,
                &format!("{PROJECT}/environments/{env}/flags/{key}"),
                Some(json!({"version": 0, "on": true, "off_variation": 1,
                            "fallthrough": {"variation": 1}})),
            )
            .await;
    }
}

pub(crate) async fn plan(server: &TestServer, id: &str) -> Value {
    server.admin_get(&format!("{PLANS}/{id}")).await
}

/// Waits until `check` holds for the plan; answers it then.
pub(crate) async fn plan_until(
    server: &TestServer,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(what, 30, || async {
        let plan = plan(server, id).await;
        check(&plan).then_some(plan)
    })
    .await
}

pub(crate) fn wave_states(plan: &Value) -> Vec<&str> {
    plan["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["state"].as_str().unwrap())
        .collect()
}

pub(crate) async fn fallthrough(server: &TestServer, env: &str, flag: &str) -> Value {
    server
        .admin_get(&format!("{PROJECT}/environments/{env}/flags/{flag}"))
        .await["fallthrough"]
        .clone()
}

fn user(i: u64) -> Context {
    Context::from_json(&json!({"key": format!("user-{i}")})).unwrap()
}

/// An application in `env`: an SDK client whose users report an error at 2 %, or always when
/// served the new variation if `regressed`.
struct App {
    client: Arc<Client>,
    driver: tokio::task::JoinHandle<()>,
}

async fn app(server: &TestServer, env: &str, regressed: bool, stop: Arc<AtomicBool>) -> App {
    let input = SdkKeyInput {
        kind: SdkKeyKind::Server,
        name: format!("{env} app"),
        comment: None,
    };
    let key = server
        .client()
        .create_sdk_key("default", env, &input)
        .await
        .unwrap()
        .key
        .unwrap();
    let client = Arc::new(
        Client::builder(&server.base, &key)
            .events(EventsConfig {
                flush_interval: Duration::from_millis(100),
                ..EventsConfig::default()
            })
            .build()
            .await,
    );
    let traffic = client.clone();
    let driver = tokio::spawn(async move {
        let mut seed: u64 = 0x5eed;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..50 {
                let context = user(i % 3000);
                i += 1;
                let treated = traffic.bool_value("new-checkout", &context, false);
                let rate = if treated && regressed { 1.0 } else { 0.02 };
                if next() < rate {
                    traffic.track("error", &context, 1.0);
                }
            }
            // Pacing, so three applications share two cores with the server.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    App { client, driver }
}

async fn a_regression_in_the_second_wave_stops_the_plan(url: String) {
    let server = start(&url).await;
    environments(&server).await;
    boolean_flag(&server, "new-checkout").await;
    let stop = Arc::new(AtomicBool::new(false));
    let apps = [
        app(&server, "one", false, stop.clone()).await,
        app(&server, "two", true, stop.clone()).await,
        app(&server, "three", false, stop.clone()).await,
    ];
    let guardrails = json!([{"metric": "error", "kind": "bad_events", "max_treated_rate": 0.5}]);
    let body = json!({
        "flag": "new-checkout", "variation": "on", "comment": "CHECKOUT-7",
        "waves": [
            {"environment": "one", "bake_s": 1, "guardrails": guardrails,
             "stages": [{"percent": 50, "min_bake_s": 1, "min_treated": 20}]},
            {"environment": "two", "bake_s": 1, "guardrails": guardrails,
             "stages": [{"percent": 50, "min_bake_s": 3600}]},
            {"environment": "three", "guardrails": guardrails,
             "stages": [{"percent": 50, "min_bake_s": 1}]},
        ],
    });
    let (status, created) = server
        .call(Some(&server.admin), Method::POST, PLANS, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "running");
    assert_eq!(wave_states(&created), ["pending", "pending", "pending"]);
    let id = created["id"].as_str().unwrap().to_owned();

    // Wave 1 ramps on its traffic and completes; wave 2 starts after its bake and, with every
    // treated user failing there, rolls back by itself; the plan stops.
    let failed = plan_until(&server, &id, "the plan to fail at wave 2", |p| {
        p["state"] != "running"
    })
    .await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(
        wave_states(&failed),
        ["completed", "rolled_back", "not_started"],
        "{failed}"
    );
    let second = &failed["waves"][1];
    let release = second["release"].as_str().unwrap();
    assert_eq!(release, format!("{id}-2"));
    assert!(
        second["detail"]
            .as_str()
            .unwrap()
            .contains("guardrail breached"),
        "{second}"
    );
    let rolled_back = server
        .admin_get(&format!("{PROJECT}/environments/two/releases/{release}"))
        .await;
    assert_eq!(rolled_back["state"], "rolled_back", "{rolled_back}");
    let decision = rolled_back["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(decision["actor"], format!("release:{release}"), "by itself");

    // The first environment keeps the new variation; the second is back; the third never
    // had a release.
    assert_eq!(
        fallthrough(&server, "one", "new-checkout").await,
        json!({"variation": 0})
    );
    assert_eq!(
        fallthrough(&server, "two", "new-checkout").await,
        json!({"variation": 1})
    );
    assert_eq!(
        fallthrough(&server, "three", "new-checkout").await,
        json!({"variation": 1})
    );
    let third = server
        .admin_get(&format!("{PROJECT}/environments/three/releases"))
        .await;
    assert_eq!(third, json!([]), "wave 3 never started");
    let [one, two, three] = &apps;
    eventually(
        "the SDKs to serve each environment's outcome",
        10,
        || async {
            (0..200).all(|i| one.client.bool_value("new-checkout", &user(i), false))
                && (0..200).all(|i| !two.client.bool_value("new-checkout", &user(i), true))
                && (0..200).all(|i| !three.client.bool_value("new-checkout", &user(i), true))
        },
    )
    .await;

    // Every step of the plan is audited; the driver's as the plan itself.
    let audit = server
        .admin_get(&format!(
            "/api/v1/audit?limit=100&resource=proj/default:release-plan/{id}"
        ))
        .await;
    let records = audit["records"].as_array().unwrap();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"release:create"), "{actions:?}");
    let fail = records
        .iter()
        .find(|r| r["action"] == "release-plan:fail")
        .unwrap_or_else(|| panic!("no fail record in {actions:?}"));
    assert_eq!(fail["actor"], json!({"kind": "release_plan", "id": id}));
    let started = server
        .admin_get(&format!(
            "/api/v1/audit?limit=10&resource=proj/default:env/one:release/{id}-1"
        ))
        .await;
    let start = started["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "release:create")
        .unwrap_or_else(|| panic!("no start of wave 1 in {started}"))
        .clone();
    assert_eq!(start["actor"], json!({"kind": "release_plan", "id": id}));

    stop.store(true, Ordering::Relaxed);
    for app in apps {
        app.driver.await.unwrap();
        app.client.close().await;
    }
    server.stop().await;
}

pub(crate) async fn create(server: &TestServer, body: Value) -> String {
    let created = server.admin_post(PLANS, body).await;
    created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned()
}

async fn a_protected_environment_makes_the_plan_one_change_request(url: String) {
    let server = start(&url).await;
    environments(&server).await;
    boolean_flag(&server, "guarded").await;
    protect(&server, "three").await;
    let ada = approver(&server, "ada").await;

    // Refused whole, field by field, before anything is proposed.
    let try_create =
        |body: Value| server.call(Some(&server.admin), Method::POST, PLANS, Some(body));
    let waves = |second: Value| {
        json!({"flag": "guarded", "variation": "on",
               "waves": [{"environment": "one"}, second]})
    };
    for (body, code, field) in [
        (
            waves(json!({"environment": "two", "stages": [{"percent": 150}]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "waves[1].stages[0].percent",
        ),
        (
            waves(json!({"environment": "one"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "waves[1].environment",
        ),
        (
            waves(json!({"environment": "nowhere"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "waves[1].environment",
        ),
        (
            waves(json!({"environment": "two", "bake": 5})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "waves[1].bake",
        ),
        (
            // Longer than 30 days (this one would overflow the bake's end).
            waves(json!({"environment": "two", "bake_s": u64::MAX})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "waves[1].bake_s",
        ),
        (
            json!({"flag": "guarded", "variation": "maybe", "waves": [{"environment": "one"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "variation",
        ),
        (
            json!({"flag": "guarded", "variation": "on", "waves": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "waves",
        ),
    ] {
        let (status, answer) = try_create(body.clone()).await;
        assert_eq!(status, code, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    assert_eq!(server.admin_get(PLANS).await, json!([]));

    // A token that may release in one but not in two cannot start a plan with a wave in two.
    let scoped = server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "one only", "statements": [{"effect": "allow", "actions": ["*"],
                    "resources": ["proj/default:env/one:**"]}]}),
        )
        .await;
    let scoped = scoped["token"].as_str().unwrap().to_owned();
    let body = json!({"flag": "guarded", "variation": "on",
                      "waves": [{"environment": "one"}, {"environment": "two"}]});
    let (status, answer) = server
        .call(Some(&scoped), Method::POST, PLANS, Some(body))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("proj/default:env/two:release/"),
        "{answer}"
    );
    assert_eq!(server.admin_get(PLANS).await, json!([]));

    // Wave 3's environment requires an approval: the whole plan is one change request, held
    // there; nothing starts until it is approved.
    let body = json!({"flag": "guarded", "variation": "on", "waves": [
        {"environment": "one", "stages": [{"percent": 50}]},
        {"environment": "two", "stages": [{"percent": 50}]},
        {"environment": "three", "stages": [{"percent": 50}]},
    ]});
    let (status, answer) = try_create(body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let request = &answer["change_request"];
    assert_eq!(request["operation"], "start_release_plan");
    assert_eq!(request["environment"], "three");
    assert_eq!(request["target"], "guarded");
    let request_id = request["id"].as_str().unwrap().to_owned();
    let plan_id = request["resource"]
        .as_str()
        .unwrap()
        .rsplit_once(":release-plan/")
        .unwrap()
        .1
        .to_owned();
    assert_eq!(server.admin_get(PLANS).await, json!([]));
    let (status, approved) = server
        .call(
            Some(&ada),
            Method::POST,
            &format!("{PROJECT}/change-requests/{request_id}/approve"),
            Some(json!({"comment": "ship it"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], "applied", "{approved}");

    // Applied: the plan the request was reviewed as, and the guard drives it through all
    // three waves, the protected one included, without asking again.
    let done = plan_until(&server, &plan_id, "the approved plan to complete", |p| {
        p["state"] == "completed"
    })
    .await;
    assert_eq!(wave_states(&done), ["completed", "completed", "completed"]);
    assert_eq!(
        done["author"], "account:admin",
        "who proposed it, not who approved it"
    );
    for env in ["one", "two", "three"] {
        assert_eq!(
            fallthrough(&server, env, "guarded").await,
            json!({"variation": 0}),
            "{env}"
        );
    }
    let pending = server
        .admin_get(&format!("{PROJECT}/change-requests?state=pending"))
        .await;
    assert_eq!(pending, json!([]), "the waves were not gated again");

    // One active plan per flag and environment.
    server
        .admin_post(
            &format!("{PROJECT}/flags"),
            json!({"key": "busy", "kind": "boolean"}),
        )
        .await;
    let busy = json!({"flag": "busy", "variation": "on", "waves": [
        {"environment": "one", "stages": [{"percent": 50, "min_bake_s": 3600}]}]});
    let first = create(&server, busy.clone()).await;
    let (status, answer) = try_create(busy).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&first),
        "{answer}"
    );
    server.stop().await;
}

/// A `require_approval` statement on releases in `three` holds a plan with a wave there,
/// though no environment requires approvals and the plan itself is not in `three`.
async fn a_policy_on_one_wave_holds_the_plan(url: String) {
    let server = start(&url).await;
    environments(&server).await;
    boolean_flag(&server, "guarded").await;
    let role = json!({"name": "cautious", "statements": [
        {"effect": "allow", "actions": ["*"], "resources": ["proj/default", "proj/default:**"]},
        {"effect": "require_approval", "approvals": 1, "actions": ["release:create"],
         "resources": ["proj/default:env/three:**"]}]});
    server.admin_post("/api/v1/roles", role).await;
    let carl = person(&server, "carl", "cautious").await;
    let body = json!({"flag": "guarded", "variation": "on", "waves": [
        {"environment": "one", "stages": [{"percent": 50}]},
        {"environment": "three", "stages": [{"percent": 50}]},
    ]});
    let (status, answer) = server
        .call(Some(&carl), Method::POST, PLANS, Some(body))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let request = &answer["change_request"];
    assert_eq!(
        (&request["policy_approvals"], &request["required_approvals"]),
        (&json!(1), &json!(1)),
        "{request}"
    );
    assert_eq!(server.admin_get(PLANS).await, json!([]), "nothing started");

    // Revised to a plan with a wave in `two`, which requires an approval: it waits there.
    protect(&server, "two").await;
    let path = format!(
        "{PROJECT}/change-requests/{}",
        request["id"].as_str().unwrap()
    );
    let body = json!({"revision": 1, "request": {"flag": "guarded", "variation": "on", "waves": [
        {"environment": "one", "stages": [{"percent": 50}]},
        {"environment": "two", "stages": [{"percent": 50}]},
    ]}});
    let (status, revised) = server
        .call(Some(&carl), Method::PUT, &path, Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{revised}");
    assert_eq!(
        (&revised["environment"], &revised["required_approvals"]),
        (&json!("two"), &json!(1)),
        "{revised}"
    );
    server.stop().await;
}
