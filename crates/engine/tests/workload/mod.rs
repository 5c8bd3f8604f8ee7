//! Workload (b)'s flag parts, in one place for every harness that measures or checks it:
//! `workload_b.rs` here, and `benches/benches/engines.rs` and `sdk.rs`, which include this file
//! by path.
#![allow(dead_code)] // each includer uses its own subset

use serde_json::{Value, json};

/// Five rules of three clauses (the first, `country in [...]`, fails for the benchmark's context,
/// so every rule is checked) and a rule on the `beta` segment.
pub(crate) fn rules() -> Vec<Value> {
    (0..5)
        .map(|i| {
            json!({"id": format!("r{i}"), "serve": {"variation": 1}, "condition": {"all": [
                {"attribute": "country", "op": "in", "values": ["DE", "FR", format!("X{i}")]},
                {"attribute": "appVersion", "op": "semver_gt", "values": ["9.1.0"]},
                {"attribute": "age", "op": "gt", "values": [200]}
            ]}})
        })
        .chain([json!({"id": "beta", "serve": {"variation": 1},
                       "condition": {"op": "segment_match", "values": ["beta"]}})])
        .collect()
}

/// The fallthrough: a 50/50 rollout between variations 0 and 1.
pub(crate) fn fifty_fifty() -> Value {
    json!({"rollout": {"variations": [
        {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}})
}

/// The `beta` segment's rules: emails at `@beta.example`.
pub(crate) fn beta_rules() -> Value {
    json!([{"condition": {"attribute": "email", "op": "ends_with", "values": ["@beta.example"]}}])
}
