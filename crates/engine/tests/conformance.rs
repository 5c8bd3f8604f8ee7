//! Runs the language-neutral suite in `conformance/*.json` (repository root): each file holds
//! native flags and segments plus cases `{name, flag, context, default?, type?, now?, random?,
//! expect: {value, variation_index, reason}}`. Adding a case is adding data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::{Value, json};
use switchyard_engine::{Context, Dataset, Env, ErrorKind, Evaluation, Snapshot, ValueType};

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance")
}

/// What an SDK would report for one case.
fn run_case(snapshot: &Snapshot, case: &Value) -> Value {
    let default = case.get("default").cloned().unwrap_or(Value::Null);
    let want: ValueType =
        serde_json::from_value(case.get("type").cloned().unwrap_or(json!("any"))).unwrap();
    let env = Env {
        now_ms: case.get("now").and_then(Value::as_i64).unwrap_or(0),
        random: case.get("random").and_then(Value::as_u64).unwrap_or(0) as u32,
    };
    let flag = case["flag"].as_str().unwrap();
    let evaluation = match Context::from_json(&case["context"]) {
        Ok(context) => snapshot.evaluate_typed(flag, &context, &env, want),
        Err(_) => Evaluation::error(ErrorKind::ContextInvalid),
    };
    json!({
        "value": evaluation.value_or(&default),
        "variation_index": evaluation.variation_index,
        "reason": evaluation.reason,
    })
}

#[test]
fn conformance_suite() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(suite_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "conformance files missing: {files:?}");
    let (mut failures, mut total) = (Vec::new(), 0);
    for file in &files {
        let suite: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let mut data: Dataset = serde_json::from_value(suite["data"].clone())
            .unwrap_or_else(|e| panic!("{}: data: {e}", file.display()));
        data.normalize();
        let snapshot = Snapshot::compile(&data);
        for case in suite["cases"].as_array().unwrap() {
            total += 1;
            let got = run_case(&snapshot, case);
            if got != case["expect"] {
                failures.push(format!(
                    "{} / {}\n   expected {}\n        got {}",
                    file.file_name().unwrap().to_string_lossy(),
                    case["name"],
                    case["expect"],
                    got
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{total} conformance cases passed");
}

/// product.md's table of reasons and their OpenFeature names, on real evaluations.
#[test]
fn openfeature_reasons() {
    let data: Dataset = serde_json::from_value(json!({"flags": [
        {"key": "static", "kind": "boolean", "on": true, "variations": [{"value": true}], "fallthrough": {"variation": 0}},
        {"key": "off", "kind": "boolean", "on": false, "off_variation": 0, "variations": [{"value": true}], "fallthrough": {"variation": 0}},
        {"key": "full", "kind": "boolean", "on": true, "variations": [{"value": false}, {"value": true}],
         "prerequisites": [{"key": "static", "variation": 0}],
         "targets": [{"variation": 1, "values": ["t"]}],
         "rules": [{"id": "one", "condition": {"attribute": "r", "op": "in", "values": [1]}, "serve": {"variation": 1}},
                   {"id": "split", "condition": {"attribute": "r", "op": "in", "values": [2]},
                    "serve": {"rollout": {"variations": [{"variation": 0, "weight": 100000}]}}}],
         "fallthrough": {"variation": 0}},
        {"key": "split-fallthrough", "kind": "boolean", "on": true, "variations": [{"value": false}],
         "fallthrough": {"rollout": {"variations": [{"variation": 0, "weight": 100000}]}}},
        {"key": "needs-off", "kind": "boolean", "on": true, "variations": [{"value": false}],
         "prerequisites": [{"key": "off", "variation": 0}], "fallthrough": {"variation": 0}}
    ]}))
    .unwrap();
    let snapshot = Snapshot::compile(&data);
    assert!(snapshot.problems().is_empty(), "{:?}", snapshot.problems());
    let cases = [
        ("static", json!({"key": "u"}), "STATIC"),
        ("off", json!({"key": "u"}), "DISABLED"),
        ("full", json!({"key": "t"}), "TARGETING_MATCH"),
        ("full", json!({"key": "u", "r": 1}), "TARGETING_MATCH"),
        ("full", json!({"key": "u", "r": 2}), "SPLIT"),
        ("full", json!({"key": "u"}), "DEFAULT"),
        ("split-fallthrough", json!({"key": "u"}), "SPLIT"),
        ("needs-off", json!({"key": "u"}), "PREREQUISITE_FAILED"),
        ("missing", json!({"key": "u"}), "ERROR"),
    ];
    for (flag, context, expected) in cases {
        let context = Context::from_json(&context).unwrap();
        let evaluation = snapshot.evaluate(flag, &context, &Env::default());
        let is_static = snapshot.flag(flag).is_some_and(|f| f.is_static());
        assert_eq!(evaluation.reason.openfeature(is_static), expected, "{flag}");
    }
    let codes = [
        (ErrorKind::FlagNotFound, "FLAG_NOT_FOUND"),
        (ErrorKind::WrongType, "TYPE_MISMATCH"),
        (ErrorKind::ContextInvalid, "INVALID_CONTEXT"),
        (ErrorKind::MalformedFlag, "GENERAL"),
        (ErrorKind::ClientNotReady, "PROVIDER_NOT_READY"),
    ];
    for (kind, code) in codes {
        assert_eq!(kind.openfeature_code(), code);
    }
}
