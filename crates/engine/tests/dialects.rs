//! Behaviours of imported dialects that the native contract does not have (docs/evaluation.md,
//! "Imported dialects"), and that LaunchDarkly-dialect evaluation stays allocation-free on its
//! own paths (prerequisite chains, nested segments, cycles, invalid references). The full
//! comparison with LaunchDarkly's engine is `crates/import/tests/launchdarkly.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use switchyard_testkit::alloc::{Counting, allocations};

use serde_json::{Value, json};
use switchyard_engine::{Context, Dataset, Env, Snapshot};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn boolean_flag(dialect: &str, key: &str, extra: Value) -> Value {
    let mut flag = json!({"key": key, "kind": "boolean", "salt": "s", "on": true, "dialect": dialect,
                          "variations": [{"value": false}, {"value": true}],
                          "off_variation": 0, "fallthrough": {"variation": 0}});
    flag.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    flag
}

fn rule(condition: Value) -> Value {
    json!({"id": "r", "condition": condition, "serve": {"variation": 1}})
}

fn reason(snapshot: &Snapshot, key: &str, context: &Context) -> String {
    let evaluation = snapshot.evaluate(key, context, &Env::default());
    match evaluation.reason {
        switchyard_engine::Reason::Error { error_kind } => format!("ERROR/{error_kind:?}"),
        other => format!("{}/{:?}", other.kind_name(), evaluation.variation_index),
    }
}

