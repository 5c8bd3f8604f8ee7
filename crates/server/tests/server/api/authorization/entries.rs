//! The matrix's table: for each route, a real resource to try it on (made fresh where an
//! attempt may consume it), a body that would succeed, and how the route decides.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_server::access::resources as res;
use switchyard_testkit::server::TestServer;

use super::Principal;

mod config;
mod environments;
mod experiments;
mod governance;
mod playground;
mod release_plans;
use crate::api::{FLAGS, STAGING};

/// How a route decides, for the resource one attempt touches.
pub(super) enum Decides {
    /// `authorize(action, resource)`: allowed when owner and token both allow.
    On(String),
    /// As `On`, for the action the body names rather than the route's (a scheduled change
    /// checks the action of the write it schedules).
    Named {
        action: &'static str,
        resource: String,
    },
    /// The caller's own token: its scope alone suffices (see `authorize_token`).
    OwnToken(String),
    /// A list: answers every valid token, showing only what it may read.
    Filtered,
    /// Any valid token (`GET /me`).
    AnyToken,
    /// No token at all: the path's secret or the body is the credential.
    Credential,
}

/// One attempt at a route: a real resource's path, a body that would succeed.
pub(super) struct Attempt {
    pub(super) path: String,
    pub(super) body: Option<Value>,
    pub(super) decides: Decides,
    /// An event stream: only its status and headers are read.
    pub(super) stream: bool,
}

const ENV: &str = "proj/default:env/staging";
/// Stands for an id the server picks when it creates the resource.
pub(super) const NEW_ID: &str = "(new)";

