//! The matrix's entries for the playground: evaluating one named flag is decided by
//! `flag:read` on its targeting in the environment; the activity summary answers every valid
//! token, counting only the flags it may read.

use serde_json::json;
use switchyard_server::access::resources as res;

use super::{Attempt, Decides};
use crate::api::STAGING;

/// The entry for `route` (`None` for a route of another kind).
pub(super) fn prepare(route: &str) -> Option<Attempt> {
    let (path, body, decides) = match route {
        "POST /api/v1/projects/{project}/environments/{env}/evaluate" => (
            format!("{STAGING}/evaluate"),
            Some(json!({"context": {"targetingKey": "u1"}, "flag": "checkout"})),
            Decides::On(res::env_flag("default", "staging", "checkout")),
        ),
        "GET /api/v1/projects/{project}/environments/{env}/activity" => {
            (format!("{STAGING}/activity"), None, Decides::Filtered)
        }
        _ => return None,
    };
    Some(Attempt {
        path,
        body,
        decides,
        stream: false,
    })
}
