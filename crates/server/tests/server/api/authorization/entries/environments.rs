//! The matrix's entries for environments side by side: a comparison reads the flag in both
//! environments and a promotion updates it in the target, each checked from staging into
//! production, so the refusal a principal meets is on production's targeting.

use serde_json::json;
use switchyard_server::access::resources as res;

use super::{Attempt, Decides};
use crate::api::{FLAGS, STAGING};

/// The entry for `route` (`None` for a route of another kind).
pub(super) fn prepare(route: &str) -> Option<Attempt> {
    let production = res::env_flag("default", "production", "checkout");
    let (path, body) = match route {
        "GET /api/v1/projects/{project}/environments/{env}/compare/{to}" => {
            (format!("{STAGING}/compare/production?flag=checkout"), None)
        }
        // Only `on`: whatever else the matrix left in staging's targeting stays out of it.
        "POST /api/v1/projects/{project}/flags/{flag}/promote" => (
            format!("{FLAGS}/checkout/promote"),
            Some(json!({"from": "staging", "to": "production", "parts": ["on"]})),
        ),
        _ => return None,
    };
    Some(Attempt {
        path,
        body,
        decides: Decides::On(production),
        stream: false,
    })
}
