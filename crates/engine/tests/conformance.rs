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
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
    println!("{total} conformance cases passed");
}
