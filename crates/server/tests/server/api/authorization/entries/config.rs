//! The matrix's entries for config as code: export and plan read the whole project (decided by
//! `project:read` on it, the first check); an apply is decided change by change, here one
//! change, checkout turned on or off in staging, which is a `flag:toggle`.

use reqwest::Method;
use serde_json::json;
use switchyard_server::access::resources as res;
use switchyard_testkit::server::TestServer;

use super::{Attempt, Decides};
use crate::api::STAGING;

const CONFIG: &str = "/api/v1/projects/default/config";

/// The entry for `route` (`None` for a route of another kind).
pub(super) async fn prepare(server: &TestServer, route: &str) -> Option<Attempt> {
    let on_project = |path: String, body| Attempt {
        path,
        body,
        decides: Decides::On(res::project("default")),
        stream: false,
    };
    let attempt = match route {
        "GET /api/v1/projects/{project}/config" => on_project(CONFIG.into(), None),
        "POST /api/v1/projects/{project}/config/plan" => {
            let exported = server.admin_get(CONFIG).await;
            let body = json!({"config": exported["config"]});
            on_project(format!("{CONFIG}/plan"), Some(body))
        }
        "POST /api/v1/projects/{project}/config/apply" => {
            // Stored targeting, so the change is an update of `on` alone (a toggle).
            let path = format!("{STAGING}/flags/checkout");
            let stored = server.admin_get(&path).await;
            if stored["version"] == 0 {
                let body = json!({"version": 0, "on": false, "fallthrough": {"variation": 0}});
                server.admin(Method::PUT, &path, Some(body)).await;
            }
            let exported = server.admin_get(CONFIG).await;
            let mut config = exported["config"].clone();
            let checkout = config["flags"]
                .as_array_mut()?
                .iter_mut()
                .find(|f| f["key"] == "checkout")?;
            let staging = &mut checkout["environments"]["staging"];
            staging["on"] = json!(!staging["on"].as_bool().unwrap_or(false));
            Attempt {
                path: format!("{CONFIG}/apply"),
                body: Some(json!({"config": config, "expect_revision": exported["revision"]})),
                decides: Decides::Named {
                    action: "flag:toggle",
                    resource: res::env_flag("default", "staging", "checkout"),
                },
                stream: false,
            }
        }
        _ => return None,
    };
    Some(attempt)
}
