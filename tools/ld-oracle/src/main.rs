//! Fills in `expect` for every case of a LaunchDarkly fixture file by evaluating it with
//! LaunchDarkly's own engine (`launchdarkly-server-sdk-evaluation`), so that the importer's
//! tests compare against the origin itself, not against our reading of it. Not part of the
//! product or of `cargo test`: run `cargo run -p ld-oracle -- FILE` after changing a fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a developer tool: fail loudly

use std::collections::HashMap;

use launchdarkly_server_sdk_evaluation::{Context, Flag, Segment, Store, evaluate};
use serde_json::{Value, json};

struct Data {
    flags: HashMap<String, Flag>,
    segments: HashMap<String, Segment>,
}

impl Store for Data {
    fn flag(&self, key: &str) -> Option<Flag> {
        self.flags.get(key).cloned()
    }
    fn segment(&self, key: &str) -> Option<Segment> {
        self.segments.get(key).cloned()
    }
}

/// The items that are not deleted: as in the SDK's store, a tombstone is no item.
fn live(items: &Value) -> Value {
    let mut items = items.clone();
    if let Some(map) = items.as_object_mut() {
        map.retain(|_, item| item["deleted"] != json!(true));
    }
    items
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: ld-oracle FIXTURE.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let data = Data {
        flags: serde_json::from_value(live(&doc["data"]["flags"])).expect("LaunchDarkly flags"),
        segments: serde_json::from_value(live(&doc["data"]["segments"]))
            .expect("LaunchDarkly segments"),
    };
    let contexts = doc["contexts"].as_array().unwrap().clone();
    for case in doc["cases"].as_array_mut().unwrap() {
        let context = &contexts[case["context"].as_u64().unwrap() as usize];
        let expect = match (
            data.flag(case["flag"].as_str().unwrap()),
            serde_json::from_value::<Context>(context.clone()),
        ) {
            // A context LaunchDarkly refuses to build: its SDKs answer USER_NOT_SPECIFIED.
            (_, Err(_)) => json!({"reason": {"kind": "ERROR", "errorKind": "USER_NOT_SPECIFIED"}}),
            // The SDK, not the evaluator, answers unknown flags.
            (None, _) => json!({"reason": {"kind": "ERROR", "errorKind": "FLAG_NOT_FOUND"}}),
            (Some(flag), Ok(context)) => {
                serde_json::to_value(evaluate(&data, &flag, &context, None)).unwrap()
            }
        };
        case["expect"] = expect;
    }
    // One case per line: reviewable diffs without a pretty-printed megabyte.
    let cases: Vec<String> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(Value::to_string)
        .collect();
    let head = json!({"about": doc["about"], "data": doc["data"], "contexts": doc["contexts"]});
    let head = serde_json::to_string_pretty(&head).unwrap();
    let body = head.trim_end().trim_end_matches('}').trim_end();
    let text = format!("{body},\n  \"cases\": [\n{}\n  ]\n}}\n", cases.join(",\n"));
    std::fs::write(&path, text).unwrap();
    println!(
        "wrote {} expectations to {path}",
        doc["cases"].as_array().unwrap().len()
    );
}
