//! Workload (b) of `benches/benches/engines.rs` (five rules of three clauses, a segment, a 50/50
//! fallthrough), checked to take the path the benchmark describes. With
//! `ENGINE_PROFILE_ITERATIONS=N` it evaluates N more times, for `valgrind --tool=callgrind` on a
//! release build of this test alone (two counts give the instructions per evaluation) without
//! building the benchmark's server dependencies:
//! `cargo test --release -p switchyard-engine --test workload_b --no-run`, then
//! `ENGINE_PROFILE_ITERATIONS=20000` and `=40000` under
//! `valgrind --tool=callgrind --dump-instr=no <target/release/deps/workload_b-…>`: the difference
//! of the two totals ÷ 20,000. `ENGINE_PROFILE_FLAG=plain` or `=targets` profiles workload (a)
//! or (c) (the benchmark's plain flag, and its 10,000-key target list the context is not in)
//! instead of `rules`.
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
             "fallthrough": workload::fifty_fifty()},
            {"key": "targets", "kind": "boolean", "salt": "s", "on": true,
             "variations": [{"value": false}, {"value": true}],
             "targets": [{"variation": 1,
                          "values": (0..10_000).map(|i| format!("user-{i}")).collect::<Vec<_>>()}],
             "fallthrough": {"variation": 0}}
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

    // (a) and (c) fall through too, (c) after checking its 10,000 keys.
    for key in ["plain", "targets"] {
        let evaluation = snapshot.evaluate(key, &context, &env);
        assert_eq!(
            evaluation.reason,
            switchyard_engine::Reason::Fallthrough {
                rollout: None,
                release: None
            }
        );
    }

    let iterations: u64 = std::env::var("ENGINE_PROFILE_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let flag = std::env::var("ENGINE_PROFILE_FLAG").unwrap_or_else(|_| "rules".to_owned());
    for _ in 0..iterations {
        black_box(snapshot.evaluate(black_box(&flag), &context, &env));
    }
}
