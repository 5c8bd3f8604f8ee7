//! Targeting in words: what a reviewer reads for each kind of difference.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

fn spec() -> FlagSpec {
    serde_json::from_value(json!({
        "key": "checkout", "kind": "string", "salt": "s", "off_variation": "old",
        "variations": [
            {"key": "old", "value": "a"},
            {"key": "new", "value": "b", "name": "New checkout"}
        ]
    }))
    .unwrap()
}

fn targeting(value: serde_json::Value) -> Targeting {
    serde_json::from_value(value).unwrap()
}

fn change(field: &str, before: Option<&str>, after: Option<&str>) -> FieldChange {
    FieldChange {
        field: field.to_owned(),
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
    }
}

#[test]
fn serves_are_named_by_variation_key_and_percentage() {
    let spec = spec();
    assert_eq!(
        describe_serve(&spec, &Serve::Variation(0)),
        r#"variation "old""#
    );
    assert_eq!(
        describe_serve(&spec, &Serve::Variation(1)),
        r#"variation "new" (New checkout)"#
    );
    let rollout: Serve = serde_json::from_value(json!({"rollout": {"variations": [
        {"variation": 1, "weight": 10000}, {"variation": 0, "weight": 90000}
    ]}}))
    .unwrap();
    assert_eq!(
        describe_serve(&spec, &rollout),
        r#"10% "new" (New checkout) / 90% "old" by user key"#
    );
    let odd: Serve = serde_json::from_value(json!({"rollout": {
        "variations": [{"variation": 0, "weight": 12500}, {"variation": 0, "weight": 87499},
                       {"variation": 0, "weight": 1}],
        "context_kind": "org", "bucket_by": "/region", "seed": "x", "experiment": true
    }}))
    .unwrap();
    assert_eq!(
        describe_serve(&spec, &odd),
        r#"12.5% "old" / 87.499% "old" / 0.001% "old" by org /region, seed "x", an experiment"#
    );
    let release: Serve = serde_json::from_value(json!({"release": {
        "stage": "r1.2", "variation": 1, "weight": 5000, "seed": "r1",
        "audience": {"kind": "user", "attribute": "email", "op": "ends_with", "values": ["@corp"]},
        "previous": {"variation": 0}
    }}))
    .unwrap();
    assert_eq!(
        describe_serve(&spec, &release),
        r#"release r1 stage 2: 5% "new" (New checkout) over variation "old"; always "new" (New checkout) for user.email ends_with "@corp""#
    );
    assert_eq!(
        describe_serve(&spec, &Serve::Variation(7)),
        "variation a variation that does not exist (index 7)"
    );
}

#[test]
fn conditions_read_as_sentences() {
    let condition: Condition = serde_json::from_value(json!({"all": [
        {"kind": "user", "attribute": "country", "op": "in", "values": ["de", "fr"]},
        {"any": [
            {"op": "segment_match", "values": ["beta"]},
            {"kind": "user", "attribute": "/address/city", "op": "starts_with",
             "values": ["ber"], "case_insensitive": true}
        ]},
        {"not": {"kind": "user", "attribute": "email", "op": "exists"}},
        {"percentage": {"weight": 25000}}
    ]}))
    .unwrap();
    assert_eq!(
        describe_condition(&condition),
        r#"user.country in "de", "fr" and (in segment "beta" or user/address/city starts_with "ber" (ignoring case)) and not user.email exists and 25% of contexts by user key"#
    );
    assert_eq!(describe_condition(&Condition::always()), "always");
}

#[test]
fn the_same_targeting_has_no_differences() {
    let t = targeting(
        json!({"on": true, "off_variation": 0, "fallthrough": {"variation": 1},
        "rules": [{"id": "r1", "condition": {"op": "segment_match", "values": ["beta"]},
                   "serve": {"variation": 1}}]}),
    );
    assert!(targeting_changes(&spec(), Some(&t), Some(&t)).is_empty());
    assert!(targeting_changes(&spec(), None, None).is_empty());
}

