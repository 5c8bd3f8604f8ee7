//! `switchyard openapi` passes a standard OpenAPI 3.0 validator (the PyPI package
//! `openapi-spec-validator`, installed by `.ci/run`), so client generators accept the document.

use std::process::Command;

use super::{BIN, fresh_dir};

#[test]
fn the_openapi_document_is_valid_openapi_3_0() {
    let validator_present = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .status()
        .is_ok_and(|status| status.success());
    if !validator_present {
        switchyard_testkit::skip(
            "the OpenAPI validator is not installed (pip install openapi-spec-validator==0.9.0)",
        );
        return;
    }
    let dir = fresh_dir("openapi");
    std::fs::create_dir_all(&dir).unwrap();
    let document = Command::new(BIN).arg("openapi").output().unwrap();
    assert!(document.status.success());
    let file = dir.join("openapi.json");
    std::fs::write(&file, &document.stdout).unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&document.stdout).unwrap();
    assert!(
        parsed["openapi"].as_str().unwrap().starts_with("3.0"),
        "{}",
        parsed["openapi"]
    );

    let verdict = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.0"])
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verdict.stdout);
    assert!(
        verdict.status.success() && said.contains(": OK"),
        "{said}{}",
        String::from_utf8_lossy(&verdict.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
