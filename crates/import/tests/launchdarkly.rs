//! LaunchDarkly data imported and evaluated by our engine must give what LaunchDarkly's own
//! engine gives: `fixtures/launchdarkly.json` holds flags, segments and contexts (multi-kind,
//! legacy users, every clause operator, targets, rollouts, experiments, prerequisites, weighted
//! segments, invalid and array attribute references, prerequisite and segment cycles, bad off
//! variations, contexts LaunchDarkly refuses, plus random flags, segments and contexts), and each
//! case's `expect` was computed by `launchdarkly-server-sdk-evaluation` (see `tools/ld-oracle`).
//! We compare in LaunchDarkly's own result shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Map, Value, json};
use switchyard_engine::{Env, ErrorKind, Evaluation, Reason, Snapshot};
use switchyard_import::launchdarkly;

/// Our evaluation written as LaunchDarkly writes an evaluation detail.
fn as_launchdarkly(evaluation: &Evaluation) -> Value {
    let mut reason = Map::new();
    reason.insert("kind".into(), json!(evaluation.reason.kind_name()));
    let in_experiment = evaluation.reason.rollout().is_some_and(|r| r.in_experiment);
    match evaluation.reason {
        Reason::RuleMatch {
            rule_index,
            rule_id,
            ..
        } => {
            reason.insert("ruleIndex".into(), json!(rule_index));
            if !rule_id.is_empty() {
                reason.insert("ruleId".into(), json!(rule_id));
            }
        }
        Reason::PrerequisiteFailed { prerequisite_key } => {
            reason.insert("prerequisiteKey".into(), json!(prerequisite_key));
        }
        Reason::Error { error_kind } => {
            // LaunchDarkly's SDKs name a context they refuse USER_NOT_SPECIFIED.
            let name = match error_kind {
                ErrorKind::ContextInvalid => json!("USER_NOT_SPECIFIED"),
                other => serde_json::to_value(other).unwrap(),
            };
            reason.insert("errorKind".into(), name);
        }
        _ => {}
    }
    if in_experiment {
        reason.insert("inExperiment".into(), json!(true));
    }
    let mut detail = Map::new();
    if let Some(variation) = evaluation.variation {
        detail.insert("value".into(), variation.value.clone());
    }
    if let Some(index) = evaluation.variation_index {
        detail.insert("variationIndex".into(), json!(index));
    }
    detail.insert("reason".into(), Value::Object(reason));
    Value::Object(detail)
}

#[test]
fn imported_launchdarkly_flags_evaluate_as_launchdarkly_does() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/launchdarkly.json"
    );
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let snapshot = Snapshot::compile(&launchdarkly::import(&fixture["data"]).unwrap());
    let cases = fixture["cases"].as_array().unwrap();
    let contexts = fixture["contexts"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for case in cases {
        let mut expect = case["expect"].clone();
        // A deliberate difference (docs/evaluation.md): when serving an index that does not
        // exist, LaunchDarkly reports the index beside its error; an error here has none.
        if expect["reason"]["kind"] == "ERROR"
            && let Some(detail) = expect.as_object_mut()
        {
            detail.remove("variationIndex");
        }
        let expect = &expect;
        let ld_context = &contexts[case["context"].as_u64().unwrap() as usize];
        let got = match launchdarkly::context(ld_context) {
            Err(_) => as_launchdarkly(&Evaluation::error(ErrorKind::ContextInvalid)),
            Ok(context) => {
                let evaluation =
                    snapshot.evaluate(case["flag"].as_str().unwrap(), &context, &Env::default());
                as_launchdarkly(&evaluation)
            }
        };
        *kinds
            .entry(match expect["reason"]["errorKind"].as_str() {
                Some(error) => format!("ERROR/{error}"),
                None => expect["reason"]["kind"].as_str().unwrap_or("?").to_owned(),
            })
            .or_default() += 1;
        if &got != expect {
            failures.push(format!(
                "{} with {ld_context}:\n   LaunchDarkly {expect}\n   ours         {got}",
                case["flag"]
            ));
        }
    }
    assert!(cases.len() > 15_000, "fixture too small");
    // The fixture must exercise every kind of result, or it proves less than it claims.
    for kind in [
        "OFF",
        "TARGET_MATCH",
        "RULE_MATCH",
        "FALLTHROUGH",
        "PREREQUISITE_FAILED",
        "ERROR/MALFORMED_FLAG",
        "ERROR/USER_NOT_SPECIFIED",
        "ERROR/FLAG_NOT_FOUND",
    ] {
        assert!(
            kinds.get(kind).is_some_and(|n| *n > 0),
            "no {kind} case: {kinds:?}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from LaunchDarkly:\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
