//! Workload (b) of `benches/benches/engines.rs` (five rules of three clauses, a segment, a 50/50
//! fallthrough), checked to take the path the benchmark describes. With
//! `ENGINE_PROFILE_ITERATIONS=N` it evaluates N more times, for `valgrind --tool=callgrind` on a
//! release build of this test alone (two counts give the instructions per evaluation) without
//! building the benchmark's server dependencies:
//! `cargo test --release -p switchyard-engine --test workload_b --no-run`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use serde_json::json;
use switchyard_engine::{Context, Dataset, Env, Snapshot};

mod workload;

fn rules_data() -> Dataset {
    serde_json::from_value(json!({
        "flags": [
            {"key": "plain", "kind": "boolean", "salt": "s", "on": true,
             "variations": [{"value": false}, {"value": true}], "fallthrough": {"variation": 1}},
            {"key": "rules", "kind": "boolean", "salt": "s", "on": true,
             "variations": [{"value": false}, {"value": true}], "rules": workload::rules(),
             "fallthrough": workload::fifty_fifty()}
        ],
        "segments": [{"key": "beta", "rules": workload::beta_rules()}]
    }))
    .unwrap()
}

#[test]
fn workload_b_checks_every_rule_then_rolls_out() {
    let snapshot = Snapshot::compile(&rules_data());
    assert!(snapshot.problems().is_empty(), "{:?}", snapshot.problems());
    let context = Context::from_json(&json!({"key": "user-abc", "country": "US",
        "appVersion": "2.0.0", "age": 30, "email": "a@corp.example"}))
    .unwrap();
    let env = Env::default();
    let evaluation = snapshot.evaluate("rules", &context, &env);
    assert_eq!(
        evaluation.reason.kind_name(),
        "FALLTHROUGH",
        "{evaluation:?}"
    );
    assert!(evaluation.reason.rollout().is_some(), "{evaluation:?}");
    // Each rule on its own matches a context it describes.
    let beta = Context::from_json(&json!({"key": "b", "email": "x@beta.example"})).unwrap();
    assert_eq!(
        snapshot.evaluate("rules", &beta, &env).reason.kind_name(),
        "RULE_MATCH"
    );
    let rich = Context::from_json(&json!({"key": "r", "country": "X3", "appVersion": "10.0.0",
        "age": 300}))
    .unwrap();
    let matched = snapshot.evaluate("rules", &rich, &env);
    assert!(
        matches!(
            matched.reason,
            switchyard_engine::Reason::RuleMatch { rule_index: 3, .. }
        ),
        "{matched:?}"
    );

    let iterations: u64 = std::env::var("ENGINE_PROFILE_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    for _ in 0..iterations {
        black_box(snapshot.evaluate(black_box("rules"), &context, &env));
    }
}
