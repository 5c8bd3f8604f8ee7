//! The Unleash client specification (`../shared/conformance/unleash-client-specification`, 22
//! files, 279 cases) through the Unleash importer and the native engine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use switchyard_testkit as shared;

use serde_json::Value;
use switchyard_engine::{Context, Env, Snapshot};
use switchyard_import::unleash;

/// An Unleash context as an OpenFeature one: `userId` becomes `targetingKey` and properties
/// become top-level attributes. `None` without a `userId` (no targeting key to send).
fn openfeature_form(unleash: &Value) -> Option<Value> {
    let object = unleash.as_object()?;
    let user_id = object.get("userId")?.as_str()?;
    let mut flat = serde_json::Map::new();
    if let Some(Value::Object(properties)) = object.get("properties") {
        flat.extend(properties.clone());
    }
    for (field, value) in object {
        if field != "properties" && field != "userId" {
            flat.insert(field.clone(), value.clone());
        }
    }
    flat.insert("targetingKey".into(), Value::String(user_id.to_owned()));
    Some(Value::Object(flat))
}

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
            // The same context as an OpenFeature client sends it (OFREP, the providers).
            let openfeature =
                openfeature_form(&test["context"]).map(|c| Context::from_openfeature(&c).unwrap());
            let flag = test["toggleName"].as_str().unwrap();
            // Random stickiness must not matter at 0 % and 100 %: try several random values.
            for random in [0, 1, 49, 50, 99, 12_345, u32::MAX] {
                let env = Env {
                    now_ms: 1_700_000_000_000,
                    random,
                };
                let evaluation = snapshot.evaluate(flag, &context, &env);
                if let Some(openfeature) = &openfeature {
                    let remote = snapshot.evaluate(flag, openfeature, &env);
                    if remote.variation_index != evaluation.variation_index {
                        failures.push(format!(
                            "{name} / {} (random {random}): the OpenFeature context got {:?}, \
                             the Unleash context {:?}",
                            test["description"], remote.variation_index, evaluation.variation_index
                        ));
                        break;
                    }
                }
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