/// The matrix's entry for `route`: the resources an attempt needs (made fresh when the
/// attempt may consume them), its path and body. `None` for a route without an entry.
pub(super) async fn prepare(
    server: &TestServer,
    route: &str,
    who: &Principal,
    n: usize,
) -> Option<Attempt> {
    let fresh = format!("{}-{n}", who.name);
    let on = |path: String, body: Option<Value>, resource: String| Attempt {
        path,
        body,
        decides: Decides::On(resource),
        stream: false,
    };
    let version = |path: String| async move { server.admin_get(&path).await["version"].clone() };
    let filtered = |path: &str| Attempt {
        path: path.to_owned(),
        body: None,
        decides: Decides::Filtered,
        stream: false,
    };
    let checkout = res::env_flag("default", "staging", "checkout");
    let flag_path = format!("{STAGING}/flags/checkout");
    let attempt = match route {
        "GET /api/v1/projects" => filtered("/api/v1/projects"),
        "POST /api/v1/projects" => on(
            "/api/v1/projects".into(),
            Some(json!({"key": fresh, "name": fresh})),
            res::project(&fresh),
        ),
        "GET /api/v1/projects/{project}" => on(
            "/api/v1/projects/default".into(),
            None,
            res::project("default"),
        ),
        "PUT /api/v1/projects/{project}" => {
            let version = version("/api/v1/projects/default".into()).await;
            on(
                "/api/v1/projects/default".into(),
                Some(json!({"key": "default", "name": fresh, "version": version})),
                res::project("default"),
            )
        }
        "DELETE /api/v1/projects/{project}" => {
            server
                .admin_post("/api/v1/projects", json!({"key": fresh, "name": fresh}))
                .await;
            on(
                format!("/api/v1/projects/{fresh}"),
                None,
                res::project(&fresh),
            )
        }
        "GET /api/v1/projects/{project}/environments" => {
            filtered("/api/v1/projects/default/environments")
        }
        "POST /api/v1/projects/{project}/environments" => on(
            "/api/v1/projects/default/environments".into(),
            Some(json!({"key": fresh, "name": fresh})),
            res::env("default", &fresh),
        ),
        "GET /api/v1/projects/{project}/environments/{env}" => on(STAGING.into(), None, ENV.into()),
        "PUT /api/v1/projects/{project}/environments/{env}" => {
            let version = version(STAGING.into()).await;
            on(
                STAGING.into(),
                Some(json!({"key": "staging", "name": fresh, "version": version})),
                ENV.into(),
            )
        }
        "DELETE /api/v1/projects/{project}/environments/{env}" => {
            let body = json!({"key": fresh, "name": fresh});
            server
                .admin_post("/api/v1/projects/default/environments", body)
                .await;
            on(
                format!("/api/v1/projects/default/environments/{fresh}"),
                None,
                res::env("default", &fresh),
            )
        }
        "GET /api/v1/projects/{project}/flags" => filtered(FLAGS),
        "POST /api/v1/projects/{project}/flags" => on(
            FLAGS.into(),
            Some(json!({"key": fresh, "kind": "boolean"})),
            res::flag("default", &fresh),
        ),
        "GET /api/v1/projects/{project}/flags/{flag}" => on(
            format!("{FLAGS}/checkout"),
            None,
            res::flag("default", "checkout"),
        ),
        "PUT /api/v1/projects/{project}/flags/{flag}" => {
            let version = version(format!("{FLAGS}/checkout")).await;
            on(
                format!("{FLAGS}/checkout"),
                Some(
                    json!({"key": "checkout", "kind": "boolean", "tags": [fresh], "version": version}),
                ),
                res::flag("default", "checkout"),
            )
        }
        "DELETE /api/v1/projects/{project}/flags/{flag}" => {
            server
                .admin_post(FLAGS, json!({"key": fresh, "kind": "boolean"}))
                .await;
            on(
                format!("{FLAGS}/{fresh}"),
                None,
                res::flag("default", &fresh),
            )
        }
        "POST /api/v1/projects/{project}/flags/{flag}/archive" => {
            server
                .admin_post(FLAGS, json!({"key": fresh, "kind": "boolean"}))
                .await;
            on(
                format!("{FLAGS}/{fresh}/archive"),
                Some(json!({"comment": fresh})),
                res::flag("default", &fresh),
            )
        }
        "POST /api/v1/projects/{project}/flags/{flag}/restore" => {
            let body = json!({"key": fresh, "kind": "boolean", "archived": true});
            server.admin_post(FLAGS, body).await;
            on(
                format!("{FLAGS}/{fresh}/restore"),
                Some(json!({"comment": fresh})),
                res::flag("default", &fresh),
            )
        }
        "GET /api/v1/projects/{project}/environments/{env}/stale-flags" => {
            filtered(&format!("{STAGING}/stale-flags"))
        }
        "GET /api/v1/projects/{project}/environments/{env}/flags/{flag}" => {
            on(flag_path, None, checkout)
        }
        "PUT /api/v1/projects/{project}/environments/{env}/flags/{flag}" => {
            let version = version(flag_path.clone()).await;
            on(
                flag_path,
                Some(json!({"version": version, "fallthrough": {"variation": 0}})),
                checkout,
            )
        }
        "POST /api/v1/projects/{project}/environments/{env}/flags/{flag}/toggle" => on(
            format!("{flag_path}/toggle"),
            Some(json!({"on": true})),
            checkout,
        ),
        "POST /api/v1/projects/{project}/environments/{env}/flags/{flag}/remove-targets" => {
            // A key of this attempt's own, targeted first.
            let current = server.admin_get(&flag_path).await;
            let targeted = json!({"version": current["version"], "on": current["on"],
                "fallthrough": current["fallthrough"],
                "targets": [{"variation": 0, "values": [fresh]}]});
            server.admin(Method::PUT, &flag_path, Some(targeted)).await;
            on(
                format!("{flag_path}/remove-targets"),
                Some(json!({"values": [fresh]})),
                checkout,
            )
        }
        "GET /api/v1/projects/{project}/environments/{env}/flags/{flag}/evaluations" => {
            on(format!("{flag_path}/evaluations"), None, checkout)
        }
        "GET /api/v1/projects/{project}/environments/{env}/flags/{flag}/exposures" => {
            on(format!("{flag_path}/exposures"), None, checkout)
        }
        "GET /api/v1/projects/{project}/environments/{env}/flags/{flag}/metrics" => {
            on(format!("{flag_path}/metrics"), None, checkout)
        }
        "POST /api/v1/projects/{project}/environments/{env}/flags/{flag}/kill" => on(
            format!("{flag_path}/kill"),
            Some(json!({"comment": fresh})),
            checkout,
        ),
        "GET /api/v1/projects/{project}/environments/{env}/flags/{flag}/triggers" => {
            on(format!("{flag_path}/triggers"), None, checkout)
        }
        "POST /api/v1/projects/{project}/environments/{env}/flags/{flag}/triggers" => on(
            format!("{flag_path}/triggers"),
            Some(json!({"description": fresh})),
            checkout,
        ),
        "DELETE /api/v1/projects/{project}/environments/{env}/flags/{flag}/triggers/{id}" => {
            let trigger = server
                .admin_post(&format!("{flag_path}/triggers"), json!({}))
                .await;
            let id = trigger["id"].as_str().unwrap();
            on(format!("{flag_path}/triggers/{id}"), None, checkout)
        }
        "POST /api/v1/triggers/{secret}" => {
            let trigger = server
                .admin_post(&format!("{flag_path}/triggers"), json!({}))
                .await;
            Attempt {
                path: trigger["url"].as_str().unwrap().to_owned(),
                body: Some(json!({})),
                decides: Decides::Credential,
                stream: false,
            }
        }
        "GET /api/v1/projects/{project}/environments/{env}/releases" => {
            filtered(&format!("{STAGING}/releases"))
        }
        "POST /api/v1/projects/{project}/environments/{env}/releases" => {
            releasable_flag(server, &fresh).await;
            on(
                format!("{STAGING}/releases"),
                Some(release_body(&fresh)),
                res::release("default", "staging", NEW_ID),
            )
        }
        "GET /api/v1/projects/{project}/environments/{env}/releases/{id}" => {
            let id = release(server, &fresh, false).await;
            on(
                format!("{STAGING}/releases/{id}"),
                None,
                res::release("default", "staging", &id),
            )
        }
        "POST /api/v1/projects/{project}/environments/{env}/releases/{id}/pause"
        | "POST /api/v1/projects/{project}/environments/{env}/releases/{id}/resume"
        | "POST /api/v1/projects/{project}/environments/{env}/releases/{id}/advance"
        | "POST /api/v1/projects/{project}/environments/{env}/releases/{id}/rollback"
        | "POST /api/v1/projects/{project}/environments/{env}/releases/{id}/abort" => {
            let id = release(server, &fresh, route.ends_with("/resume")).await;
            let verb = route.rsplit('/').next().unwrap();
            on(
                format!("{STAGING}/releases/{id}/{verb}"),
                Some(json!({"comment": fresh})),
                res::release("default", "staging", &id),
            )
        }
        "GET /api/v1/projects/{project}/webhooks" => filtered("/api/v1/projects/default/webhooks"),
        "POST /api/v1/projects/{project}/webhooks" => on(
            "/api/v1/projects/default/webhooks".into(),
            Some(json!({"url": "https://hooks.example.com/switchyard"})),
            res::webhook("default", NEW_ID),
        ),
        "DELETE /api/v1/projects/{project}/webhooks/{id}" => {
            let hook = server
                .admin_post(
                    "/api/v1/projects/default/webhooks",
                    json!({"url": "https://hooks.example.com/switchyard"}),
                )
                .await;
            let id = hook["id"].as_str().unwrap();
            on(
                format!("/api/v1/projects/default/webhooks/{id}"),
                None,
                res::webhook("default", id),
            )
        }
        "GET /api/v1/projects/{project}/webhooks/{id}/deliveries" => {
            let (id, _) = change_subscription(server, &fresh).await;
            on(
                format!("/api/v1/projects/default/webhooks/{id}/deliveries"),
                None,
                res::webhook("default", &id),
            )
        }
        "POST /api/v1/projects/{project}/webhooks/{id}/deliveries/{delivery}/redeliver" => {
            let (id, delivery) = change_subscription(server, &fresh).await;
            on(
                format!("/api/v1/projects/default/webhooks/{id}/deliveries/{delivery}/redeliver"),
                None,
                res::webhook("default", &id),
            )
        }
        "GET /api/v1/projects/{project}/environments/{env}/segments" => {
            filtered(&format!("{STAGING}/segments"))
        }
        "POST /api/v1/projects/{project}/environments/{env}/segments" => on(
            format!("{STAGING}/segments"),
            Some(json!({"key": fresh})),
            res::segment("default", "staging", &fresh),
        ),
        "GET /api/v1/projects/{project}/environments/{env}/segments/{segment}" => on(
            format!("{STAGING}/segments/beta"),
            None,
            res::segment("default", "staging", "beta"),
        ),
        "PUT /api/v1/projects/{project}/environments/{env}/segments/{segment}" => {
            let path = format!("{STAGING}/segments/beta");
            let version = version(path.clone()).await;
            on(
                path,
                Some(json!({"key": "beta", "version": version, "included": [{"values": [fresh]}]})),
                res::segment("default", "staging", "beta"),
            )
        }
        "DELETE /api/v1/projects/{project}/environments/{env}/segments/{segment}" => {
            server
                .admin_post(&format!("{STAGING}/segments"), json!({"key": fresh}))
                .await;
            on(
                format!("{STAGING}/segments/{fresh}"),
                None,
                res::segment("default", "staging", &fresh),
            )
        }
        "GET /api/v1/projects/{project}/environments/{env}/sdk-keys" => on(
            format!("{STAGING}/sdk-keys"),
            None,
            res::sdk_key("default", "staging", "*"),
        ),
        "POST /api/v1/projects/{project}/environments/{env}/sdk-keys" => on(
            format!("{STAGING}/sdk-keys"),
            Some(json!({"kind": "server", "name": fresh})),
            res::sdk_key("default", "staging", "*"),
        ),
        "DELETE /api/v1/projects/{project}/environments/{env}/sdk-keys/{id}" => {
            let key = server
                .admin_post(&format!("{STAGING}/sdk-keys"), json!({"kind": "server"}))
                .await;
            let id = key["id"].as_str().unwrap();
            on(
                format!("{STAGING}/sdk-keys/{id}"),
                None,
                res::sdk_key("default", "staging", id),
            )
        }
        "GET /api/v1/accounts" => filtered("/api/v1/accounts"),
        "POST /api/v1/accounts" => on(
            "/api/v1/accounts".into(),
            Some(json!({"name": fresh})),
            res::account(&fresh),
        ),
        "GET /api/v1/accounts/{name}" => {
            on("/api/v1/accounts/olga".into(), None, res::account("olga"))
        }
        "PUT /api/v1/accounts/{name}" => {
            let version = version("/api/v1/accounts/olga".into()).await;
            on(
                "/api/v1/accounts/olga".into(),
                Some(json!({"version": version, "roles": ["reader"]})),
                res::account("olga"),
            )
        }
        "DELETE /api/v1/accounts/{name}" => {
            server
                .admin_post("/api/v1/accounts", json!({"name": fresh}))
                .await;
            on(
                format!("/api/v1/accounts/{fresh}"),
                None,
                res::account(&fresh),
            )
        }
        "GET /api/v1/roles" => filtered("/api/v1/roles"),
        "POST /api/v1/roles" => on(
            "/api/v1/roles".into(),
            Some(json!({"name": fresh, "statements": []})),
            res::role(&fresh),
        ),
        "GET /api/v1/roles/{name}" => on("/api/v1/roles/ops".into(), None, res::role("ops")),
        "PUT /api/v1/roles/{name}" => {
            let version = version("/api/v1/roles/ops".into()).await;
            on(
                "/api/v1/roles/ops".into(),
                Some(json!({"version": version, "statements": [
                    {"effect": "allow", "actions": ["flag:*"], "resources": ["**"]}]})),
                res::role("ops"),
            )
        }
        "DELETE /api/v1/roles/{name}" => {
            server
                .admin_post("/api/v1/roles", json!({"name": fresh, "statements": []}))
                .await;
            on(format!("/api/v1/roles/{fresh}"), None, res::role(&fresh))
        }
        "GET /api/v1/tokens" => filtered("/api/v1/tokens"),
        "POST /api/v1/tokens" => Attempt {
            path: "/api/v1/tokens".into(),
            body: Some(json!({"name": fresh, "statements": [
                {"effect": "allow", "actions": ["flag:read"], "resources": ["proj/default:**"]}]})),
            decides: Decides::OwnToken(res::token(who.account, "*")),
            stream: false,
        },
        "DELETE /api/v1/tokens/{id}" => {
            let body = json!({"name": fresh, "account": who.account, "unscoped": true});
            let token = server.admin_post("/api/v1/tokens", body).await;
            let id = token["id"].as_str().unwrap();
            Attempt {
                path: format!("/api/v1/tokens/{id}"),
                body: None,
                decides: Decides::OwnToken(res::token(who.account, id)),
                stream: false,
            }
        }
        "POST /api/v1/auth/token" => Attempt {
            path: "/api/v1/auth/token".into(),
            body: Some(json!({"account": "rita", "password": "a long enough password"})),
            decides: Decides::Credential,
            stream: false,
        },
        "GET /api/v1/me" => Attempt {
            path: "/api/v1/me".into(),
            body: None,
            decides: Decides::AnyToken,
            stream: false,
        },
        "GET /api/v1/changes" => Attempt {
            path: "/api/v1/changes".into(),
            body: None,
            decides: Decides::AnyToken,
            stream: true,
        },
        "GET /api/v1/projects/{project}/config"
        | "POST /api/v1/projects/{project}/config/plan"
        | "POST /api/v1/projects/{project}/config/apply" => config::prepare(server, route).await?,
        "GET /api/v1/audit" => on("/api/v1/audit".into(), None, res::AUDIT.into()),
        "GET /api/v1/audit/verify" => on("/api/v1/audit/verify".into(), None, res::AUDIT.into()),
        "GET /api/v1/audit/export" => on("/api/v1/audit/export".into(), None, res::AUDIT.into()),
        _ => match playground::prepare(route).or_else(|| environments::prepare(route)) {
            Some(attempt) => attempt,
            None => match release_plans::prepare(server, route, &fresh).await {
                Some(attempt) => attempt,
                None => match experiments::prepare(server, route, &fresh).await {
                    Some(attempt) => attempt,
                    None => return governance::prepare(server, route, who, &fresh, checkout).await,
                },
            },
        },
    };
    Some(attempt)
}