#[test]
fn each_changed_field_is_named_with_both_sides() {
    let spec = spec();
    let before = targeting(json!({
        "on": false, "off_variation": 0,
        "targets": [{"kind": "user", "variation": 1, "values": ["alice"]}],
        "rules": [
            {"id": "r1", "condition": {"op": "segment_match", "values": ["beta"]}, "serve": {"variation": 1}},
            {"id": "r2", "condition": {"kind": "user", "attribute": "plan", "op": "in", "values": ["pro"]}, "serve": {"variation": 1}},
            {"id": "r3", "serve": {"variation": 0}}
        ],
        "fallthrough": {"variation": 0}
    }));
    let after = targeting(json!({
        "on": true, "off_variation": 1,
        "targets": [{"kind": "user", "variation": 1, "values": ["alice", "bob"]},
                    {"kind": "org", "variation": 0, "values": ["acme"]}],
        "rules": [
            {"id": "r2", "condition": {"kind": "user", "attribute": "plan", "op": "in", "values": ["pro", "team"]}, "serve": {"variation": 1}},
            {"id": "r1", "condition": {"op": "segment_match", "values": ["beta"]},
             "serve": {"rollout": {"variations": [{"variation": 1, "weight": 50000}, {"variation": 0, "weight": 50000}]}}},
            {"id": "r4", "serve": {"variation": 1}}
        ],
        "fallthrough": {"variation": 1}
    }));
    let changes = targeting_changes(&spec, Some(&before), Some(&after));
    assert_eq!(
        changes,
        vec![
            change("on", Some("off"), Some("on")),
            change(
                "off_variation",
                Some(r#"variation "old""#),
                Some(r#"variation "new" (New checkout)"#)
            ),
            change(
                "targets[kind=user]",
                Some(r#""new" (New checkout): alice"#),
                Some(r#""new" (New checkout): alice, bob"#)
            ),
            change("targets[kind=org]", None, Some(r#""old": acme"#)),
            change(
                "rules[id=r1].serve",
                Some(r#"variation "new" (New checkout)"#),
                Some(r#"50% "new" (New checkout) / 50% "old" by user key"#)
            ),
            change(
                "rules[id=r2].condition",
                Some(r#"user.plan in "pro""#),
                Some(r#"user.plan in "pro", "team""#)
            ),
            change(
                "rules[id=r3]",
                Some(r#"if always serve variation "old""#),
                None
            ),
            change("rules", Some("r1, r2, r3"), Some("r2, r1, r4")),
            change(
                "rules[id=r4]",
                None,
                Some(r#"if always serve variation "new" (New checkout)"#)
            ),
            change(
                "fallthrough",
                Some(r#"variation "old""#),
                Some(r#"variation "new" (New checkout)"#)
            ),
        ]
    );
}

#[test]
fn a_new_targeting_lists_what_it_sets_and_rules_whole() {
    let after = targeting(json!({
        "on": true, "off_variation": 0,
        "prerequisites": [{"key": "login", "variation": 0}],
        "rules": [{"id": "r1", "serve": {"variation": 1}}, {"id": "r2", "serve": {"variation": 0}}],
        "fallthrough": {"variation": 0}
    }));
    let login: FlagSpec = serde_json::from_value(json!({
        "key": "login", "kind": "boolean",
        "variations": [{"key": "enabled", "value": true}, {"key": "disabled", "value": false}]
    }))
    .unwrap();
    let lookup = |key: &str| (key == "login").then_some(&login);
    let changes = targeting_changes_with(&spec(), &lookup, None, Some(&after));
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "on",
            "off_variation",
            "prerequisites[key=login]",
            "rules[id=r1]",
            "rules[id=r2]",
            "fallthrough"
        ]
    );
    assert!(changes.iter().all(|c| c.before.is_none()));
    assert_eq!(
        changes[2].after.as_deref(),
        Some(r#""login" serves "enabled""#)
    );
    // Without the prerequisite's spec its variation can only be numbered.
    let unnamed = targeting_changes(&spec(), Some(&after), None);
    assert_eq!(
        unnamed[2].before.as_deref(),
        Some(r#""login" serves variation #0"#)
    );
    assert!(unnamed.iter().all(|c| c.after.is_none()));
}

#[test]
fn long_target_lists_are_counted_and_the_moves_named() {
    let keys = |n: usize| -> Vec<String> { (0..n).map(|i| format!("u{i}")).collect() };
    let before = targeting(json!({"on": true, "fallthrough": {"variation": 0},
        "targets": [{"kind": "user", "variation": 1, "values": keys(30)}]}));
    let mut grown = keys(31);
    grown.remove(0);
    let after = targeting(json!({"on": true, "fallthrough": {"variation": 0},
        "targets": [{"kind": "user", "variation": 1, "values": grown}]}));
    let changes = targeting_changes(&spec(), Some(&before), Some(&after));
    assert_eq!(
        changes,
        vec![change(
            "targets[kind=user]",
            Some(r#""new" (New checkout): 30 keys"#),
            Some(
                r#""new" (New checkout): 30 keys ("new" (New checkout) added u30; "new" (New checkout) removed u0)"#
            )
        )]
    );
}

#[test]
fn percentages_keep_their_thousandths() {
    assert_eq!(percent(0), "0%");
    assert_eq!(percent(100_000), "100%");
    assert_eq!(percent(33_333), "33.333%");
    assert_eq!(percent(50_500), "50.5%");
    assert_eq!(relative_percent(1, 3), "33.333%");
    assert_eq!(relative_percent(0, 0), "0%");
}

#[test]
fn a_difference_the_words_leave_out_is_still_reported() {
    let with_seed = |seed: &str| {
        targeting(json!({"on": true, "fallthrough": {"release": {
            "stage": "r1.1", "variation": 1, "weight": 1000, "seed": seed,
            "previous": {"variation": 0}}}}))
    };
    let changes = targeting_changes(&spec(), Some(&with_seed("a")), Some(&with_seed("b")));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].field, "fallthrough");
    assert_eq!(
        changes[0].after.as_deref(),
        Some(
            r#"release r1 stage 1: 1% "new" (New checkout) over variation "old" (changed in details not shown)"#
        )
    );
}

#[test]
fn unleash_percentages_are_whole_percents() {
    let condition: Condition =
        serde_json::from_value(json!({"percentage": {"weight": 25, "bucket_by": "default"}}))
            .unwrap();
    assert_eq!(
        describe_condition_in(Dialect::Unleash, &condition),
        "25% of contexts by user default"
    );
    assert_eq!(
        describe_condition(&condition),
        "0.025% of contexts by user default"
    );
}