fn launchdarkly_data() -> Dataset {
    let ld = |key: &str, extra: Value| boolean_flag("launchdarkly", key, extra);
    let prerequisite = |key: &str| json!({"prerequisites": [{"key": key, "variation": 1}], "fallthrough": {"variation": 1}});
    serde_json::from_value(json!({
        "flags": [
            ld("leaf", json!({"rules": [rule(json!({"attribute": "country", "op": "in", "values": ["DE"]}))]})),
            ld("middle", prerequisite("leaf")),
            ld("top", prerequisite("middle")),
            ld("cycle-a", prerequisite("cycle-b")),
            ld("cycle-b", prerequisite("cycle-a")),
            ld("cycle-off", json!({"on": false, "prerequisites": [{"key": "cycle-off", "variation": 1}]})),
            // `leaf` fails for most contexts but serves 1 when it does (its off variation), so
            // `leak` goes on to `needs-leaf`, which meets `leaf` still on the chain.
            ld("leaf-fails", json!({"off_variation": 1, "prerequisites": [{"key": "leaf", "variation": 1}],
                                    "fallthrough": {"variation": 1}})),
            ld("needs-leaf", prerequisite("leaf-fails")),
            ld("leak", json!({"prerequisites": [{"key": "leaf-fails", "variation": 1}, {"key": "needs-leaf", "variation": 1}],
                              "fallthrough": {"variation": 1}})),
            ld("segments", json!({"rules": [rule(json!({"op": "segment_match", "values": ["outer"]}))]})),
            ld("segment-cycle", json!({"rules": [rule(json!({"op": "segment_match", "values": ["cyc-a"]}))]})),
            ld("invalid-reference", json!({"rules": [rule(json!({"attribute": "//email", "op": "in", "values": ["x"]}))]})),
            ld("array-reference", json!({"rules": [rule(json!({"attribute": "/tags/0", "op": "in", "values": ["a"]}))]})),
            ld("anonymous", json!({"rules": [rule(json!({"attribute": "anonymous", "op": "in", "values": [false]}))]})),
            ld("empty-bucket", json!({"fallthrough": {"rollout": {"bucket_by": "nickname", "variations": [
                {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}}})),
            ld("off-out-of-range", json!({"on": false, "off_variation": 5})),
        ],
        "segments": [
            {"key": "outer", "dialect": "launchdarkly",
             "rules": [{"condition": {"op": "segment_match", "values": ["inner"]}}]},
            {"key": "inner", "dialect": "launchdarkly",
             "rules": [{"condition": {"attribute": "email", "op": "ends_with", "values": ["@corp.example"]}}]},
            {"key": "cyc-a", "dialect": "launchdarkly", "included": [{"values": ["vip"]}],
             "rules": [{"condition": {"op": "segment_match", "values": ["cyc-b"]}}]},
            {"key": "cyc-b", "dialect": "launchdarkly",
             "rules": [{"condition": {"op": "segment_match", "values": ["cyc-a"]}}]},
        ]
    }))
    .unwrap()
}

#[test]
fn launchdarkly_dialect_follows_launchdarkly() {
    let snapshot = Snapshot::compile(&launchdarkly_data());
    let user = Context::from_json(
        &json!({"key": "u1", "country": "FR", "email": "a@corp.example",
                                          "tags": ["a"], "nickname": ""}),
    )
    .unwrap();
    let vip = Context::from_json(&json!({"key": "vip", "country": "DE"})).unwrap();
    let expect = [
        ("top", &user, "PREREQUISITE_FAILED/Some(0)"),
        ("top", &vip, "FALLTHROUGH/Some(1)"),
        ("cycle-a", &user, "ERROR/MalformedFlag"),
        ("cycle-off", &user, "OFF/Some(0)"),
        ("leak", &user, "ERROR/MalformedFlag"),
        ("leak", &vip, "FALLTHROUGH/Some(1)"),
        ("segments", &user, "RULE_MATCH/Some(1)"),
        ("segment-cycle", &user, "ERROR/MalformedFlag"),
        // Listed in `cyc-a`: evaluation never goes round the cycle.
        ("segment-cycle", &vip, "RULE_MATCH/Some(1)"),
        ("invalid-reference", &user, "ERROR/MalformedFlag"),
        ("array-reference", &user, "FALLTHROUGH/Some(0)"),
        ("anonymous", &user, "RULE_MATCH/Some(1)"),
        ("off-out-of-range", &user, "ERROR/MalformedFlag"),
    ];
    for (key, context, want) in expect {
        assert_eq!(reason(&snapshot, key, context), want, "{key}");
    }
    // The empty string is hashed: the same bucket as LaunchDarkly's for "" under this salt,
    // not the bucket 0 of a missing attribute.
    let empty = snapshot.evaluate("empty-bucket", &user, &Env::default());
    let bucket = switchyard_engine::hash::launchdarkly_bucket("empty-bucket.s", "");
    assert_eq!(
        empty.reason.rollout().unwrap().bucket,
        (bucket * 100_000.0) as u32
    );
    assert_ne!(bucket, 0.0);
}

#[test]
fn launchdarkly_evaluation_does_not_allocate() {
    let snapshot = Snapshot::compile(&launchdarkly_data());
    let contexts = [
        Context::from_json(
            &json!({"key": "u1", "country": "FR", "email": "a@corp.example",
                                   "tags": ["a"], "nickname": ""}),
        )
        .unwrap(),
        Context::from_json(&json!({"key": "vip", "country": "DE"})).unwrap(),
    ];
    let keys: Vec<&str> = snapshot.flags().map(|f| f.key()).collect();
    let env = Env::default();
    let evaluate_all = || {
        let mut served = 0;
        for context in &contexts {
            for key in &keys {
                served += snapshot
                    .evaluate(key, context, &env)
                    .variation_index
                    .unwrap_or(7);
            }
        }
        served
    };
    let expected = evaluate_all();
    for context in &contexts {
        for key in &keys {
            let before = allocations();
            std::hint::black_box(snapshot.evaluate(key, context, &env));
            let n = allocations() - before;
            assert_eq!(n, 0, "{key} allocated {n} times");
        }
    }
    let before = allocations();
    for _ in 0..200 {
        assert_eq!(std::hint::black_box(evaluate_all()), expected);
    }
    let allocated = allocations() - before;
    assert_eq!(allocated, 0, "evaluation allocated {allocated} times");
}

#[test]
fn native_dialect_keeps_its_references() {
    let native = |key: &str, attribute: &str, values: Value| {
        boolean_flag(
            "native",
            key,
            json!({"rules": [rule(json!({"attribute": attribute, "op": "in", "values": values}))]}),
        )
    };
    let data: Dataset = serde_json::from_value(json!({"flags": [
        native("array", "/tags/0", json!(["a"])),
        native("slash", "/", json!(["x"])),
    ]}))
    .unwrap();
    let snapshot = Snapshot::compile(&data);
    let user = Context::from_json(&json!({"key": "u1", "tags": ["a"]})).unwrap();
    assert_eq!(reason(&snapshot, "array", &user), "RULE_MATCH/Some(1)");
    assert_eq!(reason(&snapshot, "slash", &user), "FALLTHROUGH/Some(0)");
}

#[test]
fn unleash_dates_fall_back_to_the_clock_only_for_current_time() {
    let unleash = |key: &str, field: &str| {
        boolean_flag(
            "unleash",
            key,
            json!({"rules": [rule(json!({"attribute": field, "op": "after",
                                          "values": ["2022-01-01T00:00:00Z"]}))]}),
        )
    };
    let data: Dataset = serde_json::from_value(json!({"flags": [
        unleash("clock", "currentTime"),
        unleash("signup", "signupDate"),
    ]}))
    .unwrap();
    let snapshot = Snapshot::compile(&data);
    let env = Env {
        now_ms: 1_700_000_000_000, // 2023-11-14, after the constraint's date
        random: 0,
    };
    let nobody = Context::from_json(&json!({"key": "u1"})).unwrap();
    let matched = |key: &str, context: &Context| {
        snapshot.evaluate(key, context, &env).reason.kind_name() == "RULE_MATCH"
    };
    assert!(matched("clock", &nobody), "a missing currentTime is now");
    assert!(
        !matched("signup", &nobody),
        "a missing other field does not match"
    );
    let signed_up =
        Context::from_json(&json!({"key": "u1", "signupDate": "2023-01-01T00:00:00Z"})).unwrap();
    assert!(matched("signup", &signed_up));
}
