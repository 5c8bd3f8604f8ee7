//! Evaluating a compiled flag does no heap allocation: a counting global allocator watches
//! every evaluation path (rules of every operator, segments, targets, rollouts, prerequisites,
//! errors, multi-kind contexts). Its own test binary, so no other test allocates meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use switchyard_testkit::alloc::{Counting, allocations};

use serde_json::json;
use switchyard_engine::{Context, Dataset, Env, Snapshot, ValueType};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn evaluation_does_not_allocate() {
    let clause = |attribute: &str, op: &str, values: serde_json::Value| json!({"attribute": attribute, "op": op, "values": values});
    let rule = |id: &str, condition: serde_json::Value| json!({"id": id, "condition": condition, "serve": {"variation": 1}});
    let rules = json!([
        rule(
            "in",
            json!({"all": [clause("country", "in", json!(["DE", "FR"])), clause("age", "gt", json!([200]))]})
        ),
        rule(
            "folded",
            clause("email", "ends_with", json!(["@BETA.example"]))
                .as_object()
                .map(|c| {
                    let mut c = c.clone();
                    c.insert("case_insensitive".into(), json!(true));
                    serde_json::Value::Object(c)
                })
                .unwrap()
        ),
        rule("contains", clause("email", "contains", json!(["nope"]))),
        rule("regex", clause("email", "matches", json!(["^z+@"]))),
        rule(
            "semver",
            clause("appVersion", "semver_gt", json!(["9.1.0"]))
        ),
        rule(
            "dates",
            clause("signup", "before", json!(["2001-01-01T00:00:00Z"]))
        ),
        rule(
            "cidr",
            clause("ip", "in_cidr", json!(["10.0.0.0/8", "2001:db8::/32"]))
        ),
        rule("numbers", clause("tags", "in", json!([1, 2]))),
        rule(
            "exists",
            json!({"not": clause("email", "exists", json!([]))})
        ),
        rule(
            "tenant",
            json!({"kind": "tenant", "attribute": "/billing/plan", "op": "in", "values": ["gold"]})
        ),
        rule(
            "segment",
            json!({"op": "segment_match", "values": ["beta"]})
        ),
        rule(
            "percentage",
            json!({"percentage": {"weight": 10, "seed": "x"}})
        ),
    ]);
    let data: Dataset = serde_json::from_value(json!({
        "flags": [
            {"key": "parent", "kind": "boolean", "on": true,
             "variations": [{"value": false}, {"value": true}], "fallthrough": {"variation": 1}},
            {"key": "big", "kind": "boolean", "salt": "s", "on": true,
             "variations": [{"value": false}, {"value": true}],
             "prerequisites": [{"key": "parent", "variation": 1}],
             "targets": [{"variation": 1, "values": (0..10_000).map(|i| format!("user-{i}")).collect::<Vec<_>>()}],
             "rules": rules,
             "fallthrough": {"rollout": {"variations": [{"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}],
                                          "bucket_by": "age"}}},
            {"key": "broken", "kind": "boolean", "on": true, "variations": [{"value": true}], "fallthrough": {"variation": 9}}
        ],
        "segments": [{"key": "beta", "included": [{"values": ["vip"]}],
                      "rules": [{"condition": {"attribute": "email", "op": "ends_with", "values": ["@beta.example"]}}]}]
    }))
    .unwrap();
    let snapshot = Snapshot::compile(&data);
    let problems: Vec<_> = snapshot
        .problems()
        .iter()
        .filter(|p| !p.field.starts_with("flags[broken]"))
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
    let context = Context::from_json(&json!({
        "kind": "multi",
        "user": {"key": "user-abc", "country": "US", "appVersion": "2.0.0", "age": 30,
                 "email": "a@corp.example", "signup": "2020-05-01T10:00:00+02:00",
                 "ip": "192.168.0.1", "tags": ["a", "b"]},
        "tenant": {"key": "acme", "billing": {"plan": "silver"}}
    }))
    .unwrap();
    let env = Env::default();
    let evaluate_all = || {
        let mut served = 0;
        for key in ["big", "parent", "broken", "missing"] {
            let e = snapshot.evaluate_typed(key, &context, &env, ValueType::Bool);
            served += e.variation_index.unwrap_or(7);
        }
        served
    };
    let expected = evaluate_all(); // warms up lazily-initialised regex caches
    let big = snapshot.evaluate("big", &context, &env);
    assert_eq!(
        big.reason.kind_name(),
        "FALLTHROUGH",
        "every rule must be checked: {big:?}"
    );
    assert!(big.reason.rollout().is_some());

    // The counter itself works: building a context allocates.
    let before = allocations();
    std::hint::black_box(Context::from_json(&json!({"key": "x"})).unwrap());
    assert!(
        allocations() > before,
        "the counting allocator is not counting"
    );

    let before = allocations();
    for _ in 0..1000 {
        assert_eq!(std::hint::black_box(evaluate_all()), expected);
    }
    let allocated = allocations() - before;
    assert_eq!(
        allocated, 0,
        "evaluation allocated {allocated} times in 1000 rounds"
    );
}
