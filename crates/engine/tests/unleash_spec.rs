//! The Unleash client specification (`../shared/conformance/unleash-client-specification`, 22
//! files, 279 cases) through the Unleash importer and the native engine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use switchyard_testkit as shared;

use serde_json::Value;
use switchyard_engine::import::unleash;
use switchyard_engine::{Env, Snapshot};

#[test]
fn unleash_client_specification() {
    let Some(dir) = shared::shared_dir("conformance/unleash-client-specification") else {
        return;
    };
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let index: Vec<String> = serde_json::from_value(read("index.json")).unwrap();
    let (mut total, mut failures) = (0, Vec::new());
    for name in index {
        let spec = read(&name);
        let snapshot = Snapshot::compile(&unleash::import(&spec["state"]).unwrap());
        let empty = Vec::new();
        let tests = spec["tests"].as_array().unwrap_or(&empty);
        let variant_tests = spec["variantTests"].as_array().unwrap_or(&empty);
        for (i, test) in tests.iter().chain(variant_tests).enumerate() {
            total += 1;
            let context = unleash::context(&test["context"]).unwrap();
            let flag = test["toggleName"].as_str().unwrap();
            // Random stickiness must not matter at 0 % and 100 %: try several random values.
            for random in [0, 1, 49, 50, 99, 12_345, u32::MAX] {
                let env = Env {
                    now_ms: 1_700_000_000_000,
                    random,
                };
                let evaluation = snapshot.evaluate(flag, &context, &env);
                let got = if i < tests.len() {
                    Value::Bool(evaluation.variation.is_some_and(|v| v.value == true))
                } else {
                    unleash::variant(snapshot.flag(flag), &evaluation)
                };
                if got != test["expectedResult"] {
                    failures.push(format!(
                        "{name} / {} (random {random}): expected {} got {got}",
                        test["description"], test["expectedResult"]
                    ));
                    break;
                }
            }
        }
    }
    assert_eq!(total, 279, "the specification has 279 cases");
    assert!(
        failures.is_empty(),
        "{} of {total} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
