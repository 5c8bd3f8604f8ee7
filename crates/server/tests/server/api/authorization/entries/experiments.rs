//! The matrix's entries for metrics and experiments: each attempt acts on a fresh metric, or a
//! fresh flag's experiment in staging (draft, or running for stop and ship), so every allowed
//! attempt can succeed.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_server::access::resources as res;
use switchyard_testkit::server::TestServer;

use super::{Attempt, Decides, NEW_ID};
use crate::api::{FLAGS, STAGING};

const METRICS: &str = "/api/v1/projects/default/metrics";
const METRIC: &str = "matrix-conversion";

fn metric_body(key: &str) -> Value {
    json!({"key": key, "event": "purchase", "kind": "proportion",
           "direction": "increase_is_good", "mde": 0.02})
}

/// A fresh boolean flag on in staging serving `off`, the shared metric, and the plan of an
/// experiment on its fallthrough.
async fn plan(server: &TestServer, flag: &str) -> Value {
    let (status, _) = server
        .call(
            Some(&server.admin),
            Method::GET,
            &format!("{METRICS}/{METRIC}"),
            None,
        )
        .await;
    if status.as_u16() == 404 {
        server.admin_post(METRICS, metric_body(METRIC)).await;
    }
    server
        .admin_post(FLAGS, json!({"key": flag, "kind": "boolean"}))
        .await;
    server
        .admin(
            Method::PUT,
            &format!("{STAGING}/flags/{flag}"),
            Some(json!({"version": 0, "on": true, "fallthrough": {"variation": 1}})),
        )
        .await;
    json!({"flag": flag, "name": flag, "variations": ["off", "on"], "control": "off",
           "traffic_percent": 20, "primary_metric": METRIC})
}

/// A fresh experiment (running when `running`): its id.
async fn experiment(server: &TestServer, flag: &str, running: bool) -> String {
    let body = plan(server, flag).await;
    let created = server
        .admin_post(&format!("{STAGING}/experiments"), body)
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    if running {
        let start = format!("{STAGING}/experiments/{id}/start");
        server.admin_post(&start, json!({})).await;
    }
    id
}

/// The entry for `route` (`None` for a route of another kind).
pub(super) async fn prepare(server: &TestServer, route: &str, fresh: &str) -> Option<Attempt> {
    let on = |path: String, body: Option<Value>, resource: String| Attempt {
        path,
        body,
        decides: Decides::On(resource),
        stream: false,
    };
    let filtered = |path: String| Attempt {
        path,
        body: None,
        decides: Decides::Filtered,
        stream: false,
    };
    let experiments = format!("{STAGING}/experiments");
    let experiment_at = |id: &str| res::experiment("default", "staging", id);
    let attempt = match route {
        "GET /api/v1/projects/{project}/metrics" => filtered(METRICS.into()),
        "POST /api/v1/projects/{project}/metrics" => on(
            METRICS.into(),
            Some(metric_body(fresh)),
            res::metric("default", fresh),
        ),
        "GET /api/v1/projects/{project}/metrics/{metric}"
        | "PUT /api/v1/projects/{project}/metrics/{metric}"
        | "DELETE /api/v1/projects/{project}/metrics/{metric}" => {
            server.admin_post(METRICS, metric_body(fresh)).await;
            let body = route.starts_with("PUT").then(|| {
                let mut body = metric_body(fresh);
                body["version"] = json!(1);
                body["mde"] = json!(0.05);
                body
            });
            on(
                format!("{METRICS}/{fresh}"),
                body,
                res::metric("default", fresh),
            )
        }
        "GET /api/v1/projects/{project}/environments/{env}/experiments" => filtered(experiments),
        "POST /api/v1/projects/{project}/environments/{env}/experiments" => {
            let body = plan(server, fresh).await;
            on(experiments, Some(body), experiment_at(NEW_ID))
        }
        "GET /api/v1/projects/{project}/environments/{env}/experiments/{id}"
        | "PUT /api/v1/projects/{project}/environments/{env}/experiments/{id}"
        | "POST /api/v1/projects/{project}/environments/{env}/experiments/{id}/start" => {
            let id = experiment(server, fresh, false).await;
            let body = match route.split_once(' ')?.0 {
                "PUT" => {
                    let mut body = plan_of(server, &id).await;
                    body["version"] = json!(1);
                    body["traffic_percent"] = json!(30);
                    Some(body)
                }
                "POST" => Some(json!({"comment": fresh})),
                _ => None,
            };
            let path = match route.ends_with("/start") {
                true => format!("{experiments}/{id}/start"),
                false => format!("{experiments}/{id}"),
            };
            on(path, body, experiment_at(&id))
        }
        "GET /api/v1/projects/{project}/environments/{env}/experiments/{id}/results" => {
            let id = experiment(server, fresh, true).await;
            let path = format!("{experiments}/{id}/results");
            on(path, None, experiment_at(&id))
        }
        "POST /api/v1/projects/{project}/environments/{env}/experiments/{id}/stop"
        | "POST /api/v1/projects/{project}/environments/{env}/experiments/{id}/ship" => {
            let id = experiment(server, fresh, true).await;
            let verb = route.rsplit('/').next()?;
            let body = match verb {
                "ship" => json!({"variation": "on"}),
                _ => json!({"comment": fresh}),
            };
            on(
                format!("{experiments}/{id}/{verb}"),
                Some(body),
                experiment_at(&id),
            )
        }
        _ => return None,
    };
    Some(attempt)
}

/// The plan of a stored experiment, as its PUT takes it.
async fn plan_of(server: &TestServer, id: &str) -> Value {
    let stored = server
        .admin_get(&format!("{STAGING}/experiments/{id}"))
        .await;
    let keep = [
        "flag",
        "name",
        "variations",
        "control",
        "traffic_percent",
        "primary_metric",
    ];
    let mut plan = json!({});
    for field in keep {
        plan[field] = stored[field].clone();
    }
    plan
}
