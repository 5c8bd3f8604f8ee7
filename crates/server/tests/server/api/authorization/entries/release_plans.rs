//! The matrix's entries for release plans: each attempt acts on a fresh flag's plan of one wave
//! in staging, so the refusal a principal meets is on that wave's release.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_server::access::resources as res;
use switchyard_testkit::server::TestServer;

use super::{Attempt, Decides, NEW_ID};
use crate::api::{FLAGS, STAGING};

const PLANS: &str = "/api/v1/projects/default/release-plans";

/// The entry for `route` (`None` for a route of another kind).
pub(super) async fn prepare(server: &TestServer, route: &str, fresh: &str) -> Option<Attempt> {
    let on = |path: String, body: Option<Value>, resource: String| Attempt {
        path,
        body,
        decides: Decides::On(resource),
        stream: false,
    };
    let attempt = match route {
        "GET /api/v1/projects/{project}/release-plans" => Attempt {
            path: PLANS.into(),
            body: None,
            decides: Decides::Filtered,
            stream: false,
        },
        "POST /api/v1/projects/{project}/release-plans" => {
            releasable_flag(server, fresh).await;
            on(
                PLANS.into(),
                Some(plan_body(fresh)),
                res::release("default", "staging", NEW_ID),
            )
        }
        "GET /api/v1/projects/{project}/release-plans/{id}" => {
            let id = plan(server, fresh, false).await;
            on(
                format!("{PLANS}/{id}"),
                None,
                res::release("default", "staging", &format!("{id}-1")),
            )
        }
        "POST /api/v1/projects/{project}/release-plans/{id}/pause"
        | "POST /api/v1/projects/{project}/release-plans/{id}/resume"
        | "POST /api/v1/projects/{project}/release-plans/{id}/abort" => {
            let id = plan(server, fresh, route.ends_with("/resume")).await;
            let verb = route.rsplit('/').next().unwrap();
            on(
                format!("{PLANS}/{id}/{verb}"),
                Some(json!({"comment": fresh})),
                res::release("default", "staging", &format!("{id}-1")),
            )
        }
        _ => return None,
    };
    Some(attempt)
}

/// A flag on in staging, serving `off`, ready for a plan to `on`.
async fn releasable_flag(server: &TestServer, key: &str) {
    server
        .admin_post(FLAGS, json!({"key": key, "kind": "boolean"}))
        .await;
    server
        .admin(
            Method::PUT,
            &format!("{STAGING}/flags/{key}"),
            Some(json!({"version": 0, "on": true, "fallthrough": {"variation": 1}})),
        )
        .await;
}

fn plan_body(flag: &str) -> Value {
    json!({"flag": flag, "variation": "on", "waves": [
        {"environment": "staging", "stages": [{"percent": 50, "min_bake_s": 3600}]}]})
}

/// A running plan of a fresh flag (paused, when `paused`); its id.
async fn plan(server: &TestServer, key: &str, paused: bool) -> String {
    releasable_flag(server, key).await;
    let started = server.admin_post(PLANS, plan_body(key)).await;
    let id = started["id"].as_str().unwrap().to_owned();
    if paused {
        server
            .admin_post(
                &format!("{PLANS}/{id}/pause"),
                json!({"comment": "so it can resume"}),
            )
            .await;
    }
    id
}
