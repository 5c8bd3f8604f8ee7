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

/// The fixture as `tools/ld-oracle` last wrote it: its size, how its expected results split by
/// kind, and a digest of every case (flag, context and LaunchDarkly's answer) with the data and
/// contexts. A regenerated or edited fixture fails here until these are updated on purpose, so
/// the fixture cannot silently shrink or lose a kind of result.
const EXPECTED_CASES: usize = 15_582;
const EXPECTED_KINDS: [(&str, usize); 8] = [
    ("ERROR/FLAG_NOT_FOUND", 1),
    ("ERROR/MALFORMED_FLAG", 2_962),
    ("ERROR/USER_NOT_SPECIFIED", 621),
    ("FALLTHROUGH", 8_619),
    ("OFF", 726),
    ("PREREQUISITE_FAILED", 1_264),
    ("RULE_MATCH", 1_315),
    ("TARGET_MATCH", 74),
];
const EXPECTED_DIGEST: u64 = 0x9ac3_eb85_d57b_9082;

/// FNV-1a over a canonical walk of a JSON value (object keys sorted, lengths and types tagged),
/// so the digest depends on the content only, not on formatting or `serde_json`'s map order.
fn digest(value: &Value, hash: &mut u64) {
    fn feed(hash: &mut u64, bytes: &[u8]) {
        for byte in bytes {
            *hash = (*hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn feed_str(hash: &mut u64, s: &str) {
        feed(hash, &(s.len() as u64).to_le_bytes());
        feed(hash, s.as_bytes());
    }
    match value {
        Value::Null => feed(hash, b"n"),
        Value::Bool(b) => feed(hash, if *b { b"t" } else { b"f" }),
        Value::Number(n) => {
            feed(hash, b"#");
            feed_str(hash, &n.to_string());
        }
        Value::String(s) => {
            feed(hash, b"s");
            feed_str(hash, s);
        }
        Value::Array(items) => {
            feed(hash, b"[");
            feed(hash, &(items.len() as u64).to_le_bytes());
            for item in items {
                digest(item, hash);
            }
        }
        Value::Object(map) => {
            feed(hash, b"{");
            feed(hash, &(map.len() as u64).to_le_bytes());
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                feed_str(hash, key);
                digest(&map[key], hash);
            }
        }
    }
}

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
    // Exactly the fixture the oracle wrote: every kind of result, in the counts it had.
    assert_eq!(cases.len(), EXPECTED_CASES, "the fixture changed size");
    let expected_kinds: std::collections::BTreeMap<String, usize> = EXPECTED_KINDS
        .iter()
        .map(|(kind, n)| ((*kind).to_owned(), *n))
        .collect();
    assert_eq!(kinds, expected_kinds, "the fixture's results changed");
    let mut hash = 0xcbf2_9ce4_8422_2325;
    digest(&fixture, &mut hash);
    assert_eq!(
        hash, EXPECTED_DIGEST,
        "the fixture's content changed (digest {hash:#018x}); if it was regenerated on purpose, \
         update EXPECTED_CASES, EXPECTED_KINDS and EXPECTED_DIGEST"
    );
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
