//! The matrix's entries for the change-request and scheduled-change routes: each attempt acts
//! on a fresh change request in an environment that requires one approval.

use reqwest::Method;
use serde_json::json;
use switchyard_server::access::resources as res;
use switchyard_testkit::server::TestServer;

use super::super::Principal;
use super::{Attempt, Decides};

/// The entry for `route` (`None` for a route of another kind).
pub(super) async fn prepare(
    server: &TestServer,
    route: &str,
    who: &Principal,
    fresh: &str,
    checkout: String,
) -> Option<Attempt> {
    let on = |path: String, body: Option<serde_json::Value>, resource: String| Attempt {
        path,
        body,
        decides: Decides::On(resource),
        stream: false,
    };
    let filtered = |path: &str| Attempt {
        path: path.to_owned(),
        body: None,
        decides: Decides::Filtered,
        stream: false,
    };
    let attempt = match route {
        "GET /api/v1/projects/{project}/change-requests" => {
            filtered("/api/v1/projects/default/change-requests")
        }
        "GET /api/v1/projects/{project}/change-requests/{id}" => {
            let (path, resource) = change_request(server, GOVERNED, None).await;
            on(path, None, resource)
        }
        "PUT /api/v1/projects/{project}/change-requests/{id}" => {
            let author = authored_by(server, who, GOVERNED).await;
            let (path, resource) = change_request(server, GOVERNED, Some(&author)).await;
            let body = json!({"request": {"on": false, "comment": fresh}, "revision": 1});
            Attempt {
                path,
                body: Some(body),
                decides: Decides::On(resource),
                stream: false,
            }
        }
        "POST /api/v1/projects/{project}/change-requests/{id}/approve"
        | "POST /api/v1/projects/{project}/change-requests/{id}/reject" => {
            // Someone else's: nobody approves their own.
            let body = json!({"name": fresh, "account": "walt", "unscoped": true});
            let walt = server.admin_post("/api/v1/tokens", body).await;
            let walt = walt["token"].as_str().unwrap().to_owned();
            let (path, resource) = change_request(server, GOVERNED, Some(&walt)).await;
            let verb = route.rsplit('/').next().unwrap();
            on(
                format!("{path}/{verb}"),
                Some(json!({"comment": fresh})),
                resource,
            )
        }
        "POST /api/v1/projects/{project}/change-requests/{id}/schedule" => {
            let author = authored_by(server, who, GOVERNED).await;
            let (path, resource) = change_request(server, GOVERNED, Some(&author)).await;
            let body = json!({"at": "2099-01-01T00:00:00Z", "comment": fresh});
            on(format!("{path}/schedule"), Some(body), resource)
        }
        "POST /api/v1/projects/{project}/scheduled-changes" => Attempt {
            path: "/api/v1/projects/default/scheduled-changes".into(),
            body: Some(json!({"environment": "staging", "operation": "toggle",
                "target": "checkout", "request": {"on": true, "comment": fresh},
                "at": "2099-01-01T00:00:00Z"})),
            decides: Decides::Named {
                action: "flag:toggle",
                resource: checkout,
            },
            stream: false,
        },
        "POST /api/v1/projects/{project}/change-requests/{id}/withdraw" => {
            let author = authored_by(server, who, GOVERNED).await;
            let (path, resource) = change_request(server, GOVERNED, Some(&author)).await;
            on(
                format!("{path}/withdraw"),
                Some(json!({"comment": fresh})),
                resource,
            )
        }
        "POST /api/v1/projects/{project}/change-requests/{id}/apply" => {
            // In an environment of its own, whose count is lowered to 0 once the request is
            // made, so the request has the approvals it needs.
            let env = format!("gov-{fresh}");
            let author = authored_by(server, who, &env).await;
            let (path, resource) = change_request(server, &env, Some(&author)).await;
            let env_path = format!("/api/v1/projects/default/environments/{env}");
            let lowered = json!({"key": env, "required_approvals": 0, "version": 1});
            server.admin(Method::PUT, &env_path, Some(lowered)).await;
            on(format!("{path}/apply"), None, resource)
        }
        _ => return None,
    };
    Some(attempt)
}

/// The environment of the change-request routes: one approval required.
const GOVERNED: &str = "governed";

/// Makes `env` (once) with one approval required.
async fn governed(server: &TestServer, env: &str) {
    let body = json!({"key": env, "required_approvals": 1});
    let path = "/api/v1/projects/default/environments";
    let (status, answer) = server
        .call(Some(&server.admin), Method::POST, path, Some(body))
        .await;
    assert!(
        status.is_success() || status.as_u16() == 409,
        "{status} {answer}"
    );
}

/// The token whose change request `who` acts on: its own where it may propose one (so the
/// author-only routes meet their author), else the admin's. Decided from the principal's
/// policy, so no refused attempt is audited outside the matrix's count.
async fn authored_by(server: &TestServer, who: &Principal, env: &str) -> String {
    let toggle = res::env_flag("default", env, "checkout");
    match (&who.token, &who.access) {
        (Some(token), Some(access)) if access.allows("flag:toggle", &toggle) => token.clone(),
        _ => server.admin.clone(),
    }
}

/// A pending change request (a toggle of `checkout` in `env`) by `author` (default the
/// admin): its path and resource.
async fn change_request(server: &TestServer, env: &str, author: Option<&str>) -> (String, String) {
    governed(server, env).await;
    let toggle = format!("/api/v1/projects/default/environments/{env}/flags/checkout/toggle");
    let token = author.unwrap_or(&server.admin);
    let (status, answer) = server
        .call(
            Some(token),
            Method::POST,
            &toggle,
            Some(json!({"on": true})),
        )
        .await;
    assert_eq!(status.as_u16(), 202, "{answer}");
    let id = answer["change_request"]["id"].as_str().unwrap().to_owned();
    (
        format!("/api/v1/projects/default/change-requests/{id}"),
        res::change_request("default", env, &id),
    )
}
