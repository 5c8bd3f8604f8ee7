//! The release layer (`product.md`, "Monotone ramps"): its own seed, bucket < weight is treated,
//! everyone else gets the rule's previous serving unchanged, the audience is outside both cohorts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use switchyard_engine::{Cohort, Context, Dataset, Env, Snapshot};

/// A three-variation flag whose fallthrough is a 50/50 rollout over variations 0 and 1, with
/// `release` (if any) layered on it, releasing variation 2.
fn flag(release: Option<Value>) -> Snapshot {
    let previous = json!({"rollout": {"variations": [
        {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}});
    let fallthrough = match release {
        Some(mut layer) => {
            layer["previous"] = previous;
            json!({ "release": layer })
        }
        None => previous,
    };
    let data: Dataset = serde_json::from_value(json!({
        "flags": [{
            "key": "checkout", "kind": "string", "salt": "f3a9c1", "on": true,
            "variations": [{"value": "a"}, {"value": "b"}, {"value": "new"}],
            "fallthrough": fallthrough
        }],
        "segments": [{"key": "staff", "salt": "s", "included": [{"kind": "user", "values": ["alice"]}]}]
    }))
    .unwrap();
    let snapshot = Snapshot::compile(&data);
    assert!(snapshot.problems().is_empty(), "{:?}", snapshot.problems());
    snapshot
}

fn layer(weight: u32) -> Value {
    json!({"stage": "rel-1.2", "variation": 2, "weight": weight, "seed": "release-7f2c",
           "audience": {"op": "segment_match", "values": ["staff"]}})
}

fn user(key: &str) -> Context {
    Context::from_json(&json!({ "key": key })).unwrap()
}

#[test]
fn the_golden_vector_decides_the_cohort() {
    // product.md: prefix `release-7f2c`, value `user-1` → bucket 35926.
    let at = |weight| {
        let snapshot = flag(Some(layer(weight)));
        let evaluation = snapshot.evaluate("checkout", &user("user-1"), &Env::default());
        let release = evaluation.reason.release().unwrap();
        assert_eq!(release.stage, "rel-1.2");
        (evaluation.variation_index, release.cohort)
    };
    assert_eq!(at(35927), (Some(2), Cohort::Treated));
    assert_eq!(at(35926).1, Cohort::Control);
}

#[test]
fn control_gets_the_previous_serving_unchanged_and_ramps_are_monotone() {
    let without = flag(None);
    let weights = [0, 1_000, 5_000, 25_000, 50_000, 98_000, 100_000];
    let snapshots: Vec<Snapshot> = weights.iter().map(|w| flag(Some(layer(*w)))).collect();
    let mut treated_at = vec![0usize; weights.len()];
    for i in 0..5_000 {
        let context = user(&format!("user-{i}"));
        let before = without.evaluate("checkout", &context, &Env::default());
        let mut was_treated = false;
        for (stage, snapshot) in snapshots.iter().enumerate() {
            let evaluation = snapshot.evaluate("checkout", &context, &Env::default());
            let cohort = evaluation.reason.release().unwrap().cohort;
            match cohort {
                Cohort::Treated => {
                    assert_eq!(evaluation.variation_index, Some(2));
                    treated_at[stage] += 1;
                    was_treated = true;
                }
                Cohort::Control => {
                    assert!(
                        !was_treated,
                        "user-{i} left the treated side at stage {stage}"
                    );
                    assert_eq!(evaluation.variation_index, before.variation_index);
                    assert_eq!(evaluation.reason.rollout(), before.reason.rollout());
                }
                Cohort::Audience => panic!("user-{i} is not staff"),
            }
        }
    }
    assert_eq!(treated_at[0], 0);
    assert_eq!(treated_at[weights.len() - 1], 5_000);
    // 5 % of 5,000 is 250; the binomial standard deviation is about 15.
    assert!((175..325).contains(&treated_at[2]), "{treated_at:?}");
}

#[test]
fn the_audience_is_served_the_target_outside_both_cohorts() {
    let snapshot = flag(Some(layer(0)));
    let evaluation = snapshot.evaluate("checkout", &user("alice"), &Env::default());
    assert_eq!(evaluation.variation_index, Some(2));
    assert_eq!(
        evaluation.reason.release().unwrap().cohort,
        Cohort::Audience
    );
}

#[test]
fn a_context_without_a_key_is_control_until_100_percent() {
    let anonymous = Context::from_json(&json!({"kind": "device", "key": "d1"})).unwrap();
    let cohort = |weight| {
        flag(Some(layer(weight)))
            .evaluate("checkout", &anonymous, &Env::default())
            .reason
            .release()
            .unwrap()
            .cohort
    };
    assert_eq!(cohort(99_999), Cohort::Control);
    assert_eq!(cohort(100_000), Cohort::Treated);
}

#[test]
fn bad_layers_are_problems() {
    let data = |fallthrough: Value| -> Dataset {
        serde_json::from_value(json!({"flags": [{
            "key": "f", "kind": "boolean", "salt": "s", "on": true,
            "variations": [{"value": true}, {"value": false}], "fallthrough": fallthrough
        }]}))
        .unwrap()
    };
    let nested = json!({"release": {"stage": "r.1", "variation": 0, "weight": 10, "seed": "r",
        "previous": {"release": {"stage": "q.1", "variation": 0, "weight": 10, "seed": "q",
        "previous": {"variation": 1}}}}});
    let too_heavy = json!({"release": {"stage": "r.1", "variation": 5, "weight": 100_001,
        "seed": "r", "previous": {"variation": 1}}});
    let fields = |v: Value| -> Vec<String> {
        Snapshot::compile(&data(v))
            .problems()
            .iter()
            .map(|p| p.field.clone())
            .collect()
    };
    assert_eq!(
        fields(nested),
        ["flags[f].fallthrough.release.previous"],
        "one release per rule"
    );
    let heavy = fields(too_heavy);
    assert!(
        heavy.iter().any(|f| f.ends_with("release.weight")),
        "{heavy:?}"
    );
    assert!(
        heavy.iter().any(|f| f.ends_with("release.variation")),
        "{heavy:?}"
    );
    // A malformed flag evaluates to the caller's default with an error reason.
    let broken = Snapshot::compile(&data(json!({"release": {"stage": "r.1", "variation": 0,
        "weight": 100_001, "seed": "r", "previous": {"variation": 1}}})));
    let evaluation = broken.evaluate("f", &user("u"), &Env::default());
    assert_eq!(evaluation.reason.kind_name(), "ERROR");
}