/// A flag on in staging, serving `off`, ready for a release to `on`.
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

fn release_body(flag: &str) -> Value {
    json!({"flag": flag, "variation": "on", "stages": [{"percent": 50, "min_bake_s": 3600}]})
}

/// A running release of a fresh flag (held, when `paused`); its id.
async fn release(server: &TestServer, key: &str, paused: bool) -> String {
    releasable_flag(server, key).await;
    let started = server
        .admin_post(&format!("{STAGING}/releases"), release_body(key))
        .await;
    let id = started["id"].as_str().unwrap().to_owned();
    if paused {
        server
            .admin_post(
                &format!("{STAGING}/releases/{id}/pause"),
                json!({"comment": "so it can resume"}),
            )
            .await;
    }
    id
}

/// A subscription to every change of the project (to a closed loopback port) and the delivery
/// id of a change made after it.
async fn change_subscription(server: &TestServer, fresh: &str) -> (String, String) {
    let hook = server
        .admin_post(
            "/api/v1/projects/default/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "resources": ["*"]}),
        )
        .await;
    let id = hook["id"].as_str().unwrap().to_owned();
    let segment = json!({"key": format!("hooked-{fresh}")});
    server
        .admin_post(&format!("{STAGING}/segments"), segment)
        .await;
    let newest = server.admin_get("/api/v1/audit?limit=1").await;
    let seq = newest["records"][0]["seq"].as_i64().unwrap();
    (id.clone(), format!("{id}-{seq}"))
}
