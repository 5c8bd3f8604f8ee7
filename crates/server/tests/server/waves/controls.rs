//! Release plans' controls (`docs/releases.md`, "Waves"): a kill in an earlier wave's
//! environment aborts the plan and the running wave's release; pause holds the running wave and
//! starts no new one, resume goes on, abort stops; `roll_back_earlier` puts back the waves
//! completed before one that rolled back.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    PLANS, PROJECT, boolean_flag, create, environments, fallthrough, plan, plan_until, start,
    wave_states,
};

switchyard_testkit::backend_tests! {
    sqlite: [kill_pause_resume_and_roll_back_earlier],
    postgres: [],
}

/// A plan of `flag` over one → two → three: wave 1 completes at once (no traffic, no bake),
/// wave 2 waits an hour in its stage, so it stays running until something happens to it.
fn quick_then_waiting(flag: &str, roll_back_earlier: bool) -> Value {
    json!({
        "flag": flag, "variation": "on", "roll_back_earlier": roll_back_earlier,
        "waves": [
            {"environment": "one", "stages": [{"percent": 50}]},
            {"environment": "two", "stages": [{"percent": 50, "min_bake_s": 3600}]},
            {"environment": "three", "stages": [{"percent": 50}]},
        ],
    })
}

async fn kill_pause_resume_and_roll_back_earlier(url: String) {
    let server = start(&url).await;
    environments(&server).await;

    // A kill in the first wave's environment while wave 2 runs aborts the plan in the same
    // commit; wave 2's release is then aborted too, and wave 3 never starts.
    boolean_flag(&server, "killed").await;
    let id = create(&server, quick_then_waiting("killed", false)).await;
    let running = plan_until(&server, &id, "wave 2 to run", |p| {
        p["waves"][1]["state"] == "running"
    })
    .await;
    let release = running["waves"][1]["release"].as_str().unwrap().to_owned();
    let killed = server
        .admin(
            Method::POST,
            &format!("{PROJECT}/environments/one/flags/killed/kill"),
            None,
        )
        .await;
    assert_eq!(killed["aborted_release_plans"], json!([id]), "{killed}");
    assert_eq!(plan(&server, &id).await["state"], "aborted");
    let aborted = plan_until(&server, &id, "wave 2's release to be aborted", |p| {
        p["waves"][1]["state"] == "aborted"
    })
    .await;
    assert_eq!(
        wave_states(&aborted),
        ["completed", "aborted", "not_started"]
    );
    let status = server
        .admin_get(&format!("{PROJECT}/environments/two/releases/{release}"))
        .await;
    assert_eq!(status["state"], "aborted");
    assert_eq!(
        fallthrough(&server, "two", "killed").await,
        json!({"variation": 1})
    );
    let kill_audit = server
        .admin_get("/api/v1/audit?limit=50&resource=proj/default:env/one:flag/killed")
        .await;
    let kill = kill_audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "flag:kill")
        .unwrap()
        .clone();
    assert!(kill["comment"].as_str().unwrap().contains(&id), "{kill}");

    // Pause holds the running wave's release and starts no new wave; resume goes on.
    boolean_flag(&server, "paused").await;
    let id = create(
        &server,
        json!({"flag": "paused", "variation": "on", "waves": [
            {"environment": "one", "stages": [{"percent": 50, "min_bake_s": 3600}]},
            {"environment": "two", "stages": [{"percent": 50, "min_bake_s": 3600}]},
        ]}),
    )
    .await;
    let running = plan_until(&server, &id, "wave 1 to run", |p| {
        p["waves"][0]["state"] == "running"
    })
    .await;
    let first = running["waves"][0]["release"].as_str().unwrap().to_owned();
    let paused = server
        .admin_post(
            &format!("{PLANS}/{id}/pause"),
            json!({"comment": "on-call busy"}),
        )
        .await;
    assert_eq!(paused["state"], "paused", "{paused}");
    let releases = format!("{PROJECT}/environments/one/releases");
    let held = server.admin_get(&format!("{releases}/{first}")).await;
    assert_eq!(held["state"], "holding", "{held}");
    assert!(
        held["hold"]["rolls_back_at_ms"].is_null(),
        "a person's pause"
    );
    // The plan's wave starts the flag's release in two: not a person, meanwhile.
    let (code, answer) = server
        .call(
            Some(&server.admin),
            Method::POST,
            &format!("{PROJECT}/environments/two/releases"),
            Some(json!({"flag": "paused", "variation": "on"})),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains(&id));
    // Its release completes by hand while the plan is paused: wave 1 ends, wave 2 waits.
    server
        .admin(Method::POST, &format!("{releases}/{first}/advance"), None)
        .await;
    plan_until(&server, &id, "wave 1 to complete", |p| {
        p["waves"][0]["state"] == "completed"
    })
    .await;
    // A witness plan created now completes its only wave only after the guard has made a
    // whole pass over every plan since: the paused one included.
    boolean_flag(&server, "witness").await;
    let witness = create(
        &server,
        json!({"flag": "witness", "variation": "on",
               "waves": [{"environment": "three", "stages": [{"percent": 50}]}]}),
    )
    .await;
    plan_until(&server, &witness, "the witness plan to complete", |p| {
        p["state"] == "completed"
    })
    .await;
    let still = plan(&server, &id).await;
    assert_eq!(still["state"], "paused");
    assert_eq!(wave_states(&still), ["completed", "pending"], "{still}");
    let (code, answer) = server
        .call(
            Some(&server.admin),
            Method::POST,
            &format!("{PLANS}/{id}/pause"),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{answer}");
    let resumed = server
        .admin(Method::POST, &format!("{PLANS}/{id}/resume"), None)
        .await;
    assert_eq!(resumed["state"], "running");
    plan_until(&server, &id, "wave 2 to start after the resume", |p| {
        p["waves"][1]["state"] == "running"
    })
    .await;
    let aborted = server
        .admin(Method::POST, &format!("{PLANS}/{id}/abort"), None)
        .await;
    assert_eq!(aborted["state"], "aborted");
    assert_eq!(wave_states(&aborted), ["completed", "aborted"], "{aborted}");
    assert_eq!(
        fallthrough(&server, "two", "paused").await,
        json!({"variation": 1})
    );

    // roll_back_earlier: wave 2 rolls back (by hand here), and wave 1's serving is put back.
    boolean_flag(&server, "earlier").await;
    let id = create(&server, quick_then_waiting("earlier", true)).await;
    let running = plan_until(&server, &id, "wave 2 to run", |p| {
        p["waves"][1]["state"] == "running"
    })
    .await;
    assert_eq!(
        fallthrough(&server, "one", "earlier").await,
        json!({"variation": 0})
    );
    let release = running["waves"][1]["release"].as_str().unwrap();
    server
        .admin(
            Method::POST,
            &format!("{PROJECT}/environments/two/releases/{release}/rollback"),
            None,
        )
        .await;
    let failed = plan_until(&server, &id, "wave 1 to be put back", |p| {
        p["waves"][0]["state"] == "rolled_back"
    })
    .await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(
        wave_states(&failed),
        ["rolled_back", "rolled_back", "not_started"]
    );
    assert_eq!(
        fallthrough(&server, "one", "earlier").await,
        json!({"variation": 1})
    );
    let audit = server
        .admin_get("/api/v1/audit?limit=50&resource=proj/default:env/one:flag/earlier")
        .await;
    let restore = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "release-plan:restore")
        .unwrap_or_else(|| panic!("no restore record in {audit}"))
        .clone();
    assert_eq!(restore["actor"], json!({"kind": "release_plan", "id": id}));
    assert_eq!(restore["after"]["fallthrough"], json!({"variation": 1}));

    // Every plan, newest first; filtered by flag.
    let all = server.admin_get(PLANS).await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    let one = server.admin_get(&format!("{PLANS}?flag=earlier")).await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["id"], id.as_str());
    server.stop().await;
}
