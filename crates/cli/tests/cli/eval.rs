//! `switchyard eval` and `validate` as a user runs them: the real binary, real files.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use switchyard_testkit as shared;

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

fn switchyard(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn eval_prints_value_and_reason() {
    let data = repo("conformance/targeting.json");
    // The conformance files wrap their data; extract it as a user's data file would be.
    let suite: Value = serde_json::from_str(&std::fs::read_to_string(&data).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("switchyard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("flags.json");
    std::fs::write(&file, suite["data"].to_string()).unwrap();
    let file = file.to_string_lossy().into_owned();

    let out = switchyard(
        &[
            "eval",
            "--data",
            &file,
            "--flag",
            "rule-order",
            "--context",
            r#"{"key":"u1","plan":"gold"}"#,
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json_lines(&out),
        [
            json!({"flag": "rule-order", "value": "a", "variation_index": 1, "variation": "a",
                "reason": {"kind": "RULE_MATCH", "rule_index": 0, "rule_id": "gold"}})
        ]
    );

    let batch = [
        json!({"flag": "targets", "context": {"key": "u2"}}),
        json!({"flag": "nope", "context": {"key": "u2"}, "default": "dflt"}),
        json!({"flag": "rule-order", "context": {"key": "u1"}, "default": 0, "type": "bool"}),
        json!({"flag": "rule-order", "context": {"name": "no key"}, "default": "d"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n")
        + "\nnot json\n";
    let out = switchyard(&["eval", "--data", &file, "--batch"], &batch);
    assert!(out.status.success());
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["reason"]["kind"], "TARGET_MATCH");
    assert_eq!(lines[1]["value"], "dflt");
    assert_eq!(
        lines[1]["reason"],
        json!({"kind": "ERROR", "error_kind": "FLAG_NOT_FOUND"})
    );
    assert_eq!(lines[2]["value"], 0);
    assert_eq!(lines[2]["reason"]["error_kind"], "WRONG_TYPE");
    assert_eq!(lines[3]["reason"]["error_kind"], "CONTEXT_INVALID");
    assert_eq!(lines[4]["error"]["code"], "bad_request");

    // YAML works too, and validate reports problems by field.
    let yaml = dir.join("flags.yaml");
    std::fs::write(
        &yaml,
        "flags:\n  - key: f\n    kind: boolean\n    variations: [{value: true}]\n    on: true\n    fallthrough: {variation: 4}\n",
    )
    .unwrap();
    let yaml = yaml.to_string_lossy().into_owned();
    let out = switchyard(&["validate", "--data", &yaml], "");
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("flags[f].fallthrough.variation"),
        "{report}"
    );
    let out = switchyard(
        &[
            "eval",
            "--data",
            &yaml,
            "--flag",
            "f",
            "--context",
            r#"{"key":"k"}"#,
            "--default",
            "false",
        ],
        "",
    );
    assert_eq!(
        json_lines(&out)[0]["reason"]["error_kind"],
        "MALFORMED_FLAG"
    );
    assert_eq!(json_lines(&out)[0]["value"], false);
    std::fs::remove_dir_all(&dir).ok();
}

/// The README's first command, as a newcomer runs it.
#[test]
fn readme_example_runs() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    assert!(readme.contains(
        r#"eval --data examples/flags.yaml --flag new-checkout --context '{"key":"dana","email":"dana@corp.example"}'"#
    ));
    let data = repo("examples/flags.yaml");
    let out = switchyard(
        &[
            "eval",
            "--data",
            &data,
            "--flag",
            "new-checkout",
            "--context",
            r#"{"key":"dana","email":"dana@corp.example"}"#,
        ],
        "",
    );
    assert_eq!(
        json_lines(&out),
        [
            json!({"flag": "new-checkout", "value": true, "variation_index": 1, "variation": "on",
                "reason": {"kind": "RULE_MATCH", "rule_index": 0, "rule_id": "staff"}})
        ]
    );
    let out = switchyard(&["validate", "--data", &data], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn unreadable_data_is_a_clear_error() {
    let readme = repo("README.md");
    let cases = [
        (
            ["--data", "/no/such/file", "--format", "native"],
            "cannot read /no/such/file",
        ),
        (
            ["--data", readme.as_str(), "--format", "unleash"],
            "is not JSON",
        ),
        (
            ["--data", readme.as_str(), "--format", "native"],
            "README.md",
        ),
    ];
    for (data, message) in cases {
        let mut args = vec!["eval"];
        args.extend(data);
        args.extend(["--flag", "f", "--context", "{}"]);
        let out = switchyard(&args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// Third-party data through the CLI: every case of the Unleash client specification.
#[test]
fn unleash_specification_through_the_cli() {
    let Some(dir) = shared::shared_dir("conformance/unleash-client-specification") else {
        return;
    };
    let index: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let (mut checked, mut failures) = (0, Vec::new());
    for name in index {
        let spec: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&name)).unwrap()).unwrap();
        let state =
            std::env::temp_dir().join(format!("switchyard-unleash-{}-{name}", std::process::id()));
        std::fs::write(&state, spec["state"].to_string()).unwrap();
        let tests = spec["tests"].as_array().cloned().unwrap_or_default();
        let variant_tests = spec["variantTests"].as_array().cloned().unwrap_or_default();
        let requests: String = tests
            .iter()
            .chain(&variant_tests)
            .map(|t| {
                json!({"flag": t["toggleName"], "context": t["context"], "default": false})
                    .to_string()
                    + "\n"
            })
            .collect();
        let out = switchyard(
            &[
                "eval",
                "--data",
                &state.to_string_lossy(),
                "--format",
                "unleash",
                "--batch",
            ],
            &requests,
        );
        std::fs::remove_file(&state).ok();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let results = json_lines(&out);
        for (i, t) in tests.iter().chain(&variant_tests).enumerate() {
            checked += 1;
            let got = if i < tests.len() {
                &results[i]["enabled"]
            } else {
                &results[i]["variant"]
            };
            if *got != t["expectedResult"] {
                failures.push(format!(
                    "{name} / {}: expected {} got {got}",
                    t["description"], t["expectedResult"]
                ));
            }
        }
    }
    assert_eq!(checked, 279);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A data file with a misspelt field is refused, naming it, instead of being evaluated without
/// it (`clauses` for `condition` used to make a rule match everyone); so is a batch line.
#[test]
fn misspelt_fields_in_data_files_and_batch_lines_are_refused() {
    let dir = std::env::temp_dir().join(format!("switchyard-cli-strict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("flags.yaml");
    std::fs::write(
        &file,
        "flags:\n  - key: f\n    kind: boolean\n    on: true\n    fallthrough: {variation: 0}\n    \
         rules:\n      - clauses: [{attribute: email, op: ends_with, values: [\"@x\"]}]\n        \
         serve: {variation: 1}\n",
    )
    .unwrap();
    let file = file.to_string_lossy().into_owned();
    let out = switchyard(
        &["eval", "--data", &file, "--flag", "f", "--context", "{}"],
        "",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("flags[0].rules[0].clauses"), "{stderr}");

    std::fs::write(
        dir.join("ok.json"),
        json!({"flags": [{"key": "f", "kind": "boolean", "on": true,
            "variations": [{"value": false}, {"value": true}], "fallthrough": {"variation": 1}}]})
        .to_string(),
    )
    .unwrap();
    let ok = dir.join("ok.json").to_string_lossy().into_owned();
    let out = switchyard(
        &["eval", "--data", &ok, "--batch"],
        "{\"flag\": \"f\", \"contxt\": {\"key\": \"a\"}}\n",
    );
    let answer = json_lines(&out);
    assert_eq!(answer[0]["error"]["code"], "bad_request", "{answer:?}");
    assert!(
        answer[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("contxt"),
        "{answer:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A usage error exits 1, never 2 (which `plan` and `diff` mean as drift); help exits 0.
#[test]
fn usage_errors_exit_1_not_drift() {
    let out = switchyard(&["plan"], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--dir"), "{stderr}");
    let out = switchyard(&["plan", "--help"], "");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--dir"));
}
